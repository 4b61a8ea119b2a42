"""Scale on paper: the deployed path against AWS's published quotas, for a sustained surge of one brand.

Run: `.venv/bin/python -m bench.scale_model` (or `--rates 100 1000 10000 --seconds 600`; `--unsharded` for the
layout before write sharding; `--write-units 8` for a leaner table design).

For each rate it prints, per component, the capacity (the quota or the stack's own setting, each cited below), the
load the surge puts on it (the rate times this project's operations per mention), the utilisation, when in the
surge it saturates (a token bucket empties, Lambda's scaling reaches a limit, a partition is over its write units),
and what is left waiting or refused after the surge. It is a model: quotas are defaults (most can be raised),
durations of deployed functions are assumptions (given as options), and operations per mention come from a real
local run (MEASURED, with its command). It does not simulate retries' second waves.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

# --- AWS quotas (defaults of an account in us-east-1; each adjustable unless said) ------------------------------
QUOTAS = {
    # API Gateway developer guide, "Amazon API Gateway quotas": HTTP API throttle per account and Region,
    # 10,000 requests/s with a burst of 5,000.
    "apigw_account_rps": 10_000, "apigw_account_burst": 5_000,
    # Lambda developer guide, "Lambda quotas": 1,000 concurrent executions per Region; "Lambda scaling behavior":
    # each function adds up to 1,000 concurrent executions every 10 seconds.
    "lambda_concurrency": 1_000, "lambda_scale_per_10s": 1_000,
    # SQS developer guide, "Amazon SQS quotas": standard queues support a nearly unlimited number of API calls.
    "sqs_rps": math.inf,
    # Step Functions developer guide, "Step Functions service quotas", API action throttling for Express
    # workflows: StartExecution / StartSyncExecution, bucket 6,000, refill 6,000 per second (us-east-1).
    "express_start_bucket": 6_000, "express_start_refill": 6_000,
    # DynamoDB developer guide, "Partitions": 1,000 write units and 3,000 read units per second per partition, also
    # per partition of a global secondary index (whose throttling throttles the base table's writes);
    # "On-demand capacity mode": a new table takes 4,000 write units/s at once and twice its previous peak, growing
    # over about 30 minutes; "Service quotas": 40,000 write units/s per table.
    "ddb_partition_wcu": 1_000, "ddb_new_table_wcu": 4_000, "ddb_table_max_wcu": 40_000,
    # SNS, "Amazon SNS endpoints and quotas": Publish, 30,000 messages/s in us-east-1 (9,000 or 1,500 elsewhere).
    "sns_publish_rps": 30_000,
    # EventBridge Scheduler user guide, "Quotas": CreateSchedule 5,000 requests/s and 1,000 target invocations/s
    # in us-east-1 and the other primary Regions.
    "scheduler_create_rps": 5_000, "scheduler_invoke_rps": 1_000,
    # X API v2 rate limits (developer.x.com, "Rate limits"; plan-dependent): POST /2/tweets 100 requests per
    # 15 minutes per user, 10,000 per 24 hours per app.
    "x_replies_per_user_s": 100 / 900, "x_replies_per_app_s": 10_000 / 86_400,
    # Meta: Messenger Send API ~300 calls/s per Page; private replies to comments 750 per hour per Page (Graph API
    # "Rate limiting" and the Private Replies docs); WhatsApp Cloud API 80 messages/s per business number.
    "meta_send_per_page_s": 300, "meta_private_replies_s": 750 / 3600, "whatsapp_per_number_s": 80,
}

# --- this project's operations per mention ---------------------------------------------------------------------
# Measured: `responder demo --outbox '' --report-dir ''` (defaults, seed 7) on this tree (210 mentions, 230 deliveries
# with 20 repeats; the meter of cli/responder_cli/local/metering.py, which reads DynamoDB Local's per-index units):
# per mention.
MEASURED = {
    "webhook_requests": 230 / 210,  # deliveries per stored mention (platform retries included)
    # one Express execution per dispatcher batch: 0.110 and 0.119 per mention in two runs (0.1 with full batches)
    "express_executions": 0.12, "dynamodb_write_units": 7.70, "dynamodb_read_units": 7.2,
    "sns_publishes": 0.676, "sqs_requests": 1.54, "lambda_invocations": 4.47,
    "replies": 41 / 210, "x_reply_share": 29 / 41,
    "paged": 0.66,  # mentions paged to a person, each in an SLA timer's minute bucket (or with a timer of its own)
    # SLA timers per mention: one schedule per minute bucket of a rule (responder/sla/timers.py), 0.019 and 0.033 in two
    # demo runs of 35 s (a few buckets); at a sustained rate a bucket holds a minute's mentions of its rule, fewer still.
    "sla_timers": 0.033,
}
# Hot keys, counted from the code (responder/aws/storage.py, incident_store.py) in write units per mention on the
# one item or partition every mention of the brand (or of one viral thread) touches. A transactional write of an item
# up to 1 KB costs 2 units; an index entry rewritten costs its size (1 KB units).
HOT_KEYS = {
    # gsi2 `ACCOUNT#<brand>`: written at creation only (it projects nothing triage sets); an entry up to 1 KB.
    "gsi2 ACCOUNT#<brand>": {"wcu": 1.0, "scope": "brand", "shards": "ACCOUNT_SHARDS", "writer": "webhook"},
    # `COUNTER#<brand>` / `MINUTE#<m>`: one plain increment (a small item) per dispatcher batch and minute, a batch
    # of TRIAGE_BATCH_SIZE (10) mentions in a surge, on a shard the batch picks at random.
    "minute counter COUNTER#<brand>": {"wcu": 0.1, "scope": "brand", "shards": "COUNTER_SHARDS", "writer": "triage"},
    # `INCIDENT#<brand>` / <id>: each member's join (a plain update: under 1 KB with its model kept apart, but each
    # alert sent adds ~80 bytes, and a surge big enough to reach this key has sent several) and the samples' update.
    "incident item (one surge)": {"wcu": 2.0, "scope": "incident", "shards": None, "writer": "triage"},
    # `INCIDENT#<id>` / `MEMBER#...`: one small member item per joining mention (a conditional put), all in the
    # incident's one partition.
    "incident members INCIDENT#<id>": {"wcu": 1.0, "scope": "incident", "shards": None, "writer": "triage"},
    # `THREAD#<channel>#<post>`: the thread's counter at store (a small item; triage no longer writes it).
    "thread item (viral post)": {"wcu": 1.0, "scope": "thread", "shards": None, "writer": "webhook"},
    # gsi1 `THREAD#...` projects only what is written with the mention: one ~1 KB entry at creation, no update
    # rewrites it (the demo's meter: gsi1 1.00 write unit per mention).
    "gsi1 THREAD#<viral post>": {"wcu": 1.0, "scope": "thread", "shards": None, "writer": "webhook"},
}


@dataclass
class Row:
    component: str
    capacity: float  # per second
    load: float  # per second
    saturates_at: float | None  # seconds into the surge, None if never
    left: float  # work refused or waiting after the surge (requests, mentions or units)
    note: str = ""

    @property
    def utilisation(self) -> float:
        return self.load / self.capacity if self.capacity else math.inf


def _bucket(load: float, refill: float, bucket: float, seconds: float) -> tuple[float | None, float]:
    """A token bucket under a constant load: when it empties, and what it refuses by `seconds`."""
    if load <= refill:
        return None, 0.0
    empty = bucket / (load - refill)
    return (empty, (load - refill) * (seconds - empty)) if empty < seconds else (None, 0.0)


def deployed_settings(account_limit: int | None = None, triage_max: int | None = None) -> dict[str, float]:
    """The stack's own limits: route throttles, the dispatchers' maximum concurrency and executions each (from the
    synthesized template when it is there, else from infra/constants.py)."""
    from infra import constants as c
    from infra.triage_sizing import size_triage

    sizing = size_triage(account_limit or c.DEFAULT_ACCOUNT_CONCURRENCY_LIMIT,
                         triage_max or c.DEFAULT_TRIAGE_MAX_CONCURRENCY)
    settings = {"route_rps": c.DEFAULT_THROTTLE_RATE, "route_burst": c.DEFAULT_THROTTLE_BURST,
                "dispatchers": sizing.max_concurrency, "parallel": sizing.parallel_executions,
                "webhook_share": c.WEBHOOK_CONCURRENCY_SHARE, "senders": c.SENDER_MAX_CONCURRENCY, "source": "constants",
                "account_limit": account_limit or c.DEFAULT_ACCOUNT_CONCURRENCY_LIMIT}
    if account_limit or triage_max:
        settings["source"] = "constants, with the sizing asked for"
        return settings
    try:
        from responder_cli.local.template import TEMPLATE_FILE, load_template

        if not TEMPLATE_FILE.exists():
            return settings
        resources = load_template(synth=False)["Resources"].values()
    except Exception as exc:  # noqa: BLE001 - the constants are the same defaults; say which was used
        settings["source"] = f"constants ({type(exc).__name__} reading the template)"
        return settings
    for resource in resources:
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGatewayV2::Stage" and props.get("DefaultRouteSettings"):
            settings["route_rps"] = props["DefaultRouteSettings"]["ThrottlingRateLimit"]
            settings["route_burst"] = props["DefaultRouteSettings"]["ThrottlingBurstLimit"]
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and props.get("BatchSize", 1) > 1:
            settings["dispatchers"] = props.get("ScalingConfig", {}).get("MaximumConcurrency", settings["dispatchers"])
    settings["source"] = "template"
    return settings


def shard_counts(unsharded: bool = False) -> dict[str, int]:
    """How many items or partitions each write-sharded hot key is spread over, as the code writes them."""
    from responder.aws.incident_store import COUNTER_SHARDS
    from responder.aws.storage import ACCOUNT_SHARDS

    return {"ACCOUNT_SHARDS": 1 if unsharded else ACCOUNT_SHARDS, "COUNTER_SHARDS": 1 if unsharded else COUNTER_SHARDS}


def hot_key_ceilings(unsharded: bool = False) -> dict[str, float]:
    """Per hot key, the mentions per second of its scope (the brand, one incident, one thread) it holds before its
    busiest partition or item passes the 1,000 write units/s one partition takes."""
    shards = shard_counts(unsharded)
    return {name: QUOTAS["ddb_partition_wcu"] * (shards[key["shards"]] if key["shards"] else 1) / key["wcu"]
            for name, key in HOT_KEYS.items()}


def model(rate: float, seconds: float, args: argparse.Namespace, deployed: dict[str, float]) -> list[Row]:
    q, m = QUOTAS, MEASURED
    rows: list[Row] = []
    requests = rate * m["webhook_requests"]
    # API Gateway: the stack's route throttle, then the account's.
    at, refused = _bucket(requests, deployed["route_rps"], deployed["route_burst"], seconds)
    rows.append(Row("API Gateway route throttle (stack)", deployed["route_rps"], requests, at, refused,
                    "429 to the platform, which retries later"))
    at, refused = _bucket(requests, q["apigw_account_rps"], q["apigw_account_burst"], seconds)
    rows.append(Row("API Gateway account throttle", q["apigw_account_rps"], requests, at, refused))
    accepted = min(requests, deployed["route_rps"], q["apigw_account_rps"]) / m["webhook_requests"]
    # Webhook concurrency: its share of the account (the rest is sized for triage), reached at 1,000 per 10 s.
    webhook_limit = deployed["account_limit"] * deployed["webhook_share"]
    needed = accepted * m["webhook_requests"] * args.webhook_ms / 1000
    at = 10 * math.ceil(webhook_limit / q["lambda_scale_per_10s"]) if needed > webhook_limit else None
    rows.append(Row("webhook Lambda concurrency", webhook_limit, needed, at,
                    max(0.0, needed - webhook_limit) / (args.webhook_ms / 1000) * (seconds - (at or seconds)),
                    f"{args.webhook_ms:.0f} ms per delivery; concurrency, not per second"))
    rows.append(Row("SQS triage queue (standard)", q["sqs_rps"], accepted * m["sqs_requests"], None, 0.0,
                    "nearly unlimited"))
    # Triage: the dispatchers' maximum concurrency times the mentions each execution runs at once (its batch), over
    # the execution's duration.
    triage = deployed["dispatchers"] * deployed["parallel"] / args.execution_s
    backlog = max(0.0, accepted - triage) * seconds
    rows.append(Row("triage (dispatchers x executions)", triage, accepted, 0.0 if accepted > triage else None,
                    backlog, f"{deployed['dispatchers']:.0f} x {deployed['parallel']:.0f} at {args.execution_s} s"
                    " each: the queue backlog"))
    triaged = min(accepted, triage)
    at, refused = _bucket(triaged * m["express_executions"], q["express_start_refill"], q["express_start_bucket"],
                          seconds)
    rows.append(Row("Express StartSyncExecution", q["express_start_refill"], triaged * m["express_executions"], at,
                    refused))
    # DynamoDB, the table: on demand, 4,000 units/s at once for a new table (twice the previous peak otherwise).
    table_cap = min(max(q["ddb_new_table_wcu"], 2 * args.previous_peak_wcu), q["ddb_table_max_wcu"])
    # About half of a mention's writes come as it arrives, half as it is triaged (at triage's pace).
    wcu = (accepted + triaged) / 2 * args.write_units
    rows.append(Row("DynamoDB table writes (on demand)", table_cap, wcu, 0.0 if wcu > table_cap else None,
                    max(0.0, wcu - table_cap) * seconds, f"{args.write_units:g} write units per mention"))
    # DynamoDB hot keys: one item or one index partition that every such mention writes.
    shards = shard_counts(args.unsharded)
    for name, key in HOT_KEYS.items():
        share = {"brand": 1.0, "incident": args.incident_share, "thread": args.thread_share}[key["scope"]]
        n = shards[key["shards"]] if key["shards"] else 1
        # Written as mentions arrive (the webhook) or as they are triaged (the counter, the incident).
        flow = triaged if key["writer"] == "triage" else accepted
        load = flow * share * key["wcu"] / n
        cap = q["ddb_partition_wcu"]
        rows.append(Row(f"hot key: {name}" + (f" ({n} shards)" if n > 1 else ""), cap, load,
                        0.0 if load > cap else None, max(0.0, load - cap) * seconds,
                        "write units/s on its busiest partition or item"))
    rows.append(Row("SNS Publish", q["sns_publish_rps"], triaged * m["sns_publishes"], None if
                    triaged * m["sns_publishes"] <= q["sns_publish_rps"] else 0.0,
                    max(0.0, triaged * m["sns_publishes"] - q["sns_publish_rps"]) * seconds))
    # At most one CreateSchedule per paged mention (each Draft container sets a bucket once; the rest are refused
    # as existing or skipped): an upper bound. Invocations: one per bucket (and per mention that keeps its own timer).
    creates = triaged * m["paged"]
    fired = triaged * m["sla_timers"]
    rows.append(Row("Scheduler CreateSchedule (SLA timers)", q["scheduler_create_rps"], creates,
                    0.0 if creates > q["scheduler_create_rps"] else None,
                    max(0.0, creates - q["scheduler_create_rps"]) * seconds, "at most: one per bucket and container"))
    rows.append(Row("Scheduler invocations (timers due later)", q["scheduler_invoke_rps"], fired,
                    None, max(0.0, fired - q["scheduler_invoke_rps"]) * seconds,
                    "one per minute bucket; fire at the SLA due time, later than the surge"))
    x_replies = triaged * m["replies"] * m["x_reply_share"]
    cap = min(q["x_replies_per_user_s"], q["x_replies_per_app_s"])
    rows.append(Row("X replies (one brand account)", cap, x_replies, 0.0 if x_replies > cap else None,
                    max(0.0, x_replies - cap) * seconds, "approved replies wait in the outbound queue"))
    return rows


def first_saturation(rows: list[Row]) -> Row | None:
    """The component that saturates first (the earliest time; at equal times the most overloaded)."""
    saturated = [r for r in rows if r.saturates_at is not None and not r.component.startswith("X replies")]
    return min(saturated, key=lambda r: (r.saturates_at, -r.utilisation)) if saturated else None


def print_table(rate: float, seconds: float, rows: list[Row]) -> None:
    print(f"\n{rate:,.0f} mentions/s for {seconds:.0f} s")
    print(f"{'component':<52}{'capacity/s':>12}{'load/s':>12}{'util':>10}{'saturates':>11}{'left after':>14}  note")
    for r in rows:
        cap = "unlimited" if math.isinf(r.capacity) else f"{r.capacity:,.1f}"
        util = "-" if math.isinf(r.capacity) else f"{r.utilisation:,.2f}"
        sat = "-" if r.saturates_at is None else f"{r.saturates_at:.0f} s"
        print(f"{r.component:<52}{cap:>12}{r.load:>12,.1f}{util:>10}{sat:>11}{r.left:>14,.0f}  {r.note}")
    first = first_saturation(rows)
    print("first to saturate (platform reply limits aside): "
          + (f"{first.component} at {first.saturates_at:.0f} s (utilisation {first.utilisation:.2f})"
             if first else "nothing"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--webhook-ms", type=float, default=50, help="deployed webhook duration per delivery")
    parser.add_argument("--execution-s", type=float, default=1.0, help="deployed Express execution duration")
    parser.add_argument("--write-units", type=float, default=MEASURED["dynamodb_write_units"],
                        help="DynamoDB write units per mention (measured on this tree by default)")
    parser.add_argument("--previous-peak-wcu", type=float, default=0, help="the table's previous peak")
    parser.add_argument("--thread-share", type=float, default=0.25, help="share of the surge replying to one post")
    parser.add_argument("--incident-share", type=float, default=0.8, help="share of the surge joining one incident")
    parser.add_argument("--unsharded", action="store_true", help="the layout before write sharding")
    parser.add_argument("--account-concurrency", type=int, help="Lambda concurrency quota (default 1,000)")
    parser.add_argument("--triage-max-concurrency", type=int, help="the triageMaxConcurrency context (default 10)")
    parser.add_argument("--route-rps", type=float, help="the apiThrottleRateLimit context (default 1,000)")
    parser.add_argument("--route-burst", type=float, help="the apiThrottleBurstLimit context (default 2,000)")
    args = parser.parse_args(argv)
    deployed = deployed_settings(args.account_concurrency, args.triage_max_concurrency)
    deployed["route_rps"] = args.route_rps or deployed["route_rps"]
    deployed["route_burst"] = args.route_burst or deployed["route_burst"]
    print(f"Deployed settings ({deployed['source']}): route throttle {deployed['route_rps']:,.0f}/s burst "
          f"{deployed['route_burst']:,.0f}; triage {deployed['dispatchers']:.0f} dispatchers x "
          f"{deployed['parallel']:.0f} executions; webhook share of concurrency {deployed['webhook_share']:.0%}")
    print("Per mention (measured, see MEASURED): " + ", ".join(f"{k} {v:.3g}" for k, v in MEASURED.items()))
    shards = shard_counts(args.unsharded)
    print("Hot keys' ceilings (mentions/s before the busiest partition or item passes 1,000 write units/s):")
    for name, ceiling in hot_key_ceilings(args.unsharded).items():
        n = shards[HOT_KEYS[name]["shards"]] if HOT_KEYS[name]["shards"] else 1
        print(f"  {name + (f' ({n} shards)' if n > 1 else ''):<50}{ceiling:>8,.0f} of one {HOT_KEYS[name]['scope']}")
    for rate in args.rates:
        print_table(rate, args.seconds, model(rate, args.seconds, args, deployed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
