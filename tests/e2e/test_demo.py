"""The README's main command, `responder demo`, end to end on a small run."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from responder_cli import demo

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_demo_triages_everything_and_prints_its_report(tmp_path):
    # Given a small seeded run with a surge
    done = subprocess.run([sys.executable, "-m", "responder_cli.main", "demo", "--count", "30", "--surge", "40",
                           "--rate", "30", "--outbox", str(tmp_path / "outbox.jsonl"), "--timeout", "120",
                           "--report-dir", str(tmp_path / "report")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    # Then it exits 0 (every unique delivery stored once and triaged) and reports what happened
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = done.stdout
    for line in ("mentions stored", "triage outcome", "routed per team", "notifications", "incidents",
                 "acknowledgement", "delivery→notification", "Cost per million mentions", "naive/ours",
                 "approvals", "replies at platforms", "approve→platform", "first response", "Local stack stopped."):
        assert line in report, line
    # And a share of the drafts was approved through the review pages, each reaching its platform once
    approved = int(re.search(r"approvals\s+(\d+) drafts sent", report).group(1))
    assert approved > 0
    assert re.search(r"replies at platforms\s+(\d+) ", report).group(1) == str(approved)
    assert "FAILED" not in report and "failed triage" not in report
    assert (tmp_path / "outbox.jsonl").read_text().count("\n") > 0
    # And it ends with the report's headline, the answered share next to the 53% expectation, and writes the report
    headline = re.search(r"Answered within the hour: (\d+)% of (\d+) mentions \((\d+) of (\d+) answered\)", report)
    assert headline and "53%" in report[headline.start():headline.start() + 300]
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["mentions"] == int(headline.group(2)) > 0
    # (every approved reply went out within seconds, so within the hour; nothing else was answered)
    assert saved["answered"] == saved["answered_within_1h"] == int(headline.group(3)) == approved
    assert (tmp_path / "report" / "report.html").exists()
    assert (tmp_path / "report" / "volume.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_exits_1_when_the_mentions_fail_triage(monkeypatch, capsys):
    # Given the Draft task's routing raises for every mention (the workflow marks each triage_failed)
    from responder.triage import steps

    def broken(event, rules, review_link=None):
        raise ValueError("routing rules unreadable")

    monkeypatch.setattr(steps, "route_step", broken)
    args = argparse.Namespace(count=6, surge=0, rate=0.0, duplicates=0.0, seed=11, timeout=60.0, outbox="",
                              approve=0.3, verbose=False, report_dir="")
    # When the demo runs
    status = demo.run(args)
    # Then it does not claim success: exit status 1, and it says what fell short
    out = capsys.readouterr().out
    assert status == 1, out[-2000:]
    assert "FAILED: not triaged: triage_failed" in out


def _mention(mention_id: str, status: str, channel: str = "x") -> dict[str, str]:
    return {"channel": channel, "mention_id": mention_id, "status": status}


def test_only_final_good_statuses_count_as_triaged():
    sent = {("x", "1"), ("x", "2"), ("facebook", "3")}
    # Given every sent delivery stored once and notified, archived or gathered into an incident: no problem
    good = [_mention("1", "notified"), _mention("2", "archived"), _mention("3", "incident", "facebook")]
    assert demo.problems(good, sent) == []
    # Given one failed triage, one still queued, one stored twice, or one missing: each is reported
    assert demo.problems([*good[:2], _mention("3", "triage_failed", "facebook")], sent) == [
        "not triaged: triage_failed 1"]
    assert demo.problems([*good[:2], _mention("3", "queued", "facebook")], sent) == ["not triaged: queued 1"]
    assert demo.problems([*good, good[0]], sent) == ["1 mention(s) stored more than once"]
    assert demo.problems(good[:2], sent) == ["1 unique deliveries not stored"]


class _SentStack:
    def __init__(self, sent):
        self._sent = sent

    def sent(self):
        return self._sent


def test_two_private_replies_to_one_person_are_not_one_reply_sent_twice():
    # Given two approved Messenger messages of one person, both answered (the platform records the recipient only)
    mentions = [{"channel": "messenger", "kind": "message", "mention_id": m, "status": "answered",
                 "author": {"id": "7600000000001"}} for m in ("m_1", "m_2")]
    approvals = [{"channel": "messenger", "mention_id": m, "approved_at": 1.0} for m in ("m_1", "m_2")]
    reply = {"channel": "messenger", "in_reply_to": None, "recipient": "7600000000001"}
    # Then two replies are what was expected
    assert demo.reply_problems(_SentStack([reply, reply]), approvals, mentions) == []
    # But three, or two for a single approval, is a reply sent twice
    assert demo.reply_problems(_SentStack([reply] * 3), approvals, mentions) == [
        "1 mention(s) answered more than once at the platform"]
    assert demo.reply_problems(_SentStack([reply, reply]), approvals[:1], mentions) == [
        "1 mention(s) answered more than once at the platform"]
