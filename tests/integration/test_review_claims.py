"""The review page against DynamoDB Local: GET changes nothing, concurrent approvals make one claim and one queue
message, a retried POST is the same approval, a failed SendMessage releases the claim."""

from __future__ import annotations

import base64
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest

from responder.core.model import Author, Mention
from responder.replies.claims import DynamoReplyStore, QueueUnavailable
from responder.replies.review import ReviewService
from responder.replies.tokens import ReviewSigner
from responder_cli.local.stack import LambdaContext
from responder_cli.local.triage import load_module

SIGNER = ReviewSigner(b"review-key-for-tests-only-0123456789", 3600)
FORM = {"content-type": "application/x-www-form-urlencoded"}
THREAD = "1900000000000000000"
MENTION_ID = "1900000000000000009"
HANDLER = Path(__file__).resolve().parents[2] / "functions" / "review" / "handler.py"
# The service's clock (claims record it); tokens are checked against the real one.
CLAIM_TIME = datetime(2026, 12, 1, 17, 10, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = CLAIM_TIME

    def __call__(self) -> datetime:
        return self.now


class RecordingOutbox:
    """The outbound queue as the review page sees it: records messages, or refuses them like an SQS outage."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.fail = False
        self.before_failing = None
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        if self.fail:
            if self.before_failing is not None:
                self.before_failing()
            raise QueueUnavailable("fake outage")
        with self._lock:
            self.sent.append(message)



def approval(nonce: str) -> str:
    """What a claim records of a form's nonce, and its message carries: the nonce's random part (its approval id)."""
    return nonce.split(".")[0]

def _save(store, mention_id: str, text: str, created_at: str, channel: str = "x", kind: str = "mention") -> None:
    mention = Mention(platform="x" if channel == "x" else "meta", channel=channel, kind=kind, mention_id=mention_id,
                      thread_id=THREAD, author=Author(id="42", handle="eve", name="Eve"), text=text,
                      created_at=created_at, account_id="brand")
    assert store.save(mention).created


def _set(store, channel: str, mention_id: str, **fields) -> None:
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": v for i, v in enumerate(fields.values())}
    store.client.update_item(
        TableName=store._table, Key=store._item({"pk": f"MENTION#{channel}#{mention_id}", "sk": "MENTION"}),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names, ExpressionAttributeValues=store._item(values))


@pytest.fixture
def notified(store):
    """A thread of three messages on X; the last one triaged and notified, with a draft."""
    _save(store, "1900000000000000001", "first message in the thread", "2026-12-01T17:00:00Z")
    _save(store, "1900000000000000002", "second message in the thread", "2026-12-01T17:01:00Z")
    _save(store, MENTION_ID, "my card was charged twice", "2026-12-01T17:02:00Z")
    _save(store, "1900000000000000010", "a later message, not earlier", "2026-12-01T17:03:00Z")
    _set(store, "x", MENTION_ID, status="notified", draft_text="Sorry about that, we are on it.", priority="p2",
         team="billing", sla_due="2026-12-01T18:02:00Z", intent="complaint")
    return SIGNER.token("x", MENTION_ID)


@pytest.fixture
def outbox():
    return RecordingOutbox()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(table_client, table_name, outbox, clock):
    # On boto3's client and on the JSON-protocol client the review function uses deployed (conftest)
    store = DynamoReplyStore(table_name, client=table_client)
    return ReviewService(store=store, signer=lambda: SIGNER, outbox=outbox,
                         configured_channels=lambda: {"x", "facebook"}, clock=clock)


def _snapshot(store) -> list:
    items = store.client.scan(TableName=store._table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _post(service, token, action="send", text="We refunded you.", nonce=None, agent="Dana"):
    body = urlencode({"nonce": nonce or SIGNER.nonce(token), "action": action, "text": text, "agent": agent})
    return service.handle("POST", token, body.encode(), FORM)


def test_get_shows_the_mention_its_thread_and_draft_and_changes_nothing(store, service, outbox, notified):
    # Given a notified mention in a thread, and the whole table as it is
    before = _snapshot(store)
    # When its review page is fetched three times (a mail scanner, a preview, the person)
    pages = [service.handle("GET", notified) for _ in range(3)]
    # Then each shows the form with the draft and the earlier messages, oldest first, and not the later one
    document = pages[0].html()
    assert {p.status for p in pages} == {200}
    assert "Sorry about that, we are on it." in document and 'value="send"' in document
    assert document.index("first message") < document.index("second message") < document.index("charged twice")
    assert "a later message" not in document
    # And not one item changed, and nothing was queued
    assert _snapshot(store) == before and outbox.sent == []


def test_get_of_answered_or_queued_mentions_changes_nothing_either(store, service, outbox, notified):
    _set(store, "x", MENTION_ID, reply_state="queued", reply_nonce="n", reply_requested_by="Dana",
         reply_requested_at="2026-12-01T17:09:00.000Z")
    before = _snapshot(store)
    shown = service.handle("GET", notified)
    assert shown.status == 200 and "Reply queued" in shown.html() and 'name="nonce"' not in shown.html()
    assert _snapshot(store) == before and outbox.sent == []


def test_five_concurrent_approvals_make_one_claim_and_one_message(store, service, outbox, notified):
    # Given five agents with the page open, each with its own form (nonce) and its own text
    forms = [(SIGNER.nonce(notified), f"Reply number {i}", f"agent-{i}") for i in range(5)]
    start = threading.Barrier(5)
    answers: dict[int, object] = {}

    def approve(i: int) -> None:
        nonce, text, agent = forms[i]
        start.wait()
        answers[i] = _post(service, notified, text=text, nonce=nonce, agent=agent)

    # When all five press Send at once
    threads = [threading.Thread(target=approve, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one approval won (303 back to the page), and one message went on the queue, with its nonce
    winners = [i for i, a in answers.items() if a.status == 303]
    assert len(winners) == 1
    (winner,) = winners
    assert outbox.sent == [{"v": 1, "channel": "x", "mention_id": MENTION_ID, "nonce": approval(forms[winner][0])}]
    # And the item records the winner's text, and the four others were told who claimed it (410)
    item = store.get_mention("x", MENTION_ID)
    assert (item["reply_state"], item["reply_text"], item["reply_requested_by"]) == (
        "queued", forms[winner][1], forms[winner][2])
    for i, answer in answers.items():
        if i != winner:
            assert answer.status == 410 and forms[winner][2] in answer.html()
            assert item["reply_requested_at"] in answer.html()


def test_a_retried_post_with_the_same_nonce_is_the_same_approval(store, service, outbox, notified):
    # Given an approval that was claimed and queued
    nonce = SIGNER.nonce(notified)
    assert _post(service, notified, nonce=nonce, text="First text").status == 303
    claimed = store.get_mention("x", MENTION_ID)
    # When the browser retries the same POST (its answer was lost), even with another text
    again = _post(service, notified, nonce=nonce, text="Changed on retry")
    # Then it is answered as the same approval, the claim is untouched, and the message is re-sent with the same
    # nonce (the sender acts on a nonce once)
    assert again.status == 303
    assert store.get_mention("x", MENTION_ID) == claimed
    message = {"v": 1, "channel": "x", "mention_id": MENTION_ID, "nonce": approval(nonce)}
    assert outbox.sent == [message, message]
    # And the page now shows where the reply stands
    assert "Reply queued" in service.handle("GET", notified).html()


def test_a_failed_send_message_releases_the_claim_and_answers_503(store, service, outbox, notified):
    # Given SQS refusing messages
    outbox.fail = True
    nonce = SIGNER.nonce(notified)
    # When an agent presses Send
    answer = _post(service, notified, nonce=nonce)
    # Then the page says to try again, nothing is queued, and the mention is open again with no claim
    assert answer.status == 503 and outbox.sent == []
    item = store.get_mention("x", MENTION_ID)
    assert "reply_state" not in item and "reply_nonce" not in item and item["status"] == "notified"
    # And the same form, posted again once SQS is back, claims and queues
    outbox.fail = False
    assert _post(service, notified, nonce=nonce).status == 303
    assert [m["nonce"] for m in outbox.sent] == [approval(nonce)]


def test_a_claim_the_sender_already_took_is_not_released(store, service, outbox, notified):
    # Given SendMessage failing on the client side after SQS delivered it (the sender began sending)
    outbox.fail = True
    outbox.before_failing = lambda: _set(store, "x", MENTION_ID, reply_state="sending")
    # When an agent presses Send
    answer = _post(service, notified)
    # Then the claim stays and the person is sent to the page that shows it
    assert answer.status == 303
    assert store.get_mention("x", MENTION_ID)["reply_state"] == "sending"


def test_a_claim_whose_message_never_came_can_be_taken_over_later(store, service, outbox, notified, clock):
    # Given a claim recorded whose function stopped before SendMessage (the claim is queued, nothing is on the queue)
    stuck = SIGNER.nonce(notified)
    _set(store, "x", MENTION_ID, reply_state="queued", reply_nonce=stuck, reply_text="Lost text",
         reply_requested_by="Dana", reply_requested_at="2026-12-01T17:10:00.000Z")
    # When another agent tries 29 minutes later
    clock.now = CLAIM_TIME + timedelta(minutes=29)
    assert "Reply queued" in service.handle("GET", notified).html()
    # Then it is still the first claim's (its message may be on its way)
    assert _post(service, notified, agent="Lee").status == 410 and outbox.sent == []
    # And after 31 minutes the page offers the form again, naming the claim that never went out
    clock.now = CLAIM_TIME + timedelta(minutes=31)
    shown = service.handle("GET", notified).html()
    assert "has not gone out" in shown and "Lost text" in shown and 'value="send"' in shown
    # And a new approval takes it over, with its own nonce (a late message of the old one no longer matches)
    fresh = SIGNER.nonce(notified)
    assert _post(service, notified, nonce=fresh, agent="Lee", text="New text").status == 303
    item = store.get_mention("x", MENTION_ID)
    assert (item["reply_nonce"], item["reply_requested_by"], item["reply_text"]) == (approval(fresh), "Lee", "New text")
    assert [m["nonce"] for m in outbox.sent] == [approval(fresh)]


def test_mark_handled_takes_over_a_stale_claim_and_voids_its_nonce(store, service, outbox, notified, clock):
    # Given a claim queued 31 minutes ago whose message never came
    _set(store, "x", MENTION_ID, reply_state="queued", reply_nonce="stuck",
         reply_requested_at="2026-12-01T17:10:00.000Z")
    clock.now = CLAIM_TIME + timedelta(minutes=31)
    # When an agent marks the mention handled
    assert _post(service, notified, action="handled", agent="Lee").status == 303
    # Then it is handled, and the stuck claim's nonce is gone, so its message would be dropped if it ever came
    item = store.get_mention("x", MENTION_ID)
    assert item["status"] == "handled" and "reply_nonce" not in item


def test_mark_handled_closes_the_mention_without_a_reply(store, service, outbox, notified):
    # When an agent marks the mention handled
    assert _post(service, notified, action="handled", agent="Lee").status == 303
    # Then it is handled by them, nothing is queued, and a later Send is told who closed it
    item = store.get_mention("x", MENTION_ID)
    assert (item["status"], item["handled_by"]) == ("handled", "Lee") and item["handled_at"].endswith("Z")
    late = _post(service, notified, agent="Dana")
    assert late.status == 410 and "Lee" in late.html() and outbox.sent == []
    assert "Already handled" in service.handle("GET", notified).html()


def test_a_queued_reply_cannot_be_marked_handled(store, service, outbox, notified):
    assert _post(service, notified).status == 303
    assert _post(service, notified, action="handled").status == 410
    assert store.get_mention("x", MENTION_ID)["status"] == "notified"


def test_a_channel_without_credentials_queues_nothing(store, service, outbox, notified):
    # Given a WhatsApp message notified, on a deployment without a WhatsApp token
    _save(store, "wamid.HBgLMTY1MDU1NTAxMjMVAgASGBQzQUZFQzE2", "hello", "2026-12-01T17:04:00Z", channel="whatsapp",
          kind="message")
    _set(store, "whatsapp", "wamid.HBgLMTY1MDU1NTAxMjMVAgASGBQzQUZFQzE2", status="notified", draft_text="Hi!")
    token = SIGNER.token("whatsapp", "wamid.HBgLMTY1MDU1NTAxMjMVAgASGBQzQUZFQzE2")
    before = _snapshot(store)
    # When the page is opened and Send pressed
    shown = service.handle("GET", token)
    answer = _post(service, token)
    # Then the page says so, Send answers 409, nothing was written or queued
    assert shown.status == 200 and 'value="send" disabled' in shown.html()
    assert answer.status == 409 and "not configured" in answer.html()
    assert _snapshot(store) == before and outbox.sent == []


@pytest.mark.parametrize(("text", "problem"), [("   ", "empty"), ("字" * 141, "282"), ("a\x00b", "control")])
def test_a_reply_that_cannot_be_sent_shows_the_form_again(store, service, outbox, notified, text, problem):
    # Given a reply text that is empty, over X's 280 weighted characters, or holding a control character
    before = _snapshot(store)
    # When it is sent
    answer = _post(service, notified, text=text)
    # Then the form comes back (400) with the reason and a fresh nonce, and nothing was claimed or queued
    assert answer.status == 400 and problem in answer.html() and 'name="nonce"' in answer.html()
    assert _snapshot(store) == before and outbox.sent == []


def test_a_refused_reply_can_be_sent_again_with_a_new_form_only(store, service, outbox, notified):
    # Given a reply the platform refused for good (what the sender records)
    used = SIGNER.nonce(notified)
    assert _post(service, notified, nonce=used, text="Duplicate text").status == 303
    _set(store, "x", MENTION_ID, reply_state="refused",
         reply_error={"code": "x-403", "reason": "You are not allowed to create a Tweet with duplicate content.",
                      "at": "2026-12-01T17:06:00Z"})
    # When the page is opened again
    shown = service.handle("GET", notified).html()
    # Then it shows the platform's reason and the form with the refused text's draft
    assert "duplicate content" in shown and 'value="send"' in shown
    # And the old form's nonce is not honoured twice, while a new form's is
    assert _post(service, notified, nonce=used, text="Another text").status == 409
    fresh = SIGNER.nonce(notified)
    assert _post(service, notified, nonce=fresh, text="Another text").status == 303
    item = store.get_mention("x", MENTION_ID)
    assert (item["reply_state"], item["reply_nonce"], item["reply_text"]) == ("queued", approval(fresh), "Another text")
    assert "reply_error" not in item
    assert [m["nonce"] for m in outbox.sent] == [approval(used), approval(fresh)]


def test_a_missing_or_deleted_mention_is_refused(store, service, outbox, notified):
    assert service.handle("GET", SIGNER.token("x", "1900000000000000077")).status == 404
    assert _post(service, SIGNER.token("x", "1900000000000000077")).status == 404
    _set(store, "x", MENTION_ID, status="deleted")
    assert service.handle("GET", notified).status == 410
    assert _post(service, notified).status == 410 and outbox.sent == []


def test_the_lambda_handler_serves_the_page_from_an_http_api_event(service, outbox, notified):
    # Given the review function with its service wired to DynamoDB Local
    module = load_module(HANDLER, "responder_review_handler")
    module.configure(service)
    event = {"version": "2.0", "rawPath": f"/review/{notified}", "pathParameters": {"token": notified},
             "headers": FORM, "requestContext": {"http": {"method": "GET", "path": f"/review/{notified}"}},
             "isBase64Encoded": False}
    # When the page is fetched, then its form posted (base64, as API Gateway passes form bodies)
    shown = module.handler(event, LambdaContext())
    nonce = re.search(r'name="nonce" value="([^"]+)"', shown["body"]).group(1)
    body = urlencode({"nonce": nonce, "action": "send", "text": "Refunded.", "agent": ""}).encode()
    posted = module.handler({**event, "requestContext": {"http": {"method": "POST"}},
                             "body": base64.b64encode(body).decode(), "isBase64Encoded": True}, LambdaContext())
    # Then GET answered the page and POST 303 to the page itself, with one message queued
    assert shown["statusCode"] == 200 and shown["headers"]["cache-control"] == "no-store"
    assert posted["statusCode"] == 303 and posted["headers"]["location"] == notified
    assert outbox.sent == [{"v": 1, "channel": "x", "mention_id": MENTION_ID, "nonce": approval(nonce)}]
    module.configure(None)


def test_the_thread_shown_with_a_reply_starts_with_the_stored_mention_it_answers(store, dynamodb_local, table_name):
    # Given a mention that opens its thread (it has no thread listing entry) and two replies in that thread
    root_id = "1910000000000000001"
    for mention_id, text, created in ((root_id, "the post that opened it", "2026-12-01T17:00:00Z"),
                                      ("1910000000000000002", "a reply to it", "2026-12-01T17:01:00Z"),
                                      ("1910000000000000003", "the reply under review", "2026-12-01T17:02:00Z")):
        assert store.save(Mention(platform="x", channel="x", kind="mention", mention_id=mention_id, thread_id=root_id,
                                  author=Author(id="42", handle="eve", name="Eve"), text=text, created_at=created,
                                  account_id="brand")).created
    reviews = DynamoReplyStore(table_name, client=dynamodb_local.client())
    reviewed = reviews.get_mention("x", "1910000000000000003")
    # When the page reads what came before the last reply
    earlier = reviews.earlier_messages(reviewed, 5)
    # Then the thread's first message comes first, read by its key, then the other reply
    assert [m["text"] for m in earlier] == ["the post that opened it", "a reply to it"]
    assert "gsi1pk" not in reviews.get_mention("x", root_id)
    # And with room for one message only, the newest earlier one is shown; the first message has nothing before it
    assert [m["text"] for m in reviews.earlier_messages(reviewed, 1)] == ["a reply to it"]
    assert reviews.earlier_messages(reviews.get_mention("x", root_id), 5) == []
