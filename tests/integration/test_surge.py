"""A viral surge through the local stack (real state machine, DynamoDB Local), in two waves: the first opens one
incident; the second arrives while it is open, joins it and sends digests. Every member triaged and drafted, one
`opened` alert, one digest per size threshold crossed, and no individual pages for members except crises. The
surge is worded with the held-out wordings (openers, tails, hashtags, emoji, typos, devices), never used to tune.

Then the clustering alone, scenario by scenario: two simultaneous surges, a bilingual one, busy unrelated
complaints."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from responder.surge.incidents import SurgeSettings
from responder.ingest.signatures import sign_meta, sign_x
from responder_cli.local.stack import LambdaContext, LocalStack, http_api_event
from responder_cli.replay import build_deliveries
from tests.settle import FINAL, settle

pytestmark = pytest.mark.slow
TRIAGED = FINAL - {"triage_failed"}  # a final good status
REVIEW_KEY = "s" * 48
REVIEW_ENV = {"RESPONDER_REVIEW_BASE_URL": "http://127.0.0.1:9", "RESPONDER_REVIEW_KEY": REVIEW_KEY}
FIRST_WAVE = 35  # surge mentions before the incident opens (it stays under 50 members); 55 arrive while it is open
# The minute counters learn of a batch's mentions when its execution ends (README, "Spike detection"): a wave that
# is all triaged before enough of its batches have ended is not seen as a spike, whatever it says, until the next
# mention comes (a clean-clone CI run on 2026-12-04 saw the first wave open nothing, and the second open it). So the
# first wave comes in two parts, the second once the first's batches are counted, as a surge's later mentions do:
# which mention opens the incident, and the clustering that decides it, are still the stack's.
COUNTED_FIRST = 25
# Recall through the live stack depends on its timing: which mentions are in the window when the incident opens and
# learns its model. Before 2026-12-03 it was 0.83-0.94 on this seed (18 runs): the "place order" wordings fit no
# model, and the first wave's first two seconds were read as a slower pace before the surge (the onset) and left
# out. Since then 0.989 in 3 runs, the machine shared with benches; seeds 7, 11, 13: 0.91-0.97. The in-process
# scenarios below hold 0.95 on their fixed clock.
LIVE_RECALL_FLOOR = 0.9


def deliver(stack: LocalStack, deliveries) -> None:
    """Send each delivery through the webhook handler; a 503 is retried with backoff, as X and Meta do."""
    for d in deliveries:
        body = d.encoded()
        header = ({"x-twitter-webhooks-signature": sign_x("local-x-consumer-secret", body)} if d.platform == "x"
                  else {"x-hub-signature-256": sign_meta("local-meta-app-secret", body)})
        for attempt in range(6):
            answer = stack._handler(http_api_event("POST", f"/webhooks/{d.platform}", header, body), LambdaContext())
            if answer["statusCode"] != 503:
                break
            time.sleep(0.2 * 2 ** attempt)
        assert answer["statusCode"] == 200, answer


def alerts(notes: list[dict], kind: str) -> list[dict]:
    return [n for n in notes if n["topic"] == "incidents" and n["message"].get("alert") == kind]


@pytest.fixture(scope="module")
def surge_run():
    import os

    os.environ.update(REVIEW_ENV)  # review links in every alert
    stack = LocalStack(port=0, outbox=None, log_level="ERROR").start()
    try:
        # Given everyday traffic and a surge of one complaint, worded many ways, a tenth of deliveries repeated
        deliveries = build_deliveries(None, count=40, surge=90, seed=5, duplicates=0.1)
        truth = {(d.channel, d.mention_id): d.truth for d in deliveries}
        surge_keys = list(dict.fromkeys((d.channel, d.mention_id) for d in deliveries if d.truth.get("surge")))
        later = set(surge_keys[FIRST_WAVE:])
        rest_of_first = set(surge_keys[COUNTED_FIRST:FIRST_WAVE])
        first = [d for d in deliveries if (d.channel, d.mention_id) not in later | rest_of_first]
        first_rest = [d for d in deliveries if (d.channel, d.mention_id) in rest_of_first]
        second = [d for d in deliveries if (d.channel, d.mention_id) in later]
        # When the first wave is delivered and triaged: the incident opens
        deliver(stack, first)
        settle(stack, len(truth) - len(later) - len(rest_of_first))
        deliver(stack, first_rest)
        first_notes = settle(stack, len(truth) - len(later))
        opened_incidents = stack.incidents()
        # And the second wave arrives while it is open
        deliver(stack, second)
        notes = settle(stack, len(truth))
        yield {"stack": stack, "truth": truth, "later": later, "mentions": stack.mentions(),
               "incidents": stack.incidents(), "notifications": notes, "first_notes": first_notes,
               "opened_incidents": opened_incidents}
    finally:
        stack.stop()
        for name in REVIEW_ENV:
            os.environ.pop(name, None)


def test_every_mention_is_stored_once_and_triaged(surge_run):
    keys = [(m["channel"], m["mention_id"]) for m in surge_run["mentions"]]
    assert len(keys) == len(set(keys)) == len(surge_run["truth"])
    # triage_failed is final but is not triage: every mention must reach notified, archived or incident
    assert Counter(m["status"] for m in surge_run["mentions"] if m["status"] not in TRIAGED) == Counter()


def test_one_incident_gathers_the_surge_with_high_precision_and_recall(surge_run):
    (incident,) = surge_run["incidents"]
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    surge = {k for k, t in surge_run["truth"].items() if t.get("surge")}
    true_positive = len(members & surge)
    # (Measured through the local stack: precision 1.000, recall 0.989 on this seed, LIVE_RECALL_FLOOR)
    assert true_positive / len(members) >= 0.95
    assert true_positive / len(surge) >= LIVE_RECALL_FLOOR
    assert incident["status"] == "open" and incident["size"] == len(incident["mention_ids"]) == len(members)
    assert incident["opened_at"] and "~pay" in incident["top_terms"]


def test_the_incident_opened_in_the_first_wave_and_the_second_joined_it(surge_run):
    # The incident was open before the second wave was sent
    (opened,) = surge_run["opened_incidents"]
    (incident,) = surge_run["incidents"]
    assert opened["incident_id"] == incident["incident_id"]
    # And the second wave's mentions joined it after it opened (the join path, not the backfill at opening)
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    later = surge_run["later"]
    assert len(members & later) >= 0.8 * len(later), f"{len(members & later)} of {len(later)} joined"
    assert incident["size"] > opened["size"]


def test_agents_get_one_opened_alert_and_one_digest_per_threshold_crossed(surge_run):
    notes, first_notes = surge_run["notifications"], surge_run["first_notes"]
    (incident,) = surge_run["incidents"]
    # One `opened` alert, published in the first wave, with a holding statement, as p1
    (opened,) = alerts(notes, "opened")
    assert alerts(first_notes, "opened") == [opened]
    assert opened["message"]["holding_statement"]["text"] and opened["attributes"]["priority"] == "p1"
    # And it is readable by e-mail: how many, about what, the holding statement to review
    assert f"{opened['message']['incident']['size']} mentions" in opened["email"]
    assert opened["message"]["holding_statement"]["text"] in opened["email"]
    assert opened["subject"].startswith("Responder incident opened: ")
    # And every alert links the review page of a mention of the incident (the one that raised it)
    from responder.replies.tokens import ReviewSigner

    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    for alert in [opened, *alerts(notes, "digest")]:
        url = alert["message"]["actions"]["review_url"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/review/[A-Za-z0-9_.-]+", url) and url in alert["email"]
        target = ReviewSigner(REVIEW_KEY.encode()).verify(url.rsplit("/", 1)[1])
        assert (target.channel, target.mention_id) in members
    # Digests: sizes growing, at most one per size threshold reached (the threshold a digest claimed is the
    # largest one at or below its size), and the second wave, which takes the incident past 50, sends one
    digests = alerts(notes, "digest")
    sizes = [d["message"]["incident"]["size"] for d in digests]
    thresholds = SurgeSettings().digest_sizes
    claimed = [max(t for t in thresholds if t <= size) for size in sizes]
    assert sizes == sorted(set(sizes)) and len(claimed) == len(set(claimed)), sizes
    later_digests = [d for d in digests if d not in first_notes]
    assert later_digests and all(d["message"]["incident"]["size"] >= 50 for d in later_digests), sizes
    assert incident["size"] >= 50
    # And the incident records exactly the alerts that were sent
    assert Counter(a["alert"] for a in incident["alerts"]) == Counter({"opened": 1, "digest": len(digests)})


def test_members_who_join_an_open_incident_are_not_paged_one_by_one_except_crises(surge_run):
    notes = surge_run["notifications"]
    (incident,) = surge_run["incidents"]
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    pages = [n for n in notes if n["topic"] == "agent-notifications"]
    paged = Counter((n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"]) for n in pages)
    # Nobody is paged twice about one mention (what each page of a mention paged twice was, if one is)
    twice = [{k: n.get(k) for k in ("message_id", "published_at", "subject", "attributes")}
             for n in pages if paged[(n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"])] > 1]
    assert max(paged.values()) == 1, twice
    # Crises are paged even inside the incident
    crisis = {k for k, t in surge_run["truth"].items() if t.get("crisis")}
    assert crisis <= set(paged)
    # Members of the second wave (the incident was open before they were sent) are paged only as exceptions
    # (p1: crises and the like); members triaged before it opened were paged as ordinary mentions
    later_pages = [n for n in pages if (n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"])
                   in members & surge_run["later"]]
    from responder.triage.routing import load_rules

    # (p1: crises and the like; VIPs and high-reach authors keep their own priority)
    rules = load_rules()
    stored = {(m["channel"], m["mention_id"]): m for m in surge_run["mentions"]}

    def author(n):
        return stored[(n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"])].get("author") or {}

    exceptions = [n for n in later_pages if n["attributes"]["priority"] == "p1" or rules.is_vip(author(n))
                  or rules.high_reach(author(n))]
    assert exceptions == later_pages, Counter(n["attributes"]["priority"] for n in later_pages)
    assert len(later_pages) <= 0.1 * len(surge_run["later"])
    # Background mentions (not in the incident, not noise) are each paged once
    background = {(m["channel"], m["mention_id"]) for m in surge_run["mentions"]
                  if (m["channel"], m["mention_id"]) not in members and m["status"] == "notified"}
    assert background and background <= set(paged)


def test_every_member_gets_its_own_stored_draft(surge_run):
    (incident,) = surge_run["incidents"]
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    stored = {(m["channel"], m["mention_id"]): m for m in surge_run["mentions"]}
    surge = {k for k, t in surge_run["truth"].items() if t.get("surge")}
    # Every member, not one of them: as many as the surge, each with a draft and a final good status
    assert len(members) >= LIVE_RECALL_FLOOR * len(surge)
    assert [k for k in members if not stored[k].get("draft_text")] == []
    assert Counter(stored[k]["status"] for k in members) <= Counter({"incident": len(members),
                                                                     "notified": len(members)})


# -- Clustering, scenario by scenario, on held-out wordings (each mention classified and correlated as the Classify
# step does it, against DynamoDB Local, on the generator's clock; bench/surge_bench.py --clustering prints them).

SCENARIO_SIZE = {"surge": 200, "background": 200}


@pytest.fixture(scope="module")
def scenario_runs(dynamodb_local):
    from bench.surge_bench import correlate_stream
    from responder_cli.traffic import SCENARIOS, surge_scenario

    runs = {}
    for name in SCENARIOS:
        deliveries = surge_scenario(name, seed=29, wordings="held_out", **SCENARIO_SIZE)
        runs[name] = {**correlate_stream(deliveries, dynamodb_local), "deliveries": deliveries}
    return runs


def scored(run):
    from responder_cli.traffic import score_incidents

    return score_incidents(run["truth"], run["incidents"])


def test_a_held_out_surge_is_one_incident_with_precision_and_recall_of_at_least_095(scenario_runs):
    # Given a surge of one failure, worded with the held-out wordings (never used to tune the clustering), amid
    # everyday and busy unrelated complaints
    score = scored(scenario_runs["held_out"])
    # Then it is one incident, nothing else is one, and no mention is in two
    (surge,) = score["surges"].values()
    assert surge["incidents"] == 1 and score["false_incidents"] == 0 and score["in_two_incidents"] == 0
    # And the incident gathers the surge: precision and recall at least 0.95
    assert surge["precision"] >= 0.95 and surge["recall"] >= 0.95, surge


def test_two_simultaneous_unrelated_surges_are_two_incidents(scenario_runs):
    # Given payments and logins failing at the same time
    run = scenario_runs["two_surges"]
    score = scored(run)
    # Then each is an incident of its own, each about its own failure, and no mention is in both
    assert {s: v["incidents"] for s, v in score["surges"].items()} == {"checkout": 1, "login": 1}
    assert score["false_incidents"] == 0 and score["in_two_incidents"] == 0
    # And each gathers its own failure: the look-alike everyday complaints that came before the surges, and the other
    # failure's mentions that share a plain word with one wording of it, stay out (precision 1.00 and 0.99 at this
    # seed; recall 0.95 and 1.00)
    for surge in score["surges"].values():
        assert surge["precision"] >= 0.95 and surge["recall"] >= 0.9, score


def test_a_surge_in_two_languages_is_one_incident(scenario_runs):
    # Given the checkout failure complained about in English and in Spanish
    run = scenario_runs["bilingual"]
    score = scored(run)
    # Then it is one incident (one failure, one fix, one alert), holding both languages
    (surge,) = score["surges"].values()
    assert surge["incidents"] == 1 and score["false_incidents"] == 0
    assert surge["precision"] >= 0.95 and surge["recall"] >= 0.95, surge
    (incident,) = run["incidents"]
    members = {(m["channel"], m["mention_id"]) for m in incident["members"]}
    languages = {run["truth"][k]["language"] for k in members if run["truth"][k].get("surge")}
    assert languages == {"en", "es"}


def test_busy_unrelated_complaints_open_no_incident_though_they_spike(scenario_runs):
    # Given only everyday traffic and many negative complaints on many subjects, from a quiet start
    run = scenario_runs["busy"]
    from responder.surge.incidents import SurgeSettings, bucket, detect_spike

    per_minute = Counter(bucket(d.at) for d in run["deliveries"])
    spiking = [at for at in (d.at for d in run["deliveries"])
               if detect_spike(dict(per_minute), at, SurgeSettings(), "all") is not None]
    # When they are counted, the spike detector fires (it is the clustering that must say "not one thing")
    assert spiking
    # Then no incident opens, and every mention is paged as an ordinary one
    assert run["incidents"] == []
    assert all(r["page"] for r in run["results"].values() if not r.get("noise"))


def test_crisis_mentions_are_still_paged_in_every_scenario(scenario_runs):
    # Given every scenario (crises are part of the everyday traffic)
    crises = [(name, key) for name, run in scenario_runs.items() for key, t in run["truth"].items()
              if t.get("crisis")]
    assert crises
    # Then each crisis is paged individually, incident or not
    assert [c for c in crises if not scenario_runs[c[0]]["results"][c[1]]["page"]] == []


# -- Membership: one incident per mention, whichever path gathers it first ------------------------------------------

def _open(incidents, scope, signature, at):
    from responder.surge.incidents import BRAND_KEY, incident_id_for

    incident = {"incident_id": incident_id_for(BRAND_KEY, scope, at), "account_id": BRAND_KEY, "scope": "all",
                "incident_status": "open", "signature": signature, "opened_at": "2026-12-01T12:00:00Z",
                "first_seen_at": "2026-12-01T12:00:00Z", "last_seen_at": "2026-12-01T12:00:00Z", "size": 0,
                "next_digest": 25, "sample_mention_ids": [], "alerts": [], "opened_by": "x:1", "language": "en"}
    assert incidents.try_open(BRAND_KEY, scope, incident, at, SurgeSettings())
    return incident


def test_a_mention_joins_one_incident_only_and_a_retry_changes_nothing(store):
    from datetime import datetime, timezone

    from responder.aws.incident_store import IncidentStore

    at = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)
    incidents = IncidentStore(store)
    payments = _open(incidents, "all-pay", {"~pay": 0.9, "~fail": 0.7}, at)
    logins = _open(incidents, "all-login", {"~login": 0.9, "~fail": 0.7}, at)
    mention = {"channel": "x", "mention_id": "1800000000000000001"}
    # Given a mention gathered into the payments incident (as the mentions that made its spike are)
    assert incidents.join(payments, mention, "negative", at, SurgeSettings())["size"] == 1
    # When the same join runs again (a retried step), and then the logins incident tries to take it too
    assert incidents.join(payments, mention, "negative", at, SurgeSettings()) is None
    assert incidents.join(logins, mention, "negative", at, SurgeSettings()) is None
    # Then it is a member of the payments incident only, counted once, and says so
    assert [m["mention_id"] for m in incidents.members(payments["incident_id"])] == [mention["mention_id"]]
    assert incidents.members(logins["incident_id"]) == []
    assert incidents.get("brand", payments["incident_id"])["size"] == 1
    assert incidents.get("brand", logins["incident_id"])["size"] == 0
    assert incidents.incident_of(mention) == payments["incident_id"]


def test_a_queued_mention_gathered_by_one_incident_stays_there_when_triage_finds_it_fits_another(store):
    from datetime import datetime, timezone

    from responder.aws.incident_store import IncidentStore
    from responder.surge.correlate import correlate
    from responder.triage.routing import load_rules

    at = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)
    incidents = IncidentStore(store)
    payments = _open(incidents, "all-pay", {"~pay": 0.9, "~fail": 0.7}, at)
    logins = _open(incidents, "all-login", {"~login": 0.9, "~fail": 0.7, "code": 0.4}, at)
    # Given a mention the payments incident gathered while it waited in the triage queue
    mention = {"channel": "x", "mention_id": "1800000000000000002", "received_at": "2026-12-01T12:00:10Z",
               "text": "can't log in to my account, the code never arrives", "author": {"id": "7"}}
    incidents.join(payments, mention, "negative", at, SurgeSettings())
    # When triage correlates it, and its words fit the logins incident better
    answer = correlate(mention, {"topic": "account", "sentiment": "negative"}, incidents, load_rules(), None, now=at)
    # Then it stays a member of the payments incident only, and triage records that one
    assert answer["member"] and answer["incident_id"] == payments["incident_id"]
    assert incidents.members(logins["incident_id"]) == []
    assert incidents.get("brand", logins["incident_id"])["size"] == 0


def test_the_recent_window_read_through_gsi2_says_when_each_mention_came(store):
    from datetime import datetime, timedelta, timezone

    from responder.aws.incident_store import IncidentStore
    from responder.core.model import Author, Mention
    from responder.surge.correlate import received_at_of
    from responder.surge.incidents import BRAND_KEY

    at = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)
    # Given two mentions received a minute apart
    for i, when in enumerate((at - timedelta(minutes=1), at)):
        store.save(Mention(platform="x", channel="x", kind="mention", mention_id=str(1800000000000000100 + i),
                           thread_id=str(i), author=Author(id="5", handle="casey_q"), text="checkout down",
                           created_at="2026-12-01T12:00:00Z", account_id="42"), when)
    # When the window is read as clustering reads it (gsi2 projects no received_at)
    recent = IncidentStore(store).recent_mentions(BRAND_KEY, at - timedelta(minutes=3))
    # Then each mention's receive time is still known, so what is new in the window can be told from what is old
    assert sorted(received_at_of(m) for m in recent) == ["2026-12-01T11:59:30Z", "2026-12-01T12:00:30Z"]


def test_an_incidents_model_is_kept_apart_so_each_join_bills_one_write_unit(store, meter):
    from datetime import datetime, timezone

    from responder.aws.incident_store import IncidentStore
    from responder.surge.incidents import BRAND_KEY

    at = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)
    incidents = IncidentStore(store)
    # Given an incident opened with a cluster model of a realistic size (forty terms: ~900 bytes on the incident)
    model = {"weights": {f"term{i:02d}": -1.2345 + i / 100 for i in range(40)},
             "absent": {f"term{i:02d}": -0.5432 for i in range(8)}, "unknown": -1.1, "bias": 2.3}
    signature = {f"~word{i}": 0.5 for i in range(8)}
    payments = {**_open_with_model(incidents, "all-pay", signature, model, at)}
    before = meter.write_units
    # When ten mentions join it
    for i in range(10):
        mention = {"channel": "x", "mention_id": str(1800000000000000100 + i)}
        assert incidents.join(payments, mention, "negative", at, SurgeSettings())["size"] == i + 1
    # Then each join bills its claim, its member and one unit for the incident's counters, plus one for a sample:
    # the incident item stays under 1 KB (with the model on it, each counter update was two units)
    assert meter.write_units - before == 10 * 4.0
    # And the open incidents carry the model they opened with, read from its own item in the same query
    (listed,) = incidents.open_incidents(BRAND_KEY, fresh=True, now=at)
    assert listed["model"] == model and listed["signature"] == signature and listed["size"] == 10
    # And a refreshed model replaces it there
    incidents.set_signature(payments, signature, {"weights": {"pay": 1.0}, "absent": {}, "unknown": 0.0, "bias": 0.0})
    (listed,) = incidents.open_incidents(BRAND_KEY, fresh=True, now=at)
    assert listed["model"]["weights"] == {"pay": 1.0} and "model" not in incidents.get(BRAND_KEY, listed["incident_id"])


def _open_with_model(incidents, scope, signature, model, at):
    from responder.surge.incidents import BRAND_KEY, incident_id_for

    incident = {"incident_id": incident_id_for(BRAND_KEY, scope, at), "account_id": BRAND_KEY, "scope": "all",
                "incident_status": "open", "signature": signature, "model": model,
                "opened_at": "2026-12-01T12:00:00Z", "first_seen_at": "2026-12-01T12:00:00Z",
                "last_seen_at": "2026-12-01T12:00:00Z", "size": 0, "next_digest": 25, "sample_mention_ids": [],
                "alerts": [], "opened_by": "x:1", "language": "en"}
    assert incidents.try_open(BRAND_KEY, scope, incident, at, SurgeSettings())
    return incident
