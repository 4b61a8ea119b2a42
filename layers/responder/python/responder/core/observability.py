"""The one place that builds the logger: JSON logs with keys, never secrets nor private message text."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "responder"))
