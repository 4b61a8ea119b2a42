"""Property-based fuzzing of the webhook path, through `responder local` (DynamoDB Local, the synthesized workflow).

Every valid fixture of the project is mutated (types, sizes, encodings, nesting, raw JSON literals no encoder
writes), signed with the right secret and delivered. The properties, for every example:
- the answer is 200 or 400, never a 5xx (nothing here is unavailable, so a 503 would be a validation error
  mistaken for an outage);
- a 400 writes nothing: the table holds the same items as before;
- a 200 stored every mention the delivery carries, each handed to triage, and erased every item its delete notices
  name (X delete notices, Facebook removals, Messenger and Instagram unsends: a tombstone without text);
and, once the run is over, every mention a 200 accepted is triaged (notified, archived or gathered into an
incident), answered (a DM fixture carries the brand's own answer to it) or deleted (a later example's delete notice
names it: the fixtures share ids), none failed.

The example count comes from the Hypothesis profile (tests/conftest.py): bounded by default, and longer with
`pytest tests/integration/test_webhook_fuzz.py --hypothesis-profile=long`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from responder.ingest.normalize_meta import normalize_meta  # noqa: E402
from responder.ingest.normalize_x import normalize_x  # noqa: E402
from responder.ingest.signatures import sign_meta, sign_x  # noqa: E402
from responder.ingest.validation import parse_delivery_body  # noqa: E402
from responder_cli.local.stack import LambdaContext, LocalStack, http_api_event  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402

pytestmark = pytest.mark.slow

FIXTURE_FILES = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json"))
# Final statuses: triaged, or answered by the brand's own reply in the same delivery (then triage has nothing to do)
TRIAGED = {"notified", "archived", "incident", "answered"}
DELETED = "deleted"
SENTINEL = "@@RAW@@"

# Raw JSON literals that json.dumps never writes but a hostile sender can sign.
RAW_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"9" * 5000, b"1" * 39, b"-0.0e-999",
                b'"\\ud800"', b'"\\udfff x"', b"[" * 60 + b"]" * 60, b'"\xff\xfe"', b"0" * 40]

hostile_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-10**45, max_value=10**45),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=300),  # emoji
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),  # control characters
    st.sampled_from(["", " ", "\u202e", "a" * 300, "1" * 2048, "A" * 70_000, "\u0301" * 500,
                     "2026-13-45T99:99:99Z", "Wed Oct 10 20:19:24 +0000 2018", "-1", "1" * 20]),
)
hostile_values = st.recursive(hostile_scalars, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into the JSON tree (keys and list indexes), the root excluded."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(prefix + (key,))
            found.extend(_paths(item, prefix + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append(prefix + (index,))
            found.extend(_paths(item, prefix + (index,)))
    return found


def _parent(body: Any, path: tuple) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


# Fields whose values reach storage, with values aimed at their own bounds (see responder/core/model.py).
TARGETS = {
    "id": st.sampled_from(["1" * 2048, "1" * 257, "a b", "é", "", "#", "\u0000", "a" * 256, 10**40, -1, 1.5, True,
                           [], {}]),
    "text": st.one_of(st.sampled_from(["A" * 60_001, "\U0001F525" * 2_000, "x" * 60_000, "", "\u202e" * 100]),
                      st.text(max_size=200), st.integers(), st.lists(st.text(max_size=5), max_size=2)),
    "time": st.sampled_from(["2026-13-45T99:99:99Z", "yesterday", "", 10**30, -10**20, 1e308, 0, -1, "9" * 30,
                             "2026-10-02T09:15:30.000Z", 1759396530000, []]),
    "count": st.sampled_from([10**40, 10**12 + 1, -5, 1.5e300, "many", True, None, 10**12]),
    "name": st.sampled_from(["N" * 257, "N" * 100_000, "", 42, {"first": "x"}, "\u0000\u0001", "n" * 256]),
}
_CATEGORY_WORDS = {
    "id": ("id", "id_str", "mid", "for_user_id", "sender_id", "user_id", "author_id", "conversation_id"),
    "text": ("text", "full_text", "message", "body", "caption"),
    "time": ("created_at", "created_time", "timestamp", "time", "timestamp_ms", "created_timestamp"),
    "count": ("followers_count", "followers"),
    "name": ("name", "username", "screen_name", "sender_name"),
}


def _category(path: tuple) -> str | None:
    key = path[-1]
    for category, words in _CATEGORY_WORDS.items():
        if isinstance(key, str) and (key in words or (category == "id" and key.endswith("_id"))):
            return category
    return None


@st.composite
def mutated_delivery(draw) -> tuple[str, bytes]:
    """A fixture with one to three mutations, serialised; the platform decides the signature."""
    name = draw(st.sampled_from(FIXTURE_FILES))
    body = json.loads((FIXTURES / name).read_text())
    raw_literal = None
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(body)
        if not paths:
            break
        kind = draw(st.sampled_from(["targeted"] * 5 + ["replace"] * 2 + ["delete", "wrap", "duplicate", "raw"]))
        targeted = [p for p in paths if _category(p)]
        if kind == "targeted" and targeted:
            path = draw(st.sampled_from(targeted))
            _parent(body, path)[path[-1]] = draw(TARGETS[_category(path)])
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        if kind in ("replace", "targeted"):
            parent[path[-1]] = draw(hostile_values)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[path[-1]])))
        elif kind == "raw" and raw_literal is None:
            parent[path[-1]] = SENTINEL
            raw_literal = draw(st.sampled_from(RAW_LITERALS))
    encoded = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if raw_literal is not None:
        encoded = encoded.replace(json.dumps(SENTINEL).encode(), raw_literal, 1)
    return ("meta" if name.startswith("meta") else "x"), encoded


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    local = LocalStack(port=0, outbox=tmp_path_factory.mktemp("fuzz") / "outbox.jsonl", log_level="ERROR",
                       sweep_interval=3600).start()
    yield local
    local.stop()


def _items(stack) -> int:
    """Items the webhook writes (mentions, raw events, threads, brand-post links); triage running in the background
    for earlier examples writes counters and markers of its own, which are not the webhook's doing."""
    client = stack.dynamodb.client()
    pages = client.get_paginator("scan").paginate(
        TableName=stack.table_name, Select="COUNT", FilterExpression="sk IN (:m, :r, :t, :l)",
        ExpressionAttributeValues={":m": {"S": "MENTION"}, ":r": {"S": "RAW"}, ":t": {"S": "THREAD"},
                                   ":l": {"S": "LINK"}})
    return sum(page["Count"] for page in pages)


def _deliver(stack, platform: str, body: bytes) -> dict[str, Any]:
    import os

    if platform == "x":
        headers = {"x-twitter-webhooks-signature": sign_x(os.environ["RESPONDER_X_CONSUMER_SECRET"], body)}
    else:
        headers = {"x-hub-signature-256": sign_meta(os.environ["RESPONDER_META_APP_SECRET"], body)}
    return stack._handler(http_api_event("POST", f"/webhooks/{platform}", headers, body), LambdaContext())


def test_mutated_signed_deliveries_get_200_or_400_and_are_stored_whole_or_not_at_all(stack):
    accepted: dict[tuple[str, str], str] = {}
    answers: dict[int, int] = {}

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(delivery=mutated_delivery())
    def property_(delivery):
        platform, body = delivery
        before = _items(stack)
        answer = _deliver(stack, platform, body)
        status = answer["statusCode"]
        answers[status] = answers.get(status, 0) + 1
        assert status in (200, 400), answer
        if status == 400:
            assert _items(stack) == before, "a refused delivery wrote something"
            return
        normalize = normalize_x if platform == "x" else normalize_meta
        delivery = normalize(parse_delivery_body(body))
        for deletion in delivery.deletions:
            stored = stack._store.get_mention(deletion.channel, deletion.mention_id)
            if stored is not None and stored.get("author", {}).get("id") not in (None, deletion.author_id) \
                    and deletion.author_id is not None:
                continue  # a notice naming another author than the stored one erases nothing
            assert stored is not None and stored["status"] == DELETED, "a delete notice left its item"
            assert "text" not in stored, "a deleted item kept its text"
        for mention in delivery.mentions:
            stored = stack._store.get_mention(mention.channel, mention.mention_id)
            assert stored is not None, "an accepted mention is not stored"
            # `received` until triage claims it: that it was handed to triage is checked below (the sweeper does
            # not run in this stack, so only the webhook's own message can get it triaged)
            if stored["status"] != DELETED:  # deleted before (or in) this delivery: its tombstone wins
                accepted[(mention.channel, mention.mention_id)] = stored["status"]

    property_()
    # Both kinds of answer were exercised (otherwise the mutations stopped meaning anything)
    assert answers.get(200, 0) > 0 and answers.get(400, 0) > 0, answers
    # And every accepted mention is triaged in the end, none failed
    deadline = time.monotonic() + 120
    pending = dict(accepted)
    while pending and time.monotonic() < deadline:
        for key in list(pending):
            status = stack._store.get_mention(*key)["status"]
            assert status != "triage_failed", f"{key} failed triage"
            if status in TRIAGED or status == DELETED:
                del pending[key]
        time.sleep(0.2)
    assert not pending, f"not triaged within 120 s: {pending}"


def test_the_fixture_list_covers_both_platforms():
    assert any(f.startswith("x/") for f in FIXTURE_FILES) and any(f.startswith("meta/") for f in FIXTURE_FILES)
    assert all(Path(FIXTURES / f).exists() for f in FIXTURE_FILES)
