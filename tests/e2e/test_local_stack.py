"""`responder local` over HTTP: signed deliveries in, stored mentions out, a clean stop."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from responder.ingest.signatures import sign_meta, sign_x
from tests.conftest import fixture_bytes
from tests.e2e.local_process import local_process

pytestmark = pytest.mark.slow

SECRETS = {"RESPONDER_X_CONSUMER_SECRET": "e2e-x-secret", "RESPONDER_META_APP_SECRET": "e2e-meta-secret",
           "RESPONDER_META_VERIFY_TOKEN": "e2e-verify"}


def _java_processes_on(port: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"DynamoDBLocal.jar" in b" ".join(cmd) and str(port).encode() in cmd:
                pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
def local_stack():
    with local_process(SECRETS) as (base, process):
        health = requests.get(f"{base}/local/health", timeout=5).json()
        yield {"base": base, "process": process, "health": health}


def post_x(base, body, secret=SECRETS["RESPONDER_X_CONSUMER_SECRET"]):
    return requests.post(f"{base}/webhooks/x", data=body, timeout=10, headers={
        "content-type": "application/json", "x-twitter-webhooks-signature": sign_x(secret, body)})


def post_meta(base, body, secret=SECRETS["RESPONDER_META_APP_SECRET"]):
    return requests.post(f"{base}/webhooks/meta", data=body, timeout=10, headers={
        "content-type": "application/json", "x-hub-signature-256": sign_meta(secret, body)})


def mentions(base):
    return requests.get(f"{base}/local/mentions", timeout=10).json()


def test_handshakes(local_stack):
    base = local_stack["base"]
    crc = requests.get(f"{base}/webhooks/x", params={"crc_token": "tok+en/=="}, timeout=5)
    assert crc.json() == {"response_token": sign_x(SECRETS["RESPONDER_X_CONSUMER_SECRET"], b"tok+en/==")}
    verify = requests.get(f"{base}/webhooks/meta", timeout=5, params={
        "hub.mode": "subscribe", "hub.verify_token": "e2e-verify", "hub.challenge": "987654"})
    assert (verify.status_code, verify.text) == (200, "987654")
    wrong = requests.get(f"{base}/webhooks/meta", timeout=5, params={
        "hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "987654"})
    assert wrong.status_code == 403


def test_signed_deliveries_are_stored_once_with_ids_text_and_threads(local_stack):
    base = local_stack["base"]
    # Given deliveries of every platform, each sent five times concurrently
    deliveries = [(post_x, "x/xaa_post_mention_create.json"), (post_x, "x/xaa_post_reply_create.json"),
                  (post_x, "x/aaa_direct_message_events.json"), (post_meta, "meta/page_batch.json"),
                  (post_meta, "meta/instagram_comment.json"), (post_meta, "meta/whatsapp_text.json")]
    for send, name in deliveries:
        body = fixture_bytes(name)
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: send(base, body), range(5)))
        assert [a.status_code for a in answers] == [200] * 5, name
    # Then each mention is listed exactly once with the right fields
    listed = mentions(base)
    keys = [(m["channel"], m["mention_id"]) for m in listed]
    assert len(keys) == len(set(keys)) == 1 + 1 + 1 + 4 + 1 + 1
    by_id = {m["mention_id"]: m for m in listed}
    root = by_id["3200000000000000001"]
    assert (root["platform"], root["channel"], root["kind"]) == ("x", "x", "mention")
    assert root["author"]["handle"] == "dana_k" and root["text"].startswith("@AcmeSupport my order #4411")
    assert root["created_at"] == "2026-10-02T09:15:30Z"
    assert by_id["3200000000000000003"]["thread_id"] == root["thread_id"] == "3200000000000000001"
    wa = next(m for m in listed if m["channel"] == "whatsapp")
    assert wa["kind"] == "message" and wa["text"].endswith("Order 88231.")
    # And Dana's DM, which the brand's own DM in the same delivery answers, is answered (by the platform)
    dm = by_id["3700000000000000001"]
    assert dm["status"] == "answered"
    # And the others are handed to triage: `received` until triage claims them (their message is in the queue), or
    # already further along
    assert {m["status"] for m in listed if m is not dm} <= {"received", "triaging", "notified", "archived"}
    threads = requests.get(f"{base}/local/threads", timeout=10).json()
    x_thread = next(t for t in threads if t["thread_id"] == "3200000000000000001")
    assert x_thread["mention_count"] == 2


def test_refusals_store_nothing(local_stack):
    base = local_stack["base"]
    before = len(mentions(base))
    body = fixture_bytes("x/xaa_post_quote_create.json")
    assert post_x(base, body, secret="forged").status_code == 403
    assert requests.post(f"{base}/webhooks/x", data=body, timeout=5).status_code == 401
    assert post_meta(base, b'{"object": "page", "entry": [').status_code == 400
    assert post_x(base, fixture_bytes("x/xaa_like_create.json")).status_code == 200
    assert post_meta(base, fixture_bytes("meta/messenger_echo_and_receipts.json")).status_code == 200
    assert len(mentions(base)) == before


def test_signed_deliveries_come_out_as_notifications_for_the_right_teams(local_stack):
    base = local_stack["base"]
    # Given mentions for different teams, delivered over HTTP as signed X Activity API events
    from responder_cli.traffic import TrafficGenerator

    generator = TrafficGenerator(seed=99)
    author = {"id": "5000000777", "username": "robin_e2e", "name": "Robin", "followers": 300, "verified": False}
    texts = {
        "billing": "you charged my card twice for order #77812, I want my money back",
        "orders": "my parcel for order #66120 hasn't arrived after two weeks, where is it?",
        "escalations": "the charger I bought from you caught fire and burned my desk",
    }
    ids = {}
    for team, text in texts.items():
        delivery = generator.xaa_mention(text, "en", author, generator.start)
        assert post_x(base, delivery.encoded()).status_code == 200
        ids[delivery.mention_id] = team
    # When triage has run
    deadline = time.monotonic() + 60
    notes = []
    while time.monotonic() < deadline:
        notes = [n for n in requests.get(f"{base}/local/notifications", timeout=10).json()
                 if n["topic"] == "agent-notifications" and n["message"]["mention"]["mention_id"] in ids
                 and n["delivered_to"]]
        if len(notes) == len(ids):
            break
        time.sleep(0.3)
    # And a later mention has come out too: pages leave in order, so a repeated page of the first three would
    # have been recorded by now (a positive signal, not a pause)
    marker = generator.xaa_mention("is the store on Main Street open on Sunday?", "en", author, generator.start)
    assert post_x(base, marker.encoded()).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        everything = requests.get(f"{base}/local/notifications", timeout=10).json()
        pages = [n for n in everything if n["topic"] == "agent-notifications"]
        if any(n["message"]["mention"]["mention_id"] == marker.mention_id for n in pages) and all(
                n["delivered_to"] for n in pages if n["message"]["mention"]["mention_id"] in ids):
            break
        time.sleep(0.3)
    else:
        pytest.fail("the later mention was never paged")
    notes = [n for n in everything if n["topic"] == "agent-notifications"
             and n["message"]["mention"]["mention_id"] in ids]
    # Then each came out once, to the expected team only, with a sentiment and a draft that fits X
    assert sorted(n["message"]["mention"]["mention_id"] for n in notes) == sorted(ids)
    for note in notes:
        team = ids[note["message"]["mention"]["mention_id"]]
        assert note["attributes"]["team"] == team and note["delivered_to"] == [team]
        assert note["message"]["classification"]["sentiment"] == "negative"
        draft = note["message"]["draft"]["text"]
        assert draft.startswith("@robin_e2e") and len(draft) <= 280
        assert isinstance(note["published_at"], float)
    crisis = next(n for n in notes if ids[n["message"]["mention"]["mention_id"]] == "escalations")
    assert crisis["attributes"]["priority"] == "p1"


def test_sigterm_stops_everything_and_leaves_no_java_process(local_stack):
    process = local_stack["process"]
    ddb_port = int(local_stack["health"]["dynamodb"].rsplit(":", 1)[1])
    assert _java_processes_on(ddb_port), "DynamoDB Local should be running while the stack is up"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    output = process.stdout.read()
    assert "Responder local stack stopped." in output
    deadline = time.monotonic() + 10
    while _java_processes_on(ddb_port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _java_processes_on(ddb_port) == []
