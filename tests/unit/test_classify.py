"""Classification v1: language, sentiment, intent, topic, noise, abuse, priority and team of a mention."""

from __future__ import annotations

import json

import pytest

from responder.classification import classify as classify_module
from responder.classification.classify import classify
from responder.classification.language import detect_language, normalize_hint
from responder.triage.routing import load_rules

# --- language -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("@acme my parcel still has not shown up and nobody answers", "en"),
    ("@acme hola, mi pedido todavía no ha llegado y nadie me responde", "es"),
    ("@acme bonjour, ma commande n'est toujours pas arrivée, pouvez-vous m'aider ?", "fr"),
    ("@acme hallo, meine Bestellung ist seit einer Woche nicht angekommen", "de"),
    ("@acme olá, minha encomenda ainda não chegou, vocês podem ajudar?", "pt"),
    ("@acme ciao, il mio ordine non è ancora arrivato, potete aiutarmi?", "it"),
    ("gracias!", "es"),
    ("danke", "de"),
])
def test_detects_the_six_languages_on_short_texts(text, expected):
    # Given a short mention without a platform hint
    # When its language is detected
    # Then it is the language it is written in
    assert detect_language(text) == expected


def test_platform_hint_wins_unless_undetermined():
    # Given Spanish text that the platform tagged
    text = "mi pedido no ha llegado"
    # Then a 2-letter hint wins (even an unsupported one), a region is dropped, and X's und/zxx are ignored
    assert detect_language(text, "pt") == "pt"
    assert detect_language(text, "nl") == "nl"
    assert detect_language(text, "pt-BR") == "pt"
    assert detect_language(text, "und") == "es"
    assert detect_language(text, "zxx") == "es"
    assert normalize_hint("qme") is None


def test_emoji_only_and_unknown_text_are_undetermined():
    # Given texts with no words to go on
    # Then the language is "und", and other scripts are recognised by their letters
    assert classify("😍😍🔥").language == "und"
    assert classify("@acme 12345").language == "und"
    assert detect_language("Где мой заказ?") == "ru"
    assert detect_language("注文はまだ届いていません") == "ja"


# --- sentiment ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("@acme you are wonderful, the best support I have ever had!", "positive"),
    ("@acme this is the worst service, I am furious and disappointed", "negative"),
    ("@acme what time does the store in Leeds open on Sunday", "neutral"),
    ("@acme ¡Excelente servicio, muchas gracias!", "positive"),
    ("@acme Un servicio pésimo, estoy harto", "negative"),
    ("@acme Service impeccable, merci beaucoup !", "positive"),
    ("@acme Service nul, je suis très déçu", "negative"),
    ("@acme Wirklich toll, vielen Dank!", "positive"),
    ("@acme Furchtbarer Service, ich bin enttäuscht", "negative"),
    ("@acme Atendimento ótimo, obrigado!", "positive"),
    ("@acme Atendimento péssimo, que vergonha", "negative"),
    ("@acme Servizio fantastico, grazie mille!", "positive"),
    ("@acme Servizio pessimo, che vergogna", "negative"),
    ("@acme 😍🥰", "positive"),
    ("@acme 😡👎", "negative"),
])
def test_sentiment_of_clear_cases(text, expected):
    # Given a mention whose tone is unmistakable
    # When it is classified
    # Then the sentiment says so
    assert classify(text).sentiment == expected


def test_negation_flips_non_english_sentiment():
    # Given "not good" in Spanish
    # Then it is not positive
    assert classify("@acme el servicio no es bueno").sentiment != "positive"


def test_english_sentiment_without_vader(monkeypatch):
    # Given vaderSentiment is not installed (the function returns None)
    monkeypatch.setattr(classify_module, "_vader", lambda: None)
    # Then English sentiment still comes from the project's own word list
    assert classify("@acme terrible, awful service").sentiment == "negative"
    assert classify("@acme great job, thanks so much").sentiment == "positive"


# --- intent ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("@acme I was charged twice for my last order and nobody answers, unacceptable", "complaint"),
    ("@acme mi paquete llegó roto, qué desastre", "complaint"),
    ("@acme my order is late again", "complaint"),
    ("@acme do you deliver to Iceland?", "question"),
    ("@acme how do I change the email on my account", "question"),
    ("@acme ¿cuándo abre la tienda de Valencia?", "question"),
    ("@acme thanks for sorting this out so quickly, brilliant team!", "praise"),
    ("@acme merci pour votre aide, super équipe !", "praise"),
    ("@acme it would be nice to have a dark mode in the app", "feedback"),
    ("@acme you should add Apple Pay at checkout", "feedback"),
    ("@acme Follow for follow! Free crypto airdrop, click here https://spam.example/x", "spam"),
    ("@acme happy friday everyone", "other"),
    # saying what they are doing: filing a complaint, or leaving a review, however it is asked
    ("@acme how can I lodge a consumer claim against your company?", "complaint"),
    ("@acme I want to file a reclamation", "complaint"),
    ("@acme is there a way to leave some feedback about a product?", "feedback"),
    ("@acme I need help writing a review for your services", "feedback"),
    # negative about the brand without naming a product; a neutral question stays one
    ("@acme UBER EATS SUCKS, worst app ever", "complaint"),
    ("@acme shame on you", "complaint"),
    ("@acme when does the sale end?", "question"),
])
def test_intent(text, expected):
    # Given a mention of a known kind
    # When it is classified
    # Then its intent is recognised
    assert classify(text).intent == expected


def test_a_claim_is_a_complaint_only_when_the_customer_files_it():
    from responder.classification.lexicon import words

    # Given a claim being filed, and claims merely mentioned
    # Then only the first says the customer complains
    assert classify_module._files_complaint(words("I need to open a consumer claim"))
    assert not classify_module._files_complaint(words("thanks, my insurance claim went through"))
    assert not classify_module._files_complaint(words("the claim I filed last week"))


# --- topic ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("@acme I cannot log in, my password reset email never comes", "account"),
    ("@acme olvidé la contraseña de mi cuenta", "account"),
    ("@acme can I still add an item to order 5512?", "order"),
    ("@acme ich möchte meine Bestellung ändern", "order"),
    ("@acme when will I get my refund for the broken kettle?", "refund"),
    ("@acme j'attends toujours mon remboursement", "refund"),
    ("@acme the courier left my parcel at the wrong house", "delivery"),
    ("@acme la consegna è in ritardo di una settimana", "delivery"),
    ("@acme please resend the invoice for my March purchase", "invoice"),
    ("@acme wo finde ich meine Rechnung?", "invoice"),
    ("@acme my card payment keeps getting declined", "payment"),
    ("@acme o pagamento com pix não foi aceito", "payment"),
    ("@acme I need to update my shipping address before it ships", "shipping_address"),
    ("@acme quiero cambiar la dirección de entrega", "shipping_address"),
    ("@acme how much is the early termination fee on my plan?", "cancellation_fee"),
    ("@acme quanto custa a taxa de cancelamento?", "cancellation_fee"),
    ("@acme how can I speak to a real person at customer service?", "contact"),
    ("@acme wie erreiche ich den Kundenservice telefonisch?", "contact"),
    ("@acme where can I leave a review of your shop?", "feedback"),
    ("@acme voglio lasciare una recensione sul vostro negozio", "feedback"),
    ("@acme please unsubscribe me from the newsletter", "newsletter"),
    ("@acme je veux me désabonner de la newsletter", "newsletter"),
    ("@acme lovely weather at the beach today", "other"),
    ("@acme qué bonito día", "other"),
])
def test_topic(text, expected):
    # Given a mention about one routing topic (in one of six languages)
    # When it is classified
    # Then the topic is that one
    assert classify(text).topic == expected


# --- noise ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "reason"), [
    ("@acme f4f follow back and check out my bio for cheap followers", "spam"),
    ("@acme https://t.co/abcdef", "spam: links only"),
    ("@acme 😂😂😂", "emoji only"),
    ("   ", "empty"),
    ("Automatic reply: I am currently away from the office until Monday", "auto-generated"),
])
def test_noise_is_flagged_with_a_reason(text, reason):
    # Given spam, links only, emoji only, empty or machine-written text
    result = classify(text)
    # Then it is noise, with a reason the workflow archives it under, and the lowest priority
    assert result.noise is True
    assert result.noise_reason.startswith(reason)
    assert result.priority == "p4"
    assert result.reasons[0].startswith("noise:")


def test_emoji_question_and_normal_text_are_not_noise():
    # Given a question made only of punctuation and a normal complaint
    # Then neither is noise
    assert classify("@acme ???").noise is False
    assert classify("@acme I tried to use code SAVE10 but it says invalid").noise is False


def test_spam_terms_do_not_archive_a_crisis():
    # Given a safety report that happens to mention a promotion
    result = classify("@acme the giveaway phone you sent me caught fire, check out my photos https://t.co/x")
    # Then it is a crisis, not noise
    assert result.noise is False
    assert result.priority == "p1"


# --- abuse ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "@acme you bunch of idiots, fix my order",
    "@acme f*ck this company",
    "@acme sois unos gilipollas",
    "@acme was für eine Scheiße",
])
def test_abusive_language_is_flagged(text):
    # Given an insult or profanity (masked or not, English or not)
    result = classify(text)
    # Then it is abusive and the reasons say so
    assert result.abusive is True
    assert "abusive language" in result.reasons


def test_polite_text_is_not_abusive():
    assert classify("@acme could you check my order please").abusive is False


# --- priority -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "term"), [
    ("@acme my son had an allergic reaction after eating your cereal", "allergic reaction"),
    ("@acme the charger started smoking and burned my desk", "burned"),
    ("@acme I will contact my lawyer about this", "lawyer"),
    ("@acme my account was hacked and someone ordered with my card", "hacked"),
    ("@acme checkout crashed and now I see a stranger's address on my order, is this a data leak?", "data leak"),
    ("@acme payment failed twice and there are unauthorized charges on my card", "unauthorized charges"),
    ("@acme payment keeps failing, reporting you to the FTC", "ftc"),
    ("@acme filing a complaint with the Better Business Bureau today", "better business bureau"),
    ("@acme the heater's cable melts, this is a safety issue", "safety issue"),
    ("@acme mi hijo acabó en urgencias por una intoxicación", "intoxicacion"),
    ("@acme ich habe mich an dem Gerät verletzt", "verletzt"),
])
def test_crisis_terms_are_p1_with_a_reason(text, term):
    # Given a mention about safety, legal action or security
    result = classify(text)
    # Then it is p1, flagged as a crisis, with the term in its reasons, and goes to escalations
    assert result.priority == "p1"
    assert result.crisis is True
    assert f"crisis: {term}" in result.reasons
    assert result.team == "escalations"


def test_crisis_look_alikes_are_not_p1():
    # Given phrases that contain crisis words but are not crises
    # Then they are not p1
    assert classify("@acme I'm so burned out after this week, lol").priority != "p1"
    assert classify("@acme my phone died before I could show the ticket").priority != "p1"


def test_vip_author_is_p1():
    # Given rules with a VIP by id and one by handle
    rules = load_rules({"vip": {"ids": ["42"], "handles": ["@FamousChef"]}})
    # When either writes even a neutral question
    by_id = classify("@acme what time do you open?", author={"id": "42"}, rules=rules)
    by_handle = classify("@acme what time do you open?", author={"id": "9", "handle": "famouschef"}, rules=rules)
    # Then both are p1 because of the VIP list
    assert (by_id.priority, by_handle.priority) == ("p1", "p1")
    assert "vip author" in by_id.reasons and "vip author" in by_handle.reasons
    # And the same question from anyone else is p3
    assert classify("@acme what time do you open?", author={"id": "9"}, rules=rules).priority == "p3"


def test_negative_complaint_is_p2():
    result = classify("@acme my order arrived damaged and support is useless")
    assert (result.intent, result.priority) == ("complaint", "p2")
    assert "negative complaint" in result.reasons


def test_high_reach_complaint_is_p2_with_reason():
    # Given a complaint that is not strongly negative (a neutral problem report)
    text = "@acme my order is late"
    ordinary = classify(text, author={"id": "1", "followers": 120})
    # When it comes from an author with many followers, or a verified one
    famous = classify(text, author={"id": "2", "followers": 25_000})
    verified = classify(text, author={"id": "3", "followers": 10, "verified": True})
    # Then it is p2 with the reach in the reasons
    assert famous.priority == "p2" and "high reach: 25,000 followers" in famous.reasons
    assert verified.priority == "p2" and "high reach: verified author" in verified.reasons
    assert ordinary.priority in ("p2", "p3") and not any(r.startswith("high reach") for r in ordinary.reasons)


def test_high_reach_threshold_comes_from_rules():
    rules = load_rules({"high_reach_followers": 500, "verified_is_high_reach": False})
    result = classify("@acme my order is late", author={"id": "2", "followers": 600}, rules=rules)
    assert "high reach: 600 followers" in result.reasons


def test_question_is_p3_and_praise_is_p4():
    assert classify("@acme do you ship to Canada?").priority == "p3"
    praise = classify("@acme thank you, the new menu is amazing!")
    assert (praise.intent, praise.priority, praise.team) == ("praise", "p4", "social")


# --- teams, output, determinism -------------------------------------------------------------------------------


def test_team_follows_the_routing_rules():
    # Given the shipped rules: refunds go to billing, orders to orders, accounts to accounts
    assert classify("@acme where is my refund? it's been two weeks").team == "billing"
    assert classify("@acme do you deliver on Saturdays?").team == "orders"
    assert classify("@acme how do I reset my password?").team == "accounts"
    # And a language team from overridden rules wins over the topic
    rules = load_rules({"teams": {"care_es": "Spanish care"}, "language_teams": {"es": "care_es"}})
    assert classify("@acme ¿dónde está mi reembolso?", rules=rules).team == "care_es"


def test_to_dict_is_json_ready_and_classification_is_deterministic():
    text = "@acme I was charged twice, please help"
    first = classify(text, lang="en", author={"id": "1"}, channel="x").to_dict()
    assert json.loads(json.dumps(first)) == first
    assert set(first) >= {"language", "sentiment", "intent", "topic", "noise", "noise_reason", "abusive",
                          "priority", "reasons", "team"}
    assert classify(text, lang="en", author={"id": "1"}, channel="x").to_dict() == first
