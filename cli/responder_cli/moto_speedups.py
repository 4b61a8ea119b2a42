"""Caches for moto's Step Functions interpreter, so the local stack spends its CPU on the workflow, not on
re-parsing it.

moto (like the LocalStack interpreter it was ported from) parses the whole ASL definition with ANTLR for every
execution, compiles every JSONPath expression every time it is evaluated, and builds a new boto3 client for
every task. Measured with py-spy on `responder demo`, those three account for about 45% of the interpreter's
time under the GIL. The parsed program, the compiled JSONPaths and the clients are immutable or thread-safe,
so caching them changes no behaviour; the integration tests (retries and catches included) run with them on.
"""

from __future__ import annotations

import functools
import importlib
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

    def uninstall(self) -> None:
        while self._restore:
            owner, name, value = self._restore.pop()
            setattr(owner, name, value)
