"""The platform stand-ins speak the documented wire formats and refuse requests without credentials."""

from __future__ import annotations

import time

import pytest
import requests

from responder_cli.local.standins import PlatformStandins


@pytest.fixture
def standins():
    with PlatformStandins(x_user_id="1000000000000000001", page_id="104", ig_user_id="178") as s:
        yield s


def test_requests_without_credentials_are_refused_as_the_platforms_refuse_them(standins):
    # Given calls without any Authorization header or access_token
    base = standins.base_url
    x = requests.post(f"{base}/2/tweets", json={"text": "hi"}, timeout=5)
    graph = requests.post(f"{base}/v26.0/104_1/comments", json={"message": "hi"}, timeout=5)
    # Then X answers 401 problem JSON, the Graph API its OAuthException, and nothing is recorded
    assert x.status_code == 401 and x.json()["title"] == "Unauthorized" and x.json()["status"] == 401
    assert graph.status_code == 400 and graph.json()["error"]["code"] == 2500
    assert standins.sent() == []


def test_an_x_post_answers_201_with_the_documented_body_and_shows_on_the_timeline(standins):
    # Given a reply posted with a bearer token
    headers = {"Authorization": "Bearer user-token"}
    answer = requests.post(f"{standins.base_url}/2/tweets", headers=headers, timeout=5,
                           json={"text": "On it!", "reply": {"in_reply_to_tweet_id": "185"}})
    # Then X's 201 body comes back, and the brand's timeline lists it as a reply to the mention
    data = answer.json()["data"]
    assert answer.status_code == 201 and data["edit_history_tweet_ids"] == [data["id"]] and data["text"] == "On it!"
    timeline = requests.get(f"{standins.base_url}/2/users/1000000000000000001/tweets", headers=headers,
                            timeout=5).json()["data"]
    assert timeline[0]["referenced_tweets"] == [{"type": "replied_to", "id": "185"}]


def test_an_injected_429_carries_x_rate_limit_headers_and_is_used_once(standins):
    # Given one injected 429 on X
    standins.fail_next("x", 429)
    headers = {"Authorization": "Bearer user-token"}
    first = requests.post(f"{standins.base_url}/2/tweets", headers=headers, json={"text": "a"}, timeout=5)
    second = requests.post(f"{standins.base_url}/2/tweets", headers=headers, json={"text": "b"}, timeout=5)
    # Then the first call gets X's 429 with its reset in the future, the next one goes through
    assert first.status_code == 429 and first.headers["x-rate-limit-remaining"] == "0"
    assert int(first.headers["x-rate-limit-reset"]) > time.time()
    assert second.status_code == 201 and len(standins.sent()) == 1
