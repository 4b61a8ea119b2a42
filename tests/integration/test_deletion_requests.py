"""Data deletion requests on DynamoDB Local: one request per signed request, also when delivered concurrently."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from responder.privacy.deletion_requests import STATE_COMPLETED, STATE_RECEIVED, DynamoDeletionRequests, user_digest

NOW = datetime(2026, 10, 2, 11, 35, tzinfo=timezone.utc)
PERSON = "5100000000000001"


@pytest.fixture
def requests_store(webhook_client, table_name):
    return DynamoDeletionRequests(table_name, client=webhook_client, retention_days=400)


def _scan(dynamodb_local, table_name):
    return dynamodb_local.client().scan(TableName=table_name)["Items"]


def test_a_request_is_recorded_received_with_its_expiry_and_no_user_id(requests_store, dynamodb_local, table_name):
    # When a request is recorded
    code, created = requests_store.record("d" * 64, user_digest("secret", PERSON), 1_790_940_000, NOW)
    # Then it reads back as received, and the table holds its two items, expiring, without the user id
    assert created and requests_store.get(code).state == STATE_RECEIVED
    items = _scan(dynamodb_local, table_name)
    assert sorted(i["sk"]["S"] for i in items) == ["DELETION", "DELETIONREQ"]
    assert all(int(i["expires_at"]["N"]) == int(NOW.timestamp()) + 400 * 86_400 for i in items)
    assert PERSON not in json.dumps(items)


def test_the_same_signed_request_twice_gets_its_first_code(requests_store, dynamodb_local, table_name):
    # Given a recorded request
    code, _ = requests_store.record("d" * 64, "u", 1, NOW)
    # When the same signed request (same digest) is recorded again
    again, created = requests_store.record("d" * 64, "u", 1, NOW)
    # Then it is the same request, and no second one exists
    assert (again, created) == (code, False)
    assert len(_scan(dynamodb_local, table_name)) == 2


def test_concurrent_deliveries_of_one_signed_request_record_one_request(requests_store, dynamodb_local, table_name):
    # When eight deliveries of one signed request are recorded at once
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: requests_store.record("e" * 64, "u", 1, NOW), range(8)))
    # Then all get one code, exactly one of them created it, and one request item exists
    assert len({code for code, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert sum(i["sk"]["S"] == "DELETION" for i in _scan(dynamodb_local, table_name)) == 1


def test_completing_records_the_counts_and_the_time(requests_store):
    # Given a recorded request
    code, _ = requests_store.record("f" * 64, "u", 1, NOW)
    # When it is completed
    requests_store.complete(code, {"mentions": 3, "threads": 1}, NOW)
    # Then the status page's view says so
    view = requests_store.get(code).public()
    assert view == {"confirmation_code": code, "status": STATE_COMPLETED, "requested_at": "2026-10-02T11:35:00Z",
                    "completed_at": "2026-10-02T11:35:00Z", "erased": {"mentions": 3, "threads": 1}, "found": True}


def test_an_unknown_request_is_not_recreated_by_completing_it(requests_store, dynamodb_local, table_name):
    # When a request that does not exist (expired) is completed
    with pytest.raises(Exception):
        requests_store.complete("a" * 26, {"mentions": 0}, NOW)
    # Then nothing is written, and reading it gives nothing
    assert _scan(dynamodb_local, table_name) == [] and requests_store.get("a" * 26) is None
