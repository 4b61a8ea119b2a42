"""Billable AWS operations counted from a real local run, and their cost with public us-east-1 prices.

What is counted, and how (all from the running local stack, nothing assumed per mention):
- API Gateway HTTP API requests: webhook requests the local server answered.
- Lambda: invocations and measured duration of every handler (webhook, dispatcher, classify, draft, route),
  billed per millisecond at each function's configured memory (from the template).
- Step Functions Express: executions started, and each execution's duration billed in 100 ms increments at
  64 MB (the pricing page's unit).
- DynamoDB: read and write request units as reported by DynamoDB Local (`ReturnConsumedCapacity=TOTAL` is
  added to every call); transactional writes are doubled, as DynamoDB bills them.
- SNS publishes and SQS requests (send, non-empty receive, delete, change-visibility).
Local-only plumbing (the outbox, /local endpoints, polling moto for execution results) is not counted.

Prices (us-east-1, from the AWS pricing pages as summarised in the project's design notes):
Lambda $0.20 per million requests + $0.0000133334 per GB-second (arm64); Step Functions Express $1.00 per
million executions + $0.00001667 per GB-second (64 MB, 100 ms increments); Standard $0.025 per 1,000 state
transitions; DynamoDB on demand $0.625 per million write units, $0.125 per million read units; SNS $0.50 per
million publishes; SQS $0.40 per million requests; API Gateway HTTP API $1.00 per million requests.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PRICE = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,
    "express_execution": 1.00 / 1e6,
    "express_gb_second": 0.00001667,
    "standard_transition": 0.025 / 1000,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "sns_publish": 0.50 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "http_api_request": 1.00 / 1e6,
}
EXPRESS_MEMORY_GB = 64 / 1024
_CAPACITY_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                        "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}
_SQS_BILLED = {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
               "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}


@dataclass
class Meter:
    """Counts operations while installed; thread-safe."""

    function_memory_mb: dict[str, int] = field(default_factory=dict)  # handler name → configured memory
    operations: Counter = field(default_factory=Counter)  # (service, operation) → billed requests
    read_units: float = 0.0
    write_units: float = 0.0
    lambda_invocations: Counter = field(default_factory=Counter)
    lambda_ms: Counter = field(default_factory=Counter)
    express_billed_ms: float = 0.0
    express_executions: int = 0
    state_transitions: int = 0
    http_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Any = None

    # -- collection --------------------------------------------------------------------------------------

    def install(self) -> None:
        """Wrap botocore's API call so every client in this process reports to the meter."""
        from botocore.client import BaseClient

        meter, original = self, BaseClient._make_api_call
        self._original = original

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if getattr(client, "_responder_unmetered", False):
                return original(client, operation, params)
            service = client.meta.service_model.service_name
            if service == "dynamodb" and operation in _CAPACITY_OPERATIONS:
                params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            result = original(client, operation, params)
            meter.record(service, operation, result)
            return result

        BaseClient._make_api_call = metered  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            from botocore.client import BaseClient

            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None

    def record(self, service: str, operation: str, result: dict[str, Any]) -> None:
        with self._lock:
            if service == "dynamodb":
                consumed = result.get("ConsumedCapacity") or []
                units = sum(c.get("CapacityUnits", 0.0) for c in (consumed if isinstance(consumed, list)
                                                                  else [consumed]))
                if operation.startswith("Transact"):
                    units *= 2  # transactions cost two units per item-KB (DynamoDB Local reports one)
                if operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
                    self.read_units += units
                elif operation in _CAPACITY_OPERATIONS:
                    self.write_units += units
                self.operations[(service, operation)] += 1
            elif service == "sqs" and operation in _SQS_BILLED:
                if operation == "ReceiveMessage" and not result.get("Messages"):
                    return  # idle long polls: see the README (a few hundred thousand a month, deployed)
                self.operations[(service, operation)] += 1
            elif service == "sns" and operation == "Publish":
                self.operations[(service, operation)] += 1
            elif service == "stepfunctions" and operation in ("StartExecution", "StartSyncExecution"):
                self.express_executions += 1

    def lambda_call(self, name: str, milliseconds: float) -> None:
        with self._lock:
            self.lambda_invocations[name] += 1
            self.lambda_ms[name] += milliseconds

    def execution_finished(self, duration_ms: float, transitions: int) -> None:
        with self._lock:
            self.express_billed_ms += math.ceil(max(duration_ms, 1) / 100) * 100
            self.state_transitions += transitions

    def http_request(self) -> None:
        with self._lock:
            self.http_requests += 1

    # -- cost --------------------------------------------------------------------------------------------

    def lambda_gb_seconds(self) -> float:
        return sum(ms / 1000 * self.function_memory_mb.get(name, 512) / 1024 for name, ms in self.lambda_ms.items())

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Billable quantities and their cost, per service, for this run."""
        sqs = sum(n for (service, _), n in self.operations.items() if service == "sqs")
        sns = self.operations[("sns", "Publish")]
        lambda_requests = sum(self.lambda_invocations.values())
        gb_s = self.lambda_gb_seconds()
        express_gb_s = self.express_billed_ms / 1000 * EXPRESS_MEMORY_GB
        return {
            "api_gateway": {"requests": self.http_requests, "cost": self.http_requests * PRICE["http_api_request"]},
            "lambda": {"requests": lambda_requests, "gb_seconds": gb_s,
                       "cost": lambda_requests * PRICE["lambda_request"] + gb_s * PRICE["lambda_gb_second"]},
            "step_functions": {"express_executions": self.express_executions, "gb_seconds": express_gb_s,
                               "state_transitions": self.state_transitions,
                               "cost": self.express_executions * PRICE["express_execution"]
                               + express_gb_s * PRICE["express_gb_second"]},
            "dynamodb": {"write_units": self.write_units, "read_units": self.read_units,
                         "cost": self.write_units * PRICE["dynamodb_write_unit"]
                         + self.read_units * PRICE["dynamodb_read_unit"]},
            "sns": {"publishes": sns, "cost": sns * PRICE["sns_publish"]},
            "sqs": {"requests": sqs, "cost": sqs * PRICE["sqs_request"]},
        }

    def naive_breakdown(self) -> dict[str, dict[str, float]]:
        """The same run priced as a naive design: a Standard workflow, and a Lambda function for every step
        that ours does with a direct service integration (each SNS publish and workflow DynamoDB update)."""
        ours = self.breakdown()
        task_names = [n for n in self.lambda_invocations if n not in ("webhook", "dispatcher")]
        task_calls = sum(self.lambda_invocations[n] for n in task_names)
        avg_task_ms = (sum(self.lambda_ms[n] for n in task_names) / task_calls) if task_calls else 0.0
        direct = ours["sns"]["publishes"] + self.operations[("dynamodb", "UpdateItem")] - self.lambda_invocations.get(
            "classify", 0)  # the claim UpdateItem is made inside the Classify function in both designs
        direct = max(direct, 0)
        extra_gb_s = direct * avg_task_ms / 1000 * 512 / 1024
        lambda_requests = ours["lambda"]["requests"] + direct
        gb_s = ours["lambda"]["gb_seconds"] + extra_gb_s
        transitions = self.state_transitions
        return {
            **ours,
            "lambda": {"requests": lambda_requests, "gb_seconds": gb_s,
                       "cost": lambda_requests * PRICE["lambda_request"] + gb_s * PRICE["lambda_gb_second"]},
            "step_functions": {"standard_transitions": transitions,
                               "cost": transitions * PRICE["standard_transition"]},
        }


def per_million(breakdown: dict[str, dict[str, float]], mentions: int) -> dict[str, float]:
    """Cost per million mentions, per service and in total."""
    if mentions <= 0:
        return {}
    scale = 1e6 / mentions
    costs = {service: values["cost"] * scale for service, values in breakdown.items()}
    costs["total"] = sum(costs.values())
    return costs


def format_cost_table(ours: dict[str, dict[str, float]], naive: dict[str, dict[str, float]], mentions: int) -> str:
    """A side-by-side table: operations per mention and dollars per million mentions."""
    a, b = per_million(ours, mentions), per_million(naive, mentions)
    lines = [f"Cost per million mentions, from {mentions} mentions of this run (us-east-1 public prices)",
             f"{'service':<16}{'per mention (ours)':<44}{'ours $/M':>10}{'naive $/M':>11}"]
    for service, values in ours.items():
        quantities = ", ".join(f"{k} {v / mentions:.3g}" for k, v in values.items() if k != "cost")
        lines.append(f"{service:<16}{quantities:<44}{a[service]:>10.2f}{b[service]:>11.2f}")
    ratio = b["total"] / a["total"] if a.get("total") else float("nan")
    lines.append(f"{'total':<16}{'':<44}{a['total']:>10.2f}{b['total']:>11.2f}   naive/ours {ratio:.2f}")
    return "\n".join(lines)
