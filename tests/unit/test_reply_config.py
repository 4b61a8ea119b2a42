"""Reply credentials and the sender's settings: placeholders are "not configured", endpoints are validated."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from responder.core.config import (ConfigError, EnvCredentials, PlatformCredentials, PlatformEndpoints,
                                   SecretsManagerCredentials, SenderSettings, reply_channels_configured)


def test_reply_channels_follow_the_tokens_present():
    # Given only a Page token
    page_only = PlatformCredentials(None, None, None, meta_page_token="page")
    # Then Facebook, Messenger and Instagram (through the Page) can be answered, X and WhatsApp not
    assert reply_channels_configured(page_only) == {"facebook", "messenger", "instagram"}
    # X needs the whole OAuth 1.0a user context, or an OAuth 2.0 user token
    partial = PlatformCredentials("consumer-secret", None, None, x_consumer_key="k", x_access_token="t")
    assert "x" not in reply_channels_configured(partial)
    assert reply_channels_configured(PlatformCredentials(None, None, None, x_user_token="u")) == {"x"}
    full = PlatformCredentials("cs", None, None, x_consumer_key="k", x_access_token="t", x_access_token_secret="s",
                               whatsapp_token="w")
    assert reply_channels_configured(full) == {"x", "whatsapp"}


def test_secret_placeholders_mean_not_configured(monkeypatch):
    # Given the secret with real webhook values and placeholder reply tokens
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="creds", SecretString=json.dumps({
            "x_consumer_secret": "cs", "meta_app_secret": "as", "meta_verify_token": "vt",
            "x_consumer_key": "REPLACE_ME", "x_access_token": "REPLACE_ME", "x_access_token_secret": "REPLACE_ME",
            "meta_page_token": "page-token", "whatsapp_token": "REPLACE_ME"}))["ARN"]
        creds = SecretsManagerCredentials(arn, max_age=0).get()
    # Then only the Page token counts, and the webhook's values are unchanged
    assert reply_channels_configured(creds) == {"facebook", "messenger", "instagram"}
    assert (creds.x_consumer_secret, creds.meta_app_secret, creds.meta_verify_token) == ("cs", "as", "vt")
    assert creds.x_consumer_key is None and creds.whatsapp_token is None


def test_env_credentials_read_the_reply_tokens():
    creds = EnvCredentials({"RESPONDER_X_CONSUMER_SECRET": "cs", "RESPONDER_X_CONSUMER_KEY": "ck",
                            "RESPONDER_X_ACCESS_TOKEN": "at", "RESPONDER_X_ACCESS_TOKEN_SECRET": "ats",
                            "RESPONDER_WHATSAPP_TOKEN": "REPLACE_ME", "RESPONDER_META_INSTAGRAM_TOKEN": "ig"}).get()
    assert reply_channels_configured(creds) == {"x", "instagram"}


def test_credentials_never_show_a_token_in_their_repr():
    creds = PlatformCredentials("consumer-secret-value", "app-secret-value", None, x_user_token="user-token-value")
    assert "value" not in repr(creds) and "x" in repr(creds)


def test_sender_settings_validate_the_endpoints():
    base = {"TABLE_NAME": "t", "OUTBOUND_QUEUE_URL": "q"}
    settings = SenderSettings.from_env(base)
    assert settings.endpoints == PlatformEndpoints("https://api.x.com", "https://graph.facebook.com", "v26.0", False)
    local = SenderSettings.from_env({**base, "RESPONDER_X_API_BASE": "http://127.0.0.1:8123/",
                                     "RESPONDER_GRAPH_API_VERSION": "v25.0", "RESPONDER_MESSENGER_HUMAN_AGENT": "1"})
    assert (local.endpoints.x_api_base, local.endpoints.graph_api_version) == ("http://127.0.0.1:8123", "v25.0")
    assert local.endpoints.messenger_human_agent is True
    # A token must never be sent in clear to another host, nor to a path of someone else's
    for bad in ("http://evil.example", "https://api.x.com/steal?", "ftp://127.0.0.1"):
        with pytest.raises(ConfigError, match="RESPONDER_X_API_BASE"):
            SenderSettings.from_env({**base, "RESPONDER_X_API_BASE": bad})
    with pytest.raises(ConfigError, match="VERSION"):
        SenderSettings.from_env({**base, "RESPONDER_GRAPH_API_VERSION": "../me"})
    with pytest.raises(ConfigError, match="OUTBOUND_QUEUE_URL"):
        SenderSettings.from_env({"TABLE_NAME": "t"})


def test_the_stack_and_the_code_name_the_same_reply_keys():
    # Given the keys operators are told to add to the platform secret, and the ones the code reads
    from infra import constants
    from responder.core.config import ENV_REPLY_TOKENS, REPLY_SECRET_KEYS

    # Then they are the same, and every one has its local variable
    assert constants.REPLY_SECRET_KEYS == REPLY_SECRET_KEYS and set(ENV_REPLY_TOKENS) == set(REPLY_SECRET_KEYS)
    assert not set(REPLY_SECRET_KEYS) & set(constants.PLATFORM_SECRET_KEYS)
