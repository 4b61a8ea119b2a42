"""SLA timers against `responder local --rules` with one-minute SLAs: of three new mentions, one answered through its
review form, one answered natively on X, one left alone, exactly the third escalates, once, not before its due time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.e2e.local_process import REPO, local_process
from tests.e2e.test_review_flow import SECRETS, form_nonce, notification_for, post_x, wait_for, x_brand_reply
from tests.e2e.test_review_flow import x_mention as review_x_mention

pytestmark = pytest.mark.slow

ONE_MINUTE = {"sla_minutes": {"p1": 1, "complaint": 1, "default": 1}}
# The mentions are written 40 s before they are posted: due 20 s after, time enough to answer two of them first.
WRITTEN_SECONDS_AGO = 40


@pytest.fixture(scope="module")
def sla_stack(tmp_path_factory):
    rules = tmp_path_factory.mktemp("rules") / "rules.json"
    rules.write_text(json.dumps(ONE_MINUTE))
    with local_process(SECRETS, ["--rules", str(rules), "--outbox", ""]) as (base, _process):
        yield base


def x_mention(post_id: str, text: str, author_id: str, created_at: datetime) -> bytes:
    body = json.loads(review_x_mention(post_id, text, author_id))
    body["data"]["payload"]["created_at"] = created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json.dumps(body).encode()


def mentions(base: str) -> dict[str, dict]:
    return {m["mention_id"]: m for m in requests.get(f"{base}/local/mentions", timeout=10).json()}


def escalations(base: str) -> list[dict]:
    return [r for r in requests.get(f"{base}/local/notifications", timeout=10).json()
            if isinstance(r.get("message"), dict) and r["message"].get("alert") == "sla_breached"]


def test_only_the_mention_left_alone_escalates_once_after_its_due_time(sla_stack):
    base = sla_stack
    written = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=WRITTEN_SECONDS_AGO)
    form_id, native_id, alone_id = "4400000000000000301", "4400000000000000302", "4400000000000000303"
    # Given three new complaints on X under one-minute SLAs
    for post_id, author in ((form_id, "2000000000000000881"), (native_id, "2000000000000000882"),
                            (alone_id, "2000000000000000883")):
        post_x(base, x_mention(post_id, f"@AcmeSupport order {post_id[-3:]} never arrived, I want a refund", author,
                               written))
    notified = {pid: notification_for(base, pid) for pid in (form_id, native_id, alone_id)}
    due = (written + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert wait_for(lambda: all(mentions(base)[p].get("status") == "notified" for p in notified), what="notified")
    assert {mentions(base)[p]["sla_due"] for p in notified} == {due}

    # When the first is answered through its review form
    url = notified[form_id]["actions"]["review_url"]
    page = requests.get(url, timeout=10)
    answer = requests.post(url, data={"nonce": form_nonce(page.text), "text": "Refund on its way. ^JS",
                                      "action": "send", "agent": "jamie"}, timeout=20, allow_redirects=False)
    assert answer.status_code in (200, 303)
    # And the second natively, by the brand on X
    post_x(base, x_brand_reply("4400000000000000399", native_id))
    wait_for(lambda: all(mentions(base)[p].get("status") == "answered" for p in (form_id, native_id)),
             what="two answered")
    assert datetime.now(timezone.utc) < written + timedelta(minutes=1), "answered after the due time: test too slow"
    # Then nothing escalates before the due time
    assert escalations(base) == []

    # When the due time passes
    found = wait_for(lambda: escalations(base), timeout=60, what="the escalation")
    seen_at = datetime.now(timezone.utc)
    time.sleep(4.0)  # a second escalation, if any, would be published by now
    # Then exactly one escalation, for the mention left alone, with its review link and how late it is
    found = escalations(base)
    assert len(found) == 1, found
    doc = found[0]["message"]
    assert doc["mention"]["mention_id"] == alone_id and doc["sla_due"] == due
    # (a link freshly signed for the same mention: it opens that mention's review page)
    link = doc["actions"]["review_url"]
    assert link.startswith(f"{base}/review/")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and f"order {alone_id[-3:]} never arrived" in page.text
    assert doc["late_seconds"] >= 0 and found[0]["topic"] == "escalations"
    # And it was not published before the due time
    assert seen_at >= written + timedelta(minutes=1)
    # And the mention records the breach (at or after its due time); the answered ones do not
    stored = mentions(base)
    assert stored[alone_id]["sla_breached_at"][:19] >= due[:19]
    assert "sla_breached_at" not in stored[form_id] and "sla_breached_at" not in stored[native_id]
    # And the team is reminded on the agents' topic
    reminders = [r for r in requests.get(f"{base}/local/notifications", timeout=10).json()
                 if isinstance(r.get("message"), dict) and r["message"].get("alert") == "sla_reminder"]
    assert [r["message"]["mention"]["mention_id"] for r in reminders] == [alone_id]


def test_the_report_counts_the_three_mentions_two_answered_within_the_hour_and_one_breach(sla_stack, tmp_path):
    # Given the three mentions of the test above, two answered and one escalated
    if not any(m.get("sla_breached_at") for m in mentions(sla_stack).values()):
        pytest.skip("needs the escalation test above (run the module)")
    # When `responder report` reads the local stack
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "responder_cli.main", "report", "--url", sla_stack, "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Then it counts 3 mentions, 2 answered, both within the hour, and 1 breach
    report = json.loads((out / "report.json").read_text())
    assert (report["mentions"], report["answered"], report["answered_within_1h"], report["sla_breaches"]) == (
        3, 2, 2, 1)
    # And it writes the HTML page and its plots, and prints the headline next to customers' expectations
    assert (out / "report.html").read_text().count("<img") >= 1
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "53%" in done.stdout and "72%" in done.stdout


def test_a_bad_rules_file_is_a_clear_error_and_exit_status_2_before_anything_starts(tmp_path):
    for content, expected in (('{"sla_minutes": {"default": 0}}', "sla_minutes.default"),
                              ("{not json", "not valid JSON"), ('{"no_such_key": 1}', "no_such_key")):
        rules = tmp_path / "rules.json"
        rules.write_text(content)
        done = subprocess.run([sys.executable, "-m", "responder_cli.main", "local", "--port", "0", "--rules",
                               str(rules)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"responder: --rules {rules}: ") and expected in done.stderr, done.stderr
        assert "ready" not in done.stdout
    missing = subprocess.run([sys.executable, "-m", "responder_cli.main", "local", "--rules", str(tmp_path / "nope")],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
