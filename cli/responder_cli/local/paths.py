"""Where the repository's parts are, for the CLI and the local runtime."""

from __future__ import annotations

import os
from pathlib import Path

# The CLI runs from a checkout (installed in editable mode); RESPONDER_HOME points elsewhere if needed.
REPO_ROOT = Path(os.environ.get("RESPONDER_HOME") or Path(__file__).resolve().parents[3])
CDK_OUT = REPO_ROOT / "cdk.out"
WEBHOOK_HANDLER = REPO_ROOT / "functions" / "webhook" / "handler.py"
DOMAIN_PACKAGE_DIR = REPO_ROOT / "layers" / "responder" / "python"
