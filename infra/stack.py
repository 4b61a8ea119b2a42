"""The Responder stack: composes one construct per capability and publishes their endpoints."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import constants as c
from infra.constructs.ingest_queue import IngestQueue
from infra.constructs.alarms import OperationalAlarms
from infra.constructs.dashboard import FirstResponseDashboard
from infra.constructs.layers import SharedLayers
from infra.constructs.notifications import Notifications
from infra.constructs.outbound import OutboundQueue
from infra.constructs.replies import Replies, ReviewKey
from infra.constructs.secrets import PlatformSecrets
from infra.constructs.sla import SlaTimers
from infra.constructs.storage import Storage
from infra.constructs.sweeper import Sweeper
from infra.constructs.triage_workflow import TriageWorkflow
from infra.constructs.webhook_api import WebhookApi

# provider.model[-version][:n], optionally behind a geography (a cross-Region inference profile); no ARNs.
_MODEL_ID_RE = re.compile(r"(?:[a-z-]{2,8}\.)?[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(?:[.:][a-z0-9-]{1,63})*")


class ResponderStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        storage = Storage(self, c.STORAGE_ID)
        ingest = IngestQueue(self, c.INGEST_QUEUE_ID)
        secrets = PlatformSecrets(self, c.SECRETS_ID)
        layers = SharedLayers(self, c.LAYERS_ID)
        retention_days = self._positive_int(c.CONTEXT_RETENTION_DAYS, c.DEFAULT_RETENTION_DAYS)
        webhook = WebhookApi(
            self,
            c.WEBHOOK_API_ID,
            table=storage.table,
            queue=ingest.queue,
            secret=secrets.secret,
            layers=layers.all,
            raw_event_ttl_days=self._positive_int(c.CONTEXT_RAW_EVENT_TTL_DAYS, c.DEFAULT_RAW_EVENT_TTL_DAYS,
                                                 least=0),
            retention_days=retention_days,
            throttle_burst_limit=self._positive_int(c.CONTEXT_THROTTLE_BURST, c.DEFAULT_THROTTLE_BURST),
            throttle_rate_limit=self._positive_int(c.CONTEXT_THROTTLE_RATE, c.DEFAULT_THROTTLE_RATE),
            handshake_throttle_burst_limit=self._positive_int(c.CONTEXT_HANDSHAKE_THROTTLE_BURST,
                                                              c.DEFAULT_HANDSHAKE_THROTTLE_BURST),
            handshake_throttle_rate_limit=self._positive_int(c.CONTEXT_HANDSHAKE_THROTTLE_RATE,
                                                             c.DEFAULT_HANDSHAKE_THROTTLE_RATE),
        )

        notifications = Notifications(
            self, c.NOTIFICATIONS_ID,
            agent_subscriptions=self._list_context(c.CONTEXT_AGENT_SUBSCRIPTIONS),
            escalation_subscriptions=self._list_context(c.CONTEXT_ESCALATION_SUBSCRIPTIONS),
            incident_subscriptions=self._list_context(c.CONTEXT_INCIDENT_SUBSCRIPTIONS),
        )
        review_key = ReviewKey(self, c.REVIEW_KEY_ID)
        # The data deletion callback's status URL, on the same public address as the review pages.
        webhook.function.add_environment(c.ENV_REVIEW_BASE_URL, self._review_base_url(webhook.url))
        triage = TriageWorkflow(
            self, c.TRIAGE_ID, table=storage.table, queue=ingest.queue, agent_topic=notifications.agent_topic,
            escalation_topic=notifications.escalation_topic, incident_topic=notifications.incident_topic,
            layers=layers.all, classify_layers=[layers.encoder], retention_days=retention_days,
            routing_rules=self._dict_context(c.CONTEXT_ROUTING_RULES),
            brand_voice=self._dict_context(c.CONTEXT_BRAND_VOICE),
            max_concurrency=self._positive_int(c.CONTEXT_TRIAGE_MAX_CONCURRENCY, c.DEFAULT_TRIAGE_MAX_CONCURRENCY),
            account_concurrency_limit=self._positive_int(c.CONTEXT_ACCOUNT_CONCURRENCY_LIMIT,
                                                         c.DEFAULT_ACCOUNT_CONCURRENCY_LIMIT),
            sentiment_backend=self._choice(c.CONTEXT_SENTIMENT_BACKEND, c.SENTIMENT_BACKENDS),
            draft_backend=self._choice(c.CONTEXT_DRAFT_BACKEND, c.DRAFT_BACKENDS),
            bedrock_model_id=self._model_id(c.CONTEXT_BEDROCK_MODEL_ID, c.DEFAULT_BEDROCK_MODEL_ID),
            review=(self._review_base_url(webhook.url), review_key.secret), platform_secret=secrets.secret,
            graph_api_version=self._graph_version(c.CONTEXT_GRAPH_API_VERSION, c.DEFAULT_GRAPH_API_VERSION),
        )
        # SLA timers: Draft (a notified mention, as it routes it) and Classify (an incident that opens) set them; the
        # sla function escalates what is still unanswered when one fires. Its escalations link the review page.
        self.sla = SlaTimers(self, c.SLA_ID, table=storage.table, escalation_topic=notifications.escalation_topic,
                             agent_topic=notifications.agent_topic, layers=layers.all,
                             review_env={c.ENV_REVIEW_BASE_URL: self._review_base_url(webhook.url),
                                         c.ENV_REVIEW_KEY_SECRET_ARN: review_key.secret.secret_arn})
        review_key.secret.grant_read(self.sla.function_role)
        self.sla.allow_timers(triage.functions["draft"], triage.functions["classify"])
        self.sweeper = Sweeper(self, c.SWEEPER_ID, table=storage.table, queue=ingest.queue, layers=layers.all)
        outbound = OutboundQueue(self, c.OUTBOUND_ID)
        self.replies = Replies(
            self, c.REPLIES_ID, api=webhook.api, stage=webhook.stage, table=storage.table,
            outbound_queue=outbound.queue, platform_secret=secrets.secret, review_key=review_key.secret,
            agent_topic=notifications.agent_topic, layers=layers.all,
            review_base_url=self._review_base_url(webhook.url),
            review_link_days=self._positive_int(c.CONTEXT_REVIEW_LINK_DAYS, c.DEFAULT_REVIEW_LINK_DAYS),
            graph_api_version=self._graph_version(c.CONTEXT_GRAPH_API_VERSION, c.DEFAULT_GRAPH_API_VERSION),
            messenger_human_agent=self._flag(c.CONTEXT_MESSENGER_HUMAN_AGENT),
            throttle_burst_limit=self._positive_int(c.CONTEXT_REVIEW_THROTTLE_BURST, c.DEFAULT_REVIEW_THROTTLE_BURST),
            throttle_rate_limit=self._positive_int(c.CONTEXT_REVIEW_THROTTLE_RATE, c.DEFAULT_REVIEW_THROTTLE_RATE))
        self.review_key = review_key
        alarms = OperationalAlarms(self, c.ALARMS_ID, queue=ingest.queue, dlq=ingest.dlq, outbound_dlq=outbound.dlq,
                                   sweeper=self.sweeper.function.function,
                                   subscriptions=self._list_context(c.CONTEXT_ALARM_SUBSCRIPTIONS),
                                   breach_rate_percent=self._percent(c.CONTEXT_BREACH_RATE_ALARM_PERCENT,
                                                                     c.DEFAULT_BREACH_RATE_ALARM_PERCENT))
        self.alarms = alarms
        self.dashboard = FirstResponseDashboard(self, c.DASHBOARD_ID, queue=ingest.queue, dlq=ingest.dlq,
                                                outbound_dlq=outbound.dlq, breach_alarm=alarms.breach_rate_alarm)
        self.notifications = notifications
        self.triage = triage

        self.outbound = outbound
        self.storage = storage
        self.ingest = ingest
        self.secrets = secrets
        self.layers = layers
        self.webhook = webhook

        outputs = {
            c.OUTPUT_API_URL: (webhook.url, "Base URL of the webhook HTTP API"),
            c.OUTPUT_X_WEBHOOK_URL: (webhook.x_webhook_url, "Register this URL as the X webhook"),
            c.OUTPUT_META_WEBHOOK_URL: (webhook.meta_webhook_url, "Register this URL as the Meta app webhook"),
            c.OUTPUT_DATA_DELETION_URL: (webhook.data_deletion_url,
                                         "Register this URL as the Meta app's Data Deletion Request URL"),
            c.OUTPUT_TABLE_NAME: (storage.table.table_name, "DynamoDB table (single-table design)"),
            c.OUTPUT_QUEUE_URL: (ingest.queue.queue_url, "Triage queue"),
            c.OUTPUT_DLQ_URL: (ingest.dlq.queue_url, "Dead-letter queue of the triage queue"),
            c.OUTPUT_SECRET_ARN: (secrets.secret.secret_arn, "Put the X and Meta credentials in this secret"),
            c.OUTPUT_STATE_MACHINE_ARN: (triage.state_machine.state_machine_arn, "Triage workflow (Express)"),
            c.OUTPUT_AGENT_TOPIC_ARN: (notifications.agent_topic.topic_arn, "Agent notifications (filter on team)"),
            c.OUTPUT_ESCALATION_TOPIC_ARN: (notifications.escalation_topic.topic_arn, "p1 and failure alerts"),
            c.OUTPUT_INCIDENT_TOPIC_ARN: (notifications.incident_topic.topic_arn, "Surge incident alerts"),
            c.OUTPUT_OUTBOUND_QUEUE_URL: (outbound.queue.queue_url, "Approved replies waiting for the sender"),
            c.OUTPUT_OUTBOUND_DLQ_URL: (outbound.dlq.queue_url, "Approved replies the sender could not handle"),
            c.OUTPUT_ALARM_TOPIC_ARN: (alarms.topic.topic_arn, "Dead-letter, backlog and SLA breach-rate alarms"),
            c.OUTPUT_DASHBOARD_NAME: (self.dashboard.dashboard.dashboard_name, "First response within the hour"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)

    def _json_context(self, key: str) -> Any:
        # `-c key='{"a": 1}'` arrives as a string, cdk.json values arrive parsed; accept both.
        raw = self.node.try_get_context(key)
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"CDK context {key!r} must be JSON: {exc}") from exc
        return raw

    def _dict_context(self, key: str) -> dict[str, Any] | None:
        value = self._json_context(key)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"CDK context {key!r} must be a JSON object")
        return value

    def _list_context(self, key: str) -> list[dict[str, Any]]:
        value = self._json_context(key) or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValueError(f"CDK context {key!r} must be a JSON list of objects")
        return value

    def _choice(self, key: str, allowed: tuple[str, ...]) -> str:
        """One of `allowed` (the first, off, when the context is absent)."""
        raw = self.node.try_get_context(key)
        if raw is None:
            return allowed[0]
        value = str(raw).strip().lower()
        if value not in allowed:
            raise ValueError(f"CDK context {key!r} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    def _model_id(self, key: str, default: str) -> str:
        """A Bedrock model id (`amazon.nova-micro-v1:0`) or inference profile id (`us.amazon.nova-micro-v1:0`)."""
        raw = self.node.try_get_context(key)
        value = default if raw is None else str(raw).strip()
        if not _MODEL_ID_RE.fullmatch(value):
            raise ValueError(f"CDK context {key!r} must be a Bedrock model id such as {default}, got {raw!r}")
        return value

    def _review_base_url(self, api_url: str) -> str:
        """Where review links point: `reviewBaseUrl` (a custom domain in front of the API), else the API's URL."""
        raw = self.node.try_get_context(c.CONTEXT_REVIEW_BASE_URL)
        if raw is None:
            return api_url
        value = str(raw).strip()
        if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?", value):
            raise ValueError(f"CDK context {c.CONTEXT_REVIEW_BASE_URL!r} must be an https:// URL, got {raw!r}")
        return value

    def _flag(self, key: str) -> bool:
        raw = self.node.try_get_context(key)
        if raw is None or isinstance(raw, bool):
            return bool(raw)
        value = str(raw).strip().lower()
        if value not in ("true", "false"):
            raise ValueError(f"CDK context {key!r} must be true or false, got {raw!r}")
        return value == "true"

    def _graph_version(self, key: str, default: str) -> str:
        raw = self.node.try_get_context(key)
        value = default if raw is None else str(raw).strip()
        if not re.fullmatch(r"v\d{1,3}\.\d{1,2}", value):
            raise ValueError(f"CDK context {key!r} must be a Graph API version such as {default}, got {raw!r}")
        return value

    def _percent(self, key: str, default: float) -> float:
        """A percentage above 0 and at most 100 (a string from `-c`, a number from cdk.json)."""
        raw = self.node.try_get_context(key)
        if raw is None:
            return default
        try:
            value = float(str(raw))
        except ValueError:
            value = -1.0
        if not 0 < value <= 100:
            raise ValueError(f"CDK context {key!r} must be a percentage above 0 and at most 100, got {raw!r}")
        return value

    def _positive_int(self, key: str, default: int, least: int = 1) -> int:
        # `-c key=value` arrives as a string while cdk.json values arrive typed; accept both.
        raw = self.node.try_get_context(key)
        if raw is None:
            return default
        try:
            value = int(str(raw))
        except ValueError:
            value = least - 1
        if value < least:
            kind = "a positive integer" if least == 1 else f"a whole number of at least {least}"
            raise ValueError(f"CDK context {key!r} must be {kind}, got {raw!r}")
        return value
