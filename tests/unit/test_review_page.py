"""The review pages: everything shown is escaped, and every page carries the headers a page behind a token needs."""

from __future__ import annotations

import re

import pytest

from responder.replies import page

HOSTILE = '</textarea><script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


def _mention(**overrides):
    mention = {
        "channel": "x", "kind": "mention", "mention_id": "1900000000000000001", "status": "notified",
        "author": {"id": "42", "handle": 'eve"><script>alert(1)</script>', "name": HOSTILE},
        "text": HOSTILE, "draft_text": HOSTILE, "priority": "p1", "team": "billing<b>", "intent": "complaint",
        "sentiment": "negative", "topic": "billing", "language": "en", "sla_due": "2026-12-01T18:00:00Z",
        "created_at": "2026-12-01T17:00:00Z",
    }
    mention.update(overrides)
    return mention


def _scripts(document: str) -> list[str]:
    return re.findall(r"<script[^>]*>", document, flags=re.IGNORECASE)


def test_the_form_escapes_author_text_thread_and_draft():
    # Given a mention whose author, text, thread and draft all carry markup
    thread = [{"author": {"id": "7", "name": HOSTILE}, "text": HOSTILE, "created_at": "2026-12-01T16:00:00Z"}]
    form = page.review_form(_mention(), thread, nonce='n"once', text=HOSTILE, configured=True)
    document = form.html()
    # When the page is rendered
    # Then the only script is the page's own (with its CSP nonce), the textarea closes once, and nothing is raw
    assert _scripts(document) == [f'<script nonce="{form.nonce}">']
    assert document.count("</textarea>") == 1
    assert "<img" not in document and "onerror=alert(1)>" not in document
    assert '&lt;/textarea&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in document
    assert 'value="n&quot;once"' in document
    assert "billing&lt;b&gt;" in document
    # And the draft is the textarea's content, after the newline the HTML parser eats
    assert '">\n&lt;/textarea&gt;' in document


def test_the_form_counts_the_draft_as_the_platform_does():
    # Given an X reply of 141 CJK characters (282 weighted)
    form = page.review_form(_mention(), [], nonce="n", text="字" * 141, configured=True).html()
    # When rendered
    # Then the counter shows the weighted count against 280 and is marked over the limit
    assert '<p id="count" class="over">282 / 280 (as X counts)</p>' in form
    assert 'data-limit="280" data-weighted="1"' in form


def test_the_thread_shows_the_last_messages_each_cut_short():
    # Given 25 earlier messages of 5,000 characters
    thread = [{"author": {"id": str(i)}, "text": f"m{i:02d}" + "y" * 5000, "created_at": "t"} for i in range(25)]
    document = page.review_form(_mention(), thread, nonce="n", text="hi", configured=True).html()
    # When rendered
    # Then only the last 20 appear, each cut to 1,000 characters
    assert "m04" not in document and "m05" in document and "m24" in document
    assert "y" * 1000 not in document and "y" * 996 + "…" in document


def test_send_is_disabled_when_the_channel_is_not_configured():
    document = page.review_form(_mention(), [], nonce="n", text="hi", configured=False).html()
    assert 'value="send" disabled' in document and "not configured" in document
    assert 'value="handled"' in document


def test_a_refusal_reason_from_the_platform_is_escaped():
    # Given a reply the platform refused with a reason holding markup
    mention = _mention(reply_state="refused", reply_error={"code": "x403", "reason": HOSTILE, "at": "t"})
    # When the form is shown again with the reason
    document = page.review_form(mention, [], "n", "hi", True, problem=page.refusal_notice(mention)).html()
    # Then the reason is text
    assert len(_scripts(document)) == 1 and "&lt;script&gt;" in document


@pytest.mark.parametrize("fields", [
    {"status": "answered", "answered_by": HOSTILE, "first_response_at": HOSTILE, "reply_text": HOSTILE},
    {"status": "handled", "handled_by": HOSTILE, "handled_at": HOSTILE},
    {"reply_state": "queued", "reply_requested_by": HOSTILE, "reply_requested_at": HOSTILE, "reply_text": HOSTILE},
    {"reply_state": "sent", "reply_id": HOSTILE, "reply_sent_at": HOSTILE},
    {"reply_state": "unconfirmed"},
    {"status": HOSTILE},
])
def test_status_pages_escape_what_they_show(fields):
    # Given a mention in each state with hostile values in the fields the page shows
    # When its status page and the losing approval's page are rendered
    for rendered in (page.reply_status(_mention(**fields)), page.lost_claim(_mention(**fields))):
        document = rendered.html()
        # Then no markup from the item survives
        assert _scripts(document) == [] and "<img" not in document and "</textarea>" not in document


@pytest.mark.parametrize("status", ["received", "triaging"])
def test_a_link_opened_while_triage_records_the_mention_refreshes_until_the_form_is_there(status):
    # Given a mention whose notification went out a moment before triage recorded it as notified
    # When its review page is shown
    shown = page.reply_status(_mention(status=status))
    # Then the page says so and refreshes itself, instead of saying there is nothing to reply to
    assert shown.status == 200 and shown.refresh_seconds and "still being triaged" in shown.html()
    assert "nothing to reply to" not in shown.html()


def test_a_mention_that_is_not_open_says_there_is_nothing_to_reply_to():
    shown = page.reply_status(_mention(status="archived"))
    assert not shown.refresh_seconds and "nothing to reply to" in shown.html()


def test_a_losing_approval_is_told_who_got_there_first_and_when():
    item = _mention(reply_state="queued", reply_requested_by="Dana", reply_requested_at="2026-12-01T17:05:00.000Z")
    lost = page.lost_claim(item)
    assert lost.status == 410
    assert "Dana" in lost.html() and "2026-12-01T17:05:00.000Z" in lost.html() and "nothing was sent" in lost.html()


def _every_page():
    mention = _mention()
    pages = [page.review_form(mention, [], "n", "hi", True), page.review_form(mention, [], "n", "", False, 400),
             page.reply_status(_mention(status="answered")), page.reply_status(_mention(status="handled")),
             page.reply_status(_mention(reply_state="queued")), page.reply_status(_mention(reply_state="sending")),
             page.reply_status(_mention(reply_state="sent")), page.reply_status(_mention(reply_state="unconfirmed")),
             page.lost_claim(_mention(reply_state="queued")), page.redirect("tok.en")]
    pages += [page.message_page(*spec) for spec in (page.FORGED, page.EXPIRED, page.STALE_FORM, page.NOT_FOUND,
                                                    page.DELETED, page.UNAVAILABLE, page.NOT_CONFIGURED,
                                                    page.BAD_REQUEST, page.TOO_LARGE, page.METHOD)]
    return pages


@pytest.mark.parametrize("answer", _every_page(), ids=lambda p: f"{p.status}-{p.title}")
def test_every_page_carries_the_security_headers(answer):
    # Given any review page
    response = answer.response()
    headers = response["headers"]
    # When it is answered
    # Then it is never cached, never framed, never sniffed or indexed, and sends no Referer with the token
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-robots-tag"].startswith("noindex")
    csp = headers["content-security-policy"]
    assert csp.startswith("default-src 'none';") and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and f"'nonce-{answer.nonce}'" in csp
    if answer.status == 303:
        assert headers["location"] == "tok.en" and response["body"] == ""
    else:
        assert headers["content-type"] == "text/html; charset=utf-8"
        # And the page's own style (and script) carry this response's nonce
        assert f'<style nonce="{answer.nonce}">' in response["body"]


def test_each_response_has_its_own_csp_nonce():
    assert page.message_page(*page.FORGED).nonce != page.message_page(*page.FORGED).nonce
