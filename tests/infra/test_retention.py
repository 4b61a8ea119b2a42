"""The `retentionDays` context reaches every function that creates mentions, threads or incidents."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from infra import constants as c
from infra.app import build_app
from responder.core.config import DEFAULT_RETENTION_DAYS


def retention_of(template: Template) -> dict[str, str | None]:
    """Each function's POWERTOOLS_SERVICE_NAME → its RETENTION_DAYS (None when absent)."""
    found = {}
    for resource in template.find_resources("AWS::Lambda::Function").values():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if c.ENV_POWERTOOLS_SERVICE_NAME in variables:
            found[variables[c.ENV_POWERTOOLS_SERVICE_NAME]] = variables.get(c.ENV_RETENTION_DAYS)
    return found


@pytest.mark.parametrize("context, expected", [({}, "400"), ({c.CONTEXT_RETENTION_DAYS: "90"}, "90")])
def test_the_webhook_and_triage_functions_get_the_retention(context, expected):
    # Given the default context, or one that shortens the retention
    app = build_app(context, with_nag=False)
    # When the stack is synthesised
    retention = retention_of(Template.from_stack(app.node.find_child(c.STACK_NAME)))
    # Then the webhook (mentions, threads) carries it, and classify (incidents) reads the same number: named when
    # it is not the default, the shared default otherwise (its environment has no room to spare)
    assert retention[c.WEBHOOK_SERVICE_NAME] == expected
    assert int(retention[c.CLASSIFY_SERVICE_NAME] or DEFAULT_RETENTION_DAYS) == int(expected)


def test_the_stack_and_the_functions_share_one_default():
    # Given the default the stack deploys and the one the functions fall back to
    # Then they are the same number, so a classify function without RETENTION_DAYS keeps incidents as long
    assert c.DEFAULT_RETENTION_DAYS == DEFAULT_RETENTION_DAYS == 400


@pytest.mark.parametrize("bad", ["0", "-3", "a year", "1.5"])
def test_invalid_retention_context_is_rejected(bad):
    # Given a retention that is not a positive whole number of days
    # When the app is built
    # Then it fails with a message naming the context key
    with pytest.raises(ValueError, match=c.CONTEXT_RETENTION_DAYS):
        build_app({c.CONTEXT_RETENTION_DAYS: bad}, with_nag=False)
