"""Integration fixtures: one DynamoDB Local per session, with tables created from the synthesized template."""

from __future__ import annotations

import uuid

import pytest

from responder.aws.storage import DynamoMentionStore
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.template import load_template, tables


@pytest.fixture(scope="session")
def table_specs():
    return tables(load_template())


@pytest.fixture(scope="session")
def dynamodb_local():
    with DynamoDBLocal() as ddb:
        yield ddb


@pytest.fixture
def table_name(dynamodb_local, table_specs):
    """A fresh table per test, shaped exactly like the deployed one."""
    (spec,) = table_specs
    name = f"t{uuid.uuid4().hex[:12]}"
    client = dynamodb_local.client()
    client.create_table(**{**spec.create_args, "TableName": name})
    yield name
    client.delete_table(TableName=name)


@pytest.fixture
def store(dynamodb_local, table_name):
    return DynamoMentionStore(table_name, raw_event_ttl_days=30, client=dynamodb_local.client())


@pytest.fixture(params=["boto3", "json"])
def table_client(request, dynamodb_local, monkeypatch):
    """A DynamoDB client as each runtime builds it: boto3 (a developer's tools, the local stack's own reads) and the
    JSON-protocol client (responder.aws.json_api) every function uses in Lambda and under `responder local`, so what
    the functions do deployed is tested on both."""
    if request.param == "boto3":
        return dynamodb_local.client()
    from responder.aws.json_api import AwsJsonClient

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    return AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=dynamodb_local.endpoint, connect_timeout=1,
                         read_timeout=5)


@pytest.fixture
def webhook_client(table_client):
    """The webhook's client on both runtimes (table_client)."""
    return table_client


@pytest.fixture
def store_on_both_clients(table_client, table_name):
    """The store on boto3's client and on the functions' JSON-protocol client (table_client)."""
    return DynamoMentionStore(table_name, raw_event_ttl_days=30, client=table_client)


@pytest.fixture
def meter():
    """The local stack's meter, counting every AWS call of the test while installed."""
    from responder_cli.local.metering import Meter

    installed = Meter()
    installed.install()
    yield installed
    installed.uninstall()
