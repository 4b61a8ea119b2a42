"""Delete notices → Deletion records: X (both APIs), Facebook feed removals, Messenger and Instagram unsends."""

from __future__ import annotations

import copy

import pytest

from responder.core.model import Deletion, MalformedDelivery
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from tests.conftest import fixture_json

DANA = "2000000000000000002"
POST = "3200000000000000001"


def test_aaa_tweet_delete_event_names_the_post_and_its_author():
    # Given an Account Activity delivery with one tweet_delete_event
    delivery = normalize_x(fixture_json("x/aaa_tweet_delete_events.json"))
    # Then it is one deletion of that post by that author, and nothing is stored or ignored
    assert delivery.deletions == (Deletion(channel="x", mention_id=POST, source="x.tweet_delete", author_id=DANA,
                                           at="2026-10-02T11:35:00Z"),)
    assert delivery.mentions == () and delivery.ignored == ()


def test_xaa_post_delete_names_the_post_and_its_author():
    # Given an X Activity API post.delete
    delivery = normalize_x(fixture_json("x/xaa_post_delete.json"))
    # Then it is a deletion, not an ignored event type
    assert delivery.deletions == (Deletion(channel="x", mention_id=POST, source="x.post_delete", author_id=DANA),)
    assert delivery.mentions == () and delivery.ignored == ()


@pytest.mark.parametrize("name, path, value", [
    ("x/xaa_post_delete.json", ("data", "payload", "id"), "32000abc"),
    ("x/xaa_post_delete.json", ("data", "payload", "author_id"), "not-a-number"),
    ("x/xaa_post_delete.json", ("data", "payload", "id"), "9" * 300),
    ("x/xaa_post_delete.json", ("data", "payload", "id"), None),
    ("x/xaa_post_delete.json", ("data", "payload"), "gone"),
    ("x/xaa_post_delete.json", ("data", "filter", "user_id"), None),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events", 0, "status", "id"), "12 34"),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events", 0, "status", "user_id"), None),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events", 0, "status"), None),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events", 0), "a string"),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events", 0, "timestamp_ms"), "yesterday"),
    ("x/aaa_tweet_delete_events.json", ("tweet_delete_events",), {"not": "a list"}),
])
def test_x_delete_notices_out_of_shape_are_refused(name, path, value):
    # Given a delete notice with one field out of shape (ids must be X's digits, bounded)
    body = copy.deepcopy(fixture_json(name))
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    # Then the whole delivery is refused
    with pytest.raises(MalformedDelivery):
        normalize_x(body)


def test_facebook_comment_removal_is_a_deletion_of_the_comment():
    # Given a Page feed change removing a comment
    delivery = normalize_meta(fixture_json("meta/page_feed_comment_remove.json"))
    # Then the comment (stored under its comment_id) is to be erased
    assert delivery.deletions == (Deletion(channel="facebook", mention_id="6100000000000001_7100000000000001",
                                           source="meta.feed.remove", at="2026-10-02T11:35:00Z"),)
    assert delivery.mentions == () and delivery.ignored == ()


@pytest.mark.parametrize("field, item, expected", [
    ("feed", "status", "4100000000000001_6100000000000001"),  # a visitor's post: stored under its post_id
    ("feed", "post", "4100000000000001_6100000000000001"),
    ("mention", "comment", "6100000000000001_7100000000000001"),
    ("mention", "post", "4100000000000001_6100000000000001"),
])
def test_facebook_post_and_mention_removals_name_the_stored_id(field, item, expected):
    # Given a removal of a visitor's post, or of a post or comment that mentioned the Page
    body = fixture_json("meta/page_feed_comment_remove.json")
    change = body["entry"][0]["changes"][0]
    change["field"], change["value"]["item"] = field, item
    # Then the deletion names the id the mention was stored under
    assert [d.mention_id for d in normalize_meta(body).deletions] == [expected]


def test_facebook_edits_and_hides_are_not_deletions():
    # Given the same change with verb "edited" or "hide"
    for verb in ("edited", "hide"):
        body = fixture_json("meta/page_feed_comment_remove.json")
        body["entry"][0]["changes"][0]["value"]["verb"] = verb
        delivery = normalize_meta(body)
        # Then nothing is erased: the item still exists on the platform
        assert delivery.deletions == () and delivery.ignored


@pytest.mark.parametrize("name, channel", [("meta/messenger_unsend.json", "messenger"),
                                           ("meta/instagram_unsend.json", "instagram")])
def test_unsends_are_deletions_of_the_message(name, channel):
    # Given a Messenger or Instagram message with is_deleted: true
    body = fixture_json(name)
    delivery = normalize_meta(body)
    # Then the unsent message (its mid) is to be erased, on its channel
    mid = body["entry"][0]["messaging"][0]["message"]["mid"]
    assert delivery.deletions == (Deletion(channel=channel, mention_id=mid, source="meta.unsend",
                                           at="2026-10-02T11:35:00Z"),)
    assert delivery.mentions == () and delivery.answers == ()


@pytest.mark.parametrize("mutate", [
    lambda v: v["message"].pop("mid"),
    lambda v: v["message"].update(mid="has space"),
    lambda v: v["message"].update(mid="m" * 257),
    lambda v: v["message"].update(mid=["a list"]),
])
def test_unsends_without_a_valid_mid_are_refused(mutate):
    # Given an unsend whose mid is missing, has spaces, is too long or is not a string
    body = fixture_json("meta/messenger_unsend.json")
    mutate(body["entry"][0]["messaging"][0])
    # Then the delivery is refused
    with pytest.raises(MalformedDelivery):
        normalize_meta(body)


def test_a_removal_without_its_id_is_refused():
    # Given a comment removal without comment_id
    body = fixture_json("meta/page_feed_comment_remove.json")
    del body["entry"][0]["changes"][0]["value"]["comment_id"]
    # Then the delivery is refused
    with pytest.raises(MalformedDelivery):
        normalize_meta(body)


def test_is_deleted_must_be_true_to_erase():
    # Given a message whose is_deleted is a truthy non-boolean: it is not an unsend Meta sends
    body = fixture_json("meta/messenger_unsend.json")
    body["entry"][0]["messaging"][0]["message"]["is_deleted"] = "yes"
    # Then it is not a deletion (it is read as a message, which needs its fields)
    assert normalize_meta(body).deletions == ()
