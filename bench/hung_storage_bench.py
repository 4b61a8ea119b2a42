"""Hung-storage benchmark: how long the webhook takes to answer 503 when DynamoDB accepts and never answers.

Run: `.venv/bin/python -m bench.hung_storage_bench --runs 5`.

A local TCP server stands in for DynamoDB: it accepts every connection and never sends a byte. The webhook
service (the deployed code, `responder.ingest.webhook.WebhookService` on `DynamoMentionStore`) receives a signed X
mention and must answer 503 so X retries, before X's 3-second deadline. Each run uses a fresh client, as a cold
Lambda container would. Printed: the time to the 503 with the clients' previous settings (connect 1 s, read 2 s,
botocore max_attempts 2, i.e. three tries), with `responder.aws.storage.default_client`'s current defaults, and with
the read timeout `responder local` gives DynamoDB Local; and the ratio before/now.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time

from responder.core.config import EnvCredentials
from responder.ingest.signatures import sign_x
from responder.aws.storage import DynamoMentionStore, default_client
from responder.aws.triage_queue import SqsTriageQueue
from responder.ingest.webhook import WebhookService
from responder_cli.local.stack import LOCAL_DYNAMODB_READ_TIMEOUT_SECONDS, http_api_event

SECRET = "bench-x-secret"
BODY = (b'{"data": {"event_uuid": "1", "filter": {"user_id": "1000000000000000001"}, "event_type": '
        b'"post.mention.create", "tag": "bench", "payload": {"id": "3200000000000009999", "text": '
        b'"@AcmeSupport my order is late", "author_id": "5000000001", "created_at": "2026-10-02T09:15:30.000Z"},'
        b' "includes": {"users": [{"id": "5000000001", "username": "bench_user", "name": "Bench"}]}}}')


def silent_server() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket that accepts and never answers; the accepted connections are kept open."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, held


def time_to_answer(settings: dict[str, float] | None) -> tuple[int, float]:
    """(status, seconds) of one signed delivery with a fresh client built with these settings."""
    client = default_client("dynamodb", **settings) if settings else default_client("dynamodb")
    store = DynamoMentionStore("Mentions", client=client)
    queue = SqsTriageQueue(os.environ["QUEUE_URL"], client=default_client("sqs", **(settings or {})))
    service = WebhookService(EnvCredentials(), store, queue)
    event = http_api_event("POST", "/webhooks/x", {"x-twitter-webhooks-signature": sign_x(SECRET, BODY)}, BODY)
    started = time.perf_counter()
    status = service.handle(event)["statusCode"]
    return status, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sock, held = silent_server()
    endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_ENDPOINT_URL_SQS": endpoint,
                       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "QUEUE_URL": f"{endpoint}/000000000000/triage",
                       "RESPONDER_X_CONSUMER_SECRET": SECRET})
    configs = {"before (connect 1 s, read 2 s, max_attempts 2)": {"connect_timeout": 1, "read_timeout": 2,
                                                                  "attempts": 2},
               "now (default_client defaults)": None,
               "responder local (read 2 s, one try)": {"read_timeout": LOCAL_DYNAMODB_READ_TIMEOUT_SECONDS}}
    medians = {}
    for name, settings in configs.items():
        results = [time_to_answer(settings) for _ in range(args.runs)]
        seconds = [s for _, s in results]
        medians[name] = statistics.median(seconds)
        print(f"{name:45s} answers {sorted({st for st, _ in results})}: median {medians[name]:.2f} s, "
              f"min {min(seconds):.2f} s, max {max(seconds):.2f} s over {args.runs} runs", flush=True)
    before, now, _ = medians.values()
    print(f"ratio before/now: {before / now:.1f}x; X's deadline is 3 s")
    sock.close()
    for conn in held:
        conn.close()


if __name__ == "__main__":
    main()
