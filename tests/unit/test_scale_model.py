"""bench/scale_model.py: the ceilings it prints follow the stack's settings and the table's key layout."""

from __future__ import annotations

from bench import scale_model
from infra import constants as c


def _args(unsharded=False):
    return scale_model.argparse.Namespace(seconds=600, webhook_ms=50, execution_s=1.0, write_units=8,
                                          previous_peak_wcu=10_000, thread_share=0.25, incident_share=0.8,
                                          unsharded=unsharded)


def _rows(rate, unsharded=False):
    """The model's rows with triage and the table scaled out (the quota increases a large brand asks for)."""
    deployed = scale_model.deployed_settings(20_000, 1_000)
    return {r.component.split(" (")[0]: r for r in scale_model.model(rate, 600, _args(unsharded), deployed)}


def test_brand_wide_hot_keys_held_at_1000_per_second_only_once_write_sharded():
    # Given a surge of 1,000 mentions/s with triage and the table scaled out (quota increases granted)
    # When the brand's gsi2 partition and minute counter are single keys, as before write sharding
    single = _rows(1000, unsharded=True)
    # Then the gsi2 partition (one write unit per mention, of the 913 mentions/s the route throttle lets in) is at
    # nine tenths of a partition's 1,000 write units/s: no headroom for a larger surge; the counter, written once per
    # dispatcher batch of ten, at a tenth of that
    assert single["hot key: gsi2 ACCOUNT#<brand>"].utilisation > 0.9
    assert 0.05 < single["hot key: minute counter COUNTER#<brand>"].utilisation < 0.1
    # When they are write-sharded as the code writes them now, Then both stay well under the limit
    sharded = _rows(1000)
    for key in ("hot key: gsi2 ACCOUNT#<brand>", "hot key: minute counter COUNTER#<brand>"):
        assert sharded[key].utilisation < 0.5 and sharded[key].saturates_at is None


def test_as_deployed_triage_is_the_first_ceiling_and_its_backlog_is_the_difference():
    # Given the stack as synthesized by default (10 dispatchers x 10 executions of ~1 s)
    args = _args()
    settings = scale_model.deployed_settings(c.DEFAULT_ACCOUNT_CONCURRENCY_LIMIT, c.DEFAULT_TRIAGE_MAX_CONCURRENCY)
    rows = scale_model.model(1000, 600, args, settings)
    # When 1,000 mentions/s arrive for ten minutes
    first = scale_model.first_saturation(rows)
    triage = next(r for r in rows if r.component.startswith("triage"))
    # Then triage (100/s) saturates at once, and the queue holds what the route throttle let in beyond it
    assert first is triage and triage.capacity == 100
    accepted = c.DEFAULT_THROTTLE_RATE / scale_model.MEASURED["webhook_requests"]
    assert abs(triage.left - (accepted - 100) * 600) < 1


def test_a_token_bucket_empties_after_its_burst():
    # Given the stack's route throttle (1,000/s, burst 2,000) under 1,200 requests/s
    empty, refused = scale_model._bucket(1200, 1000, 2000, 600)
    # Then it empties after 10 s and refuses the excess for the rest of the surge
    assert empty == 10 and refused == 200 * 590
    assert scale_model._bucket(900, 1000, 2000, 600) == (None, 0.0)


def test_the_brands_gsi2_listing_holds_4000_mentions_per_second_in_four_shards():
    # Given the key layout as the code writes it: one write unit per mention on the brand's gsi2 listing
    # When the model gives each hot key's ceiling
    ceilings = scale_model.hot_key_ceilings()
    # Then the listing holds 4,000 mentions/s of one brand, four times issue #17's 1,000/s (one partition: 1,000)
    assert ceilings["gsi2 ACCOUNT#<brand>"] == 4000
    assert scale_model.hot_key_ceilings(unsharded=True)["gsi2 ACCOUNT#<brand>"] == 1000
    # And with the routes raised for a larger brand, 3,500 mentions/s stay under it and 5,000 saturate it at once
    deployed = {**scale_model.deployed_settings(20_000, 1_000), "route_rps": 10_000, "route_burst": 5_000}
    for rate, saturates in ((3500, False), (5000, True)):
        rows = {r.component.split(" (")[0]: r for r in scale_model.model(rate, 600, _args(), deployed)}
        assert (rows["hot key: gsi2 ACCOUNT#<brand>"].saturates_at == 0.0) is saturates
