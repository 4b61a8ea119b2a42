"""Surge detection and clustering, as pure functions: terms, spikes, signatures, membership, digests."""

from __future__ import annotations

from datetime import datetime, timezone

from responder.surge.incidents import (
    SurgeSettings,
    best_incident,
    bucket,
    cluster_key,
    cluster_model,
    cluster_signature,
    detect_spike,
    log_odds,
    match_score,
    next_digest,
    salient_terms,
    seeded_signature,
    signature,
    surge_onset,
)

SETTINGS = SurgeSettings()
NOW = datetime(2026, 11, 23, 12, 0, 30, tzinfo=timezone.utc)
SURGE = [
    "@Acme your app keeps failing at checkout, payment won't go through #AcmeDown",
    "@Acme checkout is broken again, card declined 5 times but my bank says it's fine",
    "@Acme can't pay for anything in the app since the update",
    "@Acme payment error at checkout every single time. fix your app",
    "@Acme is checkout down?? my payment keeps failing #AcmeDown",
    "@Acme tried 3 cards, checkout fails every time. what is going on",
]
BACKGROUND = [
    "@Acme how do I change the shipping address on my order?",
    "@Acme thanks for the quick refund, great service!",
    "@Acme my parcel hasn't arrived after two weeks",
    "@Acme do you have the blue jacket in size M?",
    "@Acme how do I unsubscribe from the newsletter",
    "@Acme the store on Main Street was closed during opening hours",
]


def test_salient_terms_drop_handles_stop_words_and_numbers_and_stem():
    terms = salient_terms("@AcmeSupport Payments FAILED again at checkout!! 3 times #AcmeDown https://t.co/x https://status.example.com/a")
    assert terms == {"~pay": 1.0, "~fail": 1.0, "acme": 1.0, "#acmedown": 1.0, "@status.example.com": 2.0}


def test_the_many_words_for_one_failure_give_the_same_terms():
    # Given one failure worded by different customers: synonyms, a negation, Spanish, a hashtag, a typo
    wordings = ["card declined at checkout", "payment rejected", "can't pay", "checkout broken",
                "no me deja pagar", "#CheckoutFail", "#checkoutfail", "the paymnet failed", "tarjeta rechazada"]
    # When their terms are read
    # Then each says "something to do with paying" and "it failed", however it is put
    for text in wordings:
        terms = salient_terms(text)
        assert {"~pay", "~fail"} <= set(terms), (text, terms)


def test_openers_devices_emoji_and_order_numbers_are_not_terms():
    # Given a complaint dressed as customers dress it
    terms = salient_terms("@AcmeHelp ugh seriously? card declined on my iPhone 15 for order #48213 😡😡 so annoying")
    # Then only what it is about is left
    assert terms == {"~pay": 1.0, "~fail": 1.0, "~order": 1.0}


def test_placing_an_order_is_paying_but_an_order_placed_is_the_parcel():
    # Given the button that ends checkout, named as customers name it
    for text in ["error when I press place order on my phone", "can't complete the order",
                 "won't let me submit my order", "trying to place an order for an hour"]:
        # Then it is about paying, like "checkout"
        assert "~pay" in salient_terms(text) and "~order" not in salient_terms(text), text
    # And an order already placed, or "my order" alone, is the parcel
    assert "~pay" not in salient_terms("I placed an order last week and it never came")
    assert salient_terms("where is my order") == {"~order": 1.0}


def test_a_changed_letter_is_not_taken_for_a_typo():
    # Given words one letter away from a failure word ("saying"/"paying", "change"/"charge")
    # Then they are not read as that word, while a dropped or swapped letter is
    assert "~pay" not in salient_terms("it keeps saying wrong password")
    assert "~pay" not in salient_terms("can't change my address")
    assert "~pay" in salient_terms("pamyent") and "~pay" in salient_terms("pament")


def test_a_letter_added_inside_a_word_is_not_taken_for_a_typo():
    # Given everyday words that are a failure word with one letter added inside ("playing"/"paying",
    # "changing"/"hanging", "player"/"payer", "brought"/"bought")
    # Then they are not read as that word, while a doubled letter or one added at the end still is
    for text in ("stopped playing the game", "changing my plan", "new player here", "brought it back"):
        assert not {"~pay", "~fail"} & set(salient_terms(text)), text
    assert "~pay" in salient_terms("paymment") and "~pay" in salient_terms("my charges")


def test_spike_needs_both_a_floor_and_a_jump_over_the_baseline():
    now_bucket = bucket(NOW)
    quiet = {now_bucket - i: 2 for i in range(3, 63)}  # 2 a minute for the past hour
    assert detect_spike({**quiet, now_bucket: 3, now_bucket - 1: 2, now_bucket - 2: 2}, NOW, SETTINGS, "all") is None
    spike = detect_spike({**quiet, now_bucket: 30, now_bucket - 1: 10}, NOW, SETTINGS, "all")
    assert spike is not None and spike.recent == 40 and round(spike.expected) == 6
    # A busy brand needs a proportionally bigger jump
    busy = {now_bucket - i: 20 for i in range(3, 63)}
    assert detect_spike({**busy, now_bucket: 40}, NOW, SETTINGS, "all") is None


def test_cluster_signature_keeps_the_surge_vocabulary_and_drops_the_background():
    term_sets = [salient_terms(t) for t in SURGE * 3 + BACKGROUND]
    signature = cluster_signature(term_sets, SETTINGS)
    assert {"~pay", "~fail"} <= set(signature)
    assert not {"~order", "~delivery", "newsletter", "~refund"} & set(signature)


def test_two_failures_in_one_window_give_two_signatures():
    # Given a window where payments and logins fail at once, with some background
    login = ["@Acme can't log in, the code never arrives", "@Acme login is broken, wrong password they say",
             "@Acme the app logs me out every minute", "@Acme password reset link expired before I opened it"]
    window = [salient_terms(t) for t in SURGE * 5 + login * 8 + BACKGROUND]
    # When a signature is drawn around one mention of each
    pay = seeded_signature(salient_terms(SURGE[0]), window, SETTINGS)
    log = seeded_signature(salient_terms(login[0]), window, SETTINGS)
    # Then each is about its own failure, and a mention of one does not fit the other
    assert cluster_key(pay) == "pay" and cluster_key(log) == "login"
    assert all(match_score(salient_terms(t), log, SETTINGS) == 0.0 for t in SURGE)
    assert all(match_score(salient_terms(t), pay, SETTINGS) == 0.0 for t in login)
    assert all(match_score(salient_terms(t), log, SETTINGS) >= SETTINGS.join_threshold for t in login[:2])
    assert all(match_score(salient_terms(t), pay, SETTINGS) >= SETTINGS.join_threshold for t in SURGE)


def test_failing_alone_is_not_enough_to_join():
    # Given a payment incident's signature
    signature = cluster_signature([salient_terms(t) for t in SURGE * 3], SETTINGS)
    # Then a mention that shares only "something failed" (and the app) does not fit it
    assert match_score(salient_terms("@Acme the app crashed and my parcel tracking is broken"), signature,
                       SETTINGS) == 0.0


def test_differently_worded_complaints_join_and_background_does_not():
    signature = cluster_signature([salient_terms(t) for t in SURGE * 3 + BACKGROUND], SETTINGS)
    incident = {"incident_id": "inc-1", "signature": signature}
    joined = [best_incident(salient_terms(t), [incident], SETTINGS)[0] is not None for t in SURGE]
    strays = [best_incident(salient_terms(t), [incident], SETTINGS)[0] is not None for t in BACKGROUND]
    assert all(joined) and not any(strays)
    # a new wording, never seen while building the signature
    assert match_score(salient_terms("@Acme transaction refused when I buy, again!"), signature, SETTINGS) >= \
        SETTINGS.join_threshold


def test_a_single_shared_word_is_not_enough():
    signature = {"~pay": 0.5, "~fail": 0.4, "checkout": 0.5}
    assert match_score(salient_terms("@Acme where do I pay my invoice?"), signature, SETTINGS) == 0.0


def test_digests_go_out_at_growing_sizes():
    assert [next_digest(n, SETTINGS) for n in (0, 24, 25, 99, 100, 60000)] == [25, 25, 50, 100, 250, 120000]


# A payments surge, and everyday payment talk that is not about it (written for these tests).
SURGE_WINDOW = [
    "checkout keeps failing, payment won't go through", "card declined at checkout again, bank says it's fine",
    "can't pay in the app since the update", "payment error at checkout every time", "is checkout down? payment failing",
    "checkout fails with every card I try", "checkout says payment failed but the money left my account",
    "my card got rejected at checkout", "payment failed twice at checkout", "checkout broken, can't pay",
    "card declined, checkout error", "payment won't go through at checkout", "the checkout page errors on payment",
    "checkout failing, payment declined", "can't pay, checkout broken again", "payment error again at checkout",
]
PAYMENT_TALK = [
    "how do I change the card on my subscription before the renewal date",
    "was charged for a subscription I never signed up for, who do I call",
    "does the gift card work for the annual membership or only in stores",
    "can I split a bill between two cards when booking a table for six",
    "my statement shows a pending charge from the hotel booking last week",
    "do you take cash on delivery for furniture orders in the north",
    "your cashier refused my voucher and charged full price, not acceptable",
    "my direct debit didn't update after I moved banks in june",
    "please remove my old card from the account, I closed that bank",
    "is there a student discount if I pay for the whole year upfront",
    "the loyalty points never showed after I paid at the till",
    "why is the price different when I buy in the shop versus online",
    "charged a late fee although the transfer left my bank on time",
    "can I pay the invoice for the catering order by bank transfer",
    "my partner bought tickets with my card and I need a receipt",
    "the ticket machine at the station wouldn't take my card this morning",
]


def test_payment_talk_that_is_not_the_surge_stays_out_though_it_shares_its_concepts():
    # Given a payments surge and, in the same window, everyday talk about paying
    surge, talk = [salient_terms(t) for t in SURGE_WINDOW], [salient_terms(t) for t in PAYMENT_TALK]
    sig = signature(surge, SETTINGS, background=talk)
    # When the cluster's model is learned from the window (the surge against the rest)
    model = cluster_model(surge, talk, SETTINGS)
    # Then a new payment complaint with words of its own no longer fits, though it names paying and a failure
    stray = salient_terms("the parking meter near your store wouldn't take my card and I got a ticket, not happy")
    assert {"~pay", "~fail"} <= set(stray) and match_score(stray, sig, SETTINGS) >= SETTINGS.join_threshold
    assert log_odds(stray, model) < SETTINGS.min_log_odds and match_score(stray, sig, SETTINGS, model) == 0.0
    # And a new wording of the surge still fits
    fresh = salient_terms("checkout payment failing on my phone")
    assert match_score(fresh, sig, SETTINGS, model) >= SETTINGS.join_threshold


def test_one_text_repeated_is_one_piece_of_evidence():
    # Given a window where one everyday text was sent many times and fits the signature's concepts
    surge = [salient_terms(t) for t in SURGE_WINDOW]
    repeated = "you charged my card twice for the sofa order, I want my money back"
    talk = [salient_terms(t) for t in PAYMENT_TALK]
    # When the copies fell in the cluster: its words come from one wording, not from many customers
    model = cluster_model(surge + [salient_terms(repeated)] * 8, talk, SETTINGS)
    # Then they are not the cluster's vocabulary, and the text is still told apart from the surge
    assert "sofa" not in model["weights"] and "want" not in model["weights"]
    assert log_odds(salient_terms(repeated), model) < SETTINGS.min_log_odds


def test_the_model_stored_on_an_incident_stays_small():
    # Given a cluster whose mentions use many different words (each word in eight of them)
    words = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}x" for i in range(200)]
    cluster = [{"~pay": 1.0, "~fail": 1.0, **{words[(i + k) % 200]: 1.0 for k in range(8)}} for i in range(200)]
    talk = [salient_terms(t) for t in PAYMENT_TALK]
    # When its model is learned
    model = cluster_model(cluster, talk, SETTINGS)
    # Then it keeps only its commonest terms (the incident item is read by every member)
    assert len(model["weights"]) == SETTINGS.model_vocabulary and {"~pay", "~fail"} <= set(model["weights"])


def test_a_complaint_at_its_usual_pace_before_the_spike_is_not_the_surge():
    # Given an everyday complaint that reads like the surge, one every 6 s for a minute, then the surge on top of it,
    # both fitting the cluster: 2.5 mentions a second for the next 32 s
    everyday = [6.0 * i for i in range(10)]
    surge = [60.0 + 0.4 * i for i in range(80)]
    # When the cluster's onset is looked for in the window (from its first mention to now)
    onset = surge_onset(everyday + surge, 0.0, 92.0, SETTINGS)
    # Then it is the surge's first mention: what came before it at its usual pace is left out of the incident
    assert onset == 60.0
    assert all(t < onset for t in everyday) and all(t >= onset for t in surge)


def test_a_surge_delivered_at_once_has_no_onset_in_its_first_seconds():
    # Given a surge's first wave delivered within five seconds, read at the window's resolution of one second: two
    # mentions in its first second, three in the next, then fifteen a second (the window opens two seconds earlier)
    times = [0.0] * 2 + [1.0] * 3 + [2.0 + k // 15 for k in range(30)]
    # When its onset is looked for
    # Then there is none: no usual pace held before it, so the first five are the surge's too (they were left out)
    assert surge_onset(times, -2.0, 4.0, SETTINGS) is None


def test_mentions_at_one_pace_have_no_onset():
    # Given mentions that fit a cluster at one steady pace for three minutes (a busy subject, or a surge under way
    # since before the window), with the jitter of real arrivals: 400 seeded windows of 20 to 400 mentions
    import random

    rng = random.Random(5)
    windows = [[rng.uniform(0.0, 180.0) for _ in range(n)] for n in (20, 60, 200, 400) for _ in range(100)]
    # When the onset is looked for
    # Then there is none: every one of them may be the cluster's
    assert [len(w) for w in windows if surge_onset(w, 0.0, 180.0, SETTINGS) is not None] == []
    # And a pace that only doubles is no spike's onset (90 s at one a second, then 90 s at two)
    doubling = [float(i) for i in range(90)] + [90.0 + 0.5 * i for i in range(180)]
    assert surge_onset(doubling, 0.0, 180.0, SETTINGS) is None
    # And neither is a handful that came fast: fewer than a cluster
    assert surge_onset([10.0 * i for i in range(12)] + [120.0 + 0.1 * i for i in range(10)], 0.0, 121.0,
                       SETTINGS) is None
