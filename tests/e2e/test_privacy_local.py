"""Issue #15 against `responder local` as a process: platform delete notices and Meta's data deletion callback.

Deliveries with fresh ids: an X delete notice (Account Activity and Activity API), an Instagram unsend and a Facebook
comment removal each erase their stored mention (text gone, status deleted, the review page 410 without the text); a
delete that arrives before its create wins; the callback with a valid signed_request erases the person and answers a
url and a confirmation_code whose page answers 200; forged ones (bad signature, wrong algorithm, stale) erase nothing.
"""

from __future__ import annotations

import copy
import json
import random
import time
from typing import Any

import pytest
import requests

from responder.ingest.signatures import sign_meta, sign_x
from responder.privacy.signed_request import sign_request
from tests.conftest import fixture_json
from tests.e2e.local_process import local_process
from tests.e2e.test_review_flow import notification_for, wait_for, x_mention

pytestmark = pytest.mark.slow

SECRETS = {"RESPONDER_X_CONSUMER_SECRET": "privacy-e2e-x-secret",
           "RESPONDER_META_APP_SECRET": "privacy-e2e-meta-secret",
           "RESPONDER_META_VERIFY_TOKEN": "privacy-e2e-verify"}
BRAND = "1000000000000000001"
PAGE = "4100000000000001"
IG_ACCOUNT = "17841400000000001"


@pytest.fixture(scope="module")
def stack():
    with local_process(SECRETS, ["--outbox", ""]) as (base, _process):
        yield base


def fresh(digits: int = 19) -> str:
    """An id no earlier run or fixture used."""
    return str(random.randrange(10 ** (digits - 1), 10 ** digits))


def post(base: str, platform: str, body: Any) -> requests.Response:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    header = {"x": ("x-twitter-webhooks-signature", sign_x(SECRETS["RESPONDER_X_CONSUMER_SECRET"], raw)),
              "meta": ("x-hub-signature-256", sign_meta(SECRETS["RESPONDER_META_APP_SECRET"], raw))}[platform]
    return requests.post(f"{base}/webhooks/{platform}", data=raw, timeout=10,
                         headers={"content-type": "application/json", header[0]: header[1]})


def stored(base: str, mention_id: str) -> dict[str, Any] | None:
    found = [m for m in requests.get(f"{base}/local/mentions", timeout=10).json() if m["mention_id"] == mention_id]
    return found[0] if found else None


def assert_erased(base: str, mention_id: str, text: str) -> None:
    mention = stored(base, mention_id)
    assert mention is not None and mention["status"] == "deleted", mention
    assert "text" not in mention and text not in json.dumps(mention)
    assert "handle" not in mention.get("author", {}) and "name" not in mention.get("author", {})


def assert_review_page_gone(url: str, text: str) -> None:
    page = requests.get(url, timeout=10)
    assert page.status_code == 410 and text not in page.text


# --- deliveries -----------------------------------------------------------------------------------------------


def aaa_delete(post_id: str, author_id: str) -> dict[str, Any]:
    return {"for_user_id": BRAND, "tweet_delete_events": [
        {"status": {"id": post_id, "user_id": author_id}, "timestamp_ms": str(int(time.time() * 1000))}]}


def xaa_delete(post_id: str, author_id: str) -> dict[str, Any]:
    return {"data": {"event_uuid": fresh(), "filter": {"user_id": BRAND}, "event_type": "post.delete",
                     "tag": "post-deletes", "payload": {"id": post_id, "author_id": author_id}}}


def instagram_dm(mid: str, sender: str, text: str | None = None, deleted: bool = False) -> dict[str, Any]:
    message = {"mid": mid, "is_deleted": True} if deleted else {"mid": mid, "text": text}
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": int(time.time() * 1000), "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": IG_ACCOUNT}, "timestamp": int(time.time() * 1000),
         "message": message}]}]}


def facebook_comment(comment_id: str, person: str, text: str, verb: str = "add") -> dict[str, Any]:
    body = copy.deepcopy(fixture_json("meta/page_feed_comment.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value.update(comment_id=comment_id, verb=verb, message=text, created_time=int(time.time()),
                 **{"from": {"id": person, "name": "Example Person"}})
    if verb == "remove":
        value.pop("message")
    return body


def callback(base: str, signed: str) -> requests.Response:
    return requests.post(f"{base}/webhooks/meta/data-deletion", data={"signed_request": signed}, timeout=30)


# --- tests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("notice", [aaa_delete, xaa_delete], ids=["account-activity", "activity-api"])
def test_an_x_delete_notice_erases_the_stored_post_and_its_review_page(stack, notice):
    base, post_id, author = stack, fresh(), fresh()
    text = f"@AcmeSupport my parcel {post_id[-6:]} is lost, please help"
    # Given a stored, notified X mention
    assert post(base, "x", x_mention(post_id, text, author)).status_code == 200
    review_url = notification_for(base, post_id)["actions"]["review_url"]
    assert requests.get(review_url, timeout=10).status_code == 200
    # When its author deletes it on X
    answer = post(base, "x", notice(post_id, author))
    # Then the delivery is acknowledged, the content is gone, and the review page says so without the text
    assert answer.status_code == 200 and answer.json()["deleted"] == 1
    assert_erased(base, post_id, text)
    assert_review_page_gone(review_url, text)


def test_an_instagram_unsend_erases_the_message(stack):
    base, mid, sender = stack, f"aWdfZAG1fa{fresh()}", fresh(16)
    text = f"my card number ends {mid[-4:]}, please check my order"
    # Given a stored Instagram DM, notified
    assert post(base, "meta", instagram_dm(mid, sender, text)).status_code == 200
    review_url = notification_for(base, mid)["actions"]["review_url"]
    # When the person unsends it
    assert post(base, "meta", instagram_dm(mid, sender, deleted=True)).status_code == 200
    # Then it is erased, and its review page is gone
    assert_erased(base, mid, text)
    assert_review_page_gone(review_url, text)


def test_a_facebook_comment_removal_erases_the_comment(stack):
    base, comment_id, person = stack, f"6100000000000001_{fresh(16)}", fresh(16)
    text = f"Still waiting for refund {comment_id[-5:]}"
    # Given a stored Facebook comment
    assert post(base, "meta", facebook_comment(comment_id, person, text)).status_code == 200
    wait_for(lambda: stored(base, comment_id), what="the comment stored")
    # When it is removed from the Page
    assert post(base, "meta", facebook_comment(comment_id, person, text, verb="remove")).status_code == 200
    # Then it is erased
    assert_erased(base, comment_id, text)


def test_a_delete_before_its_create_wins(stack):
    base, post_id, author = stack, fresh(), fresh()
    text = f"@AcmeSupport deleted before it arrived {post_id[-6:]}"
    # Given a delete notice for a post never seen
    assert post(base, "x", xaa_delete(post_id, author)).status_code == 200
    # When the post's create arrives late
    assert post(base, "x", x_mention(post_id, text, author)).status_code == 200
    # Then it stays deleted: no text stored, nobody notified
    assert_erased(base, post_id, text)
    time.sleep(2)
    notes = requests.get(f"{base}/local/notifications", timeout=10).text
    assert post_id not in notes and text not in notes


def test_the_data_deletion_callback_erases_the_person_and_its_status_page_answers(stack):
    base, person, other = stack, fresh(16), fresh(16)
    mine, theirs = f"6100000000000001_{fresh(16)}", f"6100000000000001_{fresh(16)}"
    # Given a comment by the person and one by someone else
    post(base, "meta", facebook_comment(mine, person, "my private complaint"))
    post(base, "meta", facebook_comment(theirs, other, "someone else's complaint"))
    wait_for(lambda: stored(base, mine) and stored(base, theirs), what="both comments stored")
    # When Meta calls the callback with the person's signed request
    signed = sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": person},
                          SECRETS["RESPONDER_META_APP_SECRET"])
    answer = callback(base, signed)
    # Then it answers a url and a confirmation code, the person's comment is erased and the other kept
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"url", "confirmation_code"} and body["url"].endswith(body["confirmation_code"])
    assert_erased(base, mine, "my private complaint")
    assert stored(base, theirs)["text"] == "someone else's complaint"
    # And the status page answers 200, completed, without the person's id
    page = requests.get(body["url"], timeout=10)
    assert page.status_code == 200 and page.json()["status"] == "completed" and person not in page.text
    # And the same signed request again is the same request
    assert callback(base, signed).json() == body


@pytest.mark.parametrize("make, status", [
    (lambda person: sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": person},
                                 "not-the-app-secret"), 403),
    (lambda person: sign_request({"algorithm": "HMAC-SHA1", "issued_at": int(time.time()), "user_id": person},
                                 SECRETS["RESPONDER_META_APP_SECRET"]), 400),
    (lambda person: sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()) - 7200,
                                  "user_id": person}, SECRETS["RESPONDER_META_APP_SECRET"]), 403),
], ids=["bad-signature", "wrong-algorithm", "stale"])
def test_a_forged_callback_erases_nothing(stack, make, status):
    base, person, comment_id = stack, fresh(16), f"6100000000000001_{fresh(16)}"
    # Given a comment by a person
    post(base, "meta", facebook_comment(comment_id, person, "keep this comment"))
    wait_for(lambda: stored(base, comment_id), what="the comment stored")
    # When a forged, wrong-algorithm or stale request names them
    answer = callback(base, make(person))
    # Then it is refused and the comment is intact
    assert answer.status_code == status and "confirmation_code" not in answer.text
    assert stored(base, comment_id)["text"] == "keep this comment"
    # And an unknown code's page is 404
    assert requests.get(f"{base}/webhooks/meta/data-deletion/{'a' * 26}", timeout=10).status_code == 404
