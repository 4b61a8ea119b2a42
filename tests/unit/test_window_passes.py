"""The clustering window's passes, done once per window and with its term index: the same answers as scoring every
mention of the window, bounded, and safe for the mentions of a batch that read one window side by side."""

from __future__ import annotations

import random
import threading
from collections import Counter

from responder.surge import correlate
from responder.surge.incidents import (
    GENERIC_TERMS,
    SurgeSettings,
    TermIndex,
    best_incident,
    cluster_model,
    match_score,
    salient_terms,
    scores,
    seeded_signature,
    signature,
)
from responder_cli.traffic import TrafficGenerator

SETTINGS = SurgeSettings()


def _texts(seed: int, everyday: int = 200, surge: int = 120) -> list[str]:
    """A window's texts: everyday traffic and a surge, worded as the demo's generator words them."""
    return [text for text, _ in _flagged(seed, everyday, surge)]


def _flagged(seed: int, everyday: int, surge: int) -> list[tuple[str, bool]]:
    """The window's texts, each with whether it is the surge's, shuffled."""
    generator = TrafficGenerator(seed)
    found = [(_text_of(d), False) for d in generator.normal(everyday)] + \
        [(_text_of(d), True) for d in generator.surge(surge)]
    random.Random(seed).shuffle(found)
    return found


def _text_of(delivery) -> str:
    import json

    from responder.ingest.normalize_meta import normalize_meta
    from responder.ingest.normalize_x import normalize_x

    normalize = normalize_x if delivery.platform == "x" else normalize_meta
    (mention,) = normalize(json.loads(delivery.encoded())).mentions
    return mention.text or ""


def _reference_seeded_signature(seed, term_sets, settings, newer=()):
    """seeded_signature as it was before the term index: every pass over every mention of the window."""
    if not any(t not in GENERIC_TERMS for t in seed):
        return {}
    own = {t: 1.0 for t in seed}
    near_seed = [match_score(t, own, settings) >= settings.join_threshold for t in term_sets]
    df, recent, around = Counter(), Counter(), Counter()
    for i, terms in enumerate(term_sets):
        for t in terms:
            df[t] += 1
            recent[t] += 1 if i < len(newer) and newer[i] else 0
            around[t] += 1 if near_seed[i] else 0
    candidates = [t for t in around if t not in GENERIC_TERMS and (t in seed or t.startswith("~"))]
    if not candidates:
        return {}

    def burst(t):
        return min(10.0, (recent[t] + 1) / (df[t] - recent[t] + 1)) if newer else 1.0

    anchor = max(candidates, key=lambda t: (around[t] * burst(t), t))
    own[anchor] = 1.0
    near = [anchor in t and match_score(t, own, settings) >= settings.join_threshold for t in term_sets]
    neighbours = [t for t, n in zip(term_sets, near) if n]
    if len(neighbours) < settings.min_cluster_size:
        return {}
    return signature(neighbours, settings, background=[t for t, n in zip(term_sets, near) if not n])


def test_scores_through_the_index_are_the_scores_of_every_mention():
    # Given a window of everyday traffic and a surge, its term index, and the surge's signature and model
    term_sets = [salient_terms(t) for t in _texts(23)]
    index = TermIndex(term_sets)
    sig = signature(term_sets[:60], SETTINGS)
    fits = [match_score(t, sig, SETTINGS) >= SETTINGS.join_threshold for t in term_sets]
    model = cluster_model([t for t, f in zip(term_sets, fits) if f], [t for t, f in zip(term_sets, fits) if not f],
                          SETTINGS)
    assert sum(fits) >= SETTINGS.min_cluster_size and model
    # When the window is scored through the index, with and without the model
    # Then every mention has the score it has on its own (and the index skipped the mentions that score 0)
    for m in (None, model):
        assert scores(term_sets, sig, SETTINGS, m, index) == [match_score(t, sig, SETTINGS, m) for t in term_sets]
        assert scores(term_sets, sig, SETTINGS, m) == [match_score(t, sig, SETTINGS, m) for t in term_sets]
    # And a signature whose core is one plain word still finds every mention that holds it
    rare = {"~fail": 0.9, "checkout": 0.5, "money": 0.2}
    assert scores(term_sets, rare, SETTINGS, None, index) == [match_score(t, rare, SETTINGS) for t in term_sets]


def test_a_seeded_signature_through_the_index_is_the_one_every_mention_gave():
    # Given windows of three seeds, each mention's terms, and which half of the window is newer
    for seed in (23, 29):
        flagged = _flagged(seed, everyday=120, surge=80)
        term_sets = [salient_terms(t) for t, _ in flagged]
        # The newer half: most of the surge and a third of the everyday traffic (what the burst of a term measures)
        newer = [surge or i % 3 == 0 for i, (_, surge) in enumerate(flagged)]
        index = TermIndex(term_sets)
        found = 0
        # When each mention seeds the signature of its cluster, through the window's index and without one
        for terms in term_sets[::2]:
            expected = _reference_seeded_signature(terms, term_sets, SETTINGS, newer)
            # Then the signature is the one the passes over every mention give, to the last digit
            assert seeded_signature(terms, term_sets, SETTINGS, newer, index=index) == expected
            assert seeded_signature(terms, term_sets, SETTINGS, newer) == expected
            assert seeded_signature(terms, term_sets, SETTINGS) == _reference_seeded_signature(terms, term_sets,
                                                                                            SETTINGS)
            # (a `newer` shorter than the window, as a caller may give, counts the rest as older)
            assert seeded_signature(terms, term_sets, SETTINGS, newer[:50], index=index) == \
                _reference_seeded_signature(terms, term_sets, SETTINGS, newer[:50])
            found += bool(expected)
        assert found > 20  # the surge's mentions did seed clusters: the comparison is not between empty answers


def test_the_anchor_may_be_a_concept_the_seed_does_not_name():
    # Given a seed that says "checkout" and "money" but not "paying", and neighbours that do say paying (~pay),
    # some with the seed's words and more without them
    seed = {"checkout": 1.0, "money": 1.0, "~fail": 1.0}
    term_sets = ([{"money": 1.0, "~pay": 1.0, "~fail": 1.0}] * 20 + [{"~pay": 1.0, "card": 1.0, "~fail": 1.0}] * 20
                 + [{"checkout": 1.0, "cart": 1.0, "~fail": 1.0}] * 5 + [{"~order": 1.0, "arriv": 1.0}] * 30)
    # When its signature is seeded through the index
    found = seeded_signature(seed, term_sets, SETTINGS, index=TermIndex(term_sets))
    # Then the anchor is the concept around it, and the cluster takes in those that name only the concept
    assert found == _reference_seeded_signature(seed, term_sets, SETTINGS)
    assert "card" in found and "~pay" in found


def test_a_core_term_at_exactly_the_core_share_still_finds_its_mentions():
    # Given a signature whose second term weighs exactly half its first (core_share 0.5: core by `>=`)
    sig = {"checkout": 0.5, "money": 0.25, "~fail": 0.9}
    term_sets = [{"money": 1.0, "~fail": 1.0}, {"checkout": 1.0, "~fail": 1.0}, {"money": 1.0, "~order": 1.0}]
    # When the mentions are scored through the index
    # Then the one that holds only the half-weight term is scored as match_score scores it (it fits)
    found = scores(term_sets, sig, SETTINGS, index=TermIndex(term_sets))
    assert found == [match_score(t, sig, SETTINGS) for t in term_sets] and found[0] >= SETTINGS.join_threshold


def _window(seed: int = 23) -> correlate._Window:
    texts = _texts(seed)
    recent = [{"channel": "x", "mention_id": str(i), "text": t, "received_at": f"2026-12-01T12:0{i % 3}:00Z"}
              for i, t in enumerate(texts)]
    return correlate._Window(recent, [salient_terms(t) for t in texts])


def _incident(window: correlate._Window, incident_id: str = "inc-1", share: float = 0.12) -> dict:
    sig = signature(window.terms, SurgeSettings(signature_share=share))
    fits = [match_score(t, sig, SETTINGS) >= SETTINGS.join_threshold for t in window.terms]
    model = cluster_model([t for t, f in zip(window.terms, fits) if f],
                          [t for t, f in zip(window.terms, fits) if not f], SETTINGS)
    return {"incident_id": incident_id, "signature": sig, "model": model}


def test_the_mentions_no_incident_explains_are_those_best_incident_leaves():
    # Given a window and an open incident about its surge
    window = _window()
    incident = _incident(window)
    # When the window says which of its mentions no open incident explains
    positions, terms, index = window.unexplained([incident], SETTINGS)
    # Then they are the mentions best_incident finds no incident for, in order, with their own index
    expected = [i for i, t in enumerate(window.terms) if best_incident(t, [incident], SETTINGS)[0] is None]
    assert positions == expected and 0 < len(expected) < len(window.terms)
    assert terms == [window.terms[i] for i in expected]
    assert index.postings == TermIndex(terms).postings
    # And without an open incident every mention is unexplained, read through the window's own index
    assert window.unexplained([], SETTINGS)[0] == list(range(len(window.terms)))


def test_the_window_answers_again_only_while_the_incidents_stay_the_same():
    # Given a window that has answered for one open incident
    window = _window()
    incident = _incident(window)
    first = window.unexplained([incident], SETTINGS)
    # When it is asked again for the same incident (another mention of the batch, an equal copy of the incident)
    # Then the answer is the one kept
    assert window.unexplained([dict(incident)], SETTINGS) is first
    # When the incident's signature or model changes (a digest refreshed it), or another incident opens
    wider = {**incident, "signature": {**incident["signature"], "checkout": 0.9}}
    other_model = {**incident, "model": {**incident["model"], "bias": incident["model"]["bias"] + 5.0}}
    deliveries = {"incident_id": "inc-2", "signature": {"~delivery": 0.6, "~order": 0.5, "~fail": 0.3}, "model": {}}
    for changed in ([wider], [other_model], [incident, deliveries]):
        # Then the answer is worked out again, and it is best_incident's for those incidents
        positions = window.unexplained(changed, SETTINGS)[0]
        assert positions == [i for i, t in enumerate(window.terms) if best_incident(t, changed, SETTINGS)[0] is None]
    assert window.unexplained([other_model], SETTINGS)[0] != first[0]
    both = window.unexplained([incident, deliveries], SETTINGS)[0]
    assert len(both) < len(window.unexplained([deliveries], SETTINGS)[0]) and len(both) < len(first[0])
    # And other settings are other answers
    strict = SurgeSettings(join_threshold=0.9)
    assert window.unexplained([incident], strict)[0] == [i for i, t in enumerate(window.terms)
                                                         if best_incident(t, [incident], strict)[0] is None]


def test_a_window_keeps_a_bounded_number_of_answers():
    # Given a window asked about more sets of open incidents than it keeps answers for
    window = _window()
    incident = _incident(window)
    for n in range(correlate.WINDOW_ANSWERS * 3):
        window.unexplained([{**incident, "incident_id": f"inc-{n}"}], SETTINGS)
        # Then it never keeps more than WINDOW_ANSWERS of them
        assert len(window._answers) <= correlate.WINDOW_ANSWERS
    # And the newest is kept, the oldest is not
    assert window.unexplained([{**incident, "incident_id": f"inc-{correlate.WINDOW_ANSWERS * 3 - 1}"}],
                              SETTINGS) is window._answers[next(reversed(window._answers))]
    assert len(window._answers) == correlate.WINDOW_ANSWERS


def test_the_mentions_of_a_batch_reading_one_window_side_by_side_get_one_answer():
    # Given one window and ten mentions of a batch asking it at once about the same open incidents
    window = _window()
    incident = _incident(window)
    expected = [i for i, t in enumerate(window.terms) if best_incident(t, [incident], SETTINGS)[0] is None]
    answers, start = [], threading.Barrier(10)

    def ask() -> None:
        start.wait()
        answers.append(window.unexplained([dict(incident)], SETTINGS)[0])

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each gets the answer best_incident gives, and the window keeps one
    assert answers == [expected] * 10
    assert len(window._answers) == 1


def test_a_texts_terms_are_remembered_a_bounded_number_of_times_and_each_caller_gets_its_own():
    from responder.classification.lexicon import MAX_CLASSIFIED_CHARS
    from responder.surge import incidents

    incidents._remembered_terms.cache_clear()
    text = "@Acme checkout screen keeps failing, card declined #AcmeDown https://status.acme.example/x"
    # Given a text's terms read once, and changed by the caller that read them
    first = salient_terms(text)
    first["~pay"] = 99.0
    # When they are read again
    # Then they are the text's own terms, untouched by the first caller's change, and were computed once
    assert salient_terms(text) == incidents._salient_terms(text, ()) and salient_terms(text)["~pay"] == 1.0
    assert incidents._remembered_terms.cache_info().hits >= 1
    # And terms asked for with words to ignore are not the remembered ones
    assert "screen" not in salient_terms(text, ignore=["screen"]) and "screen" in salient_terms(text)
    # When two long texts differ only past the part triage reads
    incidents._remembered_terms.cache_clear()
    head = "checkout payment failing " * (MAX_CLASSIFIED_CHARS // 25 + 10)
    assert salient_terms(head + "refund") == salient_terms(head + "delivery")
    # Then they are one text to remember (the key is what triage reads: at most MAX_CLASSIFIED_CHARS characters)
    assert incidents._remembered_terms.cache_info().currsize == 1
    # And however many texts are read, at most SALIENT_MEMO are remembered
    for i in range(incidents.SALIENT_MEMO + 50):
        salient_terms(f"checkout failing at step {i} for order{chr(97 + i % 26)}")
    assert incidents._remembered_terms.cache_info().currsize == incidents.SALIENT_MEMO
    incidents._remembered_terms.cache_clear()


def test_a_scorer_gives_match_scores_to_the_last_bit():
    # Given random signatures, models and mentions over a small vocabulary: links (worth two), the generic terms,
    # concepts and plain words, with weights that make thirds and exact core-share ties
    rng = random.Random(17)
    vocabulary = ["~pay", "~fail", "~app", "~login", "@status.acme.com", "@acme.com", "#acmedown", "checkout",
                  "money", "card", "page", "code", "screen", "arriv"]
    for _ in range(400):
        sig = {t: rng.choice([0.1, 0.2, 0.25, 0.3333, 0.5, 0.6, 0.9, 1.0]) for t in rng.sample(vocabulary, 5)}
        model = rng.choice([None, {}, {"weights": {t: rng.uniform(-3, 3) for t in rng.sample(vocabulary, 6)},
                                       "absent": {t: rng.uniform(-2, 0) for t in rng.sample(vocabulary, 2)},
                                       "unknown": rng.uniform(-1, 1), "bias": rng.uniform(-1, 1)}])
        settings = SurgeSettings(min_log_odds=rng.choice([0.0, -1.0, 1.0]), min_shared_terms=rng.choice([1, 2, 3]))
        term_sets = [{t: (2.0 if t[0] == "@" else 1.0) for t in rng.sample(vocabulary, rng.randint(0, 7))}
                     for _ in range(20)]
        # When they are scored through a Scorer (and through the index)
        # Then every score is match_score's, bit for bit
        expected = [match_score(t, sig, settings, model) for t in term_sets]
        assert scores(term_sets, sig, settings, model) == expected
        assert scores(term_sets, sig, settings, model, TermIndex(term_sets)) == expected
