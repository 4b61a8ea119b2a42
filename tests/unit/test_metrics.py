"""Business metrics (EMF through Powertools): names, units, dimensions limited to team/priority/channel, no ids,
one document per dimension set; and the Draft function's MentionsNotified, counted as it routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.core import metrics as m
from responder_cli.local.stack import LambdaContext
from responder_cli.local.triage import load_module

REPO = Path(__file__).resolve().parents[2]


def emf_documents(text: str) -> list[dict]:
    """The EMF documents among printed lines, as {"dimensions": {...}, "metrics": {name: (unit, values)}}."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        doc = json.loads(line)
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Responder"
        names, total = directive["Dimensions"]
        assert total == [], "every metric is also published without dimensions (the totals)"
        found.append({"dimensions": {n: doc[n] for n in names},
                      "metrics": {d["Name"]: (d["Unit"], doc[d["Name"]]) for d in directive["Metrics"]}})
    return found


@pytest.fixture(autouse=True)
def _metrics_on(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "responder-webhook")


def test_counts_are_summed_per_dimension_set_and_timings_kept(capsys):
    # Given three mentions on two channels and two first answers of one team
    recorder = m.BusinessMetrics()
    recorder.count(m.MENTIONS_RECEIVED, channel="x")
    recorder.count(m.MENTIONS_RECEIVED, channel="x")
    recorder.count(m.MENTIONS_RECEIVED, channel="facebook")
    for created, answered in (("2026-12-01T10:00:00Z", "2026-12-01T10:10:00Z"),
                              ("2026-12-01T10:00:00Z", "2026-12-01T12:00:00Z")):
        recorder.answered({"team": "billing", "priority": "p2", "created_at": created, "received_at": created,
                           "first_response_at": answered, "mention_id": "1790000000000000001"})
    # When flushed
    recorder.flush()
    docs = emf_documents(capsys.readouterr().out)
    # Then one document per dimension set, counts summed, every timing kept, and no service dimension
    assert docs == [
        {"dimensions": {"channel": "x"}, "metrics": {"MentionsReceived": ("Count", [2.0])}},
        {"dimensions": {"channel": "facebook"}, "metrics": {"MentionsReceived": ("Count", [1.0])}},
        {"dimensions": {"priority": "p2", "team": "billing"},
         "metrics": {"MentionsAnswered": ("Count", [2.0]), "FirstResponseSeconds": ("Seconds", [600.0, 7200.0])}},
    ]
    # And a second flush prints nothing (the invocation's metrics went out once)
    recorder.flush()
    assert emf_documents(capsys.readouterr().out) == []


def test_more_than_a_hundred_timings_are_split_over_documents(capsys):
    # Given 150 first-response times of one team (EMF takes at most 100 values per metric and document)
    recorder = m.BusinessMetrics()
    for i in range(150):
        recorder.seconds(m.FIRST_RESPONSE_SECONDS, i, team="support", priority="p3")
    recorder.flush()
    # Then two documents (each with its totals) carry all 150 values, in order
    docs = emf_documents(capsys.readouterr().out)
    assert [len(d["metrics"]["FirstResponseSeconds"][1]) for d in docs] == [99, 51]
    assert [v for d in docs for v in d["metrics"]["FirstResponseSeconds"][1]] == [float(i) for i in range(150)]


def test_nothing_is_printed_when_metrics_are_disabled(monkeypatch, capsys):
    # Given POWERTOOLS_METRICS_DISABLED (the local stack sets it: EMF lines are for CloudWatch)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    recorder = m.BusinessMetrics()
    recorder.count(m.MENTIONS_RECEIVED, channel="x")
    recorder.flush()
    assert capsys.readouterr().out == ""


def test_an_id_can_never_become_a_dimension():
    # Given a dimension outside team/priority/channel (an id would make a custom metric per mention)
    with pytest.raises(ValueError, match="limited to"):
        m.BusinessMetrics().count(m.MENTIONS_RECEIVED, mention_id="1790000000000000001")


def test_first_response_counts_from_the_post_unless_it_is_later_than_receipt():
    assert m.first_response_seconds({"created_at": "2026-12-01T09:00:00Z", "received_at": "2026-12-01T09:01:00Z",
                                     "first_response_at": "2026-12-01T10:00:00Z"}) == 3600
    assert m.first_response_seconds({"created_at": "2026-12-01T09:30:00Z", "received_at": "2026-12-01T09:00:00Z",
                                     "first_response_at": "2026-12-01T10:00:00Z"}) == 3600
    assert m.first_response_seconds({"received_at": "2026-12-01T09:00:00Z"}) is None


class _NoThread:
    """The store as Draft reads it for a mention that opened its thread: no thread item, the text in the state."""

    def get_thread(self, channel, thread_id, opener=None, consistent=True):
        return None

    def get_mention(self, channel, mention_id):
        raise AssertionError("the state carries the whole text")


MENTION = {"platform": "x", "channel": "x", "kind": "mention", "mention_id": "1790000000000000001",
           "thread_id": "1790000000000000001", "account_id": "42", "author": {"id": "5", "handle": "casey_q"},
           "text": "@acme my order still hasn't arrived", "created_at": "2026-12-01T10:00:00Z"}
CLASSIFICATION = {"intent": "complaint", "sentiment": "negative", "topic": "delivery", "language": "en"}


def _draft_function(monkeypatch, name):
    """The Draft function with the shipped rules and voice, its store reading no thread."""
    from responder.triage.drafting import load_voice
    from responder.triage.routing import load_rules
    from responder.triage.runtime import TriageRuntime

    module = load_module(REPO / "functions" / "draft" / "handler.py", name)
    rt = TriageRuntime(settings=None, store=_NoThread(), rules=load_rules(None), voice=load_voice(None),
                       incidents=None)
    monkeypatch.setattr(module, "runtime", lambda settings: rt)
    return module


def test_the_draft_function_counts_each_notified_mention_by_team_and_priority(monkeypatch, capsys):
    # Given the Draft function with the shipped rules
    module = _draft_function(monkeypatch, "responder_draft_handler_metrics")
    # When it drafts and routes a mention the agents are paged for
    result = module.handler({"mention": MENTION, "classification": CLASSIFICATION, "notify": True}, LambdaContext())
    # Then MentionsNotified is counted once with the route's team and priority, and nothing names the mention
    route = result["route"]
    out = capsys.readouterr().out
    docs = emf_documents(out)
    assert docs == [{"dimensions": {"priority": route["priority"], "team": route["team"]},
                     "metrics": {"MentionsNotified": ("Count", [1.0])}}]
    emf = [line for line in out.splitlines() if '"_aws"' in line]
    assert "1790000000000000001" not in emf[0]


def test_the_draft_function_counts_no_incident_member_as_notified(monkeypatch, capsys):
    # Given the Draft function
    module = _draft_function(monkeypatch, "responder_draft_handler_member_metrics")
    # When it drafts an incident member (recorded without a page: not told to notify)
    result = module.handler({"mention": MENTION, "classification": CLASSIFICATION}, LambdaContext())
    # Then nothing is counted as notified, and nothing is routed
    assert emf_documents(capsys.readouterr().out) == [] and "route" not in result


