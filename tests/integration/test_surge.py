"""A viral surge through the local stack (real state machine, DynamoDB Local): one incident, the right members,
one alert with a holding statement, no individual pages for members except crises."""

from __future__ import annotations

import time

import pytest

from responder.signatures import sign_meta, sign_x
from responder_cli.local_stack import LambdaContext, LocalStack, http_api_event
from responder_cli.replay import build_deliveries

pytestmark = pytest.mark.slow
TERMINAL = {"notified", "archived", "triage_failed", "incident"}


@pytest.fixture(scope="module")
def surge_run(tmp_path_factory):
    stack = LocalStack(port=0, outbox=None, log_level="ERROR").start()
    try:
        # Given everyday traffic with a surge of one complaint, worded many ways, in the middle, a tenth repeated
        deliveries = build_deliveries(None, count=40, surge=90, seed=5, duplicates=0.1)
        for d in deliveries:
            body = d.encoded()
            header = ({"x-twitter-webhooks-signature": sign_x("local-x-consumer-secret", body)} if d.platform == "x"
                      else {"x-hub-signature-256": sign_meta("local-meta-app-secret", body)})
            answer = stack._handler(http_api_event("POST", f"/webhooks/{d.platform}", header, body), LambdaContext())
            assert answer["statusCode"] == 200
        truth = {(d.channel, d.mention_id): d.truth for d in deliveries}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mentions = stack.mentions()
            if len(mentions) == len(truth) and all(m["status"] in TERMINAL for m in mentions):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # let the outbox drain the last notifications
        yield {"stack": stack, "truth": truth, "mentions": stack.mentions(), "incidents": stack.incidents(),
               "notifications": stack.triage.notifications()}
    finally:
        stack.stop()


def test_every_mention_is_stored_once_and_triaged(surge_run):
    keys = [(m["channel"], m["mention_id"]) for m in surge_run["mentions"]]
    assert len(keys) == len(set(keys)) == len(surge_run["truth"])
    assert all(m["status"] in TERMINAL for m in surge_run["mentions"])


def test_one_incident_gathers_the_surge_with_high_precision_and_recall(surge_run):
    (incident,) = surge_run["incidents"]
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    surge = {k for k, t in surge_run["truth"].items() if t.get("surge")}
    true_positive = len(members & surge)
    assert true_positive / len(members) >= 0.9
    assert true_positive / len(surge) >= 0.9
    assert incident["status"] == "open" and incident["size"] == len(incident["mention_ids"]) == len(members)
    assert incident["opened_at"] and {"checkout", "pay"} & set(incident["top_terms"])


def test_agents_see_one_alert_not_a_page_per_member(surge_run):
    notes = surge_run["notifications"]
    alerts = [n for n in notes if n["topic"] == "incidents"]
    assert alerts[0]["message"]["alert"] == "opened" or any(a["message"]["alert"] == "opened" for a in alerts)
    opened = next(a for a in alerts if a["message"]["alert"] == "opened")
    assert opened["message"]["holding_statement"]["text"] and opened["attributes"]["priority"] == "p1"
    pages = [n for n in notes if n["topic"] == "agent-notifications"]
    assert len(pages) <= len(surge_run["truth"]) / 2  # background is paged; the surge is not, one by one
    paged = {(n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"]) for n in pages}
    crisis = {k for k, t in surge_run["truth"].items() if t.get("crisis")}
    assert crisis <= paged
    (incident,) = surge_run["incidents"]
    assert [a["alert"] for a in incident["alerts"]][:1] and "opened" in [a["alert"] for a in incident["alerts"]]


def test_members_still_get_their_own_stored_draft(surge_run):
    members = [m for m in surge_run["mentions"] if m["status"] == "incident"]
    assert members and all(m.get("draft_text") for m in members)
