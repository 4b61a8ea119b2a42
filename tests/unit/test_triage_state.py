"""What the triage workflow carries between steps: the mention's text once, cut for the state and the notification,
and whole where a step needs it."""

from __future__ import annotations

from typing import Any

from responder.triage.steps import NOTIFIED_TEXT_MAX_CHARS, TRUNCATION_MARKER, draft_step, notified


def test_a_long_text_is_cut_with_a_marker_and_its_full_length():
    # Given a mention longer than the workflow carries
    mention = {"mention_id": "1", "text": "😡" * 60_000}
    # When it is prepared for the state
    carried = notified(mention)
    # Then its text is cut to the cap, ends with the marker, and says how long it was
    assert len(carried["text"]) == NOTIFIED_TEXT_MAX_CHARS and carried["text"].endswith(TRUNCATION_MARKER)
    assert carried["text_truncated"] is True and carried["text_length"] == 60_000
    # And a mention within the cap is carried as it is
    short = {"mention_id": "2", "text": "😡" * NOTIFIED_TEXT_MAX_CHARS}
    assert notified(short) is short


class OneMentionStore:
    def __init__(self, mention: dict[str, Any]) -> None:
        self.mention = mention
        self.thread_reads: list[bool] = []  # each get_thread's `consistent`

    def get_mention(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        return self.mention if (channel, mention_id) == (self.mention["channel"], self.mention["mention_id"]) else None

    def get_thread(self, channel: str, thread_id: str, opener: Any = None,
                   consistent: bool = True) -> dict[str, Any] | None:
        self.thread_reads.append(consistent)
        return {"thread_id": thread_id, "mention_count": 1}


class RecordingDrafter:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def draft(self, mention, classification, thread, voice):
        self.texts.append(mention["text"])
        return {"text": "@casey sorry about that", "language": "en"}


def test_draft_writes_from_the_whole_text_when_the_state_carries_a_cut_one():
    # Given a stored mention whose text the state carries cut
    full = {"channel": "x", "mention_id": "42", "thread_id": "42", "kind": "mention", "text": "late " * 3_000,
            "author": {"id": "7"}}
    drafter = RecordingDrafter()
    # When Draft runs on the state's copy
    draft_step({"mention": notified(full), "classification": {"intent": "complaint"}}, OneMentionStore(full), None,
               drafter=drafter)
    # Then the drafter saw the whole text, read from the table
    assert drafter.texts == [full["text"]]


def test_draft_reads_the_thread_eventually_consistent():
    # Given a mention to draft
    mention = {"channel": "x", "mention_id": "44", "thread_id": "44", "kind": "mention", "text": "late again",
               "author": {"id": "7"}}
    store = OneMentionStore(mention)
    # When Draft runs
    draft_step({"mention": mention, "classification": {"intent": "complaint"}}, store, None, drafter=RecordingDrafter())
    # Then it read the thread once, eventually consistent (half the read units; context for a draft a person reviews)
    assert store.thread_reads == [False]


def test_draft_and_route_step_notifies_with_the_whole_draft_and_keeps_the_thread_out_of_the_state():
    import json

    from responder.triage.routing import load_rules
    from responder.triage.steps import draft_and_route_step, route_step

    # Given a mention the agents are paged for, its text cut in the state, drafted by a model
    full = {"channel": "x", "mention_id": "43", "thread_id": "43", "kind": "mention", "text": "late " * 3_000,
            "author": {"id": "7", "handle": "casey"}, "created_at": "2026-12-01T10:00:00Z"}
    event = {"mention": notified(full), "classification": {"intent": "complaint", "sentiment": "negative",
                                                           "topic": "delivery", "language": "en"}}
    drafter, rules = RecordingDrafter(), load_rules()
    # When Draft drafts and routes it in one invocation
    result = draft_and_route_step(event, OneMentionStore(full), None, rules, drafter=drafter,
                                  review_link=lambda mention: None)
    # Then the draft was written from the whole text, and the result holds the draft and the route only: the thread
    # and the actions travel once, inside the notification
    assert drafter.texts == [full["text"]]
    assert set(result) == {"draft", "route"} and result["draft"]["text"] == "@casey sorry about that"
    document = json.loads(result["route"]["message"]["default"])
    assert document["draft"] == result["draft"] and document["thread"] == {"thread_id": "43", "mention_count": 1}
    assert document["actions"]["reply"]["body"]["reply"]["in_reply_to_tweet_id"] == "43"
    assert document["mention"]["text_truncated"] is True
    # And the route is what the routing rules give on their own (team, priority, SLA due), unchanged
    alone = route_step({**event, "draft": result["draft"], "thread": document["thread"],
                        "actions": document["actions"]}, rules, review_link=lambda mention: None)
    assert result["route"] == alone and alone["team"] == "orders" and alone["sla_due"]
