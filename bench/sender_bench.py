"""Sender benchmark: approve-to-platform latency locally, and the cost of a million replies at list prices.

Run: `.venv/bin/python -m bench.sender_bench --replies 300`.

What runs is the deployed code on local stand-ins of its services: the mention items in DynamoDB Local (tables from
the synthesized template), the outbound queue in moto's SQS, X API v2 and the Graph API in
`responder_cli.local.standins` (reached through tweepy's and requests' real request paths), and
`responder.replies.sender.Sender` fed by a poller that long-polls the queue as Lambda's event source does (batches
of up to 10). Each reply is approved as the review page approves it (the conditional claim, then SendMessage);
latency is from that SendMessage to the stand-in's record of the reply. Channels rotate over X posts, X DMs,
Facebook comments, Instagram comments, Messenger and WhatsApp.

Printed: latency p50/p99 (ms), DynamoDB capacity units per reply as DynamoDB Local reports them, the sender's
handling time per message, and the cost per million replies by channel at list prices (us-east-1, arm64): the
AWS part is small beside X's own price per post. Lambda's polling delay and the platforms' real round trips
(hundreds of ms) are not in the local latency; the cost uses an assumed platform round trip, printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

# List prices (us-east-1), as cited in the project's cost models (responder.aws.managed_cost, README):
LAMBDA_PER_REQUEST = 0.20 / 1e6  # AWS Lambda pricing: $0.20 per 1M requests
LAMBDA_PER_GB_SECOND_ARM = 0.0000133334  # AWS Lambda pricing, arm64
SQS_PER_REQUEST = 0.40 / 1e6  # Amazon SQS pricing: standard queue, $0.40 per 1M requests after the free tier
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1e6  # DynamoDB on-demand: $0.625 per 1M write request units
DYNAMODB_PER_READ_UNIT = 0.125 / 1e6  # DynamoDB on-demand: $0.125 per 1M read request units
X_PER_POST = 0.015  # X API pay-per-use: $0.015 per post created
X_PER_POST_SUMMONED = 0.010  # X API pay-per-use: $0.010 per post created in reply to a post that summoned the account
X_PER_DM = 0.015  # X API pay-per-use: $0.015 per DM event created
SENDER_MEMORY_GB = 0.25  # the sender's memory (infra decides; 256 MB is ample for one HTTPS call)
ASSUMED_PLATFORM_SECONDS = 0.4  # one reply call to X or the Graph API from AWS, as billed Lambda time
# Per reply on SQS: the review page's SendMessage, Lambda's ReceiveMessage (one per batch, counted per message:
# a batch of one at low volume) and its DeleteMessage.
SQS_REQUESTS_PER_REPLY = 3

CHANNELS = [("x", "mention"), ("x", "dm"), ("facebook", "comment"), ("instagram", "comment"),
            ("messenger", "message"), ("whatsapp", "message")]
BRAND_X, PAGE, IG_USER, PHONE = "1000000000000000001", "104000000000001", "178400000000001", "106540352242922"


class CountingClient:
    """A DynamoDB client that counts the sender's calls (DynamoDB Local reports no consumed capacity)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}
        self.transact_items = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in ("get_item", "update_item", "transact_write_items", "put_item"):
            return method

        def counted(**kw: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                self.transact_items += len(kw.get("TransactItems", []))
            return method(**kw)

        return counted


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it ("Item sizes and formats": names plus values; numbers about one byte per
    two digits; maps and lists 3 bytes plus one per element)."""

    def value_bytes(v: dict[str, Any]) -> int:
        (kind, inner), = v.items()
        if kind in ("S", "B"):
            return len(inner.encode() if isinstance(inner, str) else inner)
        if kind == "N":
            return len(inner.lstrip("-").replace(".", "")) // 2 + 2
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_bytes(x) + 1 for k, x in inner.items())
        if kind == "L":
            return 3 + sum(value_bytes(x) + 1 for x in inner)
        return sum(len(str(x)) for x in inner)

    return sum(len(k.encode()) + value_bytes(v) for k, v in item.items())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause between two approvals")
    parser.add_argument("--pollers", type=int, default=4, help="concurrent sender loops (Lambda's concurrency)")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")

    import boto3
    from moto import mock_aws

    from responder.aws.storage import DynamoMentionStore
    from responder.core.config import PlatformCredentials, PlatformEndpoints
    from responder.core.model import Author, Mention
    from responder.replies.ledger import ReplyLedger
    from responder.replies.sender import Sender, SqsOutboundQueue, client_for_channel
    from responder_cli.local.dynamodb_local import DynamoDBLocal
    from responder_cli.local.standins import PlatformStandins
    from responder_cli.local.template import load_template, tables

    creds = PlatformCredentials("bench-consumer-secret", None, None, x_consumer_key="bench-key",
                                x_access_token="bench-token", x_access_token_secret="bench-token-secret",
                                x_user_id=BRAND_X, meta_page_token="bench-page", meta_instagram_token="bench-ig",
                                whatsapp_token="bench-wa")

    class Creds:
        def get(self) -> PlatformCredentials:
            return creds

    with DynamoDBLocal() as ddb, PlatformStandins(x_user_id=BRAND_X, page_id=PAGE, ig_user_id=IG_USER) as standins, \
            mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"]}}}):
        (spec,) = tables(load_template())
        table = f"bench{uuid.uuid4().hex[:8]}"
        ddb.client().create_table(**{**spec.create_args, "TableName": table})
        counting = CountingClient(ddb.client())
        store = DynamoMentionStore(table, client=ddb.client())
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="outbound", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
        endpoints = PlatformEndpoints(x_api_base=standins.base_url, graph_api_base=standins.base_url)
        sender = Sender(ReplyLedger(table, client=counting), client_for_channel(Creds(), endpoints),
                        SqsOutboundQueue(queue_url, client=sqs))

        handling: list[float] = []
        stop = threading.Event()

        def poll() -> None:  # Lambda's SQS event source, reduced to its loop
            while not stop.is_set():
                batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                            AttributeNames=["All"], MessageAttributeNames=["All"])
                records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "attributes": m.get("Attributes", {})} for m in batch.get("Messages", [])]
                if not records:
                    continue
                started = time.perf_counter()
                failed = set(sender.process(records))
                handling.append((time.perf_counter() - started) / len(records))
                for r in records:
                    if r["messageId"] not in failed:
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=r["receiptHandle"])

        # Lambda polls with several concurrent functions; a handful keeps the queue from building up here.
        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(args.pollers)]
        for poller in pollers:
            poller.start()
        # The stored, triaged mentions an agent will approve (written before timing starts).
        targets = []
        for n in range(args.replies):
            channel, kind = CHANNELS[n % len(CHANNELS)]
            account = {"x": BRAND_X, "facebook": PAGE, "messenger": PAGE, "instagram": IG_USER}.get(channel, PHONE)
            mid = {"x": str(1_850_000_000_000_000_000 + n), "facebook": f"{PAGE}_7_{n}",
                   "instagram": str(17_858_000_000_000_000 + n), "messenger": f"m_bench{n}",
                   "whatsapp": f"wamid.bench{n}"}[channel]
            store.save(Mention(platform="x" if channel == "x" else "meta", channel=channel, kind=kind,
                               mention_id=mid, thread_id=mid, author=Author(id=str(5_000_000 + n)),
                               text="my order is late", created_at=datetime.now(timezone.utc).strftime(
                                   "%Y-%m-%dT%H:%M:%SZ"), account_id=account))
            targets.append((channel, mid))
        counting.calls.clear()
        counting.transact_items = 0
        enqueued: dict[str, float] = {}
        for n, (channel, mid) in enumerate(targets):
            nonce = uuid.uuid4().hex
            # The review page's claim (one conditional write) and its SendMessage.
            store.client.update_item(
                TableName=table, Key={"pk": {"S": f"MENTION#{channel}#{mid}"}, "sk": {"S": "MENTION"}},
                UpdateExpression=("SET reply_state = :q, reply_nonce = :n, reply_text = :t, "
                                  "reply_requested_by = :a, draft_text = :t, #s = :notified, intent = :i, "
                                  "sentiment = :neg, topic = :topic, priority = :p, team = :team, sla_due = :due, "
                                  "#lang = :en"),
                ExpressionAttributeNames={"#s": "status", "#lang": "language"},
                ExpressionAttributeValues={
                    # What triage leaves on a mention, so the item is billed at its real size.
                    ":notified": {"S": "notified"}, ":i": {"S": "complaint"}, ":neg": {"S": "negative"},
                    ":topic": {"S": "delivery"}, ":p": {"S": "high"}, ":team": {"S": "logistics"},
                    ":due": {"S": "2026-12-01T18:00:00Z"}, ":en": {"S": "en"},
                    ":q": {"S": "queued"}, ":n": {"S": nonce},
                                           ":t": {"S": f"Sorry for the wait, we are on it (ref {n})."},
                                           ":a": {"S": "agent@example.com"}})
            enqueued[f"{channel}:{mid}"] = time.time()
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"v": 1, "channel": channel,
                                                                          "mention_id": mid, "nonce": nonce}))
            time.sleep(args.gap_ms / 1000)
        deadline = time.time() + 120
        while len(standins.sent()) < args.replies and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        for poller in pollers:
            poller.join(timeout=5)
        sent = standins.sent()
        elapsed = time.time() - min(enqueued.values())
        client = ddb.client()
        mention_sizes = [item_bytes(client.get_item(TableName=table, Key={
            "pk": {"S": f"MENTION#{c}#{m}"}, "sk": {"S": "MENTION"}})["Item"]) for c, m in targets]
        thread_sizes = [item_bytes(client.get_item(TableName=table, Key={
            "pk": {"S": f"THREAD#{c}#{m}"}, "sk": {"S": "THREAD"}})["Item"]) for c, m in targets]

    latencies = []
    # Match each record to its approval: X posts, comments and WhatsApp name the mention; DMs name the author.
    author_of = {str(5_000_000 + n): targets[n] for n in range(len(targets))}
    by_mention = {mid: (channel, mid) for channel, mid in targets}
    for record in sent:
        target = by_mention.get(record["in_reply_to"]) or author_of.get(record["recipient"])
        if target is None:
            continue
        at = datetime.strptime(record["sent_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        latencies.append((at - enqueued[f"{target[0]}:{target[1]}"]) * 1000)

    replies = len(sent)
    # On-demand units: a write costs one unit per KB of the larger of the item before and after (the after is
    # measured: the reply only adds to it), twice inside a transaction; a consistent read one unit per 4 KB.
    mention_wcu = -(-statistics.mean(mention_sizes) // 1024)
    thread_wcu = -(-statistics.mean(thread_sizes) // 1024)
    updates = counting.calls.get("update_item", 0)
    transactions = counting.calls.get("transact_write_items", 0)
    write_units = updates * mention_wcu + transactions * 2 * (mention_wcu + thread_wcu)
    read_units = counting.calls.get("get_item", 0) * -(-statistics.mean(mention_sizes) // 4096)
    per_reply_wcu = write_units / max(replies, 1)
    per_reply_rcu = read_units / max(replies, 1)
    local_handling = statistics.mean(handling) if handling else 0.0
    print(f"replies approved {args.replies}, received by the stand-ins {replies} "
          f"(duplicates: {replies - len({(r['channel'], r['reply_id']) for r in sent})})")
    print(f"approve-to-platform latency, local: p50 {percentile(latencies, 0.5):.1f} ms, "
          f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms")
    print(f"sender handling per message (local stand-ins): {local_handling * 1000:.1f} ms; "
          f"{replies / elapsed:.1f} replies/s with {args.pollers} sender loops")
    print(f"DynamoDB per reply: calls {dict(sorted(counting.calls.items()))} for {replies} replies; mention item "
          f"{statistics.mean(mention_sizes):.0f} B, thread item {statistics.mean(thread_sizes):.0f} B; "
          f"{per_reply_wcu:.2f} write units, {per_reply_rcu:.2f} read units")

    billed_seconds = local_handling + ASSUMED_PLATFORM_SECONDS
    aws = {
        "Lambda requests": LAMBDA_PER_REQUEST * 1e6,
        f"Lambda duration ({billed_seconds * 1000:.0f} ms at {SENDER_MEMORY_GB * 1024:.0f} MB, arm64; "
        f"{ASSUMED_PLATFORM_SECONDS * 1000:.0f} ms assumed platform round trip)":
            billed_seconds * SENDER_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM * 1e6,
        f"SQS ({SQS_REQUESTS_PER_REPLY} requests)": SQS_REQUESTS_PER_REPLY * SQS_PER_REQUEST * 1e6,
        "DynamoDB writes": per_reply_wcu * DYNAMODB_PER_WRITE_UNIT * 1e6,
        "DynamoDB reads": per_reply_rcu * DYNAMODB_PER_READ_UNIT * 1e6,
    }
    aws_total = sum(aws.values())
    print("cost per million replies, AWS part (us-east-1 list prices):")
    for name, dollars in aws.items():
        print(f"  {name}: ${dollars:,.2f}")
    print(f"  AWS total: ${aws_total:,.2f}")
    print(f"per million replies with the platform's own price: X posts ${aws_total + X_PER_POST * 1e6:,.2f} "
          f"(${aws_total + X_PER_POST_SUMMONED * 1e6:,.2f} at the summoned-reply price), "
          f"X DMs ${aws_total + X_PER_DM * 1e6:,.2f}, Meta (free API) ${aws_total:,.2f}; "
          f"X's price is {X_PER_POST * 1e6 / aws_total:,.0f}x the AWS part")
    return 0 if replies == args.replies else 1


if __name__ == "__main__":
    raise SystemExit(main())
