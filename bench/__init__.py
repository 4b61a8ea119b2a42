"""Benchmarks: each prints its figures and ratios (never a timed assertion); shared helpers below."""

from __future__ import annotations

import time
from typing import Any


def wait_for_local(base: str, session: Any = None, timeout: float = 180.0) -> bool:
    """Wait until a `responder local` at `base` answers its health route; False if it never does in time."""
    import requests

    http = session or requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(f"{base}/local/health", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            time.sleep(0.3)
    return False
