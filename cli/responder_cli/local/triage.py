"""The triage half of the local stack: the synthesized state machine run by moto's ASL interpreter.

- Lambda tasks are dispatched in-process to the functions' own handlers (moto's Docker-free Lambda backend
  is patched to call them), so the state machine, its retries and catches run for real.
- SNS topics come from the template; each team of the routing rules gets a local SQS subscription with the
  filter policy a deployment would use (`{"team": [team]}`), and so does every subscription the template
  declares. A catch-all subscription per topic feeds the outbox: notifications are printed, appended to a
  JSON-lines file and served at GET /local/notifications.
- A dispatcher loop plays the SQS event source mapping: it receives batches from the triage queue, calls the
  dispatcher function's handler, and deletes what succeeded.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from responder_cli.local.paths import CDK_OUT, REPO_ROOT
from responder_cli.local.template import (
    LOCAL_ACCOUNT,
    LOCAL_REGION,
    TemplateError,
    functions,
    layer_path,
    resolve,
    state_machines,
    subscriptions,
    topics,
)

FUNCTIONS_DIR = REPO_ROOT / "functions"


def topic_name(logical_id: str) -> str:
    """A readable name for a topic's logical id: NotificationsAgentNotificationsBA924E93 → agent-notifications."""
    core = re.sub(r"[0-9A-F]{8}$", "", logical_id)
    core = core.removeprefix("Notifications") or core
    return re.sub(r"(?<!^)(?=[A-Z])", "-", core).lower()


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _states_entered(execution: Any) -> int:
    """Billable state transitions of a finished execution, read from its history without the deep copy
    that GetExecutionHistory makes."""
    env = execution.exec_worker.env
    if env is None:
        return 0
    manager = env.event_manager
    with manager._mutex:
        return sum(1 for e in manager._history_event_list if str(e.get("type", "")).endswith("StateEntered"))


class _Deadline:
    """A Lambda context whose remaining time counts down from the function's timeout, as a deployed one does."""

    def __init__(self, context: Any, timeout_seconds: float) -> None:
        self._context = context
        self._ends = time.monotonic() + timeout_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._ends - time.monotonic()) * 1000), 0)


class InProcessLambdas:
    """Replaces moto's Docker-free Lambda backend so invocations run the project's handlers in this process."""

    def __init__(self, handlers: dict[str, Callable[..., Any]], names: dict[str, str],
                 context_factory: Callable[[str], Any], meter: Any = None) -> None:
        self.handlers = handlers  # function name (the template's logical id) → handler
        self.names = names  # function name → short name (classify, draft, ...) for the meter
        self._context = context_factory
        self._meter = meter
        self._original: Any = None
        self._original_logic: Any = None
        # Per running execution (ARN): its states' CPU time, its own and per mention; and per mention, the deployed
        # time of the task functions that ran for it (metering.py), until its execution is accounted for.
        self._clock: dict[str, dict[str, Any]] = {}
        self._task_ms: dict[str, float] = {}
        self._clock_lock = threading.Lock()

    def install(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        registry = self

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                   response_headers: Any) -> bytes:
            return registry.invoke(function_name, body, response_headers)

        self._original = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        if self._meter is not None:
            self._measure_execution_cpu()

    def _measure_execution_cpu(self) -> None:
        """Keep each execution's CPU time, per thread, on the meter's terms (metering.py: CPU time rather than the wall
        time of a shared machine). moto runs an execution on several threads: its own (`_execution_logic`), one per
        program it evaluates (the machine's, and one per Map iteration: `Program._eval_body`), and one per task with a
        timeout, where the task functions run (`invoke` measures those, and keeps each mention's deployed time). The
        states' CPU is kept per execution and, inside an iteration, per mention: `execution_duration_ms` adds them
        up."""
        from moto.stepfunctions.parser.asl.component.program.program import Program
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        original = ExecutionWorker._execution_logic
        original_body = Program._eval_body
        self._original_logic = (original, original_body)
        registry = self

        def execution_logic(worker: Any) -> None:
            started = time.thread_time()
            try:
                original(worker)
            finally:
                worker.responder_cpu_ms = (time.thread_time() - started) * 1000

        def measured_body(program: Any, env: Any) -> None:
            program_input = env.states.get_input()  # an iteration's item, or the batch
            started = time.thread_time()
            try:
                original_body(program, env)
            finally:
                registry._states_cpu(env, program_input, (time.thread_time() - started) * 1000)

        ExecutionWorker._execution_logic = execution_logic  # type: ignore[method-assign]
        Program._eval_body = measured_body  # type: ignore[method-assign]

    def _states_cpu(self, env: Any, program_input: Any, cpu_ms: float) -> None:
        """Add one program's CPU time to its execution: to the mention its input is (a Map iteration's item), or to the
        execution itself (the machine's program, which runs the Map)."""
        try:
            arn = env.states.context_object.context_object_data["Execution"]["Id"]
        except (AttributeError, KeyError, TypeError):
            return
        key = program_input.get("key") if isinstance(program_input, dict) else None
        mention_id = key.get("mention_id") if isinstance(key, dict) else None
        with self._clock_lock:
            clock = self._clock.setdefault(arn, {"top": 0.0, "items": {}})
            if mention_id is None:
                clock["top"] += cpu_ms
            else:
                clock["items"][mention_id] = clock["items"].get(mention_id, 0.0) + cpu_ms

    def execution_duration_ms(self, arn: str, outer_cpu_ms: float) -> tuple[float, float]:
        """A finished execution's duration and the task functions' deployed time it holds. Its iterations run side by
        side (an inline Map's MaxConcurrency is the dispatcher's batch size: every item starts at once, deployed as in
        moto, which gives each item a thread of its own), so it lasts its own states plus its slowest mention: that
        mention's states and the deployed time of its task functions."""
        with self._clock_lock:
            clock = self._clock.pop(arn, {"top": 0.0, "items": {}})
            tasks = {m: self._task_ms.pop(m, 0.0) for m in clock["items"]}
        slowest = max((ms + tasks[m] for m, ms in clock["items"].items()), default=0.0)
        return outer_cpu_ms + clock["top"] + slowest, sum(tasks.values())

    def uninstall(self) -> None:
        if self._original is not None:
            from moto.awslambda_simple.models import LambdaSimpleBackend

            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None
        if self._original_logic is not None:
            from moto.stepfunctions.parser.asl.component.program.program import Program
            from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

            ExecutionWorker._execution_logic, Program._eval_body = self._original_logic  # type: ignore[method-assign]
            self._original_logic = None

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        handler = self.handlers.get(name)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFoundException",
                               "errorMessage": f"no local handler for {name}"}).encode()
        event = json.loads(body) if body else {}
        started = time.thread_time()  # this thread's CPU time: what the handler itself computed (metering.py)
        try:
            result = handler(event, self._context(name))
            payload = json.dumps(result).encode()
        except Exception as exc:  # noqa: BLE001 - reported to Step Functions exactly as Lambda reports it
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:1000],
                                  "stackTrace": traceback.format_exception(exc)[-3:]}).encode()
        finally:
            if self._meter is not None:
                cpu_ms = (time.thread_time() - started) * 1000
                self._meter.lambda_call(self.names.get(name, name), cpu_ms)
                self._task_time(self.names.get(name, name), event, cpu_ms)
        return payload

    def _task_time(self, function: str, event: Any, cpu_ms: float) -> None:
        """Keep a task function's deployed time for the mention it ran for (Classify's event holds its key, Draft's
        the mention), for the execution's duration (`execution_duration_ms`)."""
        from responder_cli.local.metering import TASK_FUNCTIONS, deployed_ms

        if function not in TASK_FUNCTIONS or not isinstance(event, dict):
            return
        holder = event.get("key") if isinstance(event.get("key"), dict) else event.get("mention")
        mention_id = holder.get("mention_id") if isinstance(holder, dict) else None
        if not isinstance(mention_id, str):
            return
        ms = deployed_ms(cpu_ms, self._meter.function_memory_mb.get(function, 512))
        with self._clock_lock:
            self._task_ms[mention_id] = self._task_ms.get(mention_id, 0.0) + ms


class InterpreterRunner:
    """The local ExecutionRunner: StartExecution through the API (so it is metered like the deployed
    StartSyncExecution), then wait on moto's execution object itself rather than polling DescribeExecution,
    which would contend for moto's global lock with the executions it waits for."""

    def __init__(self, state_machine_arn: str, client: Any, timeout_seconds: float = 300) -> None:
        self._arn = state_machine_arn
        self._client = client
        self._timeout = timeout_seconds

    def run(self, name: str, payload: dict[str, Any]) -> Any:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        from responder.triage.dispatch import Outcome

        arn = self._client.start_execution(stateMachineArn=self._arn, name=name,
                                           input=json.dumps(payload))["executionArn"]
        backend = stepfunctions_parser_backends[LOCAL_ACCOUNT][LOCAL_REGION]
        execution = next((e for m in backend.state_machines for e in list(m.executions) if e.exec_arn == arn), None)
        if execution is None:
            return Outcome("FAILED", "Local.ExecutionNotFound", arn)
        deadline = time.monotonic() + self._timeout
        while execution.exec_status is None or execution.status == "RUNNING":
            if time.monotonic() > deadline:
                return Outcome("TIMED_OUT", "Local.Timeout", f"no result within {self._timeout:.0f}s")
            time.sleep(0.005)
        output = execution.output if execution.status == "SUCCEEDED" else None
        return Outcome(execution.status, execution.error, execution.cause,
                       None if output is None else json.dumps(output, separators=(",", ":")))


class LocalTriage:
    """Creates the workflow's resources in moto and runs the dispatcher and outbox loops."""

    # Where the template's assets were staged (layers, for paths under /opt); the template beside them.
    assembly_dir: Path = CDK_OUT

    def __init__(self, template: dict[str, Any], refs: dict[str, str], arns: dict[str, str],
                 outbox_path: Path | None, echo: Callable[[str], None] | None, context_factory: Callable[[str], Any],
                 triage_queue_url: str, meter: Any = None) -> None:
        self.meter = meter
        self.template = template
        self.refs = refs
        self.arns = arns
        self.outbox_path = outbox_path
        self.echo = echo
        self.context_factory = context_factory
        self.triage_queue_url = triage_queue_url
        self.topic_arns: dict[str, str] = {}  # readable name → ARN
        self.state_machine_arn = ""
        self.lambdas: InProcessLambdas | None = None
        self._outbox_queues: dict[str, str] = {}  # queue URL → topic name
        self._team_queues: dict[str, str] = {}  # queue URL → team (or subscription name)
        self._delivered: dict[str, list[str]] = {}  # SNS message id → teams whose subscription received it
        self._notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dispatch_errors = 0

    # -- resources --------------------------------------------------------------------------------------

    def create_topics(self) -> None:
        """SNS topics first: functions' environments and the state machine refer to them."""
        import boto3

        sns = boto3.client("sns", region_name=LOCAL_REGION)
        for logical_id in topics(self.template):
            arn = sns.create_topic(Name=logical_id)["TopicArn"]
            self.refs[logical_id] = arn
            self.arns[logical_id] = arn
            self.topic_arns[topic_name(logical_id)] = arn

    def function_environments(self) -> dict[str, dict[str, str]]:
        """Each function's environment, resolved to local names (unresolvable values such as the secret left out)."""
        for spec in functions(self.template):
            self.arns[spec.logical_id] = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{spec.logical_id}"
            self.refs.setdefault(spec.logical_id, spec.logical_id)
        for logical_id in state_machines(self.template):
            arn = f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:{logical_id}"
            self.refs[logical_id] = arn
            self.arns[logical_id] = arn
        envs = {}
        for spec in functions(self.template):
            env = {}
            for key, value in spec.environment.items():
                try:
                    env[key] = str(resolve(value, self.refs, self.arns))
                except TemplateError:
                    continue  # e.g. SECRET_ARN: the local stack reads RESPONDER_* variables instead
                if env[key].startswith("/opt/"):
                    # A path inside the function's layers (the configuration overrides): the same files, unzipped
                    # in the cloud assembly.
                    local = layer_path(self.template, spec.logical_id, env[key], self.assembly_dir)
                    if local is None:
                        raise TemplateError(f"{spec.logical_id}: {key}={env[key]} is in none of its layers")
                    env[key] = str(local)
            envs[spec.service] = env
        return envs

    def install_handlers(self) -> dict[str, Any]:
        """Load every function's handler from functions/<name>/handler.py and route moto's invocations to them."""
        handlers: dict[str, Any] = {}
        names: dict[str, str] = {}
        by_service: dict[str, Any] = {}
        for spec in functions(self.template):
            folder = spec.service.removeprefix("responder-")
            path = FUNCTIONS_DIR / folder / "handler.py"
            if not path.exists():
                raise TemplateError(f"{spec.logical_id} ({spec.service}) has no handler at {path}")
            module = load_module(path, f"responder_function_{folder}")
            handlers[spec.logical_id] = module.handler
            names[spec.logical_id] = folder
            by_service[spec.service] = module
            if self.meter is not None:
                memory = self.template["Resources"][spec.logical_id]["Properties"].get("MemorySize", 128)
                self.meter.function_memory_mb[folder] = int(memory)
        self.lambdas = InProcessLambdas(handlers, names, self.context_factory, self.meter)
        self.lambdas.install()
        return by_service

    def create_state_machine(self) -> None:
        import boto3

        sfn = boto3.client("stepfunctions", region_name=LOCAL_REGION)
        machines = state_machines(self.template)
        if len(machines) != 1:
            raise TemplateError(f"expected one state machine, found {len(machines)}")
        (logical_id, props), = machines.items()
        definition = resolve(props["DefinitionString"], self.refs, self.arns)
        json.loads(definition)  # fail here, clearly, if resolution left something that is not JSON
        self.state_machine_arn = sfn.create_state_machine(
            name=logical_id, definition=definition, type=props.get("StateMachineType", "STANDARD"),
            roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/local-triage")["stateMachineArn"]

    def subscribe(self, teams: list[str]) -> None:
        """Local SQS subscriptions: one catch-all per topic (the outbox), one per team, one per declared one."""
        import boto3

        sns = boto3.client("sns", region_name=LOCAL_REGION)
        sqs = boto3.client("sqs", region_name=LOCAL_REGION)

        def queue(name: str) -> tuple[str, str]:
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            return url, arn

        for name, topic_arn in self.topic_arns.items():
            url, arn = queue(f"local-outbox-{name}")
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
            self._outbox_queues[url] = name
        agent_arn = self.topic_arns.get("agent-notifications")
        if agent_arn:
            for team in teams:
                url, arn = queue(f"local-team-{team}")
                sns.subscribe(TopicArn=agent_arn, Protocol="sqs", Endpoint=arn,
                              Attributes={"FilterPolicy": json.dumps({"team": [team]})})
                self._team_queues[url] = team
        for index, props in enumerate(subscriptions(self.template)):
            topic_arn = resolve(props["TopicArn"], self.refs, self.arns)
            url, arn = queue(f"local-subscription-{index}")
            attributes = {"FilterPolicy": json.dumps(props["FilterPolicy"])} if props.get("FilterPolicy") else {}
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
            self._team_queues[url] = f"subscription-{index}:{props.get('Protocol')}:{props.get('Endpoint')}"

    # -- loops ------------------------------------------------------------------------------------------

    def start_loops(self, dispatcher_handler: Callable[..., Any], pollers: int = 3) -> None:
        """Like Lambda's SQS event source: several pollers, each handing batches of up to 10 to the dispatcher."""
        self._threads = [threading.Thread(target=self._dispatch_loop, args=(dispatcher_handler,),
                                          name=f"local-dispatcher-{i}", daemon=True) for i in range(pollers)]
        queues = [(url, name, True) for url, name in self._outbox_queues.items()] + [
            (url, team, False) for url, team in self._team_queues.items()]
        self._threads += [threading.Thread(target=self._outbox_loop, args=queue, name=f"local-outbox-{queue[1]}",
                                           daemon=True) for queue in queues]
        for thread in self._threads:
            thread.start()

    def flush_metering(self) -> None:
        """Account for every finished execution now (the report is about to be written)."""
        self._prune_finished_executions(older_than_seconds=-1.0)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.lambdas is not None:
            self.lambdas.uninstall()

    def start_consumer(self, queue_url: str, handler: Callable[..., Any], name: str, batch_size: int = 5) -> None:
        """Another SQS event source (the outbound queue's sender): one poller, partial batch failures."""
        thread = threading.Thread(target=self._consume_loop, args=(queue_url, handler, name, batch_size, False),
                                  name=f"local-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _dispatch_loop(self, dispatcher_handler: Callable[..., Any]) -> None:
        """The SQS event source mapping: batches of up to 10, partial batch failures left for redelivery."""
        self._consume_loop(self.triage_queue_url, dispatcher_handler, "dispatcher", 10, True)

    def _consume_loop(self, queue_url: str, handler: Callable[..., Any], name: str, batch_size: int,
                      dispatcher: bool) -> None:
        import boto3

        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch_size,
                                               WaitTimeSeconds=1, AttributeNames=["All"],
                                               MessageAttributeNames=["All"]).get("Messages", [])
                if not messages:
                    continue
                records = [{
                    "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                    "awsRegion": LOCAL_REGION} for m in messages]
                started = time.thread_time()
                context = _Deadline(self.context_factory(name), self._function_timeout(f"responder-{name}"))
                result = handler({"Records": records}, context) or {}
                if self.meter is not None:
                    self.meter.lambda_call(name, (time.thread_time() - started) * 1000)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages) if m["MessageId"] not in failed]
                if done:
                    sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
                if dispatcher:
                    self._prune_finished_executions()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad batch; it is counted and shown
                self.dispatch_errors += 1
                if self.echo:
                    self.echo(f"[{name}] batch failed, messages will be redelivered: {exc!r}")
                time.sleep(0.5)

    def _function_timeout(self, service: str) -> float:
        """A function's timeout in the template (the deployed one's remaining time starts there)."""
        for spec in functions(self.template):
            if spec.service == service:
                return float(self.template["Resources"][spec.logical_id]["Properties"].get("Timeout", 3))
        return 3.0

    def _prune_finished_executions(self, older_than_seconds: float = 10.0) -> None:
        """moto keeps every execution in a list it scans linearly; forget the ones that finished a while ago
        (a while: a runner in another poller may still be looking for its own)."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[LOCAL_ACCOUNT][LOCAL_REGION]
        cutoff = time.time() - older_than_seconds
        with self._lock:
            for machine in backend.state_machines:
                keep, finished = [], []
                for execution in list(machine.executions):
                    done = execution.exec_status is not None and execution.status != "RUNNING"
                    if done and execution.stop_date is not None and execution.stop_date.timestamp() <= cutoff:
                        finished.append(execution)
                    else:
                        keep.append(execution)
                machine.executions[:] = keep
            if self.meter is not None:
                for execution in finished:
                    entered = _states_entered(execution)
                    outer = getattr(execution.exec_worker, "responder_cpu_ms", None)
                    duration, task_ms = (self.lambdas.execution_duration_ms(execution.exec_arn, outer or 0.0)
                                         if self.lambdas is not None else (0.0, None))
                    if outer is None:  # its thread has not returned yet: the wall time, an upper bound
                        duration = (execution.stop_date - execution.start_date).total_seconds() * 1000
                    self.meter.execution_finished(duration, entered, task_ms=task_ms)

    def _outbox_loop(self, url: str, name: str, is_outbox: bool) -> None:
        """Drain one local subscription queue with long polls (a blocked poll costs no CPU)."""
        import boto3

        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        sqs._responder_unmetered = True  # local plumbing: deployed, SNS delivers to email/HTTPS endpoints itself
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", [])
            except Exception as exc:  # noqa: BLE001 - keep draining; shown, then retried after a pause
                if self.echo:
                    self.echo(f"[outbox] cannot read {name}: {exc!r}")
                time.sleep(1)
                continue
            if messages:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            for message in messages:
                envelope = json.loads(message["Body"])
                if is_outbox:
                    self._record(name, envelope)
                else:
                    with self._lock:
                        self._delivered.setdefault(envelope["MessageId"], []).append(name)

    def _record(self, topic: str, envelope: dict[str, Any]) -> None:
        try:
            message = json.loads(envelope.get("Message", ""))
        except json.JSONDecodeError:
            message = envelope.get("Message")
        published = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00")).timestamp()
        record = {
            "topic": topic,
            "message": message,
            "attributes": {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()},
            "published_at": published,
            "message_id": envelope.get("MessageId"),
            "subject": envelope.get("Subject"),
        }
        email = _email_text(message)
        if email is not None:
            record["email"] = email
        with self._lock:
            self._notifications.append(record)
        if self.outbox_path is not None:
            with self.outbox_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if self.echo:
            self.echo(_summary_line(record))

    def notifications(self) -> list[dict[str, Any]]:
        """Everything published so far, each with the teams whose subscriptions received it."""
        with self._lock:
            return [{**n, "delivered_to": sorted(self._delivered.get(n["message_id"], []))}
                    for n in self._notifications]


def _email_text(message: Any) -> str | None:
    """What an e-mail subscriber reads for this notification. The local subscriptions are SQS queues, which receive
    the `default` entry (the JSON document); the e-mail entry is rendered again from it, as the Route and Classify
    steps render it."""
    from responder.triage import notify

    if not isinstance(message, dict):
        return None
    if isinstance(message.get("mention"), dict):
        return notify.email_text(message)
    if message.get("alert") in ("opened", "digest") and isinstance(message.get("incident"), dict):
        return notify.incident_email_text(message)
    return None


def _summary_line(record: dict[str, Any]) -> str:
    message = record["message"] if isinstance(record["message"], dict) else {}
    attributes = record["attributes"]
    if "mention" in message:
        mention = message["mention"]
        draft = (message.get("draft") or {}).get("text", "")
        review_url = (message.get("actions") or {}).get("review_url")
        return (f"[{record['topic']}] {attributes.get('priority', '?')} → {attributes.get('team', '?')} "
                f"{mention.get('channel')}/{mention.get('kind')} {mention.get('mention_id')}: "
                f"{draft[:90]}{'…' if len(draft) > 90 else ''}" + (f" review: {review_url}" if review_url else ""))
    return f"[{record['topic']}] {record.get('subject') or ''} {json.dumps(message)[:160]}"
