"""Viral surges: spike detection on time-bucketed counters, and incident clustering on salient terms.

A surge is recognised in two steps, both cheap enough to run on every mention:

1. **Spike detection.** Every non-noise mention increments a one-minute counter for its brand account and
   one for its (account, topic). A spike is a recent window whose count exceeds both an absolute floor
   and `sensitivity` × the count the baseline window predicts for that long. A cooldown keeps one burst
   from opening incident after incident.
2. **Clustering.** When a spike is detected, the recent mentions of the account are read and the terms
   that appear in a large share of them (hashtags, link domains, content words — no stop words, no
   handles, no numbers) become the incident's *signature*. A mention joins an open incident when it shares
   enough of the signature's weight (hashtags and links weigh more than words); that tolerates the many
   wordings of one complaint while leaving unrelated background traffic alone.

The functions here are pure; `IncidentStore` in storage.py does the DynamoDB side.
"""

from __future__ import annotations

import math
import re
import zlib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from responder.classification.lexicon import classified_text
from responder.surge.vocabulary import CHATTER, CONCEPT, concept_of

BUCKET_SECONDS = 60
# One deployment serves one brand: its X, Facebook, Instagram, Messenger and WhatsApp accounts surge together,
# so counters, recent mentions and incidents are kept per brand, not per account.
BRAND_KEY = "brand"


@dataclass(frozen=True)
class SurgeSettings:
    """Tuning knobs; the defaults suit a brand with a few mentions a minute."""

    recent_minutes: int = 3  # the window that may be a spike
    baseline_minutes: int = 60  # the window that says what is normal (the recent window excluded)
    sensitivity: float = 4.0  # spike when recent > sensitivity × expected
    min_spike_count: int = 20  # and recent ≥ this many mentions
    cooldown_seconds: int = 60  # after an incident opens, another may open only a minute later
    min_cluster_size: int = 15  # a spike opens an incident only if this many recent mentions share a signature
    # … and they are this share of the recent window at least: a viral failure fills the window, while one subject
    # among many in busy unrelated traffic does not (a bound on false incidents, measured in bench/surge_bench.py).
    min_cluster_share: float = 0.25
    quiet_minutes: int = 30  # an incident with no new member for this long is closed
    signature_share: float = 0.12  # a term is in the signature if ≥ this share of recent mentions has it
    signature_size: int = 12  # at most this many signature terms
    join_threshold: float = 0.34  # share of a mention's salient weight that must hit the signature
    # … and at least this many signature terms (a link counts as two), one of
    # them in the core: the terms weighing at least `core_share` of the signature's heaviest one (a term outside
    # the core counts as a third)
    min_shared_terms: int = 2
    core_share: float = 0.5
    # The cluster's model (`cluster_model`): a term is in its vocabulary if this share of the cluster has it; counts
    # are smoothed by this much; a mention joins only if the cluster is at least e^min_log_odds times likelier
    # than the background to have written it.
    model_min_share: float = 0.03
    model_smoothing: float = 0.5
    model_vocabulary: int = 48
    min_log_odds: float = 0.0
    digest_sizes: tuple[int, ...] = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000)
    sample_size: int = 10


STOP_WORDS = frozenset("""
a an the and or but if then so to of in on at by for with from as is are was were be been being am it its
this that these those there here i me my mine we us our you your yours he him his she her they them their
what which who whom whose why how when where do does did done doing have has had having not no nor too very
can could would should will shall may might must just also only still again ever even yet ok okay pls please
thanks thank hi hello hey dear anyone someone something anything everything nothing all any some each every
about after before over under up down out off into onto than more most much many few lot lots really get got times
getting gets go going goes went make made one two three first new now today yesterday tomorrow time day days
week weeks hour hours minute minutes since until while because guys team support help service customer
im ive dont cant wont didnt doesnt isnt arent wasnt couldnt shouldnt wouldnt youre thats whats theres
el la los las un una y o de del en con por para que es son se no mi su lo le al como pero muy ya hay
le la les un une et ou de des du en avec pour que qui est sont ce pas mon ma mes son sa au aux
der die das ein eine und oder zu mit von fur ist sind nicht mein meine ich sie es auf im den dem
o a os as um uma e ou de do da em com por para que nao meu minha
il lo la gli le un una e o di da in con per che non mio mia
""".split())
_TOKEN = re.compile(r"#\w+|https?://\S+|[^\W\d_]{3,}", re.UNICODE)
# "sign in", "log in", "logged on": one word, or "in" and "on" (stop words) would leave "sign" (up? off?) alone.
_SIGN_IN = re.compile(r"\b(?:sign|signed|signing|log|logged|logging)[ -]?(?:in|on|into)\b")
# "place order", "submit my order", "can't complete the order": the step that ends checkout, so paying. "My order"
# alone is the parcel and stays ~order, and so is one already placed ("I placed an order last week and it never came").
_PLACE_ORDER = re.compile(r"\b(?:place|placing|submit|submitting|complete|completing|finish|finishing)\s+"
                          r"(?:an?\s+|my\s+|the\s+|your\s+)?orders?\b")
_SHUT_OUT = re.compile(r"\b(?:logs?|logged|kick(?:s|ed)?|lock(?:s|ed)?|throws?|threw)(?: me| us)? out\b")
_NEGATION = re.compile(r"\b(?:no|not|nao|non|nicht|kein|keine|pas|nunca|jamais)\b")
_HASHTAG_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("'", "").replace("’", "")


def _stem(word: str) -> str:
    """A light, language-blind suffix strip: fails/failed/failing/failure → fail."""
    for suffix in ("ingly", "ation", "ments", "ment", "ings", "ing", "ures", "ure", "ies", "ied", "ers", "ed",
                   "es", "er", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _word_term(word: str) -> str | None:
    """A folded word as a term: its concept when it has one, else its stem; None for stop words and chatter."""
    stem = _stem(word)
    concept = concept_of(word, stem)
    if concept is not None:
        return concept
    if word in STOP_WORDS or word in CHATTER or stem in CHATTER:
        return None
    return stem


def _hashtag_words(tag: str) -> list[str]:
    """The words of a hashtag: by its capitals (#CheckoutFail), or else by the concept words it is made of
    (#checkoutfail, #cantlogin); [] when it cannot be read as words."""
    parts = _HASHTAG_WORD.findall(tag)
    if len(parts) > 1:
        return [_fold(p) for p in parts]
    folded = _fold(tag)
    if len(folded) > 40:
        return []
    # Shortest split into known words (dynamic programming over the prefix ends: bounded by the tag's length).
    best: list[list[str] | None] = [[]] + [None] * len(folded)
    for end in range(1, len(folded) + 1):
        for begin in range(max(0, end - 16), end):
            piece = folded[begin:end]
            if best[begin] is not None and (piece in CONCEPT or piece in CHATTER) and \
                    (best[end] is None or len(best[begin]) + 1 < len(best[end])):
                best[end] = best[begin] + [piece]
    return best[-1] or []


# A mention's terms depend on the part of its text triage reads (at most MAX_CLASSIFIED_CHARS characters), and the
# clustering reads each recent mention's text again whenever a container refreshes its window (every
# CLUSTER_CACHE_SECONDS, and after an incident opens), besides the texts a surge repeats (retweets, one complaint
# pasted by many): the terms of the last SALIENT_MEMO texts read are kept per container (at most 2,048 × 800
# characters of keys: under 4 MB).
SALIENT_MEMO = 2048


def salient_terms(text: str, ignore: Iterable[str] = ()) -> dict[str, float]:
    """The terms that say what a mention is about, with weights: concepts (~pay, ~fail: the many words for one
    failure) and other content words 1, hashtags 1 (and the words they are made of), link domains 2; no handles,
    numbers, emoji, stop words, openers or device names. (A copy: the caller may change it.)"""
    read = classified_text(text)  # the part triage reads: bounded work per mention
    if ignore:
        return _salient_terms(read, ignore)
    return dict(_remembered_terms(read))


@lru_cache(maxsize=SALIENT_MEMO)
def _remembered_terms(read: str) -> dict[str, float]:
    return _salient_terms(read, ())


def _salient_terms(read: str, ignore: Iterable[str]) -> dict[str, float]:
    ignored = {i.lower().lstrip("@") for i in ignore}
    terms: dict[str, float] = {}
    raw = re.sub(r"@\w+", " ", read)
    for tag in re.findall(r"#(\w+)", raw):
        for word in _hashtag_words(tag):
            term = _word_term(word) if len(word) >= 3 else None
            if term is not None:
                terms.setdefault(term, 1.0)
    folded = _PLACE_ORDER.sub(" checkout ", _SIGN_IN.sub(" login ", _fold(raw)))
    if _NEGATION.search(folded) or _SHUT_OUT.search(folded):
        # "no me deja pagar", "not going through", "nicht möglich", "keeps logging me out": something did not work
        terms["~fail"] = 1.0
    for token in _TOKEN.findall(folded):
        if token.startswith("#"):
            tag = token[1:]
            if len(tag) >= 2 and tag not in ignored and not any(c.isdigit() for c in tag):  # not "#48213"
                terms["#" + tag] = 1.0
        elif token.startswith("http"):
            domain = re.sub(r"^https?://(www\.)?", "", token).split("/")[0]
            if domain and domain not in ("t.co",):
                terms["@" + domain] = 2.0
        elif token not in ignored:
            term = _word_term(token)
            if term is not None:
                terms.setdefault(term, 1.0)
    return terms


@dataclass(frozen=True)
class Spike:
    """A detected spike: which counter, how many recently, and how many were expected."""

    scope: str  # "all" or a topic
    recent: int
    expected: float


def bucket(at: datetime) -> int:
    """The one-minute bucket number of a time."""
    return int(at.timestamp()) // BUCKET_SECONDS


def detect_spike(counts: dict[int, int], now: datetime, settings: SurgeSettings, scope: str) -> Spike | None:
    """A spike in `counts` (bucket → mentions) at `now`, or None."""
    current = bucket(now)
    recent = sum(counts.get(b, 0) for b in range(current - settings.recent_minutes + 1, current + 1))
    baseline_buckets = range(current - settings.recent_minutes - settings.baseline_minutes + 1,
                             current - settings.recent_minutes + 1)
    baseline = sum(counts.get(b, 0) for b in baseline_buckets)
    expected = baseline / settings.baseline_minutes * settings.recent_minutes
    if recent >= settings.min_spike_count and recent > settings.sensitivity * max(expected, 1.0):
        return Spike(scope=scope, recent=recent, expected=expected)
    return None


def signature(recent_texts: Sequence[dict[str, float]], settings: SurgeSettings,
              background: Sequence[dict[str, float]] = ()) -> dict[str, float]:
    """The incident's signature: terms present in a large share of the recent mentions, weighted by share; with
    the `background` (the other recent mentions), by how much more often they have it than the background, so
    that a word every complaint uses ("order") does not become what the incident is about."""
    if not recent_texts:
        return {}
    df: Counter[str] = Counter()
    weight: dict[str, float] = {}
    for terms in recent_texts:
        for term, w in terms.items():
            df[term] += 1
            weight[term] = w
    bg = Counter(t for terms in background for t in terms if t in df)
    n = len(recent_texts)
    share = {t: c / n - (bg[t] / len(background) if background else 0.0) for t, c in df.items()
             if c / n >= settings.signature_share}
    shared = [(t, v) for t, v in share.items() if v > 0]
    shared.sort(key=lambda item: (-item[1] * weight[item[0]], item[0]))
    return {t: round(v * weight[t], 4) for t, v in shared[: settings.signature_size]}


def cluster_signature(term_sets: Sequence[dict[str, float]], settings: SurgeSettings) -> dict[str, float]:
    """A signature in two passes: from the whole window, then from the mentions that fit it, so that
    background words that happened to be frequent in the window drop out."""
    first = signature(term_sets, settings)
    # Slightly looser than joining, so that wordings at the edge of the cluster shape the second pass too.
    cluster = [t for t in term_sets if match_score(t, first, settings) >= 0.75 * settings.join_threshold]
    if len(cluster) < 3:
        return first
    refined = SurgeSettings(**{**settings.__dict__, "signature_share": max(settings.signature_share, 0.15)})
    second = signature(cluster, refined)
    return second or first


def seeded_signature(seed: dict[str, float], term_sets: Sequence[dict[str, float]],
                     settings: SurgeSettings, newer: Sequence[bool] = (),
                     index: "TermIndex | None" = None) -> dict[str, float]:
    """The signature of the cluster around one mention: the recent mentions that share its anchor (of its specific
    terms, the one that is surging: common in the window, and much more so in its newer half, `newer`) and enough
    of its other terms. Two simultaneous surges give two signatures, each from its own mentions ({} when the
    mention has too few neighbours to speak of a cluster).

    `index` (a TermIndex of `term_sets`, kept with the window it was built from) saves building one: the work then
    grows with the mentions that share the seed's terms, not with the whole window."""
    if not any(t not in GENERIC_TERMS for t in seed):
        return {}
    index = index if index is not None else TermIndex(term_sets)
    own = {t: 1.0 for t in seed}
    near_seed = [s >= settings.join_threshold for s in scores(term_sets, own, settings, index=index)]
    # A word every complaint uses ("order") is common but steady; what failed is common and new. The anchor is
    # taken from the mention's neighbourhood, not only from its own words: a mention that does not name what
    # failed still finds it.
    # Candidates: the mention's own specific terms, and the concepts (what failed) around it; a plain word of the
    # neighbourhood ("screen") may belong to two failures at once. Only theirs are counted.
    around: Counter[str] = Counter()
    for terms, near in zip(term_sets, near_seed):
        if near:
            around.update(t for t in terms if t not in GENERIC_TERMS and (t in seed or t.startswith("~")))
    if not around:
        return {}

    def burst(t: str) -> float:
        if not newer:
            return 1.0
        holders = index.postings[t]
        recent = sum(1 for i in holders if i < len(newer) and newer[i])
        return min(10.0, (recent + 1) / (len(holders) - recent + 1))

    anchor = max(around, key=lambda t: (around[t] * burst(t), t))
    own[anchor] = 1.0
    near = [False] * len(term_sets)
    score = Scorer(own, settings)
    for i in index.postings[anchor]:
        near[i] = score(term_sets[i]) >= settings.join_threshold
    neighbours = [t for t, n in zip(term_sets, near) if n]
    if len(neighbours) < settings.min_cluster_size:
        return {}  # too few yet to say what they share: a signature from a handful would be their quirks
    return signature(neighbours, settings, background=[t for t, n in zip(term_sets, near) if not n])


class TermIndex:
    """Which entries of a list of term sets hold each term (positions, ascending): built once per clustering window,
    it lets a pass over the window score only the mentions that can score at all (see `scores`)."""

    def __init__(self, term_sets: Sequence[dict[str, float]]) -> None:
        self.size = len(term_sets)
        self.postings: dict[str, list[int]] = {}
        for i, terms in enumerate(term_sets):
            for t in terms:
                self.postings.setdefault(t, []).append(i)

    def holding(self, terms: Iterable[str]) -> list[int]:
        """The positions of the entries that hold any of `terms`, ascending."""
        found: set[int] = set()
        for t in terms:
            found.update(self.postings.get(t, ()))
        return sorted(found)


def scores(term_sets: Sequence[dict[str, float]], sig: dict[str, float], settings: SurgeSettings,
           model: dict[str, Any] | None = None, index: TermIndex | None = None) -> list[float]:
    """`match_score` of each entry against one signature, in order. With the entries' `index` only those that hold a
    core term of the signature that names what failed (not GENERIC_TERMS) are scored: every other one scores 0
    whatever it holds, so the list is the same."""
    score = Scorer(sig, settings, model)
    if index is None:
        return [score(t) for t in term_sets]
    found = [0.0] * len(term_sets)
    for i in index.holding(score.core_named):
        found[i] = score(term_sets[i])
    return found


class Scorer:
    """`match_score` against one signature (and model), for many mentions: what depends on the signature alone (its
    heaviest term, its core, the model's weights as numbers) is worked out once, not once per mention. Each score is
    the one match_score gives, to the last bit: the same sums, in the same order."""

    def __init__(self, sig: dict[str, float], settings: SurgeSettings, model: dict[str, Any] | None = None) -> None:
        self.sig, self.settings = sig, settings
        top = max((w for t, w in sig.items() if t not in GENERIC_TERMS), default=0.0)
        self.core = {t for t, w in sig.items() if w >= settings.core_share * top}
        self.core_named = {t for t in self.core if t not in GENERIC_TERMS}
        self.model = None
        if model:
            weights, absent = model.get("weights") or {}, model.get("absent") or {}
            self.model = ({t: float(w) for t, w in weights.items()}, [(t, float(w)) for t, w in absent.items()],
                          float(model.get("unknown") or 0.0), float(model.get("bias") or 0.0))

    def __call__(self, terms: dict[str, float]) -> float:
        sig, settings = self.sig, self.settings
        if not terms or not sig:
            return 0.0
        shared = [t for t in terms if t in sig]
        if not any(t in self.core_named for t in shared):
            return 0.0
        if self.model is not None and self._log_odds(terms) < settings.min_log_odds:
            return 0.0
        return _share(terms, shared, self.core, settings)

    def _log_odds(self, terms: dict[str, float]) -> float:
        weights, absent, unknown, score = self.model  # type: ignore[misc]
        for t in terms:
            score += weights[t] if t in weights else unknown
        return score + sum(w for t, w in absent if t not in terms)


def surge_onset(times: Sequence[float], start: float, end: float, settings: SurgeSettings) -> float | None:
    """When a cluster's mentions (received at `times`, seconds, within [start, end]) began to come much faster: the
    change point of a two-rate Poisson process, the first mention of the faster part (None when they came at one
    pace). A complaint that was already coming at its usual rate before that moment ("you charged my card twice")
    is not the surge, however much it reads like it. Sorting bounds the work (at most a window's mentions)."""
    ts = sorted(t for t in times if start <= t <= end)
    n = len(ts)
    if n < settings.min_cluster_size or end <= start:
        return None
    # The maximum likelihood of one rate and of two (the events' log rates; the integral of the rate is n either way).
    one = n * math.log(n / (end - start))
    best, best_gain = None, 0.0
    for k in range(1, n):
        before, after = ts[k] - start, end - ts[k]
        if before < ONSET_MIN_BEFORE_SECONDS or after <= 0:
            continue
        slow, fast = k / before, (n - k) / after
        # The faster part must be a spike by the detector's own measure, and hold enough mentions to be a cluster.
        if fast < settings.sensitivity * slow or n - k < settings.min_cluster_size:
            continue
        gain = k * math.log(slow) + (n - k) * math.log(fast) - one
        if gain > best_gain:
            best, best_gain = ts[k], gain
    # A likelihood ratio that a pace which merely wavers does not give (e^ONSET_MIN_GAIN).
    return best if best_gain >= ONSET_MIN_GAIN else None


# A usual pace is one kept for a while: a change of pace within this long of the window's first mention is a surge
# ramping up, not one arriving on top of its look-alikes. (Through responder local a surge's first wave is delivered
# within seconds, read at gsi2's resolution of one second: its first two seconds, 5 mentions, looked like a slower
# pace and were left out of the incident.)
ONSET_MIN_BEFORE_SECONDS = 30.0
# The log-likelihood gain a change of pace needs to be believed: mentions at one steady pace (20 to 400 in 3 minutes,
# 4,000 seeded windows) never reach it (5 did 19 times), while the scenarios' surges, arriving on top of their
# look-alikes (bench/surge_bench.py --clustering), gain 12 to 120.
ONSET_MIN_GAIN = 10.0


def cluster_key(sig: dict[str, float]) -> str:
    """What a cluster is about, in one word for its detector's cooldown and its incident id: its leading term
    that names a thing (not ~fail, which every failure shares), without the concept marker."""
    ranked = sorted(sig, key=lambda t: (-sig[t], not t.startswith("~"), t))
    lead = next((t for t in ranked if t != "~fail"), ranked[0] if ranked else "")
    return re.sub(r"[^a-z0-9]+", "", _fold(lead))[:24]


# Every failure shares these (something failed; in the app or on the site): they never make a mention part of one.
GENERIC_TERMS = frozenset({"~fail", "~app"})


def cluster_model(cluster: Sequence[dict[str, float]], background: Sequence[dict[str, float]],
                  settings: SurgeSettings) -> dict[str, Any]:
    """What tells the cluster's mentions from the rest of the window, learned from the window itself (a naive Bayes
    model over terms): for each term the cluster uses, the log of how much likelier a cluster mention has it than
    a background one; for a term the cluster does not use, a penalty per term (real traffic about the same broad
    subject, "I was charged for a subscription I never signed up for", brings words of its own: the surge's
    mentions, worded many ways, still draw on a small vocabulary); for a term nearly every cluster mention has, the
    evidence of its absence. {} when there is too little to learn from."""
    # Identical wordings (retweets, one text pasted by many, a template) are one piece of evidence, not many: a
    # term speaks for the cluster when many different wordings use it.
    if len(cluster) < settings.min_cluster_size or len(background) < settings.min_cluster_size:
        return {}
    cluster = list({tuple(sorted(t)): t for t in cluster}.values())
    background = list({tuple(sorted(t)): t for t in background}.values())
    n_c, n_b = len(cluster), len(background)
    df_c = Counter(t for terms in cluster for t in terms)
    df_b = Counter(t for terms in background for t in terms)
    # The cluster's commonest terms, at most `model_vocabulary` of them: the model is stored on the incident, and an
    # incident item read by every member stays within one 4 KB read unit.
    common = sorted((t for t, c in df_c.items() if c >= max(2, settings.model_min_share * n_c)),
                    key=lambda t: (-df_c[t], t))
    vocab = set(common[: settings.model_vocabulary])
    smooth = settings.model_smoothing

    def p(df: int, n: int) -> float:
        return (df + smooth) / (n + 2 * smooth)

    weights = {t: round(math.log(p(df_c[t], n_c) / p(df_b[t], n_b)), 4) for t in vocab}
    absent = {t: round(math.log((1 - p(df_c[t], n_c)) / (1 - p(df_b[t], n_b))), 4) for t in vocab
              if df_c[t] >= 0.5 * n_c}
    # Terms outside the vocabulary, per mention: a Poisson count in each class, so each one adds log(λc/λb) and
    # the class's expected count goes into the bias.
    rate_c = (sum(sum(1 for t in terms if t not in vocab) for terms in cluster) + smooth) / n_c
    rate_b = (sum(sum(1 for t in terms if t not in vocab) for terms in background) + smooth) / n_b
    return {"weights": weights, "absent": absent, "unknown": round(math.log(rate_c / rate_b), 4),
            "bias": round(rate_b - rate_c, 4)}


def log_odds(terms: dict[str, float], model: dict[str, Any]) -> float:
    """How much likelier the cluster is than the background to have written this mention (natural log)."""
    weights, absent = model.get("weights") or {}, model.get("absent") or {}
    score = float(model.get("bias") or 0.0)
    for t in terms:
        score += float(weights[t]) if t in weights else float(model.get("unknown") or 0.0)
    return score + sum(float(w) for t, w in absent.items() if t not in terms)


def match_score(terms: dict[str, float], sig: dict[str, float], settings: SurgeSettings,
                model: dict[str, Any] | None = None) -> float:
    """How well a mention fits an incident signature, 0..1; 0 when it shares too few signature terms, or none of
    the signature's core (the terms nearly as common as its most common one, other than ~fail: what failed), or
    when the incident's `model` says the background is likelier to have written it."""
    if not terms or not sig:
        return 0.0
    if model and log_odds(terms, model) < settings.min_log_odds:
        return 0.0
    shared = [t for t in terms if t in sig]
    top = max((w for t, w in sig.items() if t not in GENERIC_TERMS), default=0.0)
    core = [t for t in shared if sig[t] >= settings.core_share * top]
    if not any(t not in GENERIC_TERMS for t in core):
        return 0.0
    return _share(terms, shared, core, settings)


def _share(terms: dict[str, float], shared: list[str], core: Any, settings: SurgeSettings) -> float:
    """The share of a mention's salient weight that is about the signature (`shared`: its terms in the signature;
    `core`: holds the signature's core terms among them), or 0 when they are too few to count."""
    # A term of the core, or "it failed", counts in full, a rarer one of the signature a third (a link is worth
    # two words). "It failed" is in every complaint, so its weight drops when two failures share the window.
    strength = sum((2 if t[0] == "@" else 1) * (1 if t in core or t in GENERIC_TERMS else 1 / 3) for t in shared)
    # (Three thirds are one: 1/3 + 1/3 + 1/3 is a hair under 1 in floating point.)
    if strength < settings.min_shared_terms - 1e-9:
        return 0.0
    hit = sum(terms[t] for t in shared)
    total = sum(terms.values())
    # The share of the mention's salient weight that is about the incident; the denominator is capped so a
    # long mention, or one with a hashtag of its own, is not pushed out by the words it adds.
    return hit / min(total, 5.0)


def best_incident(terms: dict[str, float], incidents: Sequence[dict[str, Any]],
                  settings: SurgeSettings) -> tuple[dict[str, Any] | None, float]:
    """The open incident this mention belongs to, if its score reaches the join threshold."""
    best, best_score = None, 0.0
    for incident in incidents:
        score = match_score(terms, incident.get("signature") or {}, settings, incident.get("model"))
        if score > best_score:
            best, best_score = incident, score
    return (best, best_score) if best_score >= settings.join_threshold else (None, best_score)


def next_digest(size: int, settings: SurgeSettings) -> int:
    """The incident size at which the next digest alert goes out."""
    for threshold in settings.digest_sizes:
        if threshold > size:
            return threshold
    return size * 2


def incident_id_for(account_id: str, scope: str, opened: datetime) -> str:
    """Readable and unique per account, scope and minute: `inc-20261123T0735-payment-1234`."""
    suffix = zlib.crc32(f"{account_id}|{scope}".encode()) % 10_000
    return f"inc-{opened.astimezone(timezone.utc).strftime('%Y%m%dT%H%M')}-{re.sub(r'[^a-z0-9]+', '', scope)}-{suffix:04d}"


def window_start(now: datetime, settings: SurgeSettings) -> datetime:
    return now - timedelta(minutes=settings.recent_minutes)
