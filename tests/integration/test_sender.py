"""The sender against the platform stand-ins (tweepy's and requests' real request paths) and DynamoDB Local."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from responder.core.config import PlatformCredentials, PlatformEndpoints
from responder.core.model import Author, Mention
from responder.replies.ledger import ReplyLedger
from responder.replies.sender import Sender, client_for_channel
from responder_cli.local.standins import PlatformStandins, meta_error, x_error

BRAND_X = "1000000000000000001"
PAGE = "104000000000001"
IG_USER = "178400000000001"
PHONE = "106540352242922"
NOW = datetime.now(timezone.utc)

# Test-only values: never real credentials.
CREDS = PlatformCredentials("test-consumer-secret", None, None, x_consumer_key="test-consumer-key",
                            x_access_token="test-access-token", x_access_token_secret="test-access-token-secret",
                            x_user_id=BRAND_X, meta_page_token="test-page-token-value",
                            meta_instagram_token="test-instagram-token", whatsapp_token="test-whatsapp-token")


class StaticCreds:
    def __init__(self, creds: PlatformCredentials) -> None:
        self.value = creds

    def get(self) -> PlatformCredentials:
        return self.value


class RecordingQueue:
    """The outbound queue's two calls, recorded (the delayed copy is what SQS would deliver later)."""

    def __init__(self) -> None:
        self.resent: list[tuple[str, int, int]] = []
        self.delays: list[tuple[str, int]] = []

    def resend(self, body: str, delay_seconds: int, attempt: int, not_before: int) -> None:
        self.resent.append((body, delay_seconds, attempt, not_before))

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self.delays.append((receipt_handle, seconds))


class RecordingAlerts:
    def __init__(self) -> None:
        self.alerts: list[dict] = []

    def reply_failed(self, mention, state, code, reason) -> None:
        self.alerts.append({"mention_id": mention["mention_id"], "state": state, "code": code, "reason": reason})


class CrashAfterPlatform(Exception):
    """The sender dies between the platform's 2xx and its own record."""


@pytest.fixture
def standins():
    with PlatformStandins(x_user_id=BRAND_X, page_id=PAGE, ig_user_id=IG_USER) as s:
        yield s


@pytest.fixture
def rig(store, table_name, table_client, standins):
    """A sender on DynamoDB Local (boto3's client and the JSON-protocol one it uses deployed) and the stand-ins, with
    recording queue and alerts."""
    endpoints = PlatformEndpoints(x_api_base=standins.base_url, graph_api_base=standins.base_url)
    ledger = ReplyLedger(table_name, client=table_client)
    queue, alerts = RecordingQueue(), RecordingAlerts()

    def build(creds: PlatformCredentials = CREDS, **kwargs) -> Sender:
        return Sender(ledger, client_for_channel(StaticCreds(creds), endpoints), queue, alerts=alerts, **kwargs)

    class Rig:
        pass

    r = Rig()
    r.store, r.ledger, r.queue, r.alerts, r.standins, r.build = store, ledger, queue, alerts, standins, build
    r.sender = build()
    return r


def approved(store, channel: str, kind: str, mention_id: str, text: str = "We are on it, sorry!",
             author: str = "2244994945", account: str = BRAND_X, created_at: datetime = NOW,
             thread_id: str | None = None, nonce: str = "nonce-1", parent_id: str | None = None) -> dict:
    """A stored, triaged mention whose reply an agent approved (what the review page's POST leaves behind)."""
    mention = Mention(platform="x" if channel == "x" else "meta", channel=channel, kind=kind, mention_id=mention_id,
                      thread_id=thread_id or mention_id, author=Author(id=author, handle="customer"),
                      text="my order never arrived", created_at=created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      account_id=account, parent_id=parent_id)
    store.save(mention)
    store.client.update_item(
        TableName=store._table, Key={"pk": {"S": f"MENTION#{channel}#{mention_id}"}, "sk": {"S": "MENTION"}},
        UpdateExpression=("SET #s = :notified, reply_state = :queued, reply_nonce = :n, reply_text = :t, "
                          "reply_requested_by = :who, reply_requested_at = :at, team = :team, priority = :p"),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":notified": {"S": "notified"}, ":queued": {"S": "queued"}, ":n": {"S": nonce},
                                   ":t": {"S": text}, ":who": {"S": "ana@example.com"},
                                   ":at": {"S": "2026-12-01T10:00:00Z"}, ":team": {"S": "support"},
                                   ":p": {"S": "high"}})
    return {"channel": channel, "mention_id": mention_id, "nonce": nonce}


def record(message: dict, receive: int = 1, message_id: str = "m-1", attempt: int | None = None,
           not_before: int | None = None) -> dict:
    r = {"messageId": message_id, "receiptHandle": f"rh-{message_id}-{receive}",
         "body": json.dumps({"v": 1, **message}), "attributes": {"ApproximateReceiveCount": str(receive)}}
    if attempt is not None:
        r["messageAttributes"] = {"attempt": {"stringValue": str(attempt), "dataType": "Number"},
                                  "not_before": {"stringValue": str(not_before or 0), "dataType": "Number"}}
    return r


def expire_lease(store, message: dict, seconds: int = 120) -> None:
    """Move the send's start into the past, as if the crashed sender's lease had run out."""
    past = (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    store.client.update_item(
        TableName=store._table,
        Key={"pk": {"S": f"MENTION#{message['channel']}#{message['mention_id']}"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET send_started_at = :p", ExpressionAttributeValues={":p": {"S": past}})


# --- success per channel -------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel,kind,mention_id,author,account,route,in_reply_to,recipient", [
    ("x", "mention", "1850000000000000001", "2244994945", BRAND_X, "/2/tweets", "1850000000000000001", None),
    ("x", "dm", "1850000000000000002", "2244994945", BRAND_X, "/2/dm_conversations/with/2244994945/messages",
     None, "2244994945"),
    ("facebook", "comment", f"{PAGE}_111_222", "6500000001", PAGE, "/comments", f"{PAGE}_111_222", None),
    ("instagram", "comment", "17858893269000001", "17841400000000002", IG_USER, "/replies", "17858893269000001",
     None),
    ("messenger", "message", "m_AbCdEf123", "7600000000001", PAGE, "/messages", None, "7600000000001"),
    ("whatsapp", "message", "wamid.HBgLMTY1MDM4NzQzMjEVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "16505551234",
     PHONE, "/messages", "wamid.HBgLMTY1MDM4NzQzMjEVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "16505551234"),
])
def test_an_approved_reply_goes_out_once_in_its_conversation(rig, channel, kind, mention_id, author, account, route,
                                                             in_reply_to, recipient):
    # Given an approved reply on the channel
    message = approved(rig.store, channel, kind, mention_id, author=author, account=account)
    # When the sender handles its outbound message
    failed = rig.sender.process([record(message)])
    # Then the platform received exactly one reply, in the conversation, with the approved text
    sent = rig.standins.sent()
    assert failed == [] and len(sent) == 1
    assert sent[0]["route"].endswith(route) and sent[0]["text"] == "We are on it, sorry!"
    assert (sent[0]["in_reply_to"], sent[0]["recipient"]) == (in_reply_to, recipient)
    # And the mention is answered by the approving agent, with the platform's id and its first-response time
    item = rig.store.get_mention(channel, mention_id)
    assert item["status"] == "answered" and item["reply_state"] == "sent"
    assert item["reply_id"] == sent[0]["reply_id"] and item["answered_by"] == "ana@example.com"
    assert item["first_response_at"] == item["reply_sent_at"]
    thread = rig.store.get_thread(channel, mention_id)
    assert (thread["last_reply_id"], thread["last_reply_text"]) == (sent[0]["reply_id"], "We are on it, sorry!")
    # And a second delivery of the same message sends nothing more
    assert rig.sender.process([record(message, receive=2)]) == [] and len(rig.standins.sent()) == 1


def test_messenger_after_the_24_hour_window_uses_the_human_agent_tag_only_when_enabled(rig, standins):
    # Given a Messenger message from two days ago
    old = NOW - timedelta(days=2)
    first = approved(rig.store, "messenger", "message", "m_old1", author="7600000000001", account=PAGE,
                     created_at=old)
    # When the HUMAN_AGENT tag is not enabled
    rig.sender.process([record(first)])
    # Then nothing is sent and the reply is refused with the reason, and the team is told
    assert standins.sent() == []
    item = rig.store.get_mention("messenger", "m_old1")
    assert item["reply_state"] == "refused" and item["reply_error"]["code"] == "outside_window"
    assert rig.alerts.alerts[-1]["state"] == "refused"
    # When it is enabled, a reply approved by a person goes out with the tag
    second = approved(rig.store, "messenger", "message", "m_old2", author="7600000000002", account=PAGE,
                      created_at=old)
    endpoints = PlatformEndpoints(x_api_base=standins.base_url, graph_api_base=standins.base_url,
                                  messenger_human_agent=True)
    tagged = Sender(rig.ledger, client_for_channel(StaticCreds(CREDS), endpoints), rig.queue, alerts=rig.alerts)
    tagged.process([record(second)])
    (sent,) = standins.sent()
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


# --- rate limits, retries, refusals -------------------------------------------------------------------------

def test_a_429_re_queues_the_reply_until_the_reset_and_it_is_sent_once(rig, standins):
    # Given an approved X reply and X answering the next post with 429 and a reset 120 s away
    message = approved(rig.store, "x", "mention", "1850000000000000010")
    reset = int(time.time()) + 120
    standins.fail_next("/2/tweets", 429, headers={"x-rate-limit-reset": str(reset)})
    # When the sender handles it
    failed = rig.sender.process([record(message)])
    # Then the original is consumed (no receive counted) and a copy waits until the reset
    assert failed == [] and standins.sent() == []
    ((body, delay, attempt, not_before),) = rig.queue.resent
    assert 100 <= delay <= 121 and attempt == 1 and json.loads(body)["nonce"] == "nonce-1"
    assert not_before == reset
    assert rig.store.get_mention("x", "1850000000000000010")["reply_state"] == "queued"
    # When the delayed copy arrives (the reset has passed)
    rig.sender.process([record(message, message_id="m-2", attempt=attempt, not_before=int(time.time()) - 1)])
    # Then exactly one reply went out
    assert len(standins.sent()) == 1
    assert rig.store.get_mention("x", "1850000000000000010")["status"] == "answered"


def test_a_5xx_is_retried_with_backoff_then_sent_once(rig, standins):
    # Given Meta answering the next two comment replies with a transient 500
    message = approved(rig.store, "facebook", "comment", f"{PAGE}_1_2", account=PAGE)
    standins.fail_next("facebook", 500, body=meta_error(2, "Service temporarily unavailable", transient=True),
                       times=2)
    # When SQS delivers the message three times
    delays = [rig.sender.process([record(message, receive=n)]) for n in (1, 2, 3)]
    # Then the first two fail with a growing backoff and the third sends one reply
    assert delays == [["m-1"], ["m-1"], []]
    assert [d for _, d in rig.queue.delays] == [15, 30]
    assert len(standins.sent()) == 1
    assert rig.store.get_mention("facebook", f"{PAGE}_1_2")["reply_state"] == "sent"


def test_at_the_last_receive_a_transient_failure_is_recorded_failed_and_notified(rig, standins):
    # Given X failing with 503 and the message at its last receive before the DLQ
    message = approved(rig.store, "x", "mention", "1850000000000000011")
    standins.fail_next("x", 503)
    # When the sender handles it
    failed = rig.sender.process([record(message, receive=7)])
    # Then the reply is `failed`, the message consumed, and the team told
    item = rig.store.get_mention("x", "1850000000000000011")
    assert failed == [] and item["reply_state"] == "failed" and item["reply_error"]["code"] == "retries_exhausted"
    assert rig.alerts.alerts == [{"mention_id": "1850000000000000011", "state": "failed",
                                  "code": "retries_exhausted", "reason": "X answered 503"}]
    assert item["status"] == "notified"


@pytest.mark.parametrize("channel,kind,mention_id,account,status,body,code,reason", [
    ("x", "mention", "1850000000000000020", BRAND_X, 403,
     x_error(403, "You can only reply to or quote posts where you are mentioned or are the author."), "x_403",
     "You can only reply to or quote posts where you are mentioned or are the author."),
    ("x", "mention", "1850000000000000021", BRAND_X, 403,
     x_error(403, "You are not allowed to create a Tweet with duplicate content."), "x_duplicate",
     "You are not allowed to create a Tweet with duplicate content."),
    ("messenger", "message", "m_window", PAGE, 400,
     meta_error(10, "(#10) This message is sent outside of allowed window.", 2018278), "meta_10",
     "(#10) This message is sent outside of allowed window."),
    ("whatsapp", "message", "wamid.window", PHONE, 400,
     {"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047,
                "error_data": {"messaging_product": "whatsapp",
                               "details": "Message failed to send because more than 24 hours have passed since the "
                                          "customer last replied to this number."},
                "fbtrace_id": "AbCd"}}, "meta_131047",
     "Re-engagement message (Message failed to send because more than 24 hours have passed since the customer "
     "last replied to this number.)"),
])
def test_a_permanent_refusal_is_recorded_with_the_platform_reason_and_notified(
        rig, standins, channel, kind, mention_id, account, status, body, code, reason):
    # Given a platform refusing the reply for good
    message = approved(rig.store, channel, kind, mention_id, account=account, author="16505550000")
    standins.fail_next(channel, status, body=body)
    # When the sender handles it
    failed = rig.sender.process([record(message)])
    # Then nothing is retried, the reason is on the mention, and the team is told once
    item = rig.store.get_mention(channel, mention_id)
    assert failed == [] and standins.sent() == []
    assert item["reply_state"] == "refused" and item["reply_error"]["code"] == code
    assert item["reply_error"]["reason"] == reason
    assert [a["state"] for a in rig.alerts.alerts] == ["refused"]
    # And a redelivery does nothing more
    rig.sender.process([record(message, receive=2)])
    assert standins.sent() == [] and len(rig.alerts.alerts) == 1


def test_an_unconfigured_channel_is_refused_without_any_call(rig, standins):
    # Given no WhatsApp token
    message = approved(rig.store, "whatsapp", "message", "wamid.nocreds", account=PHONE)
    sender = rig.build(PlatformCredentials("s", None, None, meta_page_token="test-page-token-value"))
    # When the sender handles the reply
    sender.process([record(message)])
    # Then nothing reached any platform and the mention says why
    assert standins.requests() == []
    item = rig.store.get_mention("whatsapp", "wamid.nocreds")
    assert item["reply_state"] == "refused" and item["reply_error"]["code"] == "not_configured"


def test_stale_and_malformed_messages_send_nothing(rig, standins):
    # Given an approved reply and a message carrying another nonce, and one that is not JSON
    message = approved(rig.store, "x", "mention", "1850000000000000030")
    stale = {**message, "nonce": "an-older-approval"}
    poison = {"messageId": "bad", "receiptHandle": "rh", "body": "{not json", "attributes": {}}
    # When both are handled
    failed = rig.sender.process([record(stale), poison])
    # Then nothing is sent, the stale one is consumed, and the poison one is left for the DLQ
    assert standins.sent() == [] and failed == ["bad"]
    assert rig.store.get_mention("x", "1850000000000000030")["reply_state"] == "queued"


# --- crashes and concurrency ---------------------------------------------------------------------------------

class CrashingSender(Sender):
    def _after_platform_accepted(self, item):
        raise CrashAfterPlatform()


def test_a_crash_after_x_accepted_a_post_is_found_on_the_retry_and_not_sent_again(rig, standins):
    # Given a sender that dies right after X accepted the post
    message = approved(rig.store, "x", "mention", "1850000000000000040")
    crashing = CrashingSender(rig.ledger, client_for_channel(StaticCreds(CREDS), PlatformEndpoints(
        x_api_base=standins.base_url, graph_api_base=standins.base_url)), rig.queue, alerts=rig.alerts)
    assert crashing.process([record(message)]) == ["m-1"]
    assert rig.store.get_mention("x", "1850000000000000040")["reply_state"] == "sending"
    # When SQS redelivers it after the crashed call's lease
    expire_lease(rig.store, message)
    failed = rig.sender.process([record(message, receive=2)])
    # Then the post is found on the brand's timeline and recorded; X got one post
    (sent,) = standins.sent()
    item = rig.store.get_mention("x", "1850000000000000040")
    assert failed == [] and item["reply_state"] == "sent" and item["reply_id"] == sent["reply_id"]
    assert item["status"] == "answered" and item["send_attempt"] == 2


def test_a_crash_after_a_dm_was_accepted_is_unconfirmed_and_never_sent_twice(rig, standins):
    # Given a sender that dies right after X accepted a DM (which no API can look up)
    message = approved(rig.store, "x", "dm", "1850000000000000041")
    crashing = CrashingSender(rig.ledger, client_for_channel(StaticCreds(CREDS), PlatformEndpoints(
        x_api_base=standins.base_url, graph_api_base=standins.base_url)), rig.queue, alerts=rig.alerts)
    crashing.process([record(message)])
    # When SQS redelivers it after the lease
    expire_lease(rig.store, message)
    rig.sender.process([record(message, receive=2)])
    # Then nothing more is sent, the reply is `unconfirmed`, and the team is asked to check
    assert len(standins.sent()) == 1
    item = rig.store.get_mention("x", "1850000000000000041")
    assert item["reply_state"] == "unconfirmed" and item["status"] == "notified"
    assert [a["state"] for a in rig.alerts.alerts] == ["unconfirmed"]


def test_a_redelivery_during_a_send_in_flight_waits_instead_of_sending(rig, standins):
    # Given a sender that died after X accepted the post, moments ago (its lease still runs)
    message = approved(rig.store, "x", "mention", "1850000000000000042")
    crashing = CrashingSender(rig.ledger, client_for_channel(StaticCreds(CREDS), PlatformEndpoints(
        x_api_base=standins.base_url, graph_api_base=standins.base_url)), rig.queue, alerts=rig.alerts)
    crashing.process([record(message)])
    # When another delivery arrives within the lease
    failed = rig.sender.process([record(message, receive=2)])
    # Then it neither sends nor looks up: it comes back after the lease
    assert failed == ["m-1"] and len(standins.sent()) == 1
    assert standins.requests()[-1]["method"] == "POST"
    assert 1 <= rig.queue.delays[-1][1] <= 31


def test_a_read_timeout_after_the_platform_took_the_comment_is_checked_before_any_resend(rig, standins,
                                                                                         monkeypatch):
    # Given Facebook accepting the comment reply but answering after the client's read timeout
    import responder.platforms.meta as meta

    monkeypatch.setattr(meta, "READ_TIMEOUT_SECONDS", 0.3)
    message = approved(rig.store, "facebook", "comment", f"{PAGE}_9_9", account=PAGE)
    standins.answer_late("facebook", 1.0)
    sender = rig.build()
    # When the sender handles it
    assert sender.process([record(message)]) == ["m-1"]
    # Then the reply stays `sending` (it may have gone out) and comes back only after the lease
    assert rig.store.get_mention("facebook", f"{PAGE}_9_9")["reply_state"] == "sending"
    assert rig.queue.delays[-1][1] >= 31
    # When it comes back after the lease
    expire_lease(rig.store, message)
    sender.process([record(message, receive=2)])
    # Then the comment is found under the customer's comment and recorded; Facebook got one reply
    (sent,) = standins.sent()
    assert rig.store.get_mention("facebook", f"{PAGE}_9_9")["reply_id"] == sent["reply_id"]


def test_five_concurrent_deliveries_of_one_approval_send_one_reply(rig, standins):
    # Given one approved reply delivered five times at once
    message = approved(rig.store, "whatsapp", "message", "wamid.concurrent", account=PHONE, author="16505550001")
    barrier = threading.Barrier(5)
    results = []

    def deliver(n: int) -> None:
        sender = rig.build()
        barrier.wait()
        results.append(sender.process([record(message, message_id=f"m-{n}")]))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then WhatsApp received one message and the mention is answered once
    assert len(standins.sent()) == 1
    assert rig.store.get_mention("whatsapp", "wamid.concurrent")["reply_state"] == "sent"
    assert sum(1 for r in results if r == []) >= 1


# --- Instagram @mentions arrive with ids only ----------------------------------------------------------------

def _stored_instagram_mention(store) -> dict:
    from responder.ingest.normalize_meta import normalize_meta
    from tests.conftest import fixture_json

    (mention,) = normalize_meta(fixture_json("meta/instagram_mention.json")).mentions
    assert mention.text == "" and store.save(mention).created
    return {"key": {"channel": "instagram", "mention_id": mention.mention_id, "thread_id": mention.thread_id},
            "claim": "message-1"}


def test_an_instagram_mention_gets_its_text_from_the_graph_api_before_it_is_classified(store, standins):
    # Given an Instagram @mention stored with ids only, and the Graph API knowing its comment's text
    from responder.platforms.meta import InstagramMentionText
    from responder.triage.routing import load_rules
    from responder.triage.steps import classify_step

    event = _stored_instagram_mention(store)
    standins.add_instagram_mention("18000000000000099", "@brand my refund never came, this is a scam",
                                   comment_id="18100000000000099")
    fetch = InstagramMentionText(StaticCreds(CREDS), PlatformEndpoints(graph_api_base=standins.base_url))
    # When Classify runs
    result = classify_step(event, store, load_rules(), mention_text=fetch)
    # Then it classified the fetched text, and the text is stored on the mention
    assert result["mention"]["text"] == "@brand my refund never came, this is a scam"
    assert not result["classification"]["noise"] and result["classification"]["sentiment"] == "negative"
    assert store.get_mention("instagram", "18100000000000099")["text"].startswith("@brand my refund")


def test_a_failed_instagram_fetch_is_recorded_and_triage_goes_on(store, standins):
    # Given an Instagram @mention and the Graph API throttling the app
    from responder.platforms.meta import InstagramMentionText
    from responder.triage.routing import load_rules
    from responder.triage.steps import classify_step

    event = _stored_instagram_mention(store)
    standins.fail_next("instagram", 400, body=meta_error(4, "(#4) Application request limit reached"))
    fetch = InstagramMentionText(StaticCreds(CREDS), PlatformEndpoints(graph_api_base=standins.base_url))
    # When Classify runs
    result = classify_step(event, store, load_rules(), mention_text=fetch)
    # Then triage still classified it (not as noise), and the mention says why it has no text
    assert not result["skip"] and not result["classification"]["noise"]
    error = store.get_mention("instagram", "18100000000000099")["text_fetch_error"]
    assert error["code"] == "RateLimited" and "rate limit" in error["reason"]


def test_a_mention_answered_natively_after_the_approval_gets_no_second_answer(rig, standins):
    # Given an approved reply, and the brand answering the post natively on X before the sender ran
    message = approved(rig.store, "x", "mention", "1850000000000000050")
    rig.store.client.update_item(
        TableName=rig.store._table, Key={"pk": {"S": "MENTION#x#1850000000000000050"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET #s = :answered, answered_by = :platform", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":answered": {"S": "answered"}, ":platform": {"S": "platform"}})
    # When the sender handles the approval
    rig.sender.process([record(message)])
    # Then nothing is posted, and the agent learns why
    item = rig.store.get_mention("x", "1850000000000000050")
    assert standins.sent() == [] and item["reply_state"] == "refused"
    assert item["reply_error"]["code"] == "already_answered" and "platform" in item["reply_error"]["reason"]


def test_a_native_answer_while_a_throttled_reply_waits_means_the_reply_is_never_sent(rig, standins):
    # Given an approved X reply throttled by X (back to `queued`, a delayed copy waiting for the reset)
    from responder.core.model import NativeAnswer
    from responder.replies.native import MARKED, DynamoNativeAnswers

    message = approved(rig.store, "x", "mention", "1850000000000000060")
    standins.fail_next("/2/tweets", 429, headers={"x-rate-limit-reset": str(int(time.time()) + 60)})
    rig.sender.process([record(message)])
    ((_, _, attempt, _),) = rig.queue.resent
    # When the brand answers the post on X itself meanwhile
    answer = NativeAnswer(channel="x", mention_id="1850000000000000060", reply_id="1850000000000000099",
                          text="Answered by hand", at="2026-10-02T10:00:00Z")
    assert DynamoNativeAnswers(rig.store).apply(answer, datetime.now(timezone.utc)) == MARKED
    # And the delayed copy arrives after the reset
    rig.sender.process([record(message, message_id="m-2", attempt=attempt, not_before=int(time.time()) - 1)])
    # Then the customer gets the brand's answer only: Responder posts nothing
    assert standins.sent() == []
    item = rig.store.get_mention("x", "1850000000000000060")
    assert (item["status"], item["answered_by"], item["reply_id"]) == ("answered", "platform", "1850000000000000099")


def test_an_instagram_reply_to_a_reply_goes_under_its_top_level_comment(rig, standins):
    # Given an approved answer to an Instagram comment that itself replies to another comment under the media
    message = approved(rig.store, "instagram", "comment", "17858893269000009", account=IG_USER,
                       thread_id="18000000000000777", parent_id="17858893269000001")
    # When the sender handles it
    rig.sender.process([record(message)])
    # Then the reply goes under the top-level comment (Instagram refuses replies to replies)
    (sent,) = standins.sent()
    assert sent["in_reply_to"] == "17858893269000001" and sent["route"] == "/replies"


def test_a_throttled_reply_whose_reset_is_beyond_sqs_longest_delay_waits_without_calling_again(rig, standins):
    # Given X throttling until an hour from now (longer than SQS's 15-minute delay)
    message = approved(rig.store, "x", "mention", "1850000000000000012")
    reset = int(time.time()) + 3600
    standins.fail_next("x", 429, headers={"x-rate-limit-reset": str(reset)})
    rig.sender.process([record(message)])
    (first,) = rig.queue.resent
    assert first[1] == 900
    # When the delayed copy arrives 15 minutes later, still before the reset
    rig.sender.process([record(message, message_id="m-2", attempt=first[2], not_before=first[3])])
    # Then X is not called again; another copy waits on until the reset
    assert [r["method"] for r in standins.requests()] == ["POST"]
    assert rig.queue.resent[-1][2:] == (2, reset) and standins.sent() == []


def test_an_alert_that_could_not_be_published_goes_out_on_the_redelivery(rig, standins):
    # Given the agents' topic unreachable once, and a refused reply
    class FlakyAlerts(RecordingAlerts):
        down = True

        def reply_failed(self, mention, state, code, reason):
            if self.down:
                self.down = False
                raise ConnectionError("SNS unreachable")
            super().reply_failed(mention, state, code, reason)

    alerts = FlakyAlerts()
    sender = Sender(rig.ledger, client_for_channel(StaticCreds(CREDS), PlatformEndpoints(
        x_api_base=standins.base_url, graph_api_base=standins.base_url)), rig.queue, alerts=alerts)
    message = approved(rig.store, "x", "mention", "1850000000000000060")
    standins.fail_next("x", 403, body=x_error(403, "You can only reply to or quote posts where you are mentioned "
                                                   "or are the author."))
    # When the refusal is recorded but its alert fails, and SQS delivers the message again
    assert sender.process([record(message)]) == ["m-1"]
    assert sender.process([record(message, receive=2)]) == []
    # Then the team is told exactly once, and the platform was called once
    assert [a["state"] for a in alerts.alerts] == ["refused"] and len(standins.requests()) == 1
    assert sender.process([record(message, receive=3)]) == [] and len(alerts.alerts) == 1


def test_a_second_approval_that_fails_is_alerted_even_after_an_earlier_alert(rig, standins):
    # Given a first approval refused and alerted
    message = approved(rig.store, "x", "mention", "1850000000000000061")
    standins.fail_next("x", 403, body=x_error(403, "Forbidden"), times=2)
    rig.sender.process([record(message)])
    # And a second approval of the same mention (a new nonce), refused too, whose alert cannot be published once
    second = approved(rig.store, "x", "mention", "1850000000000000061", nonce="nonce-2")
    original = rig.alerts.reply_failed
    calls = []

    def down_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("SNS unreachable")
        original(*args)

    rig.alerts.reply_failed = down_once
    rig.sender.process([record(second, message_id="m-2")])
    rig.sender.process([record(second, message_id="m-2", receive=2)])
    # Then the team heard of both refusals
    assert [a["state"] for a in rig.alerts.alerts] == ["refused", "refused"]
