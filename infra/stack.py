"""The Responder stack: composes one construct per capability and publishes their endpoints."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import constants as c
from infra.constructs.ingest_queue import IngestQueue
from infra.constructs.layers import SharedLayers
from infra.constructs.secrets import PlatformSecrets
from infra.constructs.storage import Storage
from infra.constructs.webhook_api import WebhookApi


class ResponderStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        storage = Storage(self, c.STORAGE_ID)
        ingest = IngestQueue(self, c.INGEST_QUEUE_ID)
        secrets = PlatformSecrets(self, c.SECRETS_ID)
        layers = SharedLayers(self, c.LAYERS_ID)
        webhook = WebhookApi(
            self,
            c.WEBHOOK_API_ID,
            table=storage.table,
            queue=ingest.queue,
            secret=secrets.secret,
            layers=layers.all,
            raw_event_ttl_days=self._positive_int(c.CONTEXT_RAW_EVENT_TTL_DAYS, c.DEFAULT_RAW_EVENT_TTL_DAYS),
            throttle_burst_limit=self._positive_int(c.CONTEXT_THROTTLE_BURST, c.DEFAULT_THROTTLE_BURST),
            throttle_rate_limit=self._positive_int(c.CONTEXT_THROTTLE_RATE, c.DEFAULT_THROTTLE_RATE),
        )

        self.storage = storage
        self.ingest = ingest
        self.secrets = secrets
        self.layers = layers
        self.webhook = webhook

        outputs = {
            c.OUTPUT_API_URL: (webhook.url, "Base URL of the webhook HTTP API"),
            c.OUTPUT_X_WEBHOOK_URL: (webhook.x_webhook_url, "Register this URL as the X webhook"),
            c.OUTPUT_META_WEBHOOK_URL: (webhook.meta_webhook_url, "Register this URL as the Meta app webhook"),
            c.OUTPUT_TABLE_NAME: (storage.table.table_name, "DynamoDB table (single-table design)"),
            c.OUTPUT_QUEUE_URL: (ingest.queue.queue_url, "Triage queue"),
            c.OUTPUT_DLQ_URL: (ingest.dlq.queue_url, "Dead-letter queue of the triage queue"),
            c.OUTPUT_SECRET_ARN: (secrets.secret.secret_arn, "Put the X and Meta credentials in this secret"),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)

    def _positive_int(self, key: str, default: int) -> int:
        # `-c key=value` arrives as a string while cdk.json values arrive typed; accept both.
        raw = self.node.try_get_context(key)
        if raw is None:
            return default
        try:
            value = int(str(raw))
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"CDK context {key!r} must be a positive integer, got {raw!r}")
        return value
