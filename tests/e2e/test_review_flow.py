"""The agent's half of the loop against `responder local`: the notification's review link, the page, Send, and
the reply the platform stand-ins receive; a native brand reply; a real browser (Debian's Chromium, headless).

Deliveries are built here with ids no other test uses, so nothing seen before can satisfy an assertion.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from responder.ingest.signatures import sign_meta, sign_x
from tests.conftest import fixture_json
from tests.e2e.local_process import local_process

pytestmark = pytest.mark.slow

SECRETS = {"RESPONDER_X_CONSUMER_SECRET": "review-e2e-x-secret", "RESPONDER_META_APP_SECRET": "review-e2e-meta-secret",
           "RESPONDER_META_VERIFY_TOKEN": "review-e2e-verify"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NONCE = re.compile(r'name="nonce"\s+value="([^"]+)"|value="([^"]+)"\s+name="nonce"')


@pytest.fixture(scope="module")
def stack():
    with local_process(SECRETS) as (base, _process):
        yield base


# --- deliveries ---------------------------------------------------------------------------------------------

def x_mention(post_id: str, text: str, author_id: str) -> bytes:
    body = copy.deepcopy(fixture_json("x/xaa_post_mention_create.json"))
    body["data"]["event_uuid"] = f"9{post_id}"
    payload = body["data"]["payload"]
    original_author = payload["author_id"]
    # Written now: a post of the fixture's date would be past its SLA, and its timer would escalate it at once.
    payload.update(id=post_id, conversation_id=post_id, edit_history_tweet_ids=[post_id], author_id=author_id,
                   text=text, created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
    payload.pop("attachments", None)
    for user in body["data"]["includes"].get("users", []):
        if user["id"] == original_author:
            user["id"] = author_id
    body["data"]["includes"].pop("media", None)
    return json.dumps(body).encode()


def x_brand_reply(reply_id: str, to_post: str) -> bytes:
    body = copy.deepcopy(fixture_json("x/xaa_post_create_by_brand.json"))
    body["data"]["event_uuid"] = f"8{reply_id}"
    body["data"]["payload"].update(id=reply_id, conversation_id=to_post, in_reply_to_tweet_id=to_post,
                                   referenced_tweets=[{"type": "replied_to", "id": to_post}],
                                   text="Sorry about that! We have sent you a DM.")
    return json.dumps(body).encode()


def whatsapp(wamid: str, text: str, phone: str) -> bytes:
    body = copy.deepcopy(fixture_json("meta/whatsapp_text.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = phone
    value["messages"][0].update({"from": phone, "id": wamid, "timestamp": str(int(time.time())),
                                 "text": {"body": text}})
    return json.dumps(body).encode()


def post_x(base: str, body: bytes) -> None:
    answer = requests.post(f"{base}/webhooks/x", data=body, timeout=10, headers={
        "content-type": "application/json",
        "x-twitter-webhooks-signature": sign_x(SECRETS["RESPONDER_X_CONSUMER_SECRET"], body)})
    assert answer.status_code == 200, answer.text


def post_meta(base: str, body: bytes) -> None:
    answer = requests.post(f"{base}/webhooks/meta", data=body, timeout=10, headers={
        "content-type": "application/json",
        "x-hub-signature-256": sign_meta(SECRETS["RESPONDER_META_APP_SECRET"], body)})
    assert answer.status_code == 200, answer.text


# --- reading the local stack ----------------------------------------------------------------------------------

def wait_for(check: Any, timeout: float = 90.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def notification_for(base: str, mention_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for record in requests.get(f"{base}/local/notifications", timeout=10).json():
            message = record.get("message")
            if isinstance(message, dict) and (message.get("mention") or {}).get("mention_id") == mention_id:
                return message
        return None

    return wait_for(find, what=f"the notification of {mention_id}")


def mention(base: str, mention_id: str) -> dict[str, Any]:
    found = [m for m in requests.get(f"{base}/local/mentions", timeout=10).json() if m["mention_id"] == mention_id]
    assert len(found) == 1
    return found[0]


def sent_to(base: str, in_reply_to: str) -> list[dict[str, Any]]:
    return [s for s in requests.get(f"{base}/local/sent", timeout=10).json() if s.get("in_reply_to") == in_reply_to]


def form_nonce(html: str) -> str:
    match = NONCE.search(html)
    assert match, "the review page carries no nonce"
    return match.group(1) or match.group(2)


# --- the flow -------------------------------------------------------------------------------------------------

def test_a_notified_mention_is_answered_once_through_its_review_page(stack):
    # Given a complaint on X, triaged and notified
    post_id = "4400000000000000101"
    post_x(stack, x_mention(post_id, "@AcmeSupport my blender arrived cracked, order 5521, I want a refund",
                            "2000000000000000771"))
    document = notification_for(stack, post_id)
    url = document["actions"]["review_url"]
    assert url.startswith(f"{stack}/review/")
    # (the mention is recorded `notified` just after its notification is published)
    before = wait_for(lambda: (m := mention(stack, post_id)).get("status") == "notified" and m, what="notified")

    # When the link is fetched three times, as a mail scanner and the agent would
    for _ in range(3):
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # Then the page shows the mention and its draft in a form, and nothing changed or was sent
    assert 'name="text"' in page.text and 'value="send"' in page.text
    # And its link stays private: not cached, not sent on as a referrer, not framed (headers as deployed)
    assert page.headers["cache-control"].startswith("no-store") and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY" and "default-src 'none'" in page.headers["content-security-policy"]
    assert "blender arrived cracked" in page.text
    time.sleep(1.5)
    assert sent_to(stack, post_id) == []
    assert mention(stack, post_id) == before

    # When the agent's form, with an edited text, is posted five times at once
    text = "So sorry about the blender! We have refunded order 5521, it shows within 3 days. ^JS"
    form = {"nonce": form_nonce(page.text), "text": text, "action": "send", "agent": "jamie"}
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: requests.post(url, data=form, timeout=20, allow_redirects=False),
                                range(5)))
    assert all(a.status_code in (200, 303) for a in answers), [a.status_code for a in answers]

    # Then exactly one reply reaches X, with the edited text, in reply to the mention
    replies = wait_for(lambda: sent_to(stack, post_id), what="the reply at the X stand-in")
    time.sleep(2.0)  # a second reply, if any, would have been sent by now
    replies = sent_to(stack, post_id)
    assert len(replies) == 1
    assert replies[0]["channel"] == "x" and replies[0]["text"] == text
    # And the mention is answered, by the agent, with its first-response time and the platform's reply id
    answered = wait_for(lambda: (m := mention(stack, post_id)).get("status") == "answered" and m, what="answered")
    assert answered["reply_id"] == replies[0]["reply_id"]
    assert answered["reply_text"] == text and answered["answered_by"] == "jamie"
    assert answered["first_response_at"] >= answered["received_at"][:19]
    # And the link is used up: another post is refused and sends nothing
    again = requests.post(url, data=form, timeout=10, allow_redirects=False)
    assert again.status_code in (200, 303, 409, 410)
    time.sleep(1.0)
    assert len(sent_to(stack, post_id)) == 1


def test_a_forged_or_tampered_link_is_refused_and_sends_nothing(stack):
    # Given a genuine link
    post_id = "4400000000000000102"
    post_x(stack, x_mention(post_id, "@AcmeSupport where is my order 7781? no update for a week",
                            "2000000000000000772"))
    url = notification_for(stack, post_id)["actions"]["review_url"]
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    forged = [f"{stack}/review/{payload}.{signature[:-4]}AAAA", f"{stack}/review/{payload[:-2]}xx.{signature}",
              f"{stack}/review/not-a-token"]
    for link in forged:
        # When a forged or tampered link is fetched and its form posted
        assert requests.get(link, timeout=10).status_code == 403
        answer = requests.post(link, data={"nonce": "x", "text": "hello", "action": "send"}, timeout=10)
        # Then it is refused with a page, and nothing is sent
        assert answer.status_code == 403 and "text/html" in answer.headers["content-type"]
    time.sleep(1.0)
    assert sent_to(stack, post_id) == []


def test_a_whatsapp_message_is_answered_in_its_conversation(stack):
    # Given a WhatsApp message
    wamid = "wamid.HBgLMTU1NTAwMDk5ODgVAgASGBRSRVZJRVdFMkUwMDAwMDAwMDAwMQA="
    post_meta(stack, whatsapp(wamid, "Hi, my parcel 6620 never arrived, can you check?", "15550009988"))
    url = notification_for(stack, wamid)["actions"]["review_url"]
    # (recorded `notified` just after its notification is published; until then the page refreshes itself)
    wait_for(lambda: mention(stack, wamid).get("status") == "notified", what="notified")
    page = requests.get(url, timeout=10)
    # When the agent sends the draft as it is
    draft = re.search(r'<textarea[^>]*name="text"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert draft
    import html

    answer = requests.post(url, data={"nonce": form_nonce(page.text), "text": html.unescape(draft.group(1)).strip(),
                                      "action": "send"}, timeout=20)
    assert answer.status_code == 200
    # Then the reply goes to that person, in context of their message
    (reply,) = wait_for(lambda: sent_to(stack, wamid), what="the WhatsApp reply")
    assert reply["channel"] == "whatsapp" and reply.get("recipient") == "15550009988"
    assert wait_for(lambda: mention(stack, wamid).get("status") == "answered", what="answered")


def test_a_native_brand_reply_on_x_marks_the_mention_answered(stack):
    # Given a mention notified to the agents
    post_id = "4400000000000000103"
    post_x(stack, x_mention(post_id, "@AcmeSupport my card was charged twice for order 9043", "2000000000000000773"))
    notification_for(stack, post_id)
    # When the brand answers it on X itself, and X delivers that post to the webhook
    post_x(stack, x_brand_reply("4400000000000000199", post_id))
    # Then the mention is answered by the platform, with the reply's id and a first-response time, and nothing sent
    answered = wait_for(lambda: (m := mention(stack, post_id)).get("status") == "answered" and m, what="answered")
    assert answered["answered_by"] == "platform" and answered["reply_id"] == "4400000000000000199"
    assert answered["first_response_at"]
    assert sent_to(stack, post_id) == []


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="Debian's chromium is not installed (apt-get install chromium); CI installs it")
def test_an_agent_edits_and_sends_the_draft_in_a_real_browser(stack):
    from playwright.sync_api import sync_playwright

    # Given a notified mention and its review link
    post_id = "4400000000000000104"
    post_x(stack, x_mention(post_id, "@AcmeSupport the app logs me out every five minutes since the update",
                            "2000000000000000774"))
    url = notification_for(stack, post_id)["actions"]["review_url"]
    text = "Thanks for flagging this! A fix for the logouts ships today; updating the app will sort it. ^JS"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 420, "height": 900})  # a phone-sized window
            # When an agent opens it, edits the draft and presses Send
            page.goto(url)
            assert page.locator("textarea[name=text]").input_value().strip()
            page.fill("textarea[name=text]", text)
            if os.environ.get("RESPONDER_SCREENSHOT"):
                page.screenshot(path=os.environ["RESPONDER_SCREENSHOT"], full_page=True)
            page.click("button[name=action][value=send]")
            page.wait_for_load_state()
            # Then the page says so
            assert "sen" in page.content().lower()  # "sending" / "sent"
        finally:
            browser.close()
    # And the X stand-in receives exactly one reply, with the edited text
    wait_for(lambda: sent_to(stack, post_id), what="the reply sent from the browser")
    time.sleep(2.0)
    (reply,) = sent_to(stack, post_id)
    assert reply["text"] == text
