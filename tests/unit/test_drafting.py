"""Drafting v1: personal, per-language reply drafts that fit the platform and promise nothing unconfigured."""

from __future__ import annotations

import re

import pytest

from responder.classification.classify import classify
from responder.triage.drafting import BrandVoiceError, draft_reply, load_voice, platform_length

PRIVATE_ASK = re.compile(r"\bDM\b|direct message|mensaje directo|message privé|Direktnachricht|mensagem direta|"
                         r"messaggio privato", re.IGNORECASE)


def mention(text: str, channel: str = "x", kind: str = "mention", **author) -> dict:
    """A stored mention record (Mention.to_record() keys) written for these tests."""
    author = {"id": "100", **author}
    platform = "x" if channel == "x" else "meta"
    return {"platform": platform, "channel": channel, "kind": kind, "mention_id": "m1", "thread_id": "t1",
            "author": author, "text": text, "created_at": "2026-10-02T09:15:30Z", "account_id": "brand"}


def draft(record: dict, thread: dict | None = None, voice=None):
    classification = classify(record["text"], channel=record["channel"])
    return draft_reply(record, classification, thread, voice)


# --- X: handle first, 280 characters -------------------------------------------------------------------------


def test_x_reply_starts_with_the_handle_and_greets_by_first_name():
    # Given a complaint on X from someone with a display name
    record = mention("@acme my order 5512 never arrived, really disappointed", handle="jane_d", name="Jane Doe 🌸")
    # When a draft is written
    result = draft(record)
    # Then it starts with @handle, greets Jane, asks for the order number privately and fits in 280
    assert result.text.startswith("@jane_d Hi Jane!")
    assert "order number" in result.text and "DM" in result.text
    assert result.template == "complaint" and result.language == "en"
    assert result.length <= 280 == result.limit and result.truncated is False


def test_x_draft_fits_280_including_the_handle_even_with_long_templates():
    # Given a brand voice with very long sentences and a long sign-off, and a long handle and name
    wordy = "We are truly, deeply and sincerely sorry to hear about this experience " * 6
    voice = load_voice({"sign_off": "— The Acme Customer Happiness and Delight Team, here for you every day",
                        "templates": {"en": {"friendly": {"complaint": wordy.strip() + "."}}},
                        "capabilities": {"response_time": "within one working day"}})
    record = mention("@acme my parcel is damaged and late", handle="a_very_long_handle_name_for_testing",
                     name="Maximiliana-Alexandra Konstantinopoulou")
    # When a draft is written
    result = draft(record, {"mention_count": 3}, voice)
    # Then it still starts with the handle, counts at most 280 as X does, and is marked truncated
    assert result.text.startswith("@a_very_long_handle_name_for_testing ")
    assert platform_length(result.text, "x") == result.length <= 280
    assert result.truncated is True
    # And the long sentence was cut at a word boundary while the request for the order number stayed whole
    assert "… Could you send us a DM with your order number so we can look into it?" in result.text
    assert result.text.endswith("?") and "  " not in result.text
    assert "Happiness" not in result.text


def test_x_counts_urls_as_23_characters():
    # Given a configured refund policy URL far longer than 23 characters
    url = "https://acme.example/help/" + "refunds-and-returns/" * 10
    voice = load_voice({"capabilities": {"refund_policy_url": url}})
    result = draft(mention("@acme how do I get a refund for order 881?", handle="sam"), voice=voice)
    # Then the URL is kept whole and counted as 23
    assert url in result.text
    assert result.length == len(result.text) - len(url) + 23 <= 280
    assert platform_length("ab https://x.example/" + "y" * 100, "x") == 3 + 23
    assert platform_length("日本", "x") == 4 and platform_length("日本", "facebook") == 2


# --- languages and tone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language", "phrase"), [
    ("@acme mi pedido no ha llegado y estoy harto", "es", "número de pedido"),
    ("@acme ma commande n'est toujours pas arrivée, c'est inadmissible", "fr", "numéro de commande"),
    ("@acme meine Bestellung ist kaputt angekommen, eine Frechheit", "de", "Bestellnummer"),
    ("@acme minha encomenda chegou quebrada, que vergonha", "pt", "número do seu pedido"),
    ("@acme il mio ordine è arrivato rotto, che vergogna", "it", "numero d'ordine"),
])
def test_drafts_use_the_mentions_language(text, language, phrase):
    # Given a complaint in one of the six languages
    result = draft(mention(text, handle="cliente"))
    # Then the draft is written in that language
    assert result.language == language
    assert phrase in result.text
    assert "sorry" not in result.text.lower()


def test_unsupported_language_falls_back_to_english():
    record = mention("@acme waar is mijn bestelling?", handle="piet")
    result = draft_reply(record, {"language": "nl", "intent": "question", "topic": "order", "priority": "p3"})
    assert result.language == "en" and "order number" in result.text


def test_formal_tone_changes_the_wording():
    record = mention("@acme where can I see my invoice?", channel="facebook", kind="comment", name="Ada Lovelace")
    friendly = draft(record)
    formal = draft(record, voice=load_voice({"tone": "formal"}))
    assert friendly.text.startswith("Hi Ada!") and formal.text.startswith("Hello Ada.")
    assert friendly.text != formal.text


# --- promises ----------------------------------------------------------------------------------------------


def test_no_refund_promise_or_timeframe_unless_configured():
    # Given the shipped voice (no capabilities configured) and a refund complaint
    result = draft(mention("@acme I want my money back, the blender broke after two days", handle="kim"))
    # Then the draft neither mentions refunds nor promises a time or a link
    text = result.text.lower()
    assert "refund" not in text and "money back" not in text
    assert not re.search(r"\b(hours?|days?|minutes?|today|tomorrow)\b", text)
    assert "http" not in text


def test_configured_capabilities_appear_where_they_fit():
    # Given a voice with a refund policy, a status page, support hours and a response time
    voice = load_voice({"capabilities": {"refund_policy_url": "https://acme.example/refunds",
                                         "status_page_url": "https://status.acme.example",
                                         "support_hours": "Mon–Fri 9:00–18:00 CET",
                                         "response_time": {"en": "within a day"}}})
    refund = draft(mention("@acme where is my refund for order 77?", handle="kim"), voice=voice)
    outage = draft(mention("@acme the app is down again, I can't log in", handle="kim"), voice=voice)
    contact = draft(mention("@acme how can I talk to a real person?", handle="kim"), voice=voice)
    spanish = draft(mention("@acme ¿dónde está mi reembolso del pedido 77?", handle="kim"), voice=voice)
    # Then each appears only where it fits
    assert "https://acme.example/refunds" in refund.text and "within a day" in refund.text
    assert "https://status.acme.example" in outage.text and "refunds" not in outage.text
    assert "Mon–Fri 9:00–18:00 CET" in contact.text
    # And a capability configured only in English is not pasted into a Spanish draft (the URL is)
    assert "within a day" not in spanish.text and "https://acme.example/refunds" in spanish.text


# --- private channels, crisis, threads, noise ------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "kind", "text"), [
    ("messenger", "message", "My order never arrived and I'm fed up"),
    ("whatsapp", "message", "Mi pedido llegó roto, qué desastre"),
    ("instagram", "dm", "Ma commande est arrivée cassée, c'est nul"),
    ("x", "dm", "Meine Zahlung wurde doppelt abgebucht"),
    ("whatsapp", "message", "My kid got food poisoning after eating your soup"),
    ("messenger", "message", "Il pagamento è stato addebitato due volte"),
])
def test_private_channel_drafts_never_ask_for_a_dm(channel, kind, text):
    # Given a complaint (or a crisis) in a private conversation
    result = draft(mention(text, channel=channel, kind=kind, handle="someone", name="Sam"))
    # Then the draft asks for details right there, never "DM us", and has no @handle prefix
    assert not PRIVATE_ASK.search(result.text)
    assert not result.text.startswith("@")
    assert result.length <= result.limit


def test_crisis_draft_is_a_careful_holding_statement():
    # Given a food-safety mention on X
    record = mention("@acme my daughter ended up in hospital with food poisoning after your burger", handle="dad")
    result = draft(record)
    # Then it expresses concern, asks for contact details privately, and admits nothing
    assert result.template == "crisis"
    assert "concerned" in result.text and "contact details" in result.text and "direct message" in result.text
    assert not re.search(r"sorry|apolog|our fault|mistake|refund|compensat", result.text, re.IGNORECASE)


def test_public_draft_without_dm_capability_points_to_contact_url():
    voice = load_voice({"capabilities": {"dm_for_private_details": False, "contact_url": "https://acme.example/help"}})
    result = draft(mention("@acme my order is broken and late", handle="kim"), voice=voice)
    assert not PRIVATE_ASK.search(result.text)
    assert "https://acme.example/help" in result.text


def test_follow_up_in_a_thread_acknowledges_the_conversation():
    record = mention("@acme still nothing, where is my package?", handle="kim")
    first = draft(record, {"mention_count": 1})
    later = draft(record, {"mention_count": 4})
    assert "following up" not in first.text
    assert "Thanks for following up." in later.text


def test_noise_gets_no_draft():
    result = draft(mention("@acme f4f follow back, free crypto https://spam.example", handle="bot"))
    assert (result.text, result.template, result.length) == ("", "noise", 0)


def test_instagram_comment_greets_by_handle_and_praise_thanks_the_brand():
    result = draft(mention("Love the new collection, amazing quality!", channel="instagram", kind="comment",
                           handle="style.fan"))
    assert result.text.startswith("Hi @style.fan!")
    assert "Acme" in result.text and result.template == "praise"
    assert result.limit == 2200


def test_long_messenger_draft_is_trimmed_at_a_boundary():
    # Given a template far over Messenger's 2,000 characters
    long_sentence = " ".join(["We would like to help you with this"] * 80) + "."
    voice = load_voice({"templates": {"en": {"friendly": {"complaint": long_sentence}}}})
    result = draft(mention("My order never arrived", channel="messenger", kind="message", name="Sam"), voice=voice)
    # Then the long sentence is cut at a word boundary with an ellipsis, the request stays, and it is marked truncated
    assert result.truncated is True and result.length <= 2000 == result.limit
    assert "with this We would like to help you… Could you share your order number here" in result.text
    assert result.text.endswith("so we can look into it?")


# --- voice validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "names"), [
    ({"tone": "sarcastic"}, "tone"),
    ({"templates": {"en": {"friendly": {"praise": "Thanks {customer}!"}}}}, "templates.en.friendly.praise"),
    ({"templates": {"nl": {"friendly": {"praise": "Bedankt!"}}}}, "templates.nl"),
    ({"capabilities": {"refund_policy_url": "acme.example/refunds"}}, "capabilities.refund_policy_url"),
    ({"capabilities": {"free_pizza": True}}, "capabilities.free_pizza"),
    ({"capabilities": {"dm_for_private_details": "yes"}}, "capabilities.dm_for_private_details"),
    ({"brand_name": ""}, "brand_name"),
    ({"default_language": "nl"}, "default_language"),
])
def test_invalid_brand_voice_names_the_bad_key(override, names):
    with pytest.raises(BrandVoiceError, match=re.escape(names)):
        load_voice(override)


def test_drafting_is_deterministic():
    record = mention("@acme I was charged twice for order 9", handle="kim", name="Kim")
    assert draft(record).to_dict() == draft(record).to_dict()
