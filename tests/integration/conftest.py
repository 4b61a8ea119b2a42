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
