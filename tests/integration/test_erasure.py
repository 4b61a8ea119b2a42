"""Erasure and export on DynamoDB Local: tombstones, delete before create, erasure by author, incident samples."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from responder.aws.incident_store import IncidentStore
from responder.aws.storage import DynamoMentionStore
from responder.core.model import Attachment, Author, Mention
from responder.privacy.erasure import KEPT_ATTRIBUTES, Erased, Eraser
from responder.surge.incidents import BRAND_KEY, SurgeSettings

RECEIVED = datetime(2026, 11, 30, 10, 0, 0, tzinfo=timezone.utc)
DELETED = RECEIVED + timedelta(hours=2)
ACCOUNT = "1000000000000000001"
DANA = Author(id="2000000000000000001", handle="dana_k", name="Dana Kowalski", followers=120, verified=False)
OMAR = Author(id="2000000000000000002", handle="omar_b", name="Omar Bakr", followers=5)


def post(mention_id: str, author: Author = DANA, thread_id: str | None = None, text: str | None = None,
         channel: str = "x", kind: str = "mention") -> Mention:
    return Mention(platform="x" if channel == "x" else "meta", channel=channel, kind=kind, mention_id=mention_id,
                   thread_id=thread_id or mention_id, author=author,
                   text=text or f"@brand my order {mention_id} never arrived, card ending 4242",
                   created_at="2026-11-30T09:59:0%dZ" % (int(mention_id[-1]) % 10), account_id=ACCOUNT,
                   attachments=(Attachment(type="photo", id="77", url="https://pbs.example/p.jpg", caption="receipt"),),
                   source="xaa", raw={"data": {"payload": {"text": "private detail", "id": mention_id}}})


@pytest.fixture
def eraser(webhook_client, table_name):
    return Eraser(table_name, client=webhook_client, retention_days=90)


def triaged(store: DynamoMentionStore, mention: Mention, **extra) -> None:
    """What triage and the reply path leave on a stored mention: labels, a draft, a reply, a queued nonce."""
    values = {"status": "notified", "intent": "complaint", "sentiment": "negative", "topic": "delivery",
              "draft_text": "Sorry Dana, we are checking order", "classification_json": '{"keywords": ["order"]}',
              **extra}
    names = {f"#a{i}": k for i, k in enumerate(values)}
    store.client.update_item(
        TableName=store._table, Key=store._item({"pk": f"MENTION#{mention.channel}#{mention.mention_id}",
                                                 "sk": "MENTION"}),
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=store._item({f":v{i}": v for i, v in enumerate(values.values())}))


def test_a_deleted_mention_keeps_ids_and_times_and_loses_every_personal_attribute(store, eraser):
    # Given a stored, triaged mention with a draft, a reply in flight and its raw event
    mention = post("3300000000000000001")
    store.save(mention, RECEIVED)
    # (`summary` stands for any text-derived attribute a later version adds: the allow-list erases it too)
    triaged(store, mention, reply_text="We are on it, Dana", reply_nonce="n-1", reply_state="queued",
            summary="Dana's parcel lost at Elm Street")
    before = store.get_mention("x", mention.mention_id)
    # When the platform's delete notice is honoured
    done = eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED, author_id=DANA.id)
    # Then a tombstone remains with its ids, times, labels and original expiry, and nothing personal
    after = store.get_mention("x", mention.mention_id)
    assert after["status"] == "deleted" and after["deleted_by"] == "x.tweet_delete"
    assert after["deleted_at"].startswith("2026-11-30T12:00:00")
    for kept in ("mention_id", "thread_id", "channel", "created_at", "received_at", "expires_at", "sentiment"):
        assert after[kept] == before[kept]
    assert after["author"] == {"id": DANA.id}
    assert set(after) - {"author"} <= KEPT_ATTRIBUTES
    flat = repr(after)
    for personal in ("never arrived", "dana_k", "Dana Kowalski", "pbs.example", "receipt", "Sorry Dana",
                     "keywords", "We are on it", "n-1", "Elm Street"):
        assert personal not in flat
    # (the author index keys stay, so that the person's own erasure finds the tombstone and removes their id)
    assert after["gsi4pk"] == f"AUTHOR#x#{DANA.id}" and "gsi3pk" not in after
    # and the raw event is gone, and the counts say what was done
    assert store.get_raw("x", mention.mention_id) is None
    assert done == Erased(mentions=1, raw_events=1, replies=1, mention_ids=(f"x:{mention.mention_id}",))


def test_erasing_twice_changes_nothing_the_second_time(store, eraser):
    # Given an erased mention
    mention = post("3300000000000000002")
    store.save(mention, RECEIVED)
    eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED)
    first = store.get_mention("x", mention.mention_id)
    # When the notice is delivered again, later
    again = eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED + timedelta(hours=1))
    # Then nothing is counted and the tombstone keeps its first deletion time
    assert again == Erased()
    assert store.get_mention("x", mention.mention_id) == first


def test_a_late_redelivery_does_not_resurrect_an_erased_mention(store, eraser):
    # Given an erased mention
    mention = post("3300000000000000003")
    store.save(mention, RECEIVED)
    eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED)
    # When the platform redelivers the original create
    result = store.save(mention, DELETED + timedelta(minutes=5))
    # Then nothing is stored again: no text, no raw event, no thread count added, nothing to triage
    assert not result.created and result.status == "deleted" and not result.needs_enqueue
    assert "text" not in store.get_mention("x", mention.mention_id)
    assert store.get_raw("x", mention.mention_id) is None
    assert store.get_thread("x", mention.thread_id)["mention_count"] == 1


def test_a_delete_before_its_create_wins(store, eraser):
    # Given a delete notice for a mention not stored yet
    mention = post("3300000000000000004")
    done = eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED, author_id=DANA.id)
    assert done == Erased(tombstones_created=1, mention_ids=(f"x:{mention.mention_id}",))
    tombstone = store.get_mention("x", mention.mention_id)
    assert tombstone["status"] == "deleted" and tombstone["expires_at"] == int(DELETED.timestamp()) + 90 * 86_400
    # When its create arrives afterwards
    result = store.save(mention, DELETED + timedelta(seconds=3))
    # Then it is refused: no content, no raw event, no thread, nothing to triage
    assert not result.created and not result.needs_enqueue
    assert "text" not in store.get_mention("x", mention.mention_id)
    assert store.get_raw("x", mention.mention_id) is None
    assert store.get_thread("x", mention.thread_id) is None


def test_a_notice_naming_another_author_erases_nothing(store, eraser):
    # Given Dana's stored mention
    mention = post("3300000000000000005")
    store.save(mention, RECEIVED)
    # When a delete notice for it names Omar as the author
    done = eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED, author_id=OMAR.id)
    # Then it stays as it was
    assert done == Erased()
    assert store.get_mention("x", mention.mention_id)["text"] == mention.text
    assert store.get_raw("x", mention.mention_id) is not None


def test_erasing_an_author_erases_their_mentions_and_keeps_the_other_persons(store, eraser):
    # Given Dana's two posts and Omar's reply in her thread, on X, and Dana's message on Messenger
    root, second = post("3300000000000000011"), post("3300000000000000012")
    reply = post("3300000000000000013", author=OMAR, thread_id=root.mention_id)
    elsewhere = post("m_5", channel="messenger", kind="message")
    for m in (root, second, reply, elsewhere):
        store.save(m, RECEIVED)
    # When Dana's erasure is requested on X
    done = eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    # Then both her X posts are tombstones without her id, Omar's reply and her Messenger message are intact
    assert sorted(done.mention_ids) == [f"x:{root.mention_id}", f"x:{second.mention_id}"]
    assert (done.mentions, done.raw_events) == (2, 2)
    for m in (root, second):
        erased = store.get_mention("x", m.mention_id)
        assert erased["status"] == "deleted" and "author" not in erased and "text" not in erased
    assert store.get_mention("x", reply.mention_id)["text"] == reply.text
    assert store.get_mention("messenger", elsewhere.mention_id)["text"] == elsewhere.text
    # and a second request finds nothing left
    assert eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED) == Erased()


def test_an_erasure_of_a_person_cut_short_is_finished_by_the_next_run(store, eraser, monkeypatch):
    # Given Dana's two X posts, and a throttle that cuts her first erasure short after her first post's tombstone
    from responder.aws.storage import StorageUnavailable

    first, second = post("3300000000000000041"), post("3300000000000000042")
    for m in (first, second):
        store.save(m, RECEIVED)
    original, calls = eraser._delete_raw, []

    def throttled_once(channel, mention_id):
        calls.append(mention_id)
        if len(calls) == 1:
            raise StorageUnavailable("throttled")
        return original(channel, mention_id)

    monkeypatch.setattr(eraser, "_delete_raw", throttled_once)
    with pytest.raises(StorageUnavailable):
        eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    # When the erasure is asked again (the callback's retry, or `responder forget` run twice)
    done = eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    # Then it finds both posts again and finishes: no raw event is left, and nothing links Dana to them any more
    assert sorted(done.mention_ids) == [f"x:{first.mention_id}", f"x:{second.mention_id}"]
    for m in (first, second):
        assert store.get_raw("x", m.mention_id) is None
        erased = store.get_mention("x", m.mention_id)
        assert erased["status"] == "deleted" and "author" not in erased and "gsi4pk" not in erased
    assert eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED) == Erased()


def test_a_delete_handled_between_a_mentions_put_and_its_raw_copy_leaves_no_raw_copy(store, eraser, monkeypatch):
    # Given a delete notice handled by another invocation right after the mention's put, before its raw copy
    mention = post("3300000000000000051")
    original = store._put_raw

    def erased_meanwhile(m, received_at):
        eraser.erase_mention("x", m.mention_id, source="x.tweet_delete", at=DELETED)
        original(m, received_at)

    monkeypatch.setattr(store, "_put_raw", erased_meanwhile)
    # When the store finishes writing the mention
    result = store.save(mention, RECEIVED)
    # Then no raw copy of the deleted post is left, and the mention is not handed to triage
    assert store.get_raw("x", mention.mention_id) is None
    assert store.get_mention("x", mention.mention_id)["status"] == "deleted" and not result.needs_enqueue


def test_the_threads_copy_of_a_reply_to_an_erased_mention_goes(store, eraser):
    # Given a mention answered by Responder, in a thread with a later message (so the thread has an item), the
    # thread recording that reply
    mention = post("3300000000000000021")
    store.save(mention, RECEIVED)
    store.save(replace(mention, mention_id="3300000000000000022", created_at="2026-11-30T10:01:00Z"), RECEIVED)
    triaged(store, mention, status="answered", reply_id="9001", reply_text="Dana, refund sent", reply_state="sent")
    store.client.update_item(TableName=store._table, Key=store._item({"pk": f"THREAD#x#{mention.thread_id}",
                                                                      "sk": "THREAD"}),
                             UpdateExpression="SET last_reply_id = :r, last_reply_text = :t, last_reply_at = :a",
                             ExpressionAttributeValues=store._item({":r": "9001", ":t": "Dana, refund sent",
                                                                    ":a": "2026-11-30T10:05:00.000Z"}))
    # When the mention is erased
    done = eraser.erase_mention("x", mention.mention_id, source="forget", at=DELETED)
    # Then the thread keeps its ids and counters but not the reply's text
    thread = store.get_thread("x", mention.thread_id)
    assert "last_reply_text" not in thread and thread["last_reply_id"] == "9001" and thread["mention_count"] == 2
    assert (done.threads, done.replies) == (1, 1)
    assert "reply_text" not in store.get_mention("x", mention.mention_id)


def test_an_erased_mention_leaves_the_incident_samples_and_the_incident_keeps_its_size(store, eraser):
    # Given an incident whose samples are three mentions, one of them Dana's
    incidents = IncidentStore(store)
    settings = SurgeSettings()
    ids = ["3300000000000000031", "3300000000000000032", "3300000000000000033"]
    for i, mid in enumerate(ids):
        store.save(post(mid, author=DANA if i == 1 else OMAR), RECEIVED)
    incident = {"incident_id": "inc-20261130T1000-all-0001", "account_id": BRAND_KEY, "scope": "all",
                "incident_status": "open", "signature": {"order": 1.0}, "size": 0, "next_digest": 50,
                "sample_mention_ids": [], "alerts": [], "last_seen_at": "2026-11-30T10:00:00Z"}
    assert incidents.try_open(BRAND_KEY, "all", incident, RECEIVED, settings)
    for mid in ids:
        incidents.join(incident, {"channel": "x", "mention_id": mid}, "negative", RECEIVED, settings)
    # When Dana is forgotten
    done = eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    # Then her id is no longer a sample; the others are, in order; the size stays
    stored = incidents.get(BRAND_KEY, incident["incident_id"])
    assert stored["sample_mention_ids"] == [ids[0], ids[2]] and stored["size"] == 3
    assert done.incidents == 1


def test_export_lists_everything_about_one_person_and_nothing_about_another(store, eraser):
    # Given Dana's answered mention with its raw event and thread, and Omar's reply in her thread
    root = post("3300000000000000041")
    reply = post("3300000000000000042", author=OMAR, thread_id=root.mention_id)
    store.save(root, RECEIVED)
    store.save(reply, RECEIVED)
    triaged(store, root, status="answered", reply_id="9002", reply_text="Dana, we are sorry", reply_state="sent",
            reply_nonce="secret-nonce")
    # When her data is exported
    export = eraser.export_author(["x"], DANA.id)
    # Then it holds her mention with its text, draft, reply and raw event, and her thread; nothing of Omar's
    (mine,) = export["mentions"]
    assert mine["text"] == root.text and mine["author"]["handle"] == "dana_k"
    assert mine["draft_text"] and mine["reply_text"] == "Dana, we are sorry"
    assert mine["raw_event"] == {"data": {"payload": {"text": "private detail", "id": root.mention_id}}}
    assert [t["thread_id"] for t in export["threads"]] == [root.mention_id]
    flat = repr(export)
    assert "omar_b" not in flat and reply.mention_id not in flat and "secret-nonce" not in flat
    # and after the erasure the export is empty
    eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    assert eraser.export_author(["x"], DANA.id)["mentions"] == []


def test_mentions_stored_before_the_author_index_are_found_after_the_backfill(store, eraser):
    # Given Dana's mention stored by a version without the author index, and a tombstone of another
    old = post("3300000000000000051")
    store.save(old, RECEIVED)
    eraser.erase_mention("x", "3300000000000000052", source="x.tweet_delete", at=DELETED, author_id=DANA.id)
    for mid in (old.mention_id, "3300000000000000052"):  # as that version stored them: no author index keys
        store.client.update_item(TableName=store._table, Key=store._item({"pk": f"MENTION#x#{mid}", "sk": "MENTION"}),
                                 UpdateExpression="REMOVE gsi4pk, gsi4sk")
    assert eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED) == Erased()
    # When the index is backfilled (twice: the second run finds nothing left to index)
    assert (eraser.backfill_author_index(), eraser.backfill_author_index()) == (1, 0)
    # Then her erasure finds the old mention, and the tombstone was not indexed
    done = eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    assert done.mention_ids == (f"x:{old.mention_id}",)
    assert "gsi4pk" not in store.get_mention("x", "3300000000000000052")


def test_forgetting_a_person_removes_their_id_from_tombstones_of_their_deleted_posts(store, eraser):
    # Given Dana's post deleted on the platform (its tombstone keeps her id), and a delete notice naming her for a
    # post never stored
    mention = post("3300000000000000061")
    store.save(mention, RECEIVED)
    eraser.erase_mention("x", mention.mention_id, source="x.tweet_delete", at=DELETED, author_id=DANA.id)
    eraser.erase_mention("x", "3300000000000000062", source="x.tweet_delete", at=DELETED, author_id=DANA.id)
    # When she asks to be forgotten
    done = eraser.erase_author(["x"], DANA.id, source="forget", at=DELETED)
    # Then both tombstones lose her id and their index keys, and nothing new is counted as a mention
    assert sorted(done.mention_ids) == ["x:3300000000000000061", "x:3300000000000000062"] and done.mentions == 0
    for mid in ("3300000000000000061", "3300000000000000062"):
        tombstone = store.get_mention("x", mid)
        assert tombstone["status"] == "deleted" and "author" not in tombstone and "gsi4pk" not in tombstone
    assert eraser.export_author(["x"], DANA.id)["mentions"] == []


def test_a_thread_created_while_its_opener_is_erased_keeps_no_copy_of_the_erased_reply(store, eraser):
    # Given a mention answered by Responder, the only message of its thread (no thread item yet)
    mention = post("3300000000000000041")
    store.save(mention, RECEIVED)
    triaged(store, mention, status="answered", reply_id="9041", reply_text="Dana, refund sent", reply_state="sent",
            reply_sent_at="2026-11-30T10:05:00Z")
    # And the mention erased just after a later message of the thread read it to create the thread item
    call, erased = store._call, []

    def erase_after_reading_the_opener(fn, **kwargs):
        answer = call(fn, **kwargs)
        if "reply_text" in str(kwargs.get("ProjectionExpression")) and not erased:
            erased.append(eraser.erase_mention("x", mention.mention_id, source="forget", at=DELETED))
        return answer

    store._call = erase_after_reading_the_opener
    # When that later message is stored
    store.save(replace(mention, mention_id="3300000000000000042", created_at="2026-11-30T10:01:00Z"), RECEIVED)
    # Then the erasure ran in between, and the thread keeps its ids and counters but not the erased reply's text
    assert erased and erased[0].mentions == 1
    thread = store.get_thread("x", mention.thread_id)
    assert thread["mention_count"] == 2 and thread["last_reply_id"] == "9041"
    assert "last_reply_text" not in thread


def test_export_lists_the_thread_of_a_mention_that_is_its_only_message(store, eraser):
    # Given Dana's answered mention, the only message of its thread (which has no item of its own)
    root = post("3300000000000000051")
    store.save(root, RECEIVED)
    triaged(store, root, status="answered", reply_id="9051", reply_text="Dana, we are sorry", reply_state="sent",
            reply_sent_at="2026-11-30T10:05:00Z")
    # When her data is exported
    export = eraser.export_author(["x"], DANA.id)
    # Then her thread is listed as it is shown everywhere else: one message, and the reply sent to her
    (thread,) = export["threads"]
    assert (thread["thread_id"], thread["mention_count"], thread["last_reply_text"]) == (
        root.mention_id, 1, "Dana, we are sorry")
