"""Triage steps that run twice for one mention (Step Functions retrying a task, SQS redelivering a message)
change the surge state once: counters, incident size and membership (DynamoDB Local)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from responder.aws.incident_store import IncidentStore
from responder.surge.incidents import BRAND_KEY, SurgeSettings, bucket, match_score, salient_terms
from responder.ingest.normalize_x import normalize_x
from responder.triage.routing import load_rules
from responder.surge.correlate import correlate
from responder.triage.dispatch import record_counts
from responder.triage.steps import classify_step
from tests.conftest import fixture_json


@pytest.fixture
def store(store_on_both_clients):
    """The store on boto3's client and on the JSON-protocol client the functions use deployed (conftest)."""
    return store_on_both_clients

RECEIVED = datetime(2026, 12, 1, 9, 15, 31, tzinfo=timezone.utc)


@pytest.fixture
def stored(store):
    """A complaint stored as the webhook stores it."""
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    assert store.save(mention, RECEIVED).created
    return store.get_mention("x", mention.mention_id)


def minute_counts(incidents: IncidentStore) -> dict[str, int]:
    counts = incidents.counts(BRAND_KEY, RECEIVED, SurgeSettings())
    return {scope: sum(per_bucket.values()) for scope, per_bucket in counts.items()}


def open_incident_matching(incidents: IncidentStore, text: str) -> dict:
    """An open incident whose signature is the mention's own salient terms, so the mention joins it."""
    terms = salient_terms(text)
    signature = {term: 1.0 for term in terms}
    assert match_score(terms, signature, SurgeSettings()) >= SurgeSettings().join_threshold
    at = RECEIVED.strftime("%Y-%m-%dT%H:%M:%SZ")
    incident = {"incident_id": "inc-test", "account_id": BRAND_KEY, "scope": "all", "incident_status": "open",
                "signature": signature, "opened_at": at, "first_seen_at": at, "last_seen_at": at, "size": 0,
                "next_digest": 25, "sample_mention_ids": [], "alerts": [], "language": "en"}
    assert incidents.try_open(BRAND_KEY, "all", incident, RECEIVED - timedelta(minutes=5), SurgeSettings())
    return incident


def succeeded_with(classified: dict) -> dict:
    """The result of a mention triaged after this Classify result (the workflow's item result carries its count)."""
    return {"claim": "message-1", "failed": False, "count": classified["count"]}


def test_classify_retried_with_the_same_claim_is_counted_once_when_its_execution_succeeds(store, stored):
    # Given a stored mention and the surge state in the same table
    incidents, rules = IncidentStore(store), load_rules()
    event = {"key": {"channel": "x", "mention_id": stored["mention_id"], "thread_id": stored["thread_id"]},
             "claim": "message-1"}
    # When Classify runs for it, and runs again with the same claim (Step Functions retrying the task)
    first = classify_step(event, store, rules, now=RECEIVED, incidents=incidents)
    second = classify_step(event, store, rules, now=RECEIVED + timedelta(seconds=20), incidents=incidents)
    # Then both runs classified it and carry the same share of the counters, and neither wrote a counter itself
    assert not first["skip"] and not second["skip"] and not first["classification"]["noise"]
    topic = first["classification"]["topic"]
    assert first["count"] == second["count"] == {"account": BRAND_KEY, "bucket": bucket(RECEIVED), "topic": topic}
    assert minute_counts(incidents) == {}
    # And once the execution succeeded, the dispatcher counts the mention once, in total and for its topic
    assert record_counts([succeeded_with(second)], incidents) == 1
    assert minute_counts(incidents) == {"all": 1, topic: 1}
    # And nothing was written beside the mention
    items = store.client.query(TableName=store._table, KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": f"MENTION#x#{stored['mention_id']}"}})["Items"]
    assert [i["sk"]["S"] for i in items if i["sk"]["S"] not in ("MENTION", "RAW")] == []


class ThrottledOnce:
    """A managed sentiment backend whose first call is throttled, as Comprehend is in a surge."""

    def __init__(self) -> None:
        self.calls = 0

    def refine(self, local, text, **_):
        from responder.aws.managed import ManagedBackendUnavailable, Refined

        self.calls += 1
        if self.calls == 1:
            raise ManagedBackendUnavailable("ThrottlingException")
        return Refined(local, {"language": "local", "sentiment": "local"})


def test_a_mention_whose_managed_sentiment_was_throttled_once_is_still_counted(store, stored):
    # Given a stored mention and a managed sentiment backend that throttles its first call
    incidents, rules, backend = IncidentStore(store), load_rules(), ThrottledOnce()
    event = {"key": {"channel": "x", "mention_id": stored["mention_id"], "thread_id": stored["thread_id"]},
             "claim": "message-1"}
    # When Classify fails on the throttle and Step Functions runs it again with the same claim
    with pytest.raises(Exception, match="Throttling"):
        classify_step(event, store, rules, now=RECEIVED, incidents=incidents, sentiment=backend)
    retried = classify_step(event, store, rules, now=RECEIVED + timedelta(seconds=2), incidents=incidents,
                            sentiment=backend)
    # Then the execution that succeeded counts the mention in its minute, once (a surge of throttled mentions is
    # still seen as one)
    assert not retried["skip"] and backend.calls == 2
    record_counts([succeeded_with(retried)], incidents)
    topic = retried["classification"]["topic"]
    assert minute_counts(incidents) == {"all": 1, topic: 1}


def test_counting_a_mention_is_one_write_unit(store, stored, meter):
    # Given a stored mention
    incidents = IncidentStore(store)
    before = meter.write_units
    # When it is counted one at a time (as the in-process replays count)
    assert incidents.count(BRAND_KEY, "order", RECEIVED, mention=stored)
    # Then the count cost one write unit (a plain increment of a small counter item, not a transaction)
    assert meter.write_units - before == 1.0


def test_the_surge_step_run_twice_counts_once_and_joins_once(store, stored):
    # Given an open incident that the mention belongs to
    incidents = IncidentStore(store)
    open_incident_matching(incidents, stored["text"])
    classification = {"topic": "order", "sentiment": "negative", "priority": "p3"}
    # When the surge step runs twice for the same mention (its first triage attempt, then a retry: the claim
    # counts the attempts)
    results = [correlate({**stored, "triage_attempts": attempt}, classification, incidents, None, None, now=RECEIVED)
               for attempt in (1, 2)]
    # Then the mention is a member both times, but the incident grew by one and the counters by one
    assert [r["incident_id"] for r in results] == ["inc-test", "inc-test"] and all(r["member"] for r in results)
    incident = incidents.get(BRAND_KEY, "inc-test")
    assert incident["size"] == 1 and incident["sentiment_negative"] == 1
    assert [m["mention_id"] for m in incidents.members("inc-test")] == [stored["mention_id"]]
    assert minute_counts(incidents) == {"all": 1, "order": 1}


def test_concurrent_runs_for_one_mention_count_and_join_once(store, stored):
    # Given an open incident the mention belongs to
    incidents = IncidentStore(store)
    open_incident_matching(incidents, stored["text"])
    classification = {"topic": "order", "sentiment": "negative", "priority": "p3"}
    barrier = threading.Barrier(4)

    def run(attempt):
        barrier.wait()
        return correlate({**stored, "triage_attempts": attempt}, classification, IncidentStore(store), None, None,
                         now=RECEIVED)

    # When four attempts for the same mention run at the same moment (retries beside a still-running invocation)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(1, 5)))
    # Then all report the membership, and the incident and the counters hold the mention once
    assert all(r["incident_id"] == "inc-test" for r in results)
    assert incidents.get(BRAND_KEY, "inc-test")["size"] == 1
    assert len(incidents.members("inc-test")) == 1
    assert minute_counts(incidents) == {"all": 1, "order": 1}
    assert bucket(RECEIVED) in incidents.counts(BRAND_KEY, RECEIVED, SurgeSettings())["all"]


def test_a_retry_of_the_step_that_opened_an_incident_still_announces_it(store, stored):
    import json

    incidents = IncidentStore(store)
    classification = {"topic": "delivery", "sentiment": "negative", "intent": "complaint", "priority": "p2"}
    # Given an incident opened by this mention's step, which then failed before the `opened` alert was recorded
    incident = open_incident_matching(incidents, stored["text"])
    store.client.update_item(
        TableName=store._table, Key=store._item({"pk": f"INCIDENT#{BRAND_KEY}", "sk": incident["incident_id"]}),
        UpdateExpression="SET opened_by = :me",
        ExpressionAttributeValues=store._item({":me": f"{stored['channel']}:{stored['mention_id']}"}))
    incidents._open_cache.clear()
    # When the step runs again for the same mention
    retried = correlate(stored, classification, incidents, None, None, now=RECEIVED)
    # Then it announces the incident
    assert retried["member"] and retried["alert"] and retried["alert"]["alert"] == "opened"
    # And once the workflow has recorded that alert, a further retry announces nothing more
    store.client.update_item(
        TableName=store._table, Key=store._item({"pk": f"INCIDENT#{BRAND_KEY}", "sk": incident["incident_id"]}),
        UpdateExpression="SET alerts = list_append(alerts, :a)",
        ExpressionAttributeValues=store._item({":a": [json.dumps(retried["alert_record"])]}))
    again = correlate(stored, classification, incidents, None, None, now=RECEIVED)
    assert again["alert"] is None
    # And another member joining the same incident never announces it
    other = dict(stored, mention_id="3200000000000009999")
    assert correlate(other, classification, incidents, None, None, now=RECEIVED)["alert"] is None


def test_a_join_cut_short_after_its_claim_is_completed_by_the_retry(store, stored):
    # Given a join that wrote the mention's claim and died before its member item
    incidents = IncidentStore(store)
    incident = open_incident_matching(incidents, stored["text"])
    store.client.put_item(TableName=store._table, Item={
        "pk": {"S": f"MENTION#x#{stored['mention_id']}"}, "sk": {"S": "INCIDENT"}, "type": {"S": "incident_claim"},
        "incident_id": {"S": "inc-test"}})
    # When the step is retried
    state = incidents.join(incident, stored, "negative", RECEIVED, SurgeSettings(sample_size=0))
    # Then the mention becomes a member of that incident, counted once
    assert state is not None and state["size"] == 1
    assert [m["mention_id"] for m in incidents.members("inc-test")] == [stored["mention_id"]]


def test_joining_an_incident_is_three_small_writes_and_a_retry_adds_nothing(store, stored, meter):
    # Given an open incident the mention belongs to, with its samples full (no sample write)
    incidents = IncidentStore(store)
    incident = open_incident_matching(incidents, stored["text"])
    settings = SurgeSettings(sample_size=0)
    before = meter.write_units
    # When the mention joins it, and joins again (a retried step)
    state = incidents.join(incident, stored, "negative", RECEIVED, settings)
    cost = meter.write_units - before
    written = meter.write_units
    again = incidents.join(incident, stored, "negative", RECEIVED, settings)
    # Then the first join wrote the mention's claim, the member and the counters with three plain writes (one unit
    # each, no transaction, which would bill six)
    assert state["size"] == 1 and cost == 3.0
    # And the retry added nothing and wrote nothing: it read that the mention is a member already
    assert meter.write_units == written
    assert again is None and incidents.get(BRAND_KEY, "inc-test")["size"] == 1
