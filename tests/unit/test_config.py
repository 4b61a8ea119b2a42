"""Settings and credentials: validation, and placeholders that must never verify a signature."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from responder.core.config import ConfigError, EnvCredentials, SecretsManagerCredentials, Settings


def test_settings_require_table_and_queue():
    with pytest.raises(ConfigError, match="TABLE_NAME"):
        Settings.from_env({"QUEUE_URL": "q"})
    with pytest.raises(ConfigError, match="RAW_EVENT_TTL_DAYS"):
        Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", "RAW_EVENT_TTL_DAYS": "soon"})
    settings = Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", "RAW_EVENT_TTL_DAYS": "7"})
    assert (settings.table_name, settings.queue_url, settings.secret_arn, settings.raw_event_ttl_days) == (
        "t", "q", None, 7)
    # 0 (and unset) keep no audit copy of the raw event; a negative number of days is refused
    assert Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", "RAW_EVENT_TTL_DAYS": "0"}).raw_event_ttl_days == 0
    assert Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q"}).raw_event_ttl_days == 0
    with pytest.raises(ConfigError, match="RAW_EVENT_TTL_DAYS"):
        Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", "RAW_EVENT_TTL_DAYS": "-1"})


def test_env_credentials_treat_empty_as_unset():
    creds = EnvCredentials({"RESPONDER_X_CONSUMER_SECRET": "x", "RESPONDER_META_APP_SECRET": ""}).get()
    assert (creds.x_consumer_secret, creds.meta_app_secret, creds.meta_verify_token) == ("x", None, None)


def test_secrets_manager_placeholders_count_as_unconfigured(monkeypatch):
    # Given the secret as the stack creates it: placeholders for the platform-issued values
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="creds", SecretString=json.dumps({
            "x_consumer_secret": "REPLACE_ME", "meta_app_secret": "app-secret-value",
            "meta_verify_token": "chosen-token"}))["ARN"]
        creds = SecretsManagerCredentials(arn, max_age=0).get()
    # Then the placeholder is not a secret (deliveries get 503, not a check against "REPLACE_ME")
    assert creds.x_consumer_secret is None
    assert (creds.meta_app_secret, creds.meta_verify_token) == ("app-secret-value", "chosen-token")
