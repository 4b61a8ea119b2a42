"""Settings and platform credentials, read once per process and validated."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# 0: no audit copy of the raw event (the default; infra/constants.py says why); N: kept N days.
DEFAULT_RAW_EVENT_TTL_DAYS = 0
# How long mentions, threads and incidents are kept (DynamoDB TTL on `expires_at`): a year of history for the
# yearly report plus a month's margin. The raw event keeps its own, shorter TTL.
DEFAULT_RETENTION_DAYS = 400
ENV_RETENTION_DAYS = "RETENTION_DAYS"

# Optional managed backends (responder.aws.managed), off by default: the local classifier and the templates need no
# AWS call per mention. The stack sets these from CDK context (infra/constants.py names the same variables).
ENV_SENTIMENT_BACKEND = "RESPONDER_SENTIMENT_BACKEND"
ENV_DRAFT_BACKEND = "RESPONDER_DRAFT_BACKEND"
ENV_BEDROCK_MODEL_ID = "RESPONDER_BEDROCK_MODEL_ID"
SENTIMENT_BACKENDS: tuple[str, ...] = ("local", "comprehend")
DRAFT_BACKENDS: tuple[str, ...] = ("template", "bedrock")
# The cheapest text model on Bedrock's on-demand price list (see responder.aws.managed_cost): a short reply needs no more.
DEFAULT_BEDROCK_MODEL_ID = "amazon.nova-micro-v1:0"


# The folder of configuration overrides (routing_rules.json, brand_voice.json). The stack ships them as a layer
# (/opt/responder-config) because Lambda caps a function's environment at 4 KB, less than the brand voice alone.
ENV_CONFIG_DIR = "RESPONDER_CONFIG_DIR"
ROUTING_RULES_FILE = "routing_rules.json"
BRAND_VOICE_FILE = "brand_voice.json"


class ConfigError(RuntimeError):
    """A required setting is missing or invalid."""


class CredentialsUnavailable(RuntimeError):
    """Platform credentials cannot be read right now (answered 503 so the platform retries)."""


@dataclass(frozen=True)
class Settings:
    """What the webhook function needs to know about its environment."""

    table_name: str
    queue_url: str
    secret_arn: str | None = None
    raw_event_ttl_days: int = DEFAULT_RAW_EVENT_TTL_DAYS
    retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read TABLE_NAME, QUEUE_URL, SECRET_ARN, RAW_EVENT_TTL_DAYS and RETENTION_DAYS."""
        env = os.environ if env is None else env
        require(env, "TABLE_NAME", "QUEUE_URL")
        ttl = whole(env, "RAW_EVENT_TTL_DAYS", DEFAULT_RAW_EVENT_TTL_DAYS, 0, "days")
        return cls(table_name=env["TABLE_NAME"], queue_url=env["QUEUE_URL"],
                   secret_arn=env.get("SECRET_ARN") or None, raw_event_ttl_days=ttl,
                   retention_days=retention_days(env))


def require(env: Mapping[str, str], *names: str) -> None:
    """ConfigError naming every one of `names` that is unset or empty."""
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise ConfigError(f"missing environment variables: {', '.join(missing)}")


def whole(env: Mapping[str, str], name: str, default: int, least: int, unit: str = "") -> int:
    """A whole number of at least `least` from `name` (`default` when unset or empty), else ConfigError."""
    try:
        value = int(env.get(name) or default)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number{' of ' + unit if unit else ''}") from exc
    if value < least:
        raise ConfigError(f"{name} must be at least {least}")
    return value


def retention_days(env: Mapping[str, str]) -> int:
    """RETENTION_DAYS: a whole, positive number of days (the default when unset)."""
    return whole(env, ENV_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, 1, "days")


@dataclass(frozen=True)
class ManagedBackends:
    """Which managed AWS services replace local steps: none unless the environment asks for them."""

    sentiment: str = "local"  # local | comprehend (language and sentiment)
    draft: str = "template"  # template | bedrock
    bedrock_model_id: str = DEFAULT_BEDROCK_MODEL_ID

    @property
    def enabled(self) -> bool:
        return self.sentiment != "local" or self.draft != "template"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ManagedBackends:
        """Read RESPONDER_SENTIMENT_BACKEND, RESPONDER_DRAFT_BACKEND and RESPONDER_BEDROCK_MODEL_ID."""
        env = os.environ if env is None else env
        sentiment = (env.get(ENV_SENTIMENT_BACKEND) or "local").strip().lower()
        draft = (env.get(ENV_DRAFT_BACKEND) or "template").strip().lower()
        if sentiment not in SENTIMENT_BACKENDS:
            raise ConfigError(f"{ENV_SENTIMENT_BACKEND} must be one of {', '.join(SENTIMENT_BACKENDS)}")
        if draft not in DRAFT_BACKENDS:
            raise ConfigError(f"{ENV_DRAFT_BACKEND} must be one of {', '.join(DRAFT_BACKENDS)}")
        model_id = (env.get(ENV_BEDROCK_MODEL_ID) or DEFAULT_BEDROCK_MODEL_ID).strip()
        return cls(sentiment=sentiment, draft=draft, bedrock_model_id=model_id)


@dataclass(frozen=True)
class TriageSettings:
    """What the triage functions need: the table, and optional overrides of the shipped rules and voice."""

    table_name: str
    routing_rules: str | None = None  # JSON overriding the shipped routing_rules.json (from CDK context)
    brand_voice: str | None = None  # JSON overriding the shipped brand_voice.json (from CDK context)
    backends: ManagedBackends = field(default_factory=ManagedBackends)
    retention_days: int = DEFAULT_RETENTION_DAYS  # incidents and their members expire after it

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TriageSettings:
        """Read TABLE_NAME, RETENTION_DAYS, the managed backends' variables and the overrides.

        Overrides come from the files in RESPONDER_CONFIG_DIR (what the stack deploys), else from ROUTING_RULES and
        BRAND_VOICE holding JSON text (small overrides in a local run); a variable beats a file.
        """
        env = os.environ if env is None else env
        if not env.get("TABLE_NAME"):
            raise ConfigError("missing environment variable: TABLE_NAME")
        files = _config_files(env.get(ENV_CONFIG_DIR) or None)
        return cls(table_name=env["TABLE_NAME"],
                   routing_rules=env.get("ROUTING_RULES") or files.get(ROUTING_RULES_FILE),
                   brand_voice=env.get("BRAND_VOICE") or files.get(BRAND_VOICE_FILE),
                   backends=ManagedBackends.from_env(env), retention_days=retention_days(env))


def _config_files(folder: str | None) -> dict[str, str]:
    """The override files present in `folder` (name → JSON text); a folder that is named but absent is an error."""
    if folder is None:
        return {}
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"{ENV_CONFIG_DIR} names {folder}, which is not a folder")
    found = {}
    for name in (ROUTING_RULES_FILE, BRAND_VOICE_FILE):
        try:
            found[name] = (path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # no override of that one: the shipped file applies
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path / name}: {exc}") from exc
    return found


@dataclass(frozen=True)
class DispatcherSettings:
    """What the dispatcher needs: the state machine to run, the queue it consumes, and how long and how many
    executions it may wait on at once."""

    state_machine_arn: str
    queue_url: str
    retry_base_seconds: int = 15  # first retry delay of a failed message; doubles per receive
    workflow_timeout_seconds: int = 150  # the state machine's TimeoutSeconds
    max_parallel_executions: int = 10  # sized by the stack from the account's concurrency limit
    table_name: str | None = None  # where the batch's minute counts are added (none: not counted)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DispatcherSettings:
        """Read STATE_MACHINE_ARN, QUEUE_URL, RETRY_BASE_SECONDS, WORKFLOW_TIMEOUT_SECONDS, MAX_PARALLEL_EXECUTIONS,
        TABLE_NAME."""
        env = os.environ if env is None else env
        require(env, "STATE_MACHINE_ARN", "QUEUE_URL")
        numbers = {name: whole(env, name, default, least)
                   for name, default, least in (("RETRY_BASE_SECONDS", 15, 0), ("WORKFLOW_TIMEOUT_SECONDS", 150, 1),
                                                ("MAX_PARALLEL_EXECUTIONS", 10, 1))}
        return cls(state_machine_arn=env["STATE_MACHINE_ARN"], queue_url=env["QUEUE_URL"],
                   retry_base_seconds=numbers["RETRY_BASE_SECONDS"],
                   workflow_timeout_seconds=numbers["WORKFLOW_TIMEOUT_SECONDS"],
                   max_parallel_executions=numbers["MAX_PARALLEL_EXECUTIONS"],
                   table_name=env.get("TABLE_NAME") or None)


@dataclass(frozen=True)
class PlatformCredentials:
    """The secrets the platforms issued: the webhook's (X consumer secret, Meta app secret and verify token) and
    the reply tokens the sender uses (X user context, a Page, an Instagram and a WhatsApp token). None = not set."""

    x_consumer_secret: str | None
    meta_app_secret: str | None
    meta_verify_token: str | None
    # X OAuth 1.0a user context: the consumer key beside x_consumer_secret, and the brand account's access token.
    x_consumer_key: str | None = None
    x_access_token: str | None = None
    x_access_token_secret: str | None = None
    x_user_token: str | None = None  # an OAuth 2.0 user token (tweet.write dm.write ...), the alternative
    x_user_id: str | None = None  # the brand's X account id (its timeline is searched after a crash)
    meta_page_token: str | None = None  # Facebook comments and Messenger
    meta_instagram_token: str | None = None  # Instagram comments, mentions and DMs (the Page token if unset)
    whatsapp_token: str | None = None

    def __repr__(self) -> str:  # never print a token, not even in a traceback's locals
        return f"PlatformCredentials(configured={sorted(reply_channels_configured(self))})"

    @property
    def x_user_context(self) -> bool:
        return bool(self.x_consumer_key and self.x_consumer_secret and self.x_access_token
                    and self.x_access_token_secret)


# The reply keys of the platform secret (JSON), beside the webhook's x_consumer_secret / meta_app_secret /
# meta_verify_token; infra/constants.py REPLY_SECRET_KEYS names the same.
REPLY_SECRET_KEYS: tuple[str, ...] = ("x_consumer_key", "x_access_token", "x_access_token_secret", "x_user_token",
                                      "x_user_id", "meta_page_token", "meta_instagram_token", "whatsapp_token")


def reply_channels_configured(creds: PlatformCredentials) -> set[str]:
    """The channels Send can answer on with these credentials (the review page says "not configured" for others)."""
    channels = set()
    if creds.x_user_context or creds.x_user_token:
        channels.add("x")
    if creds.meta_page_token:
        channels.update({"facebook", "messenger"})
    if creds.meta_instagram_token or creds.meta_page_token:
        channels.add("instagram")
    if creds.whatsapp_token:
        channels.add("whatsapp")
    return channels


class CredentialsProvider(Protocol):
    def get(self) -> PlatformCredentials: ...


ENV_X_CONSUMER_SECRET = "RESPONDER_X_CONSUMER_SECRET"
ENV_META_APP_SECRET = "RESPONDER_META_APP_SECRET"
ENV_META_VERIFY_TOKEN = "RESPONDER_META_VERIFY_TOKEN"
# The reply tokens in a local run (each the same as the secret's key of that name).
ENV_REPLY_TOKENS: dict[str, str] = {
    "x_consumer_key": "RESPONDER_X_CONSUMER_KEY", "x_access_token": "RESPONDER_X_ACCESS_TOKEN",
    "x_access_token_secret": "RESPONDER_X_ACCESS_TOKEN_SECRET", "x_user_token": "RESPONDER_X_USER_TOKEN",
    "x_user_id": "RESPONDER_X_USER_ID", "meta_page_token": "RESPONDER_META_PAGE_TOKEN",
    "meta_instagram_token": "RESPONDER_META_INSTAGRAM_TOKEN", "whatsapp_token": "RESPONDER_WHATSAPP_TOKEN"}


class EnvCredentials:
    """Credentials from RESPONDER_* environment variables (the local stack)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def get(self) -> PlatformCredentials:
        return PlatformCredentials(
            x_consumer_secret=self._env.get(ENV_X_CONSUMER_SECRET) or None,
            meta_app_secret=self._env.get(ENV_META_APP_SECRET) or None,
            meta_verify_token=self._env.get(ENV_META_VERIFY_TOKEN) or None,
            **{key: _configured(self._env.get(name)) for key, name in ENV_REPLY_TOKENS.items()},
        )


# The stack creates the secret with this placeholder (infra/constructs/secrets.py): not a usable credential.
PLACEHOLDER = "REPLACE_ME"


def _configured(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != PLACEHOLDER else None


class SecretsManagerCredentials:
    """Credentials from one JSON secret, cached in memory for `max_age` seconds.

    With a `client` (the webhook's JSON-protocol client, responder.aws.json_api) it calls GetSecretValue itself,
    so the first delivery of a cold container does not import boto3 for Powertools parameters; without one,
    Powertools parameters read and cache it.
    """

    def __init__(self, secret_arn: str, max_age: int = 300, client: object = None) -> None:
        self._arn = secret_arn
        self._max_age = max_age
        self._client = client
        self._cached: tuple[float, str] | None = None

    def _secret_string(self) -> object:
        import time

        if self._cached is not None and time.monotonic() - self._cached[0] < self._max_age:
            return self._cached[1]
        try:
            raw = self._client.get_secret_value(SecretId=self._arn).get("SecretString")  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - any failure to read the secret is "credentials unavailable"
            raise CredentialsUnavailable(f"cannot read platform credentials: {type(exc).__name__}") from exc
        if isinstance(raw, str):
            self._cached = (time.monotonic(), raw)
        return raw

    def get(self) -> PlatformCredentials:
        if self._client is not None:
            raw = self._secret_string()
            try:
                values = json.loads(raw) if isinstance(raw, str) else {}
            except json.JSONDecodeError as exc:
                raise CredentialsUnavailable(f"cannot read platform credentials: {type(exc).__name__}") from exc
        else:
            values = self._powertools_values()
        if not isinstance(values, dict):
            values = {}
        return PlatformCredentials(
            x_consumer_secret=_configured(values.get("x_consumer_secret")),
            meta_app_secret=_configured(values.get("meta_app_secret")),
            meta_verify_token=_configured(values.get("meta_verify_token")),
            **{key: _configured(values.get(key)) for key in REPLY_SECRET_KEYS},
        )

    def _powertools_values(self) -> object:
        # Imported here so that processes without a secret (local, tests) never pay for it.
        from aws_lambda_powertools.utilities import parameters

        try:
            raw = parameters.get_secret(self._arn, max_age=self._max_age)
            return json.loads(raw) if isinstance(raw, str) else {}
        except (parameters.exceptions.GetParameterError, json.JSONDecodeError) as exc:
            raise CredentialsUnavailable(f"cannot read platform credentials: {type(exc).__name__}") from exc


# Where the platforms' APIs are: the real ones by default, the local stand-ins in `responder local` and the tests.
ENV_X_API_BASE = "RESPONDER_X_API_BASE"
ENV_GRAPH_API_BASE = "RESPONDER_GRAPH_API_BASE"
ENV_GRAPH_API_VERSION = "RESPONDER_GRAPH_API_VERSION"
ENV_MESSENGER_HUMAN_AGENT = "RESPONDER_MESSENGER_HUMAN_AGENT"
DEFAULT_X_API_BASE = "https://api.x.com"
DEFAULT_GRAPH_API_BASE = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v26.0"  # the current Graph API version (Meta's changelog, 2026)
# infra/constants.py OUTBOUND_MAX_RECEIVE_COUNT: the outbound queue's redrive policy moves a message to its DLQ
# after this many receives; the sender records `failed` (and tells the team) one receive earlier.
DEFAULT_OUTBOUND_MAX_RECEIVE_COUNT = 8


@dataclass(frozen=True)
class PlatformEndpoints:
    """The platforms' API addresses and the Graph API version the reply clients call."""

    x_api_base: str = DEFAULT_X_API_BASE
    graph_api_base: str = DEFAULT_GRAPH_API_BASE
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    messenger_human_agent: bool = False  # the HUMAN_AGENT tag (7 days) needs Meta's app review: off unless asked

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PlatformEndpoints:
        """Read RESPONDER_X_API_BASE, RESPONDER_GRAPH_API_BASE, RESPONDER_GRAPH_API_VERSION and
        RESPONDER_MESSENGER_HUMAN_AGENT."""
        import re

        env = os.environ if env is None else env
        bases = {}
        for name, default in ((ENV_X_API_BASE, DEFAULT_X_API_BASE), (ENV_GRAPH_API_BASE, DEFAULT_GRAPH_API_BASE)):
            value = (env.get(name) or default).strip().rstrip("/")
            # A token is sent to this address: only https, or plain http to the loopback stand-ins.
            if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d{1,5})?|http://(127\.0\.0\.1|localhost)(:\d{1,5})?",
                                value):
                raise ConfigError(f"{name} must be an https:// origin (or http:// on the loopback)")
            bases[name] = value
        version = (env.get(ENV_GRAPH_API_VERSION) or DEFAULT_GRAPH_API_VERSION).strip()
        if not re.fullmatch(r"v\d{1,3}\.\d{1,2}", version):
            raise ConfigError(f"{ENV_GRAPH_API_VERSION} must look like v26.0")
        return cls(x_api_base=bases[ENV_X_API_BASE], graph_api_base=bases[ENV_GRAPH_API_BASE],
                   graph_api_version=version, messenger_human_agent=env.get(ENV_MESSENGER_HUMAN_AGENT) == "1")


@dataclass(frozen=True)
class SenderSettings:
    """What the sender needs: the table, its own queue (delayed re-sends), the credentials and the agents' topic."""

    table_name: str
    outbound_queue_url: str
    secret_arn: str | None = None
    agent_topic_arn: str | None = None
    endpoints: PlatformEndpoints = field(default_factory=PlatformEndpoints)
    max_receive_count: int = DEFAULT_OUTBOUND_MAX_RECEIVE_COUNT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SenderSettings:
        """Read TABLE_NAME, OUTBOUND_QUEUE_URL, SECRET_ARN, AGENT_TOPIC_ARN, OUTBOUND_MAX_RECEIVE_COUNT and the
        platform endpoints."""
        env = os.environ if env is None else env
        require(env, "TABLE_NAME", "OUTBOUND_QUEUE_URL")
        receives = whole(env, "OUTBOUND_MAX_RECEIVE_COUNT", DEFAULT_OUTBOUND_MAX_RECEIVE_COUNT, 2)
        return cls(table_name=env["TABLE_NAME"], outbound_queue_url=env["OUTBOUND_QUEUE_URL"],
                   secret_arn=env.get("SECRET_ARN") or None, agent_topic_arn=env.get("AGENT_TOPIC_ARN") or None,
                   endpoints=PlatformEndpoints.from_env(env), max_receive_count=receives)


def credentials_from_env(secret_arn: str | None) -> CredentialsProvider:
    """The secret when deployed, the RESPONDER_* variables locally."""
    return SecretsManagerCredentials(secret_arn) if secret_arn else EnvCredentials()
