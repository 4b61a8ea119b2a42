"""RETENTION_DAYS: read by the webhook and the triage functions, validated like the raw-event TTL."""

from __future__ import annotations

import pytest

from responder.core.config import ConfigError, Settings, TriageSettings

BASE = {"TABLE_NAME": "t", "QUEUE_URL": "q"}


def test_retention_defaults_to_400_days_and_reads_the_environment():
    # Given no RETENTION_DAYS, then 30
    # When both settings models read the environment
    # Then the default is 400 and the variable overrides it
    assert Settings.from_env(BASE).retention_days == 400
    assert TriageSettings.from_env(BASE).retention_days == 400
    assert Settings.from_env({**BASE, "RETENTION_DAYS": "30"}).retention_days == 30
    assert TriageSettings.from_env({**BASE, "RETENTION_DAYS": "30"}).retention_days == 30


@pytest.mark.parametrize("bad", ["0", "-1", "a year", "1.5"])
def test_a_retention_that_is_not_a_positive_whole_number_is_refused(bad):
    # Given a retention that is not a positive whole number of days
    # When either settings model reads it
    # Then it fails naming the variable
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        Settings.from_env({**BASE, "RETENTION_DAYS": bad})
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        TriageSettings.from_env({**BASE, "RETENTION_DAYS": bad})
