"""The clustering's recent window, refreshed every CLUSTER_CACHE_SECONDS: a mention's terms are computed once."""

from __future__ import annotations

from datetime import datetime, timezone

from responder.surge import correlate
from responder.surge.incidents import SurgeSettings

AT = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)


class Window:
    """A store whose recent mentions are whatever the test says."""

    def __init__(self) -> None:
        self.recent: list[dict] = []

    def recent_mentions(self, account, since, limit=500):
        return list(self.recent)


def mention(i: int, text: str | None = None) -> dict:
    return {"channel": "x", "mention_id": str(1800000000000000000 + i),
            "text": f"checkout fails again {i}" if text is None else text}


def test_a_refreshed_window_computes_terms_only_for_mentions_it_has_not_seen(monkeypatch):
    # Given a window of 100 mentions read once, and a clock the cache ages on
    now = [0.0]
    monkeypatch.setattr(correlate, "clock", lambda: now[0])
    computed = []
    real = correlate.salient_terms
    monkeypatch.setattr(correlate, "salient_terms", lambda text: computed.append(text) or real(text))
    correlate.forget_clusters()
    store = Window()
    store.recent = [mention(i) for i in range(100)]
    first = correlate._recent_window("brand", AT, store, SurgeSettings())
    assert len(computed) == 100
    # When the cache has aged and the window now holds 3 new mentions, one erased (no text any more) and 96 it held
    now[0] += correlate.CLUSTER_CACHE_SECONDS + 0.1
    store.recent = [mention(i) for i in range(100, 103)] + [mention(0, text="")] + store.recent[1:97]
    refreshed = correlate._recent_window("brand", AT, store, SurgeSettings())
    # Then only the new and the changed mentions' terms are computed, and each mention has its own terms
    assert len(computed) == 100 + 4
    assert refreshed.terms[4:] == first.terms[1:97]
    assert refreshed.terms[:3] == [real(m["text"]) for m in store.recent[:3]] and refreshed.terms[3] == real("")
    correlate.forget_clusters()


def test_the_onset_is_read_from_when_each_recent_mention_came():
    # Given a window read through gsi2 (no `received_at`: the time begins its sort key) where ten everyday payment
    # complaints came one every 6 s and the surge, 80 mentions, 2.5 a second after them
    base = AT.timestamp() - 92
    def at(seconds: float) -> str:
        return datetime.fromtimestamp(base + seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    everyday = [{"channel": "x", "mention_id": str(i), "gsi2sk": f"{at(6.0 * i)}#x#{i}"} for i in range(10)]
    surge = [{"channel": "x", "mention_id": str(100 + i), "gsi2sk": f"{at(60.0 + 0.4 * i)}#x#{100 + i}"}
             for i in range(80)]
    recent = list(reversed(everyday + surge))  # newest first, as gsi2 gives them
    window = correlate._Window(recent, [{} for _ in recent])
    # When the onset of the mentions that fit the cluster is looked for
    onset = correlate._onset(window, [True] * len(recent), AT, SurgeSettings())
    # Then it is when the surge's first mention came: the everyday ones came before it
    assert onset == base + 60.0
    assert all(correlate._seconds(m) < onset for m in everyday)
    # And without a change of pace there is none (every mention may be the cluster's)
    assert correlate._onset(window, [m in everyday for m in recent], AT, SurgeSettings()) == float("-inf")

