"""`responder local` started as a process for end-to-end tests, and stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from responder_cli.local.dynamodb_local import free_port

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def local_process(secrets: Mapping[str, str], extra_args: Sequence[str] = ()) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yield (base URL, process) once `/local/health` answers; SIGTERM it afterwards (if it still runs)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "responder_cli.main", "local", "--port", str(port),
                                "--in-memory", *extra_args], cwd=REPO, env={**os.environ, **secrets},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"responder local exited early:\n{process.stdout.read()}")
        try:
            if requests.get(f"{base}/local/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("responder local did not become healthy within 120 s")
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
