"""The agents' notifications per protocol: the JSON document with its review link, a readable e-mail, one SMS line
and a subject, bounded whatever the mention holds."""

from __future__ import annotations

import json

import pytest

from responder.replies.tokens import ReviewSigner, generate_key
from responder.triage import notify
from responder.triage.steps import route_step

KEY = generate_key()
ENV = {"RESPONDER_REVIEW_BASE_URL": "https://api.example.com/", "RESPONDER_REVIEW_KEY": KEY}
MENTION = {"platform": "x", "channel": "x", "kind": "mention", "mention_id": "1790000000000000001",
           "thread_id": "1790000000000000001", "account_id": "42",
           "author": {"id": "5000000123", "handle": "casey_q", "name": "Casey Quinn"},
           "text": "@acme my order #55120 still hasn't arrived after two weeks", "created_at": "2026-12-01T10:00:00Z"}
CLASSIFICATION = {"intent": "complaint", "sentiment": "negative", "topic": "delivery", "language": "en",
                  "priority": "p2", "team": "logistics"}
ROUTE = {"team": "logistics", "priority": "p2", "sla_due": "2026-12-01T11:00:00Z",
         "reasons": ["topic delivery → logistics", "complaint: 60 min"]}
DRAFT = {"text": "@casey_q Sorry, Casey! Please DM us your order number.", "language": "en", "template": "complaint",
         "length": 55, "limit": 280, "truncated": False}
ACTIONS = {"reply": {"method": "POST", "url": "https://api.x.com/2/tweets"},
           "open": "https://x.com/i/web/status/1790000000000000001"}


def compose(mention=MENTION, draft=DRAFT, route=ROUTE, link="https://api.example.com/review/tok.sig"):
    return notify.compose(mention, CLASSIFICATION, route, draft, {"mention_count": 3}, ACTIONS, link)


def test_the_document_is_as_before_plus_the_review_link():
    # Given a routed, drafted mention and its review link
    message, _ = compose()
    # Then `default` is the JSON document with the six parts and actions.review_url, every entry a string
    assert set(message) == {"default", "email", "sms"} and all(isinstance(v, str) for v in message.values())
    doc = json.loads(message["default"])
    assert set(doc) == {"mention", "classification", "route", "draft", "thread", "actions"}
    assert doc["actions"]["review_url"] == "https://api.example.com/review/tok.sig"
    assert doc["actions"]["open"] == ACTIONS["open"] and doc["mention"] == MENTION
    assert doc["draft"] == {"text": DRAFT["text"], "language": "en"}
    assert doc["route"] == ROUTE


def test_a_model_draft_says_which_drafted_it():
    message, _ = compose(draft={**DRAFT, "drafted_by": "bedrock:model", "fallback": None})
    assert json.loads(message["default"])["draft"]["drafted_by"] == "bedrock:model"


def test_the_email_reads_as_a_message_to_a_person():
    # When composed
    message, subject = compose()
    email = message["email"]
    # Then it says who, where, what they said, priority, SLA due, the draft and the review link, in plain text
    assert email.startswith("Casey Quinn (@casey_q) wrote an X mention.")
    for part in ("Priority: p2", "Team: logistics", "SLA due: 2026-12-01T11:00:00Z", MENTION["text"], DRAFT["text"],
                 "Review and reply: https://api.example.com/review/tok.sig", "- topic delivery → logistics",
                 "Open on X: https://x.com/i/web/status/1790000000000000001", "Thread: 3 message(s)"):
        assert part in email, part
    assert "{" not in email  # no JSON
    # And the subject names priority, team, author and the start of the text, on one ASCII line
    assert subject.startswith("Responder p2 logistics: X mention from Casey Quinn (@casey_q): @acme my order")
    assert len(subject) <= notify.SUBJECT_MAX_CHARS and subject.isascii() and "\n" not in subject
    # And the SMS is one line with the link
    assert message["sms"].startswith("Responder p2 logistics: X mention from Casey Quinn (@casey_q): \"@acme my order")
    assert message["sms"].endswith("Review: https://api.example.com/review/tok.sig") and "\n" not in message["sms"]


def test_without_a_link_nothing_mentions_one():
    # Given no review base URL (link None)
    message, _ = compose(link=None)
    # Then the document has no review_url key and the texts say nothing about a review page
    assert "review_url" not in json.loads(message["default"])["actions"]
    assert "review" not in message["email"].lower() and "Review" not in message["sms"]


def test_private_messages_reach_the_email_but_not_the_subject_or_sms():
    # Given a WhatsApp message
    private = {**MENTION, "channel": "whatsapp", "kind": "message", "text": "my card ending 4242 was charged twice"}
    message, subject = compose(mention=private)
    # Then the e-mail shows it (the agent needs it) and says it is private
    assert private["text"] in message["email"] and "(private" in message["email"]
    # And neither the subject nor the SMS (lock screens, carriers) carries its words
    assert "4242" not in subject and "4242" not in message["sms"]
    assert "WhatsApp message" in subject and "Review: " in message["sms"]


HOSTILE_NAME = "\u202eevil\u0000\r\nBcc: everyone@example.com " + "😡" * 5_000


@pytest.mark.parametrize("text", ["😡" * 5_000, "a\n" * 30_000, "\u202e" + "x" * 60_000, "\x00\x1b[2J" * 10_000])
def test_hostile_long_texts_stay_within_every_bound(text):
    # Given a mention as long as the workflow carries, and an author name made to break lines and order
    mention = {**MENTION, "text": text, "author": {"id": "1", "handle": "h" * 100, "name": HOSTILE_NAME}}
    draft = {**DRAFT, "text": "d" * 50_000}
    route = {**ROUTE, "team": "t" * 500, "reasons": ["r" * 1_000] * 100}
    # When composed
    message, subject = compose(mention=mention, draft=draft, route=route, link="https://a.example/review/" + "t" * 200)
    # Then the SMS fits one SNS SMS publish, the subject SNS's limit, and the e-mail carries at most ~1,000
    # characters of the mention (the review page has the rest)
    assert len(message["sms"].encode("utf-8")) <= notify.SMS_MAX_BYTES and "\n" not in message["sms"]
    assert len(subject) <= notify.SUBJECT_MAX_CHARS and subject.isascii()
    assert all(ch >= " " for ch in subject)
    email = message["email"]
    assert len(email) < notify.EMAIL_TEXT_MAX_CHARS + notify.EMAIL_DRAFT_MAX_CHARS + 4_000
    assert "\u202e" not in email and "\x00" not in email and "\x1b" not in email and "\r" not in email
    # And the author's name cannot start a header-like line of its own
    assert "\nBcc:" not in email
    # And the texts for people add little to the document, whatever it holds
    assert len((message["email"] + message["sms"]).encode()) < 20_000


def test_sms_is_cut_to_its_byte_limit_even_with_a_long_link():
    # Given a link so long that the line would pass 1,600 bytes
    message, _ = compose(link="https://a.example/review/" + "é" * 1_000)
    # Then the SMS is cut on a character boundary within the limit
    assert len(message["sms"].encode("utf-8")) <= notify.SMS_MAX_BYTES
    message["sms"].encode("utf-8").decode("utf-8")


def test_route_step_returns_the_route_and_the_signed_link(monkeypatch):
    from responder.triage.routing import load_rules

    # Given the review base URL and key configured
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    event = {"mention": MENTION, "classification": CLASSIFICATION, "draft": DRAFT, "thread": {}, "actions": ACTIONS}
    # When Route runs
    result = route_step(event, load_rules())
    # Then it returns the route, the per-protocol message and the subject
    assert {"team", "priority", "sla_due", "reasons", "message", "subject"} <= set(result)
    url = json.loads(result["message"]["default"])["actions"]["review_url"]
    assert url.startswith("https://api.example.com/review/") and url in result["message"]["email"]
    # And the link is a token for this very mention
    target = ReviewSigner(KEY.encode()).verify(url.rsplit("/", 1)[1])
    assert (target.channel, target.mention_id) == ("x", MENTION["mention_id"])


def test_an_unreadable_review_key_sends_the_notification_without_a_link(monkeypatch):
    from responder.triage.routing import load_rules

    # Given a base URL but a key too short to use (as when the secret cannot be read)
    monkeypatch.setenv("RESPONDER_REVIEW_BASE_URL", "https://api.example.com")
    monkeypatch.setenv("RESPONDER_REVIEW_KEY", "short")
    event = {"mention": MENTION, "classification": CLASSIFICATION, "draft": DRAFT, "thread": {}, "actions": ACTIONS}
    # When Route runs, it does not fail: the notification simply has no link
    result = route_step(event, load_rules())
    assert "review_url" not in json.loads(result["message"]["default"])["actions"]


def test_an_incident_alert_per_protocol_links_the_mention_that_raised_it():
    # Given an incident alert document as correlate builds it
    samples = [{"mention_id": "9", "channel": "x", "text": "where is my refund"}]
    alert = {"alert": "opened",
             "incident": {"incident_id": "inc-1", "account_id": "brand", "size": 42, "top_terms": ["refund", "outage"],
                          "sentiment_mix": {"negative": 40}, "samples": samples},
             "holding_statement": {"text": "We know about the outage and are on it.", "language": "en"},
             "actions": {"members": "GET /local/incidents"}}
    # When composed with the raising mention's link
    message, subject = notify.compose_incident_alert(alert, "https://api.example.com/review/t.s")
    # Then the document keeps its shape and gains the link; e-mail and SMS are readable and carry it
    doc = json.loads(message["default"])
    assert doc["actions"] == {"members": "GET /local/incidents", "review_url": "https://api.example.com/review/t.s"}
    assert doc["incident"] == alert["incident"]
    assert "42 mentions about refund, outage" in message["email"] and "where is my refund" in message["email"]
    assert "\nWe know about the outage and are on it.\n" in message["email"]
    assert "https://api.example.com/review/t.s" in message["email"]
    assert message["sms"] == ("Responder incident opened: 42 mentions about refund, outage. "
                              "Review: https://api.example.com/review/t.s")
    assert subject == "Responder incident opened: 42 mentions about refund, outage"
    # And without a link, none
    message, _ = notify.compose_incident_alert(alert, None)
    assert "review_url" not in json.loads(message["default"])["actions"] and "Review" not in message["sms"]
