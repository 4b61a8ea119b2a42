"""The README's main command, `responder demo`, end to end on a small run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_demo_triages_everything_and_prints_its_report(tmp_path):
    # Given a small seeded run with a surge
    done = subprocess.run([sys.executable, "-m", "responder_cli.main", "demo", "--count", "30", "--surge", "40",
                           "--rate", "30", "--outbox", str(tmp_path / "outbox.jsonl"), "--timeout", "120"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    # Then it exits 0 (every unique delivery stored once and triaged) and reports what happened
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = done.stdout
    for line in ("mentions stored", "triage outcome", "routed per team", "notifications", "incidents",
                 "acknowledgement", "delivery→notification", "Cost per million mentions", "naive/ours",
                 "Local stack stopped."):
        assert line in report, line
    assert (tmp_path / "outbox.jsonl").read_text().count("\n") > 0
