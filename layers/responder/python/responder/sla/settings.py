"""The sla function's configuration, validated once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from responder.core.config import require

ENV_ESCALATION_TOPIC_ARN = "ESCALATION_TOPIC_ARN"
ENV_AGENT_TOPIC_ARN = "AGENT_TOPIC_ARN"


@dataclass(frozen=True)
class SlaSettings:
    table_name: str
    escalation_topic_arn: str
    agent_topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlaSettings:
        env = os.environ if env is None else env
        require(env, "TABLE_NAME", ENV_ESCALATION_TOPIC_ARN, ENV_AGENT_TOPIC_ARN)
        return cls(table_name=env["TABLE_NAME"], escalation_topic_arn=env[ENV_ESCALATION_TOPIC_ARN],
                   agent_topic_arn=env[ENV_AGENT_TOPIC_ARN])
