"""Billable AWS operations counted from a real local run, and their cost with public us-east-1 prices.

What is counted, and how (all from the running local stack, nothing assumed per mention):
- API Gateway HTTP API requests: webhook requests the local server answered.
- Lambda: invocations, and each handler's own CPU time, as long as it lasts deployed, billed per millisecond at that
  function's configured memory (from the template). The local stack runs every handler in a thread of one process
  that shares two cores with DynamoDB Local's JVM and moto, so a handler's wall time mostly measures the queue for
  the CPU: the stack reads `time.thread_time()` (the calling thread's CPU time) before and after the handler. That
  is CPU time on a whole core; Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB (AWS
  Lambda developer guide, "Configuring Lambda function memory"), so below that size the same work lasts
  1,769 / memory times longer and is billed that long (`deployed_ms`): a CPU-bound handler costs the same at any
  memory up to 1,769 MB. Deployed, Lambda also bills the milliseconds a handler waits on DynamoDB, SQS or SNS (a
  few ms per call), which this leaves out; the figure is each function's compute, not the contention of this
  machine. The exception is the dispatcher, which mostly waits: each of its invocations is also billed the average
  execution's duration (below), as it waits for its batch's one execution.
- Step Functions Express: executions started (one per dispatcher batch), and each execution's duration billed in
  100 ms increments at 64 MB (the pricing page's unit). An execution waits for its task functions, so its duration is
  the CPU time of its states plus the task functions' time as they last deployed (`deployed_ms`). The local stack
  measures both per execution and per mention (responder_cli.local.triage.InProcessLambdas: moto runs the machine's
  program and each Map iteration on threads of their own, and each task function on another): a batch's mentions run
  side by side (the Map's MaxConcurrency is the batch size), so an execution lasts its own states plus its slowest
  mention's states and task functions. An execution measured without them is given the average of the task
  functions' deployed time left unattributed. CPU time, for the reason given for Lambda above: on this machine an
  execution's wall time is mostly its wait for a core. Deployed, an execution also waits on its service integrations
  (DynamoDB, SNS: milliseconds each), which this leaves out.
- DynamoDB: read and write request units as reported by DynamoDB Local (`ReturnConsumedCapacity=INDEXES` is
  added to every call, made through the client that deploys: the functions' JSON-protocol client, botocore's for
  the state machine's direct integrations), split into the table's and each global secondary index's units, and
  attributed to the operation, the kind of item it wrote (mention, raw, thread, counter, ...; from its key) and the
  project function that made the call (`Meter.detail`). A transaction's table units are counted here, not taken
  from DynamoDB Local: DynamoDB bills every item of TransactWriteItems two write units per started KB of the larger
  of its sizes before and after (Amazon DynamoDB Developer Guide, "Capacity unit consumption for transactions"), but
  DynamoDB Local reports one small item's two units for any number of same-sized items (two 100-byte puts: 2 units,
  not 4; tests/integration/test_metering.py). The meter reads each item's size before and after the call
  (unmetered) and bills 2 × started KB per item.
- EventBridge Scheduler: every CreateSchedule (an SLA timer) is one scheduled invocation when it fires (one-time
  schedules, deleted after completion); schedules are billed per invocation, creating them is not. A create refused
  with ConflictException (the bucket's or mention's timer is already set) raises before it is recorded: not counted.
- SNS publishes and SQS requests (send, non-empty receive, delete, change-visibility).
Local-only plumbing (the outbox, /local endpoints, polling moto for execution results, DynamoDB Local's start and
warm-up) is not counted.

Prices (us-east-1, from the AWS pricing pages as summarised in the project's design notes):
Lambda $0.20 per million requests + $0.0000133334 per GB-second (arm64); Step Functions Express $1.00 per
million executions + $0.00001667 per GB-second (64 MB, 100 ms increments); Standard $0.025 per 1,000 state
transitions; DynamoDB on demand $0.625 per million write units, $0.125 per million read units; SNS $0.50 per
million publishes; SQS $0.40 per million requests; API Gateway HTTP API $1.00 per million requests; EventBridge
Scheduler $1.00 per million scheduled invocations after 14 million free a month (AWS price list, AWSEvents
"Scheduled Invocation", us-east-1; the free tier is left out: the figure is the marginal cost per mention).
"""

from __future__ import annotations

import math
import sys
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
    "scheduler_invocation": 1.00 / 1e6,
}
EXPRESS_MEMORY_GB = 64 / 1024
# The workflow's task functions (infra/constructs/triage_workflow.py): an execution waits for them.
TASK_FUNCTIONS = ("classify", "draft")
# The memory at which a Lambda function has one whole vCPU (AWS Lambda developer guide, "Configuring Lambda function
# memory"); below it, CPU is allotted in proportion to memory.
FULL_VCPU_MB = 1769


def deployed_ms(cpu_ms: float, memory_mb: int) -> float:
    """How long `cpu_ms` of CPU time on a whole core lasts in a Lambda function of `memory_mb`."""
    return cpu_ms * max(1.0, FULL_VCPU_MB / max(memory_mb, 1))
_CAPACITY_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                        "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_SQS_BILLED = {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
               "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}


@dataclass
class Meter:
    """Counts operations while installed; thread-safe."""

    function_memory_mb: dict[str, int] = field(default_factory=dict)  # handler name → configured memory
    operations: Counter = field(default_factory=Counter)  # (service, operation) → billed requests
    read_units: float = 0.0
    write_units: float = 0.0
    # (kind of item, operation, calling function) → [calls, table write units, {index: write units}]
    writes: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    reads: Counter = field(default_factory=Counter)  # (operation, caller) → read units
    schedules_created: int = 0
    lambda_invocations: Counter = field(default_factory=Counter)
    lambda_ms: Counter = field(default_factory=Counter)
    # Each finished execution's duration: its states' CPU time, with the task functions it waited for when known
    execution_cpu_ms: list[float] = field(default_factory=list)
    execution_tasks_known: list[bool] = field(default_factory=list)
    attributed_task_ms: float = 0.0  # task functions' deployed time already inside an execution's duration
    express_executions: int = 0
    state_transitions: int = 0
    http_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Any = None
    _original_json: Any = None

    # -- collection --------------------------------------------------------------------------------------

    def install(self) -> None:
        """Wrap the API call of botocore's clients and of the project's JSON-protocol client (responder.aws.json_api,
        which every function's DynamoDB adapter uses deployed and here), so every client in this process reports to
        the meter, each call on the same terms."""
        from botocore.client import BaseClient

        from responder.aws.json_api import AwsJsonClient

        self._original = BaseClient._make_api_call
        self._original_json = AwsJsonClient.call
        BaseClient._make_api_call = self._metered(  # type: ignore[method-assign]
            self._original, lambda client: client.meta.service_model.service_name)
        AwsJsonClient.call = self._metered(self._original_json, lambda client: client.service)  # type: ignore

    def _metered(self, original: Any, service_of: Any) -> Any:
        """`original(client, operation, params)` (both clients' signature), counted: consumed capacity asked of
        DynamoDB, a transaction's and a refused conditional write's units as DynamoDB bills them."""
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if getattr(client, "_responder_unmetered", False):
                return original(client, operation, params)
            service = service_of(client)
            if service == "dynamodb" and operation in _CAPACITY_OPERATIONS:
                params = {**params, "ReturnConsumedCapacity": "INDEXES"}
            if service == "dynamodb" and operation == "TransactWriteItems":
                before = [_stored_size(original, client, action) for action in params.get("TransactItems", [])]
                result = original(client, operation, params)
                result = {**result, "ConsumedCapacity": _transaction_capacity(
                    original, client, params, before, result.get("ConsumedCapacity") or [])}
            elif service == "dynamodb" and operation in _SINGLE_WRITES and params.get("ConditionExpression"):
                try:
                    result = original(client, operation, params)
                except Exception as exc:
                    # botocore's connection errors have no `response` (or None): raised as they are
                    response = getattr(exc, "response", None) or {}
                    if response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    meter.record(service, operation, _failed_condition_capacity(original, client, operation, params),
                                 params, failed=True)
                    raise
            else:
                result = original(client, operation, params)
            meter.record(service, operation, result, params if service == "dynamodb" else None)
            return result

        return metered

    def uninstall(self) -> None:
        if self._original is not None:
            from botocore.client import BaseClient

            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None
        if self._original_json is not None:
            from responder.aws.json_api import AwsJsonClient

            AwsJsonClient.call = self._original_json  # type: ignore[method-assign]
            self._original_json = None

    def record(self, service: str, operation: str, result: dict[str, Any],
               params: dict[str, Any] | None = None, failed: bool = False) -> None:
        caller = _caller() if service == "dynamodb" else ""
        caller = f"{caller} (condition failed)" if failed else caller
        with self._lock:
            if service == "dynamodb":
                consumed = result.get("ConsumedCapacity") or []
                consumed = consumed if isinstance(consumed, list) else [consumed]
                units = sum(c.get("CapacityUnits", 0.0) for c in consumed)
                if operation in _READS:
                    self.read_units += units
                    self.reads[(operation, caller)] += units
                elif operation in _CAPACITY_OPERATIONS:
                    self.write_units += units
                    entry = self.writes.setdefault((item_kinds(operation, params or {}), operation, caller),
                                                   [0, 0.0, Counter()])
                    entry[0] += 1
                    for c in consumed:
                        table = (c.get("Table") or {}).get("CapacityUnits")
                        indexes = c.get("GlobalSecondaryIndexes") or {}
                        entry[1] += c.get("CapacityUnits", 0.0) if table is None else table
                        for name, index in indexes.items():
                            entry[2][name] += index.get("CapacityUnits", 0.0)
                self.operations[(service, operation)] += 1
            elif service == "scheduler" and operation == "CreateSchedule":
                self.schedules_created += 1
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

    def execution_finished(self, duration_ms: float, transitions: int, task_ms: float | None = None) -> None:
        """One finished execution: its states' CPU time, or with `task_ms` its whole duration, which holds that much
        of the task functions' deployed time (of all it waited for, side by side or not)."""
        with self._lock:
            self.execution_cpu_ms.append(duration_ms)
            self.execution_tasks_known.append(task_ms is not None)
            self.attributed_task_ms += task_ms or 0.0
            self.state_transitions += transitions

    def http_request(self) -> None:
        with self._lock:
            self.http_requests += 1

    # -- cost --------------------------------------------------------------------------------------------

    def _task_share_ms(self) -> float:
        """The task functions' deployed time not already in an execution's duration, per execution measured without
        it."""
        unknown = sum(1 for known in self.execution_tasks_known if not known)
        if not unknown:
            return 0.0
        tasks = sum(deployed_ms(ms, self.function_memory_mb.get(name, 512)) for name, ms in self.lambda_ms.items()
                    if name in TASK_FUNCTIONS)
        return max(tasks - self.attributed_task_ms, 0.0) / unknown

    def execution_durations_ms(self) -> list[float]:
        """Every finished execution's duration: as measured, or its states plus the average share of the tasks."""
        share = self._task_share_ms()
        return [ms if known else ms + share for ms, known in zip(self.execution_cpu_ms, self.execution_tasks_known)]

    def express_billed_ms(self) -> float:
        """Every finished execution's billed duration, in 100 ms increments."""
        return sum(math.ceil(max(ms, 1) / 100) * 100 for ms in self.execution_durations_ms())

    def lambda_gb_seconds(self) -> float:
        compute = sum(deployed_ms(ms, self.function_memory_mb.get(name, 512)) / 1000
                      * self.function_memory_mb.get(name, 512) / 1024 for name, ms in self.lambda_ms.items())
        # The dispatcher waits for its batch's execution (StartSyncExecution returns when it ends): the average
        # execution's duration per invocation (one execution per batch).
        durations = self.execution_durations_ms()
        average = sum(durations) / len(durations) if durations else 0.0
        waiting = self.lambda_invocations.get("dispatcher", 0) * average / 1000 * self.function_memory_mb.get(
            "dispatcher", 512) / 1024
        return compute + waiting

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Billable quantities and their cost, per service, for this run."""
        sqs = sum(n for (service, _), n in self.operations.items() if service == "sqs")
        sns = self.operations[("sns", "Publish")]
        lambda_requests = sum(self.lambda_invocations.values())
        gb_s = self.lambda_gb_seconds()
        express_gb_s = self.express_billed_ms() / 1000 * EXPRESS_MEMORY_GB
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
            "scheduler": {"invocations": self.schedules_created,
                          "cost": self.schedules_created * PRICE["scheduler_invocation"]},
        }

    def index_write_units(self) -> Counter:
        """Write units per place written: `table` and each global secondary index."""
        places: Counter = Counter()
        for _, table, indexes in self.writes.values():
            places["table"] += table
            places.update(indexes)
        return places

    def detail(self, mentions: int, top: int = 14) -> str:
        """Where the write units go, per mention: the biggest (item kind, operation, caller) first."""
        if mentions <= 0 or not self.writes:
            return ""
        places = self.index_write_units()
        lines = [f"DynamoDB write units per mention: {self.write_units / mentions:.2f} ("
                 + ", ".join(f"{name} {units / mentions:.2f}" for name, units in sorted(places.items(),
                                                                                    key=lambda p: -p[1])) + ")",
                 f"  {'item':<22}{'operation':<20}{'by':<28}{'calls':>7}{'table':>7}{'indexes':>9}  per mention"]
        rows = sorted(self.writes.items(), key=lambda kv: -(kv[1][1] + sum(kv[1][2].values())))
        for (kind, operation, caller), (calls, table, indexes) in rows[:top]:
            names = " ".join(f"{n}:{u / mentions:.2f}" for n, u in sorted(indexes.items()))
            lines.append(f"  {kind:<22}{operation:<20}{caller:<28}{calls / mentions:>7.2f}{table / mentions:>7.2f}"
                         f"{sum(indexes.values()) / mentions:>9.2f}  {names}")
        if len(rows) > top:
            rest = sum(t + sum(i.values()) for _, (_, t, i) in rows[top:])
            lines.append(f"  {'(the rest)':<77}{rest / mentions:>9.2f} in all")
        return "\n".join(lines)

    def read_detail(self, mentions: int, top: int = 8) -> str:
        """Where the read units go, per mention: the biggest (operation, caller) first."""
        if mentions <= 0 or not self.reads:
            return ""
        lines = [f"DynamoDB read units per mention: {self.read_units / mentions:.2f}",
                 f"  {'operation':<20}{'by':<28}{'per mention':>12}"]
        rows = self.reads.most_common()
        lines += [f"  {operation:<20}{caller:<28}{units / mentions:>12.2f}"
                  for (operation, caller), units in rows[:top]]
        if len(rows) > top:
            lines.append(f"  {'(the rest)':<48}{sum(u for _, u in rows[top:]) / mentions:>12.2f}")
        return "\n".join(lines)

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
        extra_gb_s = direct * deployed_ms(avg_task_ms, 512) / 1000 * 512 / 1024
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


def item_size(item: dict[str, Any]) -> int:
    """An item's size in bytes as DynamoDB bills it (Developer Guide, "Item sizes and formats"): each attribute's
    name plus its value (strings and binaries their length, numbers about one byte per two digits plus one,
    lists and maps 3 bytes plus 1 per element plus their contents, booleans and nulls 1)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in data.items())
    return 1  # BOOL, NULL


def _stored_size(call: Any, client: Any, action: dict[str, Any]) -> int:
    """The size of the item a transaction's action targets as stored now (0 when absent), read without metering."""
    (kind, spec), = action.items()
    key = spec.get("Key")
    if key is None:  # a Put: its key is in its item
        key = {name: spec["Item"][name] for name in _key_names(call, client, spec["TableName"])}
    found = call(client, "GetItem", {"TableName": spec["TableName"], "Key": key, "ConsistentRead": True})
    return item_size(found["Item"]) if found.get("Item") else 0


_KEY_NAMES: dict[str, list[str]] = {}


def _key_names(call: Any, client: Any, table: str) -> list[str]:
    if table not in _KEY_NAMES:
        schema = call(client, "DescribeTable", {"TableName": table})["Table"]["KeySchema"]
        _KEY_NAMES[table] = [k["AttributeName"] for k in schema]
    return _KEY_NAMES[table]


_SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


def _failed_condition_capacity(call: Any, client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What a write whose condition failed consumes: DynamoDB still bills it, by the size of the existing item, at
    least one unit (Developer Guide, "Condition expressions" / "Capacity unit consumption for write operations");
    DynamoDB Local raises without reporting it."""
    size = _stored_size(call, client, {"Put" if operation == "PutItem" else "Update": params})
    units = float(max(1, math.ceil(size / 1024)))
    return {"ConsumedCapacity": {"TableName": params["TableName"], "CapacityUnits": units,
                                 "Table": {"CapacityUnits": units}}}


def _transaction_capacity(call: Any, client: Any, params: dict[str, Any], before: list[int],
                          reported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A committed transaction's consumed capacity as DynamoDB bills it: 2 units per started KB of each item's larger
    size (before or after; a condition check its size), in place of DynamoDB Local's table figure; its index units
    are kept as reported."""
    units: Counter = Counter()
    for action, size_before in zip(params.get("TransactItems", []), before):
        (kind, spec), = action.items()
        if kind == "Put":
            size = max(size_before, item_size(spec["Item"]))
        elif kind == "Update":
            size = max(size_before, _stored_size(call, client, action))
        else:  # Delete and ConditionCheck: the item as it was
            size = size_before
        units[spec["TableName"]] += 2 * max(1, math.ceil(size / 1024))
    reported_by_table = {c.get("TableName"): c for c in reported}
    corrected = []
    for table, table_units in units.items():
        indexes = (reported_by_table.get(table) or {}).get("GlobalSecondaryIndexes") or {}
        index_units = sum(i.get("CapacityUnits", 0.0) for i in indexes.values())
        corrected.append({"TableName": table, "CapacityUnits": float(table_units) + index_units,
                          "Table": {"CapacityUnits": float(table_units)}, "GlobalSecondaryIndexes": indexes})
    return corrected


def item_kind(key: dict[str, Any]) -> str:
    """What a table item is, from its key (see responder.aws.storage and incident_store for the layout)."""
    pk = str((key.get("pk") or {}).get("S", ""))
    sk = str((key.get("sk") or {}).get("S", ""))
    named = {"MENTION": "mention", "RAW": "raw", "THREAD": "thread", "LINK": "link", "COUNTED": "count_marker",
             "DETECT": "detector", "INCIDENT": "incident_claim"}
    if sk in named:
        return named[sk]
    if sk.startswith("MINUTE#"):
        return "counter"
    if pk.startswith("INCIDENT#"):
        return ("incident_member" if sk.startswith("MEMBER#") else "incident_model" if sk.endswith("#MODEL")
                else "incident")
    return (sk.split("#", 1)[0] or pk.split("#", 1)[0] or "?").lower()


def item_kinds(operation: str, params: dict[str, Any]) -> str:
    """The kinds of item one write request touches (`mention+raw+thread` for the ingest transaction)."""
    if operation == "TransactWriteItems":
        keys = [next(iter(t.values())) for t in params.get("TransactItems", [])]
        return "+".join(item_kind(k.get("Key") or k.get("Item") or {}) for k in keys)
    if operation == "BatchWriteItem":
        kinds = {item_kind((r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key") or {})
                 for requests in (params.get("RequestItems") or {}).values() for r in requests}
        return "batch:" + "+".join(sorted(kinds))
    return item_kind(params.get("Key") or params.get("Item") or {})


_JSON_CLIENT_FILE = "/responder/aws/json_api.py"


def _caller() -> str:
    """The project function that made this call: the innermost public one in `responder` other than the JSON
    client's own (`call`, `paginate`), or the state machine (a direct service integration, run by moto's
    interpreter)."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if ("/responder/" in path and "/responder_cli/" not in path and not path.endswith(_JSON_CLIENT_FILE)
                and not frame.f_code.co_name.startswith("_")):
            return frame.f_code.co_name
        if "/moto/stepfunctions/" in path:
            return "state machine"
        frame = frame.f_back
    return "?"


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
    lines.append(f"DynamoDB write units per mention: ours {ours['dynamodb']['write_units'] / mentions:.2f}, naive design "
                 f"{naive['dynamodb']['write_units'] / mentions:.2f} (it stores the same items; it differs in the "
                 f"workflow)")
    return "\n".join(lines)
