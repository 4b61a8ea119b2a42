"""Triage settings read the configuration overrides from the folder the stack ships them in."""

from __future__ import annotations

import pytest

from responder.core.config import ENV_CONFIG_DIR, ConfigError, TriageSettings


def test_overrides_are_read_from_the_config_folder(tmp_path):
    # Given a folder holding a brand-voice override only
    (tmp_path / "brand_voice.json").write_text('{"brand_name": "Acme"}', encoding="utf-8")
    # When the settings are read
    settings = TriageSettings.from_env({"TABLE_NAME": "t", ENV_CONFIG_DIR: str(tmp_path)})
    # Then the voice is overridden and the rules are the shipped ones
    assert settings.brand_voice == '{"brand_name": "Acme"}'
    assert settings.routing_rules is None


def test_a_variable_beats_the_file(tmp_path):
    (tmp_path / "routing_rules.json").write_text('{"default_team": "social"}', encoding="utf-8")
    settings = TriageSettings.from_env({"TABLE_NAME": "t", ENV_CONFIG_DIR: str(tmp_path),
                                        "ROUTING_RULES": '{"default_team": "care"}'})
    assert settings.routing_rules == '{"default_team": "care"}'


def test_a_named_folder_that_is_missing_is_a_configuration_error(tmp_path):
    # Given a variable pointing at no folder (a layer left out of the function)
    env = {"TABLE_NAME": "t", ENV_CONFIG_DIR: str(tmp_path / "absent")}
    # Then reading the settings fails loudly rather than running with the shipped defaults
    with pytest.raises(ConfigError, match=ENV_CONFIG_DIR):
        TriageSettings.from_env(env)
