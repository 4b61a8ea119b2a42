"""Correlate a classified mention with the account's surges: count it, detect a spike, open or join an
incident, and say whether the mention is still paged individually and whether an incident alert is due.
Deployed, the count itself is the dispatcher's (Classify returns `count_of`, see responder.triage.dispatch)."""

from __future__ import annotations

import json

import threading
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

from responder.surge.incidents import (
    BRAND_KEY,
    SurgeSettings,
    best_incident,
    bucket,
    cluster_model,
    detect_spike,
    incident_id_for,
    match_score,
    next_digest,
    salient_terms,
    cluster_key,
    scores,
    seeded_signature,
    signature,
    surge_onset,
    TermIndex,
    window_start,
)
from responder.surge.vocabulary import SAID_AS

_HOLDING = {
    "en": "We're aware that some of you are having trouble{about}. Our team is on it and we'll share an update "
          "as soon as we can.{status} Thank you for your patience. {sign_off}",
    "es": "Sabemos que algunos de vosotros tenéis problemas{about}. Nuestro equipo ya está trabajando en ello y "
          "os informaremos en cuanto podamos.{status} Gracias por vuestra paciencia. {sign_off}",
    "fr": "Nous savons que certains d'entre vous rencontrent des difficultés{about}. Notre équipe s'en occupe et "
          "nous vous tiendrons informés dès que possible.{status} Merci de votre patience. {sign_off}",
    "de": "Wir wissen, dass einige von euch gerade Probleme haben{about}. Unser Team arbeitet daran, und wir "
          "melden uns, sobald wir mehr wissen.{status} Danke für eure Geduld. {sign_off}",
    "pt": "Sabemos que alguns de vocês estão com problemas{about}. A nossa equipa já está a tratar disso e "
          "daremos novidades assim que possível.{status} Obrigado pela paciência. {sign_off}",
    "it": "Sappiamo che alcuni di voi hanno problemi{about}. Il nostro team ci sta lavorando e vi daremo "
          "aggiornamenti appena possibile.{status} Grazie per la pazienza. {sign_off}",
}
_STATUS = {"en": " Updates: {url}", "es": " Novedades: {url}", "fr": " Mises à jour : {url}",
           "de": " Updates: {url}", "pt": " Novidades: {url}", "it": " Aggiornamenti: {url}"}


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def holding_statement(language: str, voice: Any, top_terms: list[str]) -> dict[str, str]:
    """A public holding statement: acknowledges, promises only an update, links the status page if configured."""
    language = language if language in _HOLDING else "en"
    about = ""
    words = [SAID_AS.get(t, t.lstrip("#")) for t in top_terms if not t.startswith("@") and t != "~fail"
             and (t in SAID_AS or not t.startswith("~"))][:2]
    if words and language == "en":
        about = " with " + " and ".join(words)
    url = voice.capability("status_page_url", language) if voice is not None else None
    status = _STATUS[language].format(url=url) if url else ""
    sign_off = getattr(voice, "sign_off", "") or ""
    return {"text": _HOLDING[language].format(about=about, status=status, sign_off=sign_off).strip(),
            "language": language}


def page_individually(mention: Mapping[str, Any], classification: Mapping[str, Any], rules: Any) -> bool:
    """Members of an incident are not paged one by one, except crises, VIPs and high-reach authors."""
    author = mention.get("author") or {}
    return bool(classification.get("priority") == "p1" or classification.get("crisis")
                or (rules is not None and (rules.is_vip(author) or rules.high_reach(author))))


def alert_document(kind: str, incident: Mapping[str, Any], state: Mapping[str, Any], voice: Any,
                   samples: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The incident alert (opened or digest) published to the incidents topic."""
    top_terms = list((incident.get("signature") or {}).keys())
    sentiment = {k.removeprefix("sentiment_"): int(v) for k, v in state.items() if k.startswith("sentiment_")}
    return {
        "alert": kind,
        "incident": {
            "incident_id": incident["incident_id"], "account_id": incident["account_id"],
            "scope": incident.get("scope"), "size": int(state.get("size", 1)),
            "opened_at": incident.get("opened_at"), "last_seen_at": state.get("last_seen_at"),
            "top_terms": top_terms, "sentiment_mix": sentiment,
            "samples": [{"mention_id": m.get("mention_id"), "channel": m.get("channel"),
                         "text": (m.get("text") or "")[:280]} for m in samples[:5]],
        },
        "holding_statement": holding_statement(incident.get("language") or "en", voice, top_terms),
        "actions": {"post_holding_statement": "publish it on each affected channel once reviewed",
                    "members": f"GET /local/incidents (local) or query INCIDENT#{incident['incident_id']}"},
    }


def count_mention(mention: Mapping[str, Any], classification: Mapping[str, Any], store: Any,
                  now: datetime | None = None) -> None:
    """Count the mention in the brand's minute counters now: at most once, by its first triage attempt
    (IncidentStore.count), so the caller counts before anything that can fail and be retried."""
    now = now or datetime.now(timezone.utc)
    store.count(BRAND_KEY, str(classification.get("topic") or "other"), _parse(mention.get("received_at"), now),
                mention=mention)


def count_of(mention: Mapping[str, Any], classification: Mapping[str, Any],
             now: datetime | None = None) -> dict[str, Any]:
    """What counting the mention adds, for a caller that counts it later with others
    (responder.triage.dispatch.tally): its account, minute bucket and topic."""
    now = now or datetime.now(timezone.utc)
    return {"account": BRAND_KEY, "bucket": bucket(_parse(mention.get("received_at"), now)),
            "topic": str(classification.get("topic") or "other")}


def correlate(mention: Mapping[str, Any], classification: Mapping[str, Any], store: Any, rules: Any, voice: Any,
              now: datetime | None = None, settings: SurgeSettings | None = None,
              counted: bool = False, deferred: bool = False) -> dict[str, Any]:
    """Count the mention (unless the caller already has: `counted`, or will once triage succeeds: `deferred`), join
    or open an incident, and decide on paging and alerts."""
    settings = settings or SurgeSettings()
    now = now or datetime.now(timezone.utc)
    received = _parse(mention.get("received_at"), now)
    account = BRAND_KEY
    topic = str(classification.get("topic") or "other")
    terms = salient_terms(mention.get("text") or "")
    if not counted and not deferred:
        count_mention(mention, classification, store, now)
    open_now = store.open_incidents(account, now=received, quiet_minutes=settings.quiet_minutes)
    incident, _ = best_incident(terms, open_now, settings)
    opened = None
    if incident is None:
        opened, incident = _maybe_open(mention, classification, terms, account, topic, received, now, store,
                                       settings, open_now, pending=deferred)
    result: dict[str, Any] = {"incident_id": None, "member": False, "alert": None,
                              "page": True}
    if incident is None:
        return result
    state = store.join(incident, mention, str(classification.get("sentiment") or "neutral"), now, settings)
    # Not joined: a retry (already a member), or an incident gathered it first while it waited in the queue; it
    # stays that incident's member only.
    owner = incident["incident_id"] if state is not None else store.incident_of(mention) or incident["incident_id"]
    result.update(incident_id=owner, member=True, page=page_individually(mention, classification, rules))
    if opened is not None:
        state = store.get(account, incident["incident_id"]) or state or {}
        result["alert"] = alert_document("opened", incident, state, voice, opened.get("_recent") or [])
    elif incident.get("opened_by") == _mention_ref(mention):
        # A retry of the step that opened this incident (its first attempt failed after opening it, before the
        # workflow recorded the `opened` alert): send the alert now, or the incident would never be announced.
        current = store.get(account, incident["incident_id"]) or {}
        if not any(_alert_kind(a) == "opened" for a in current.get("alerts") or []):
            result["alert"] = alert_document("opened", incident, current, voice, [mention])
    elif state is not None:
        size, mark = int(state.get("size", 0)), int(state.get("next_digest", 0) or 0)
        if mark and size >= mark and store.claim_digest(incident, size, mark, next_digest(size, settings)):
            incident = _refresh_signature(incident, received, store, settings)
            result["alert"] = alert_document("digest", incident, state, voice, [mention])
    if result["alert"] is not None:
        result["alert_record"] = {"alert": result["alert"]["alert"], "size": result["alert"]["incident"]["size"],
                                  "at": _iso(now)}
        result["alert_key"] = {"pk": f"INCIDENT#{account}", "sk": incident["incident_id"]}
    return result


def received_at_of(mention: Mapping[str, Any]) -> str:
    """When a recent mention was received (ISO, to the second): gsi2 does not project `received_at`, its sort key
    begins with it. Without it every mention of the window would look old, and what is surging could not be told
    from what is merely common."""
    return str(mention.get("received_at") or str(mention.get("gsi2sk") or "").split("#", 1)[0])


def _mention_ref(mention: Mapping[str, Any]) -> str:
    return f"{mention.get('channel')}:{mention.get('mention_id')}"


def _alert_kind(record: Any) -> str | None:
    """The kind of an alert the workflow recorded on the incident (stored as JSON text)."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return None
    return record.get("alert") if isinstance(record, dict) else None


def _refresh_signature(incident: dict[str, Any], received: datetime, store: Any,
                       settings: SurgeSettings) -> dict[str, Any]:
    """At each digest, re-derive the signature from the incident's recent members: it drifts to the words the
    crowd actually uses, which keeps recall up as the surge goes on."""
    window = _recent_window(BRAND_KEY, received, store, settings)  # the cached window: no read of its own
    sig = incident.get("signature") or {}
    fits = [s >= settings.join_threshold for s in scores(window.terms, sig, settings, incident.get("model"),
                                                         window.index)]
    cluster = [t for t, f in zip(window.terms, fits) if f]
    if len(cluster) < settings.min_cluster_size:
        return incident
    background = [t for t, f in zip(window.terms, fits) if not f]
    refreshed = signature(cluster, settings, background=background)
    if refreshed:
        model = cluster_model(cluster, background, settings) or incident.get("model") or {}
        store.set_signature(incident, refreshed, model)
        incident = {**incident, "signature": refreshed, "model": model}
    return incident


# While a spike lasts, every mention that joins no incident asks whether the spike is one issue. The answer
# needs the account's recent mentions (up to 500 read through gsi2) and their clustering: it is kept for a
# moment per container, so a surge costs one such read per container and interval, not one per mention.
# (At worst an incident opens CLUSTER_CACHE_SECONDS later than it could have.)
CLUSTER_CACHE_SECONDS = 2.0
# The clock the cache ages on; a replay of a recorded stream (bench/surge_bench.py) sets its own, so its results do not
# depend on how fast the machine it runs on is.
clock: Callable[[], float] = time.monotonic


# What a window keeps of the passes over it that do not depend on the mention (which of its mentions the open
# incidents explain): at most this many answers (one per set of open incidents seen while it was current).
WINDOW_ANSWERS = 8


class _Window:
    """The account's recent mentions and what every pass over them reads: their salient terms, when each came, and
    which of them hold each term. Built once per refresh and never changed after, so the mentions of a batch read
    it side by side; the answers it keeps are deterministic, so two threads computing one at once agree."""

    def __init__(self, recent: list[dict[str, Any]], terms: list[dict[str, float]]) -> None:
        self.recent = recent  # the account's mentions in the window
        self.terms = terms  # their salient terms, in the same order
        self.received = [received_at_of(m) for m in recent]
        self.seconds = [_parse(r, _EPOCH).timestamp() for r in self.received]
        self.index = TermIndex(terms)
        self._answers: dict[Any, tuple[list[int], list[dict[str, float]], TermIndex]] = {}
        self._lock = threading.Lock()

    def unexplained(self, open_now: list[dict[str, Any]], settings: SurgeSettings,
                    ) -> tuple[list[int], list[dict[str, float]], TermIndex]:
        """The positions of the mentions no open incident explains (`best_incident`), their terms and their index:
        worked out once per window and set of open incidents (their signatures and models), not once per mention."""
        key = (settings, _incidents_key(open_now))
        with self._lock:
            found = self._answers.get(key)
        if found is not None:
            return found
        if not open_now:
            found = (list(range(len(self.terms))), self.terms, self.index)
        else:
            if settings.join_threshold > 0:
                # Explained: some incident's score reaches the threshold (best_incident's answer is not None), and
                # only the mentions that hold a core term of an incident's signature score against it at all.
                explained = [False] * len(self.terms)
                for incident in open_now:
                    for i, score in enumerate(scores(self.terms, incident.get("signature") or {}, settings,
                                                     incident.get("model"), self.index)):
                        explained[i] = explained[i] or score >= settings.join_threshold
            else:
                explained = [best_incident(t, open_now, settings)[0] is not None for t in self.terms]
            positions = [i for i, e in enumerate(explained) if not e]
            terms = [self.terms[i] for i in positions]
            found = (positions, terms, TermIndex(terms))
        with self._lock:
            if len(self._answers) >= WINDOW_ANSWERS:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = found
        return found


def _incidents_key(incidents: list[dict[str, Any]]) -> tuple[Any, ...]:
    """What a pass over the window reads of the open incidents, as a hashable value: their signatures and models."""
    return tuple((str(i.get("incident_id")), _frozen(i.get("signature") or {}), _frozen(i.get("model")))
                 for i in incidents)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


_windows: "weakref.WeakKeyDictionary[Any, dict[str, tuple[float, _Window]]]" = weakref.WeakKeyDictionary()
_windows_lock = threading.Lock()


def _recent_window(account: str, received: datetime, store: Any, settings: SurgeSettings) -> _Window:
    """The account's recent mentions and their terms (cached for CLUSTER_CACHE_SECONDS per store and account)."""
    now = clock()
    with _windows_lock:
        hit = _windows.setdefault(store, {}).get(account)
    if hit is not None and now - hit[0] < CLUSTER_CACHE_SECONDS:
        return hit[1]
    recent = store.recent_mentions(account, window_start(received, settings))
    # A mention's terms depend on its text only: those of the previous window are kept for the mentions still in it
    # (a refresh computes only what is new; `salient_terms` takes about 92 us a mention, 46 ms for a 500-mention
    # window).
    known = {_window_key(m): t for m, t in zip(hit[1].recent, hit[1].terms)} if hit is not None else {}
    terms = []
    for m in recent:
        seen = known.get(_window_key(m))
        terms.append(seen if seen is not None else salient_terms(m.get("text") or ""))
    window = _Window(recent, terms)
    with _windows_lock:
        _windows.setdefault(store, {})[account] = (now, window)
    return window


def _seconds(mention: Mapping[str, Any]) -> float:
    """When a recent mention was received, in seconds since the epoch."""
    return _parse(received_at_of(mention), _EPOCH).timestamp()


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _onset(window: _Window, fits: list[bool], received: datetime, settings: SurgeSettings) -> float:
    """When the mentions that fit a cluster began to come fast (`surge_onset`), from the first mention the window
    holds (gsi2 gives at most its newest 500) to `received`; -inf when they came at one pace."""
    times = window.seconds
    if not times:
        return float("-inf")
    start = max(min(times), window_start(received, settings).timestamp())
    onset = surge_onset([t for t, f in zip(times, fits) if f], start, max(received.timestamp(), max(times)),
                        settings)
    return float("-inf") if onset is None else onset


def _widened(sig: dict[str, float], terms: dict[str, float], term_sets: list[dict[str, float]],
             settings: SurgeSettings, index: TermIndex | None = None) -> dict[str, float]:
    """The signature of everything that fits a seeded one, as each digest refreshes it: a seed worded one particular
    way ("kicking me back to the sign-in page") makes its plain words core ("page"), and another failure worded
    with them ("the payment page is dead") would fit; among all that fits, what they share is what failed. The
    seeded one stays when the mention that opens the incident would not fit the wider one. (`index`: the TermIndex
    of `term_sets`.)"""
    fits = [s >= settings.join_threshold for s in scores(term_sets, sig, settings, index=index)]
    cluster = [t for t, f in zip(term_sets, fits) if f]
    if len(cluster) < settings.min_cluster_size:
        return sig
    wider = signature(cluster, settings, background=[t for t, f in zip(term_sets, fits) if not f])
    return wider if match_score(terms, wider, settings) >= settings.join_threshold else sig


def _window_key(mention: Mapping[str, Any]) -> tuple[str, str, str]:
    """A recent mention's identity and text: its terms are reused only for the same text (an edit makes new ones)."""
    return str(mention.get("channel")), str(mention.get("mention_id")), str(mention.get("text") or "")


def forget_clusters() -> None:
    """Drop the cached recent windows (an incident opened, or tests)."""
    with _windows_lock:
        _windows.clear()


def _maybe_open(mention: Mapping[str, Any], classification: Mapping[str, Any], terms: dict[str, float],
                account: str, topic: str, received: datetime, now: datetime, store: Any,
                settings: SurgeSettings, open_now: list[dict[str, Any]], pending: bool = False,
                ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the incident this mention opened, the incident it belongs to): (None, None) when no incident is due.
    `pending`: the mention is not in the counters yet (counted once its triage succeeds), so it is added here."""
    counts = store.counts(account, received, settings)
    if pending:
        for scope in ("all", topic):
            per_bucket = counts.setdefault(scope, {})
            per_bucket[bucket(received)] = per_bucket.get(bucket(received), 0) + 1
    spike = detect_spike(counts.get("all", {}), received, settings, "all") or detect_spike(
        counts.get(topic, {}), received, settings, topic)
    if spike is None:
        return None, None
    window = _recent_window(account, received, store, settings)
    # The cluster this mention belongs to, not the window's largest, among the recent mentions that no open
    # incident explains: two failures at once are two incidents, and one failure is one. (Which those are is
    # the same for every mention while the window and the open incidents stay: the window keeps it.)
    positions, unexplained, index = window.unexplained(open_now, settings)
    middle = _iso(received - (received - window_start(received, settings)) / 2)
    sig = seeded_signature(terms, unexplained, settings, newer=[window.received[i] >= middle for i in positions],
                           index=index)
    if match_score(terms, sig, settings) < settings.join_threshold:
        return None, None  # the spike is about something else; a mention that fits it will open the incident
    sig = _widened(sig, terms, unexplained, settings, index)
    # What tells this cluster from the rest of the window (everything that does not fit it, other incidents' too).
    # The cluster is what fits it since it began to come fast: what fit it at its usual pace before is background.
    fits = [s >= settings.join_threshold for s in scores(window.terms, sig, settings, index=window.index)]
    onset = _onset(window, fits, received, settings)
    fits = [f and at >= onset for at, f in zip(window.seconds, fits)]
    model = cluster_model([t for t, f in zip(window.terms, fits) if f],
                          [t for t, f in zip(window.terms, fits) if not f], settings)
    if match_score(terms, sig, settings, model) < settings.join_threshold:
        return None, None  # the background is likelier to have written this one
    key = cluster_key(sig)
    if any(cluster_key(i.get("signature") or {}) == key for i in open_now):
        return None, None  # what is left of an open incident's failure, worded apart from it: not a new one
    this = (mention.get("channel"), mention.get("mention_id"))
    matching = [window.recent[i] for i, s in zip(positions, scores(unexplained, sig, settings, model, index))
                if s >= settings.join_threshold and (window.recent[i].get("channel"),
                                                     window.recent[i].get("mention_id")) != this
                and window.seconds[i] >= onset]
    if len(matching) + 1 < max(settings.min_cluster_size, settings.min_cluster_share * len(window.recent)):
        return None, None  # more mentions than usual, but not about one thing: no incident
    # Another container may have opened it a moment ago (this one's list of open incidents is cached): join it.
    open_now = store.open_incidents(account, fresh=True, now=received, quiet_minutes=settings.quiet_minutes)
    existing, _ = best_incident(terms, open_now, settings)
    if existing is not None:
        return None, existing
    scope = f"{spike.scope}-{key}" if key else spike.scope
    incident = {
        "incident_id": incident_id_for(account, scope, received), "account_id": account,
        "scope": spike.scope, "incident_status": "open", "signature": sig, "model": model, "opened_at": _iso(now),
        "first_seen_at": _iso(received), "last_seen_at": _iso(received), "size": 0,
        # The first digest comes after the incident has grown past what it starts with (its backfilled members).
        "next_digest": next_digest(len(matching) + 1, settings), "sample_mention_ids": [], "alerts": [],
        "opened_by": _mention_ref(mention),
        "language": classification.get("language") or "en", "spike": {"recent": spike.recent,
                                                                       "expected": round(spike.expected, 2)},
    }
    # One detector per cluster: a burst opens one incident, and an unrelated surge at the same time its own.
    if not store.try_open(account, scope, incident, now, settings):
        # Another mention of the cluster won the race (or the cluster's detector is cooling down).
        return None, best_incident(terms, store.open_incidents(account, fresh=True, now=received,
                                                               quiet_minutes=settings.quiet_minutes), settings)[0]
    forget_clusters()
    # The mentions that made the spike are members too (they were handled before the incident existed): from
    # the window as it is now, not as cached, or those of the last moments would be left out.
    window = _recent_window(account, received, store, settings)
    matching = [m for m, t in zip(window.recent, window.terms) if match_score(t, sig, settings, model) >=
                settings.join_threshold and (m.get("channel"), m.get("mention_id")) != this
                and not m.get("incident_id") and best_incident(t, open_now, settings)[0] is None
                and _seconds(m) >= onset]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda m: store.join(incident, m, store.sentiment(m), now, settings), matching))
    incident["_recent"] = [mention, *matching]
    return incident, incident
