"""The one place that builds the logger: JSON logs with keys, never secrets nor private message text."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "responder"))


class OptionalLog:
    """`_info` / `_warn` on a service whose logger (`self._log`) may be None (tests, quiet callers)."""

    _log: Any = None

    def _info(self, message: str, **keys: Any) -> None:
        if self._log is not None:
            self._log.info(message, **keys)

    def _warn(self, message: str, **keys: Any) -> None:
        if self._log is not None:
            self._log.warning(message, **keys)
