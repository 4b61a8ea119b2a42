"""Caches for moto's Step Functions interpreter and a queue-length-independent SQS, so the local stack spends
its CPU on the workflow, not on re-parsing it or rescanning a backlog.

moto (like the LocalStack interpreter it was ported from) parses the whole ASL definition with ANTLR for every
execution, compiles every JSONPath expression every time it is evaluated, and builds a new boto3 client for
every task. Measured with py-spy on `responder demo`, those three account for about 45% of the interpreter's
time under the GIL. The parsed program, the compiled JSONPaths and the clients are immutable or thread-safe,
so caching them changes no behaviour; the integration tests (retries and catches included) run with them on.

moto's SQS scans every message of a queue several times per call: each SendMessage and each received message
recomputes the queue's attributes (three approximate counts, each a pass over the backlog), and each
DeleteMessage rebuilds the queue's list. With a surge backlog of 10,000 messages that made every SQS call cost
milliseconds and the run quadratic (py-spy: 40% of the process). The patches below keep SQS's observable
behaviour: visibility, delays, receive counts, redrive and deletes are unchanged; the `Approximate*` counts are
refreshed at most once a second, which SQS itself documents as approximate and eventually consistent.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from typing import Any

_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
)


class MotoSpeedups:
    """Install and remove the caches; every patched attribute is restored on `uninstall`."""

    def __init__(self) -> None:
        self._restore: list[tuple[Any, str, Any]] = []

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.parse import asl_parser
        from moto.stepfunctions.parser.asl.utils import json_path

        original_parse = asl_parser.AmazonStateLanguageParser.parse
        self._patch(asl_parser.AmazonStateLanguageParser, "parse", staticmethod(functools.lru_cache(maxsize=8)(
            original_parse)))
        self._patch(json_path, "parse", functools.lru_cache(maxsize=1024)(json_path.parse))

        clients: dict[tuple[str, str], Any] = {}

        def cached_client(module: Any) -> Any:
            original = module.boto_client_for

            def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
                # moto's own implementation ignores state_credentials: every client is the same fake identity.
                key = (region, service)
                if key not in clients:
                    clients[key] = original(region=region, service=service)
                return clients[key]

            return boto_client_for

        for name in _CLIENT_MODULES:
            module = importlib.import_module(name)
            if hasattr(module, "boto_client_for"):
                self._patch(module, "boto_client_for", cached_client(module))
        self._install_sqs()
        self._install_dispatch()
        self._install_entered_time()

    def _install_entered_time(self) -> None:
        """The context object's `$$.State.EnteredTime` as Step Functions writes it, e.g. `2019-03-26T20:14:13.192Z`
        (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html); moto writes Python's
        `isoformat()`, `...13.192345+00:00`. The workflow stores it (`triaged_at`) on items billed per started KB."""
        import datetime as real
        import types

        from moto.stepfunctions.parser.asl.component.state import state

        class AwsTime(real.datetime):
            def isoformat(self, sep: str = "T", timespec: str = "milliseconds") -> str:
                utc = self.astimezone(real.timezone.utc)
                return real.datetime.isoformat(utc.replace(tzinfo=None), sep, timespec) + "Z"

        clock = types.SimpleNamespace(datetime=AwsTime, timezone=real.timezone)
        self._patch(state, "datetime", clock)

    def _install_dispatch(self) -> None:
        """Per-request work that gives the same answer every time: moto's reflection over its response classes,
        jsonpath-ng's parser tables (rebuilt for each ResultPath), botocore's User-Agent string."""
        from botocore import useragent
        from moto.core import responses
        from moto.stepfunctions.parser.asl.component.common.path import result_path

        self._patch(responses, "method_names_from_class",
                    functools.lru_cache(maxsize=256)(responses.method_names_from_class))
        self._patch(result_path, "parse", functools.lru_cache(maxsize=1024)(result_path.parse))

        real_to_string = useragent.UserAgentString.to_string
        agents: dict[tuple[int, frozenset[str]], tuple[Any, str]] = {}

        def to_string(agent: Any) -> str:
            # The string depends on the agent (one per client) and the feature ids of the current request.
            ctx = useragent.get_context()
            key = (id(agent), frozenset(ctx.features) if ctx is not None else frozenset())
            hit = agents.get(key)
            if hit is None or hit[0] is not agent:
                if len(agents) > 4096:
                    agents.clear()
                hit = agents[key] = (agent, real_to_string(agent))
            return hit[1]

        self._patch(useragent.UserAgentString, "to_string", to_string)

    def _install_sqs(self) -> None:
        from moto.core import utils as core_utils
        from moto.sqs import models as sqs

        real_unix_time, real_unix_time_millis = core_utils.unix_time, core_utils.unix_time_millis

        def unix_time(dt: Any = None) -> float:
            # moto's version builds two datetimes per call; it is called per message per scan.
            return time.time() if dt is None else real_unix_time(dt)

        def unix_time_millis(dt: Any = None) -> float:
            return time.time() * 1000.0 if dt is None else real_unix_time_millis(dt)

        self._patch(sqs, "unix_time", unix_time)
        self._patch(sqs, "unix_time_millis", unix_time_millis)

        def messages(queue: Any) -> list[Any]:
            now = time.time() * 1000.0
            return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

        self._patch(sqs.Queue, "messages", property(messages))

        counts_lock = threading.Lock()

        def approximate(queue: Any) -> tuple[int, int, int]:
            """(visible, delayed, in flight), recomputed at most once a second per queue."""
            now = time.monotonic()
            cached = getattr(queue, "_responder_counts", None)
            if cached is not None and now - cached[0] < 1.0:
                return cached[1]
            with counts_lock:
                wall = time.time() * 1000.0
                visible = delayed = inflight = 0
                for m in queue._messages:
                    if wall < m.delayed_until:
                        delayed += 1
                    if not wall > m.visible_at:
                        inflight += 1
                    elif not wall < m.delayed_until:
                        visible += 1
                counts = (visible, delayed, inflight)
                queue._responder_counts = (now, counts)
            return counts

        self._patch(sqs.Queue, "approximate_number_of_messages", property(lambda q: approximate(q)[0]))
        self._patch(sqs.Queue, "approximate_number_of_messages_delayed", property(lambda q: approximate(q)[1]))
        self._patch(sqs.Queue, "approximate_number_of_messages_not_visible",
                    property(lambda q: approximate(q)[2]))

        def delete_message(queue: Any, receipt_handle: str) -> None:
            # Under the lock SendMessage appends with: moto's own version rebuilds the list unlocked, so a message
            # sent while another is deleted can vanish (seen once in a 10,000-mention surge benchmark).
            with queue._messages_lock:
                if receipt_handle in queue.deleted_messages:
                    return  # already deleted: SQS accepts deleting it again
                for index, message in enumerate(queue._messages):
                    if message.had_receipt_handle(receipt_handle):
                        break
                else:
                    raise sqs.ReceiptHandleIsInvalid()
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
                del queue._messages[index]

        self._patch(sqs.Queue, "delete_message", delete_message)

        def is_message_valid_based_on_retention_period(backend: Any, queue_name: str, message: Any) -> bool:
            queue = backend.get_queue(queue_name)
            return int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time()

        self._patch(sqs.SQSBackend, "is_message_valid_based_on_retention_period",
                    is_message_valid_based_on_retention_period)

    def uninstall(self) -> None:
        while self._restore:
            owner, name, value = self._restore.pop()
            setattr(owner, name, value)
