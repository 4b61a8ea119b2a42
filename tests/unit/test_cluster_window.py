"""The clustering's recent window, refreshed every CLUSTER_CACHE_SECONDS: a mention's terms are computed once."""

from __future__ import annotations

from datetime import datetime, timezone

from responder.surge import correlate
from responder.surge.incidents import SurgeSettings, match_score

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



def test_an_incident_opened_from_one_wording_is_about_everything_that_fits_it():
    # Given logins failing, worded many ways, and a payments failure of which a few mentions say "page"
    kinds = [{"~login": 1.0, "~fail": 1.0, "code": 1.0, "text": 1.0},
             {"~login": 1.0, "~fail": 1.0, "open": 1.0, "~app": 1.0},
             {"~login": 1.0, "~fail": 1.0, "screen": 1.0, "accept": 1.0},
             {"~login": 1.0, "~fail": 1.0, "kick": 1.0, "back": 1.0, "page": 1.0}]
    logins = [dict(k) for k in kinds for _ in range(15)]
    payment_page = [{"~pay": 1.0, "~fail": 1.0, "page": 1.0, "finish": 1.0, "~order": 1.0}] * 8
    everyday = [{"~order": 1.0, "~delivery": 1.0, "arriv": 1.0}, {"~refund": 1.0, "month": 1.0}] * 20
    # And the signature seeded by a mention worded one particular way ("kicking me back to the sign-in page
    # #LoginIssues"): its plain words are core, so the payments mentions that say "page" fit it
    opener = {"~login": 1.0, "issu": 1.0, "kick": 1.0, "back": 1.0, "page": 1.0, "#loginissues": 1.0}
    seeded = {"~login": 0.8185, "kick": 0.6471, "back": 0.6269, "page": 0.6229, "#loginissues": 0.3529,
              "issu": 0.3529, "~fail": 0.0624}
    settings = SurgeSettings()
    assert match_score(payment_page[0], seeded, settings) >= settings.join_threshold
    # When the incident's signature is taken from everything that fits the seeded one
    wider = correlate._widened(seeded, opener, logins + payment_page + everyday, settings)
    # Then it is about signing in: the payments mentions no longer fit, every login one and the opener still do
    assert match_score(payment_page[0], wider, settings) < settings.join_threshold
    assert all(match_score(t, wider, settings) >= settings.join_threshold for t in logins + [opener])


def test_three_rarer_signature_terms_count_as_one_core_term():
    # Given a signature whose core is ~login and whose rarer terms are kick, back and page
    sig = {"~login": 0.9, "~fail": 0.4, "kick": 0.16, "back": 0.14, "page": 0.14}
    # When a mention has the core term and the three rarer ones (a third each), and no failure word
    terms = {"~login": 1.0, "kick": 1.0, "back": 1.0, "page": 1.0, "issu": 1.0}
    # Then it shares two terms' worth and joins (1/3 + 1/3 + 1/3 is a hair under 1 in floating point)
    assert match_score(terms, sig, SurgeSettings()) >= SurgeSettings().join_threshold
