"""Bedrock drafts: the model's reply obeys the platform's length rules, or the template is used and says so."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from responder.classification.classify import classify
from responder.triage.drafting import X_LIMIT, draft_reply, load_voice, platform_length
from responder.aws.managed import BedrockDrafter, build_prompt, whole_sentences
from responder.triage.steps import draft_step

MODEL = "amazon.nova-micro-v1:0"
MENTION = {"channel": "x", "mention_id": "42", "thread_id": "42", "kind": "mention", "platform": "x",
           "text": "@acme my order still hasn't arrived", "author": {"id": "7", "handle": "jane", "name": "Jane Doe"}}


def classification(mention: dict[str, Any] = MENTION) -> dict[str, Any]:
    return classify(mention["text"], lang="en", author=mention["author"], channel=mention["channel"]).to_dict()


def answer(text: str | None, stop: str = "end_turn") -> dict[str, Any]:
    """A Converse response as the service sends it."""
    content = [{"text": text}] if text is not None else []
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 310, "outputTokens": 42, "totalTokens": 352}, "metrics": {"latencyMs": 420}}


def draft_with(response: dict[str, Any] | None, mention: dict[str, Any] = MENTION, voice: Any = None,
               error: tuple[str, int] | None = None) -> Any:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    stubber = Stubber(client)
    if error:
        stubber.add_client_error("converse", service_error_code=error[0], http_status_code=error[1])
    else:
        stubber.add_response("converse", response, {"modelId": MODEL, "system": ANY, "messages": ANY,
                                                    "inferenceConfig": ANY})
    with stubber:
        result = BedrockDrafter(MODEL, client).draft(mention, classification(mention), {"mention_count": 1}, voice)
        stubber.assert_no_pending_responses()
    return result


def test_a_usable_reply_gets_the_handle_and_says_which_model_drafted_it():
    # Given a model reply that fits
    reply = "Hi Jane, sorry your order is late! Please DM us your order number and we'll look into it. ^JD"
    result = draft_with(answer(reply))
    # Then the X reply starts with the customer's handle once, is counted as X counts, and names the model
    assert result.draft.text == "@jane " + reply
    assert result.drafted_by == f"bedrock:{MODEL}" and result.fallback is None
    assert result.draft.length == platform_length(result.draft.text, "x") <= X_LIMIT
    assert result.usage == {"inputTokens": 310, "outputTokens": 42}
    assert result.to_dict()["drafted_by"] == f"bedrock:{MODEL}" and not result.draft.truncated


def test_a_handle_or_quotes_the_model_adds_are_not_doubled():
    result = draft_with(answer('"@jane Sorry about the wait, Jane. Could you DM us your order number?"'))
    assert result.draft.text == "@jane Sorry about the wait, Jane. Could you DM us your order number?"


def test_a_reply_over_the_x_limit_keeps_the_whole_sentences_that_fit():
    # Given a reply of three sentences that X counts at over 280 (the handle included)
    sentences = ["Hi Jane, we're so sorry your order hasn't arrived yet.",
                 "Please send us your order number by direct message so we can check it with the carrier today.",
                 "We know how frustrating a late parcel is, especially when it was meant as a gift, and we'll do "
                 "everything we can, with the carrier and our warehouse team, to get it to you as soon as possible."]
    result = draft_with(answer(" ".join(sentences)))
    # Then the draft keeps the first two sentences, fits X's count and is marked truncated
    assert result.draft.text == "@jane " + " ".join(sentences[:2])
    assert platform_length(result.draft.text, "x") <= X_LIMIT and result.draft.truncated
    assert result.drafted_by.startswith("bedrock:")


def test_x_weighs_non_latin_characters_double_when_cutting():
    # Given a Japanese reply of 2 sentences, 150 characters each: 300 characters but 600 as X counts them
    first, second = "あ" * 149 + "。", "い" * 149 + "。"
    assert whole_sentences(first + second, 277, "x") == ""
    assert whole_sentences(first + second, 10_000, "x") == first + second
    result = draft_with(answer("ご迷惑をおかけしております。" * 12))
    assert platform_length(result.draft.text, "x") <= X_LIMIT and result.draft.truncated


def test_a_reply_too_long_to_cut_at_a_sentence_falls_back_to_the_template():
    result = draft_with(answer("sorry " * 80))
    template = draft_reply(MENTION, classification(), {"mention_count": 1}, load_voice())
    assert result.draft == template
    assert (result.drafted_by, result.fallback) == ("template", "model reply too long to cut at a sentence")


@pytest.mark.parametrize("response, reason", [
    (answer(""), "model returned no text"),
    (answer(None), "model returned no text"),
    (answer("   \n "), "model returned no text"),
    (answer("Sorry!", stop="content_filtered"), "model output filtered (content_filtered)"),
    (answer("Sorry! Track it at https://evil.example/track", stop="end_turn"),
     "model added a link the brand has not configured"),
])
def test_unusable_output_falls_back_to_the_template_and_says_why(response, reason):
    result = draft_with(response)
    assert result.drafted_by == "template" and result.fallback == reason
    assert result.draft == draft_reply(MENTION, classification(), {"mention_count": 1}, load_voice())


def test_a_reply_cut_by_the_token_limit_loses_its_unfinished_sentence():
    result = draft_with(answer("Sorry about the wait, Jane. Please DM us your order number so we can che",
                               stop="max_tokens"))
    assert result.draft.text == "@jane Sorry about the wait, Jane." and result.draft.truncated


def test_configured_brand_links_are_allowed():
    voice = load_voice({"capabilities": {"status_page_url": "https://status.acme.example"}})
    result = draft_with(answer("Sorry, Jane. You can follow updates at https://status.acme.example."), voice=voice)
    assert result.drafted_by.startswith("bedrock:")
    assert "https://status.acme.example" in build_prompt(MENTION, classification(), None, voice,
                                                         draft_reply(MENTION, classification(), None, voice)).system


@pytest.mark.parametrize("code, status", [("ThrottlingException", 429), ("AccessDeniedException", 403),
                                          ("ValidationException", 400), ("ModelTimeoutException", 408)])
def test_bedrock_errors_fall_back_to_the_template_so_agents_are_still_notified(code, status):
    result = draft_with(None, error=(code, status))
    assert (result.drafted_by, result.fallback) == ("template", f"bedrock {code}")
    assert result.draft.text.startswith("@jane ")


def test_the_prompt_carries_the_room_the_voice_and_the_mention_as_data():
    template = draft_reply(MENTION, classification(), None, load_voice())
    prompt = build_prompt(MENTION, classification(), None, load_voice(), template)
    assert prompt.prefix == "@jane " and prompt.room == X_LIMIT - len("@jane ")
    assert f"At most {prompt.room} characters" in prompt.system and "Acme" in prompt.system
    assert "<message>\n@acme my order still hasn't arrived\n</message>" in prompt.user
    assert template.text[len("@jane "):] in prompt.user
    assert prompt.max_tokens >= prompt.room // 4  # room for the reply even at 4 characters a token


class _Store:
    def get_thread(self, channel, thread_id, opener=None, consistent=True):
        return {"pk": "THREAD", "sk": "THREAD", "mention_count": 1}


def test_draft_step_is_the_template_by_default_and_marks_model_drafts():
    # Given the draft step without a drafter, then with a drafter whose model answers
    event = {"mention": MENTION, "classification": classification()}
    plain = draft_step(event, _Store(), load_voice())
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    stubber = Stubber(client)
    stubber.add_response("converse", answer("Sorry, Jane! Please DM us your order number."))
    with stubber:
        managed = draft_step(event, _Store(), load_voice(), drafter=BedrockDrafter(MODEL, client))
    # Then the default draft is unchanged in shape and the model draft says who wrote it
    assert "drafted_by" not in plain["draft"]
    assert managed["draft"]["drafted_by"] == f"bedrock:{MODEL}"
    assert managed["draft"]["text"] == "@jane Sorry, Jane! Please DM us your order number."
    assert managed["actions"] == plain["actions"]
