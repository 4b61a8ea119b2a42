"""A mention erased before or during triage: the synthesized state machine (moto's interpreter, DynamoDB Local) stops
cleanly, puts no text back on the tombstone or its thread, and alerts nobody."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest

from responder.privacy.erasure import Eraser
from tests.integration.test_triage_workflow import (deliver, handler_replaced, item_statuses,  # noqa: F401
                                                   notifications_for, stack)
from tests.settle import settle

pytestmark = pytest.mark.slow


def finished(stack, mention_id, timeout=30):
    """How the mention's triage ended: its execution's status, or FAILED when its own item failed in an execution that
    succeeded (its batch's other mentions go on)."""
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        found = item_statuses(stack, mention_id)
        status = found[0] if found else None
        if status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"):
            return status
        time.sleep(0.1)
    pytest.fail(f"the execution of {mention_id} did not end: {status}")


def erase(stack, mention_id):
    return Eraser(stack.table_name, client=stack._store.client).erase_mention(
        "x", mention_id, source="x.tweet_delete", at=datetime.now(timezone.utc))


def assert_tombstone(stack, mention_id):
    stored = stack._store.get_mention("x", mention_id)
    assert stored["status"] == "deleted", stored
    assert not {"text", "draft_text", "classification_json", "attachments"} & set(stored)
    assert set(stored["author"]) == {"id"}
    return stored


def alerts_for(stack, mention_id):
    return [n for n in notifications_for(stack, mention_id, "escalations", timeout=0) if n["message"].get("alert")]


def test_a_mention_erased_before_classify_is_skipped_without_a_notification(stack):
    original_calls = []

    def erased_first(event, context, original=None):
        erase(stack, event["key"]["mention_id"])
        original_calls.append(event["key"]["mention_id"])
        return classify(event, context)

    classify = _handler(stack, "classify")
    # Given a mention whose delete notice is honoured just before triage reads it
    with handler_replaced(stack, "classify", erased_first):
        mention_id = deliver(stack, "my parcel 5512 is lost, please help")
        # When its execution runs
        status = finished(stack, mention_id)
    # Then it ends well, nobody is notified or alerted, and the tombstone stays a tombstone
    assert status == "SUCCEEDED" and original_calls == [mention_id]
    settle(stack)
    assert notifications_for(stack, mention_id, timeout=0) == []
    assert_tombstone(stack, mention_id)


def test_a_mention_erased_while_it_is_drafted_gets_no_text_back_and_no_alert(stack):
    draft = _handler(stack, "draft")

    def erased_meanwhile(event, context):
        answer = draft(event, context)
        erase(stack, event["mention"]["mention_id"])  # between Draft and the record of triage's outcome
        return answer

    # Given a complaint erased after its draft was written, before triage records its outcome
    with handler_replaced(stack, "draft", erased_meanwhile):
        mention_id = deliver(stack, "the courier left my order 7781 in the rain, I want a refund")
        status = finished(stack, mention_id)
    # Then the execution ends well (ClosedMeanwhile), without triage_failed or an alert
    assert status == "SUCCEEDED"
    stored = assert_tombstone(stack, mention_id)
    assert "triage_error" not in stored and alerts_for(stack, mention_id) == []
    # and its thread holds no copy of the draft
    thread = stack._store.get_thread("x", stored["thread_id"])
    assert "last_draft_text" not in thread


def test_noise_erased_while_it_is_classified_is_not_archived_over_its_tombstone(stack):
    classify = _handler(stack, "classify")

    def erased_after_classify(event, context):
        answer = classify(event, context)
        erase(stack, event["key"]["mention_id"])  # after Classify read it, before Archive
        return answer

    # Given spam erased after it was read and classified as noise
    with handler_replaced(stack, "classify", erased_after_classify):
        mention_id = deliver(stack, "🔥 FREE crypto giveaway 🔥 follow back and DM me to claim 1000 USDT now!!! bit.ly/x1")
        status = finished(stack, mention_id)
    # Then Archive does not overwrite the tombstone, and the execution ends well without an alert
    assert status == "SUCCEEDED"
    stored = assert_tombstone(stack, mention_id)
    assert "archive_reason" not in stored and alerts_for(stack, mention_id) == []


def test_an_incident_opened_by_a_mention_erased_while_it_is_classified_never_carries_its_text(stack):
    from tests.integration.test_triage_workflow import open_incident_of

    classify, opened_now = _handler(stack, "classify"), threading.Event()
    text = "the wrenfaddle valve leaks again wrenfaddle valve dripping"

    def erased_after_classify(event, context):
        opened_now.wait(20)
        answer = classify(event, context)
        erase(stack, event["key"]["mention_id"])  # after Classify decided the `opened` alert was due
        return answer

    # Given an incident this mention opened, not announced yet, and the mention erased (a delete notice honoured)
    # after its triage classified it, before its outcome is written
    with handler_replaced(stack, "classify", erased_after_classify):
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-erased")
        opened_now.set()
        # When its execution runs
        status = finished(stack, mention_id)
    settle(stack)
    # Then the execution ends well and the mention stays a tombstone
    assert status == "SUCCEEDED"
    assert_tombstone(stack, mention_id)
    # And nothing published after the erasure carries the erased text: no incident alert quotes it to subscribers
    published = [n for n in stack.triage.notifications() if n["topic"] == "incidents"
                 and json.dumps(n["message"]).find(incident_id) >= 0]
    assert [n for n in published if "wrenfaddle valve leaks" in json.dumps(n["message"]) + str(n.get("email"))] == []


def _handler(stack, function):
    lambdas = stack.triage.lambdas
    return lambdas.handlers[next(n for n, short in lambdas.names.items() if short == function)]
