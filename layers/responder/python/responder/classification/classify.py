"""Classification v1: language, sentiment, intent, routing topic, noise, abuse and priority of one mention.

Rules, lexicons and two small linear models, no network: deterministic, well under a millisecond per mention
once the data is loaded (once per process, on first use). English (and undetermined) sentiment comes from
`data/sentiment_model.json` (`responder.classification.sentiment_model`: VADER's scores and word features, trained on
the SemEval tweet pool, see `data/SOURCES.md`); without that file, from VADER's compound score with thresholds as in v1.
es/fr/de/pt/it use the project's own lexicon in `data/lexicons.json` with VADER's scale, negation and
normalisation. The abusive flag is the abuse lexicon or the offensive-language model (`data/offensive_model.json`,
English). Routing topics come from `data/topics.json`; teams from the routing rules (`responder.triage.routing`).

Every feature reads the same bounded window, the first `lexicon.MAX_CLASSIFIED_CHARS` (800) characters, and VADER at
most `sentiment_model.VADER_MAX_WORDS` words of it, in time linear in what it reads: the worst mention anyone can
send costs a few times an ordinary one (bench/worst_case_bench.py), never minutes. The stored text stays whole.

Decisions, in order:
- noise: empty text, emoji or punctuation only (unless it asks something), auto-generated posts, spam;
- intent: spam → complaint (a crisis term unless it is only asked about; a strong problem signal such as
  "never arrived"; negative sentiment with a problem signal; saying they file a complaint or a claim) → feedback
  (leaving a review or feedback, however it is asked) → complaint (negative sentiment, not asked as a question; a
  weak problem signal about a topic, not asked as a question) → feedback (a suggestion) → question
  (interrogative, or a request for help) → praise (positive with thanks or praise, or neutral thanks) → other;
- priority: p1 for crisis terms (safety, legal, security) or VIP authors; p2 for negative complaints and for
  complaints from high-reach authors; p3 for questions, other complaints and other negative mentions; p4 for
  the rest (noise is always p4: the workflow archives it).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from responder.core.labels import INTENTS, PRIORITIES, SENTIMENTS, TOPICS
from responder.classification.language import SUPPORTED, UNDETERMINED, detect_language
from responder.classification.lexicon import (
    DATA_DIR, HANDLE_RE, URL_RE, Match, PhraseMatcher, classified_text, entry_words, load_lexicons, normalize,
    strip_handles_and_urls, words,
)
from responder.triage.routing import RoutingRules, load_rules
from responder.classification.encoder import encoder_model
from responder.classification.sentiment_model import (
    decide, offensive_model, offensive_probability, sentiment_logits, sentiment_model, vader_scores,
)
from responder.classification.textmodel import tokens as text_tokens

__all__ = ["Classification", "classify", "INTENTS", "PRIORITIES", "SENTIMENTS", "TOPICS"]

# Tuned on TweetEval sentiment validation (bench/classify_bench.py): VADER's own ±0.05 labels too few tweets
# neutral for that set; these maximise macro-recall there.
POSITIVE_AT = 0.35
NEGATIVE_AT = -0.10
# A strong problem signal ("charged twice", "never arrived") moves the score down by this much each (two at most):
# VADER reads most customer-care problems as neutral.
PROBLEM_NUDGE = 0.25
# The spam score at which a mention is spam; with a crisis term it takes more, so a real safety report is never archived
SPAM_AT = 2
SPAM_WITH_CRISIS_AT = 4
# With the sentiment model, a strong problem signal adds this much to the negative logit each (two at most).
PROBLEM_LOGIT_NUDGE = 1.0

# Saying what the customer is doing: filing a complaint, or leaving a review (Bitext's `complaint` and `review`
# intents word them this way). English only; a verb counts when it comes at most ACT_REACH words before its noun.
ACT_REACH = 4
_COMPLAINT_NOUNS = ("complain", "reclam", "reclaqm")  # prefixes: complaint, complaining, reclamation (and a typo)
_CLAIM_VERBS = frozenset({"file", "filea", "filing", "lodge", "lodging", "make", "making", "submit", "submitting",
                          "raise", "raising", "open", "opening", "put"})
_CLAIM_NOUNS = frozenset({"claim", "claims", "clain"})
_FEEDBACK_VERBS = frozenset({"leave", "leaving", "leving", "write", "writing", "submit", "submitting", "send",
                             "sending", "give", "giving", "post", "posting", "share", "sharing", "add", "adding"})
_FEEDBACK_NOUNS = frozenset({"feedback", "review", "reviews", "opinion", "opinions", "comment", "comments",
                             "testimonial", "rating"})

_QUESTION_MARK_RE = re.compile(r"[?¿？]")
_SENTENCE_RE = re.compile(r"[.!?¿¡\n;:]+")
_REPEATED_CHAR_RE = re.compile(r"([^\s.!?])\1{9,}")
_HASHTAG_RE = re.compile(r"(?<!\w)#\w+")
_MASKED_ABUSE_RE = re.compile(r"\b(?:f[*#@$]{1,3}c?k\w*|f\*{3}|sh[*!1]t\w*|b[*]tch\w*|a[*$]{2}hole\w*|c[*]nt)",
                              re.IGNORECASE)


@dataclass(frozen=True)
class Classification:
    """What triage needs to know about one mention."""

    language: str
    sentiment: str  # negative | neutral | positive
    sentiment_score: float  # -1..1 (VADER compound for English)
    intent: str  # complaint | question | praise | feedback | spam | other
    topic: str  # routing topic, see labels.TOPICS
    noise: bool
    noise_reason: str | None
    abusive: bool
    crisis: bool
    priority: str  # p1 (most urgent) .. p4
    reasons: tuple[str, ...]
    team: str
    channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "language": self.language, "sentiment": self.sentiment, "sentiment_score": self.sentiment_score,
            "intent": self.intent, "topic": self.topic, "noise": self.noise, "noise_reason": self.noise_reason,
            "abusive": self.abusive, "crisis": self.crisis, "priority": self.priority, "reasons": list(self.reasons),
            "team": self.team, "channel": self.channel,
        }


def classify(text: str, lang: str | None = None, author: Mapping[str, Any] | None = None,
             channel: str | None = None, rules: RoutingRules | None = None) -> Classification:
    """Classify one mention's text; `lang` is the platform's hint, `author` the stored author dict."""
    rules = rules or load_rules()
    lex = _lexicons()
    text = classified_text(text) if isinstance(text, str) else ""  # bounded work per mention, whatever its length
    language = detect_language(text, lang)
    tokens = words(text)
    cue_langs = ("en",) if language in ("en", UNDETERMINED) or language not in SUPPORTED else ("en", language)

    crisis_terms = _distinct(m.entry for lg in cue_langs for m in lex.crisis[lg].find_longest(tokens) if m.value)
    problems = [m for lg in cue_langs for m in lex.problems[lg].find_longest(tokens)]
    strong_problems = sum(1 for m in problems if m.value >= 2)
    abuse_langs = SUPPORTED if language == UNDETERMINED else cue_langs  # an insult alone rarely tells its language
    abusive = any(lex.abusive[lg].find(tokens) for lg in abuse_langs) or bool(_MASKED_ABUSE_RE.search(text))
    # The English models' tokens, computed once for both of them.
    model_tokens = text_tokens(text) if language in ("en", UNDETERMINED) else None
    if not abusive and language in ("en", UNDETERMINED):
        model = offensive_model()
        abusive = model is not None and (offensive_probability(text, model, model_tokens) or 0.0) >= \
            _offensive_threshold(model)
    topic = _topic(tokens, lex)

    sentiment, score = _sentiment(text, tokens, language, strong_problems, lex, model_tokens)

    asks = _asks(text, tokens, cue_langs, lex)
    noise_reason = _noise_reason(text, tokens, asks, bool(crisis_terms), lex)
    signals = _Signals(tokens, cue_langs, sentiment, topic, asks, crisis_terms, problems, strong_problems)
    intent = "spam" if noise_reason and noise_reason.startswith("spam") else _intent(signals, lex)

    priority, reasons = _priority(intent, sentiment, crisis_terms, noise_reason, author, rules)
    if abusive:
        reasons.append("abusive language")
    team, _ = rules.team_for(priority=priority, intent=intent, topic=topic, language=language, channel=channel)
    return Classification(
        language=language, sentiment=sentiment, sentiment_score=round(score, 4), intent=intent, topic=topic,
        noise=noise_reason is not None, noise_reason=noise_reason, abusive=abusive, crisis=bool(crisis_terms),
        priority=priority, reasons=tuple(reasons), team=team, channel=channel)


# --- decisions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signals:
    """What the text says, as far as the intent rules need to know."""

    tokens: list[str]
    cue_langs: tuple[str, ...]
    sentiment: str
    topic: str
    asks: str | None
    crisis_terms: list[str]
    problems: list[Match[int]]
    strong_problems: int


def _intent(signals: _Signals, lex: _Lexicons) -> str:
    sentiment, topic, asks, problems = signals.sentiment, signals.topic, signals.asks, signals.problems
    tokens, cue_langs = signals.tokens, signals.cue_langs
    if signals.crisis_terms and not (asks == "interrogative" and sentiment != "negative"):
        return "complaint"
    if signals.strong_problems or (sentiment == "negative" and problems) or _files_complaint(tokens):
        return "complaint"
    if _gives_feedback(tokens):  # "how do I leave a review?": feedback, however it is asked
        return "feedback"
    if sentiment == "negative" and asks != "interrogative":
        return "complaint"  # a negative mention of the brand that asks nothing
    if problems and topic != "other" and not asks:  # "my order is late": a problem with something of ours
        return "complaint"
    if any(lex.suggestions[lg].find(tokens) for lg in cue_langs):
        return "feedback"
    if asks:
        return "question"
    thanked = any(lex.thanks[lg].find(tokens) for lg in cue_langs)
    praised = any(lex.praise[lg].find(tokens) for lg in cue_langs)
    if (sentiment == "positive" and (thanked or praised)) or (thanked and sentiment == "neutral"):
        return "praise"
    return "other"


def _files_complaint(tokens: list[str]) -> bool:
    """`file a complaint`, `lodge a consumer claim`, `complaining about`: the customer says they complain."""
    for i, token in enumerate(tokens):
        if token.startswith(_COMPLAINT_NOUNS):
            return True
        if token in _CLAIM_NOUNS and any(t in _CLAIM_VERBS for t in tokens[max(0, i - ACT_REACH):i]):
            return True
    return False


def _gives_feedback(tokens: list[str]) -> bool:
    """`leave a review`, `send some feedback`, `write an opinion about`: the customer wants to give feedback."""
    return any(token in _FEEDBACK_NOUNS and any(t in _FEEDBACK_VERBS for t in tokens[max(0, i - ACT_REACH):i])
               for i, token in enumerate(tokens))


def _priority(intent: str, sentiment: str, crisis_terms: list[str], noise_reason: str | None,
              author: Mapping[str, Any] | None, rules: RoutingRules) -> tuple[str, list[str]]:
    reasons: list[str] = []
    if noise_reason is not None:
        return "p4", [f"noise: {noise_reason}"]
    reasons.extend(f"crisis: {term}" for term in crisis_terms[:3])
    if rules.is_vip(author):
        reasons.append("vip author")
    if reasons:
        return "p1", reasons
    reach = rules.high_reach(author)
    if intent == "complaint" and sentiment == "negative":
        return "p2", ["negative complaint"] + ([reach] if reach else [])
    if intent == "complaint" and reach:
        return "p2", ["complaint", reach]
    if intent == "question":
        return "p3", ["question"]
    if intent == "complaint":
        return "p3", ["complaint"]
    if sentiment == "negative":
        return "p3", ["negative sentiment"]
    return "p4", [intent]


def _noise_reason(text: str, tokens: list[str], asks: str | None, crisis: bool, lex: _Lexicons) -> str | None:
    without_links = HANDLE_RE.sub(" ", URL_RE.sub(" ", text)).strip()
    has_link = bool(URL_RE.search(text))
    if not without_links:
        return "spam: links only" if has_link else "empty"
    if not tokens and not any(ch.isalpha() for ch in without_links) and asks is None:
        return "emoji only"
    if lex.auto_generated.find(tokens):
        return "auto-generated"
    spam_score, signal = _spam_score(text, tokens, has_link, lex)
    if spam_score >= (SPAM_WITH_CRISIS_AT if crisis else SPAM_AT):
        return f"spam: {signal}"
    return None


def _spam_score(text: str, tokens: list[str], has_link: bool, lex: _Lexicons) -> tuple[int, str]:
    score, signals = 0, []
    hits = _distinct(m.entry for m in lex.spam.find_longest(tokens))
    for entry in hits:
        score += 2 if entry in lex.spam_strong else 1
    if hits:
        signals.append(f"promotion ({hits[0]})")
        if has_link:
            score += 1
    if _REPEATED_CHAR_RE.search(text):
        score += 1
        signals.append("repeated characters")
    if len(tokens) >= 4:
        most = Counter(tokens).most_common(1)[0][1]
        if most >= 4 and most * 10 >= len(tokens) * 4:
            score += 2
            signals.append("repeated words")
    if len(_HASHTAG_RE.findall(text)) >= 6:
        score += 1
        signals.append("hashtag wall")
    if len(HANDLE_RE.findall(text)) >= 6:
        score += 1
        signals.append("mass tagging")
    return score, (signals[0] if signals else "")


def _asks(text: str, tokens: list[str], cue_langs: tuple[str, ...], lex: _Lexicons) -> str | None:
    """`interrogative` for a question, `request` for a request for help, else None."""
    if _QUESTION_MARK_RE.search(URL_RE.sub(" ", text)):
        return "interrogative"
    for sentence in _SENTENCE_RE.split(normalize(text)):
        sentence_words = re.findall(r"[a-z0-9]+", sentence)
        starts = sentence_words[:4]
        if starts and any(m.start == 0 for lg in cue_langs for m in lex.question_starts[lg].find(starts)):
            return "interrogative"
    if any(lex.requests[lg].find(tokens) for lg in cue_langs):
        return "request"
    return None


def _topic(tokens: list[str], lex: _Lexicons) -> str:
    by_span: dict[tuple[int, int], dict[str, float]] = {}
    for match in lex.topics.find_longest(tokens):
        weights = by_span.setdefault((match.start, match.end), {})
        for topic, weight in match.value:
            weights[topic] = max(weights.get(topic, 0.0), weight)
    totals: dict[str, float] = {}
    for weights in by_span.values():
        for topic, weight in weights.items():
            totals[topic] = totals.get(topic, 0.0) + weight
    if not totals:
        return "other"
    return min(totals, key=lambda topic: (-totals[topic], lex.tie_order.index(topic)))


def _sentiment(text: str, tokens: list[str], language: str, strong_problems: int,
               lex: _Lexicons, model_tokens: list[str] | None = None) -> tuple[str, float]:
    """(label, score in -1..1): the model for English and undetermined text when it is there, else v1's rules."""
    model = sentiment_model() if language in ("en", UNDETERMINED) and _vader() is not None else None
    dense = vader_scores(text) if model is not None else None
    # VADER reads some emoji (😡, 👎) by their neutral names: when it sees nothing, v1's emoji lexicon decides
    if dense is not None and abs(dense["vader"]) < 0.05 and _lexicon_score(text, [], language, lex):
        model = None
    logits = sentiment_logits(text, model, dense, model_tokens) if model is not None else None
    if model is not None and logits is not None:
        encoder = encoder_model()
        if encoder is not None:  # the two blended (their weights in the encoder's file), decided by argmax
            weight = float(encoder.about["linear_weight"])
            encoded = dict(zip(encoder.labels, encoder.logits(text), strict=True))
            logits = [weight * value + (1 - weight) * encoded[label]
                      for label, value in zip(model.labels, logits, strict=True)]
        if strong_problems:  # "charged twice", "never arrived": the model reads many of these as neutral
            logits[model.labels.index("negative")] += PROBLEM_LOGIT_NUDGE * min(strong_problems, 2)
        label, score = decide(model, logits, offsets=encoder is None)
        return label, round(score, 4)
    score = _sentiment_score(text, tokens, language, lex)
    if strong_problems:
        score = max(-1.0, score - PROBLEM_NUDGE * min(strong_problems, 2))
    return ("positive" if score >= POSITIVE_AT else "negative" if score <= NEGATIVE_AT else "neutral"), score


def _offensive_threshold(model: Any) -> float:
    """P(offensive) at which the model's tuned offset flips its decision."""
    offset = (model.offsets or [0.0, 0.0])[1]
    return 1.0 / (1.0 + math.exp(offset))


def _sentiment_score(text: str, tokens: list[str], language: str, lex: _Lexicons) -> float:
    if language in ("en", UNDETERMINED):
        vader = _vader()
        if vader is not None:
            score = float(vader.polarity_scores(strip_handles_and_urls(text))["compound"])
            if abs(score) < 0.05:  # VADER reads some emoji (😡, 👎) by their neutral names
                return _lexicon_score(text, [], language, lex) or score
            return score
        if language == "en":
            return _lexicon_score(text, tokens, "en", lex)
    return _lexicon_score(text, tokens, language, lex)


def _lexicon_score(text: str, tokens: list[str], language: str, lex: _Lexicons) -> float:
    """VADER's method in miniature for the languages VADER does not read: sum of valences, negated, boosted."""
    valences = lex.valence.get(language, {})
    negators = lex.negators.get(language, frozenset())
    boosters = lex.boosters.get(language, frozenset())
    total = 0.0
    for i, token in enumerate(tokens):
        value = valences.get(token)
        if value is None:
            continue
        before = tokens[max(0, i - 3):i]
        if any(word in negators for word in before):
            value *= -0.74  # VADER's N_SCALAR: "not good" is less bad than "bad"
        if before and before[-1] in boosters:
            value *= 1.3
        total += value
    for char in text:
        total += lex.emoji.get(char, 0.0)
    if "!" in text and total:
        total += math.copysign(min(text.count("!"), 4) * 0.292, total)  # VADER's exclamation emphasis
    return total / math.sqrt(total * total + 15) if total else 0.0


def _distinct(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# --- lexicons, loaded once per process ------------------------------------------------------------------------


class _Lexicons:
    def __init__(self, data: Mapping[str, Any], topics: Mapping[str, Any]) -> None:
        langs = SUPPORTED

        def per_lang(section: Mapping[str, Any], weighted: bool = False) -> dict[str, PhraseMatcher]:
            out = {}
            for lang in langs:
                entries = section.get(lang, {} if weighted else [])
                out[lang] = PhraseMatcher(entries.items() if weighted else ((e, True) for e in entries))
            return out

        # Crisis terms (True) and look-alikes that hide them (False): "burned" is a crisis, "burned out" is not.
        self.crisis = {lang: PhraseMatcher([(e, True) for e in data["crisis"].get(lang, [])]
                                           + [(e, False) for e in data["crisis"]["not_crisis"].get(lang, [])])
                       for lang in langs}
        self.problems = per_lang(data["problems"], weighted=True)
        self.abusive = per_lang(data["abusive"])
        intent = data["intent"]
        self.question_starts = per_lang(intent["question_starts"])
        self.requests = per_lang(intent["requests"])
        self.thanks = per_lang(intent["thanks"])
        self.praise = per_lang(intent["praise"])
        self.suggestions = per_lang(intent["suggestions"])
        self.spam = PhraseMatcher((e, True) for e in data["spam"]["phrases"])
        self.spam_strong = frozenset(data["spam"]["strong"])
        self.auto_generated = PhraseMatcher((e, True) for e in data["auto_generated"]["phrases"])
        sentiment = data["sentiment"]
        self.emoji = {char: float(v) for char, v in sentiment["emoji"].items() if len(char) == 1}
        self.valence = {lang: {normalize(w): float(v) for w, v in entries.items()}
                        for lang, entries in sentiment["words"].items()}
        self.negators = {lang: frozenset(normalize(w) for w in entries)
                         for lang, entries in sentiment["negators"].items()}
        self.boosters = {lang: frozenset(normalize(w) for w in entries)
                         for lang, entries in sentiment["boosters"].items()}
        # One entry per distinct phrase (the same word may be listed in several languages), keeping its highest weight.
        merged: dict[str, dict[str, float]] = {}
        for topic, by_lang in topics["topics"].items():
            if topic not in TOPICS:
                raise ValueError(f"topics.json: unknown topic {topic!r}")
            for entries in by_lang.values():
                for entry, weight in entries.items():
                    weights = merged.setdefault(" ".join(entry_words(entry)), {})
                    weights[topic] = max(weights.get(topic, 0.0), float(weight))
        self.topics = PhraseMatcher((entry, tuple(weights.items())) for entry, weights in merged.items())
        self.tie_order = list(topics["tie_order"])


@lru_cache(maxsize=1)
def _lexicons() -> _Lexicons:
    with (DATA_DIR / "topics.json").open(encoding="utf-8") as handle:
        topics = json.load(handle)
    return _Lexicons(load_lexicons(), topics)


def _vader() -> Any:
    """VADER's analyser with the project's overrides; None when vaderSentiment is not installed."""
    from responder.classification import sentiment_model

    return sentiment_model.vader()


def warm_up() -> None:
    """Load every lexicon now (call at cold start to keep the first mention as fast as the rest)."""
    _lexicons()
    _vader()
    sentiment_model()
    encoder_model()
    offensive_model()
