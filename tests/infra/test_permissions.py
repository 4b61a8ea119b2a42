"""Each function's role holds exactly the DynamoDB actions its code calls, on exactly the table or index it uses."""

from __future__ import annotations

from typing import Any

import pytest

TABLE = "table"
GSI1 = "table/index/gsi1"
GSI2 = "table/index/gsi2"
GSI4 = "table/index/gsi4"

# Read from the code each function runs (responder.aws.storage, responder.aws.incident_store, responder.triage.steps,
# responder.replies.native): a
# TransactWriteItems is authorised per item (its Puts as PutItem, its Updates as UpdateItem); none holds a
# ConditionCheck, only the webhook deletes (an erased mention's raw event), nothing scans or uses BatchWriteItem, and
# only the sweeper and the sla function use BatchGetItem (the status of the mentions in a window or a minute bucket).
EXPECTED = {
    # gsi1: native DM answers; DeleteItem and gsi4 (the author index): erasure on delete notices and Meta's data
    # deletion callback (responder.privacy.erasure deletes the raw event and finds a person's mentions)
    "webhook": {(TABLE, "dynamodb:GetItem"), (TABLE, "dynamodb:PutItem"), (TABLE, "dynamodb:Query"),
                (TABLE, "dynamodb:UpdateItem"), (TABLE, "dynamodb:DeleteItem"), (GSI1, "dynamodb:Query"),
                (GSI4, "dynamodb:Query")},
    "classify": {(TABLE, "dynamodb:GetItem"), (TABLE, "dynamodb:PutItem"), (TABLE, "dynamodb:Query"),
                 (TABLE, "dynamodb:UpdateItem"), (GSI2, "dynamodb:Query")},
    # Draft reads the thread; the routing it applies too reads nothing
    "draft": {(TABLE, "dynamodb:GetItem")},
    # responder.triage.dispatch: the batch's minute counts (one UpdateItem per minute), on counter items only
    "dispatcher": {(TABLE, "dynamodb:UpdateItem")},
    # responder.ingest.sweeper: the brand's mentions by received time (gsi2), their status (BatchGetItem), the
    # watermark item (GetItem, PutItem)
    "sweeper": {(GSI2, "dynamodb:Query"), (TABLE, "dynamodb:BatchGetItem"), (TABLE, "dynamodb:GetItem"),
                (TABLE, "dynamodb:PutItem")},
    # responder.replies: the review page reads the mention and its thread (gsi1) and claims with UpdateItem; the
    # sender reads the mention and records each step of the reply with UpdateItem.
    "review": {(TABLE, "dynamodb:GetItem"), (TABLE, "dynamodb:UpdateItem"), (GSI1, "dynamodb:Query")},
    "sender": {(TABLE, "dynamodb:GetItem"), (TABLE, "dynamodb:UpdateItem")},
    # responder.sla.escalate: reads the mention or incident, queries an incident's members on the table (pk), and
    # claims, marks and records the escalation with conditional UpdateItems; a minute bucket's members from the brand's
    # listing (gsi2) and their status and SLA fields (BatchGetItem).
    "sla": {(TABLE, "dynamodb:GetItem"), (TABLE, "dynamodb:UpdateItem"), (TABLE, "dynamodb:Query"),
            (GSI2, "dynamodb:Query"), (TABLE, "dynamodb:BatchGetItem")},
}


def _roles(synthesized) -> dict[str, Any]:
    stack = synthesized.stack
    return {"webhook": stack.webhook.function.role, "classify": stack.triage.functions["classify"].role,
            "draft": stack.triage.functions["draft"].role,
            "dispatcher": stack.triage.dispatcher.role, "sweeper": stack.sweeper.function.role,
            "review": stack.replies.review_function.role, "sender": stack.replies.sender_function.role,
            "sla": stack.sla.function_role}


def _resource_name(resource: Any, table_id: str) -> str:
    """`table`, `table/index/<name>` or the raw resource when it is something else (so a test shows it)."""
    if resource == {"Fn::GetAtt": [table_id, "Arn"]}:
        return TABLE
    if isinstance(resource, dict) and "Fn::Join" in resource:
        separator, parts = resource["Fn::Join"]
        if parts[0] == {"Fn::GetAtt": [table_id, "Arn"]} and all(isinstance(p, str) for p in parts[1:]):
            return TABLE + separator.join(parts[1:])
    return repr(resource)


def _dynamodb_grants(synthesized, role: Any) -> set[tuple[str, str]]:
    role_ref = {"Ref": synthesized.logical_id(role)}
    table_id = synthesized.logical_id(synthesized.stack.storage.table)
    grants = set()
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if role_ref not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants |= {(_resource_name(r, table_id), a) for a in actions if a.startswith("dynamodb:")
                       for r in resources}
    return grants


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_role_lists_exactly_the_dynamodb_actions_its_code_calls(synthesized, function):
    # Given a function's execution role in the synthesised template
    role = _roles(synthesized)[function]
    # When its DynamoDB grants are collected as (resource, action) pairs
    grants = _dynamodb_grants(synthesized, role)
    # Then they are exactly the calls its code makes: no Scan, Batch*, DescribeTable or index/*
    assert grants == EXPECTED[function]


def test_no_role_holds_a_wildcard_index_grant(synthesized):
    # Given every IAM policy of the stack
    resources = [r for policy in synthesized.resources("AWS::IAM::Policy").values()
                 for s in policy["Properties"]["PolicyDocument"]["Statement"]
                 for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    # Then none opens every index of the table
    assert not [r for r in resources if "/index/*" in str(r)]


def _statements_on(synthesized, resource_ref: dict[str, Any]) -> dict[str, set[str]]:
    """Role logical id → the actions its policies allow on `resource_ref`."""
    found: dict[str, set[str]] = {}
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if resource_ref in resources:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], set()).update(actions)
    return found


def test_platform_credentials_are_read_only_by_the_functions_that_call_or_verify_a_platform(synthesized):
    # Given the platform secret (X and Meta credentials, reply tokens included)
    stack = synthesized.stack
    readers = _statements_on(synthesized, {"Ref": synthesized.logical_id(stack.secrets.secret)})
    roles = {synthesized.logical_id(role): name for name, role in _roles(synthesized).items()}
    # Then the webhook (signatures), the review page (which channels can send), the sender (replies) and Classify
    # (Instagram mention texts) may read it, with GetSecretValue alone; no other function
    assert {roles.get(r, r) for r in readers} == {"webhook", "review", "sender", "classify"}
    assert all(actions == {"secretsmanager:GetSecretValue"} for actions in readers.values())


def test_only_the_review_page_queues_replies_and_only_the_sender_consumes_them(synthesized):
    # Given the outbound queue
    stack = synthesized.stack
    grants = _statements_on(synthesized, {"Fn::GetAtt": [synthesized.logical_id(stack.outbound.queue), "Arn"]})
    roles = {synthesized.logical_id(role): name for name, role in _roles(synthesized).items()}
    named = {roles.get(r, r): actions for r, actions in grants.items()}
    # Then the review page may only send to it, and the sender consume it and re-send a throttled reply
    assert named["review"] == {"sqs:SendMessage"}
    assert "sqs:ReceiveMessage" in named["sender"] and "sqs:SendMessage" in named["sender"]
    assert set(named) == {"review", "sender"}


def test_the_dispatcher_may_update_the_minute_counters_and_no_other_item(synthesized):
    # Given the DynamoDB statements of the dispatcher's role in the synthesised template
    role_ref = {"Ref": synthesized.logical_id(_roles(synthesized)["dispatcher"])}
    statements = [s for policy in synthesized.resources("AWS::IAM::Policy").values()
                  if role_ref in policy["Properties"]["Roles"]
                  for s in policy["Properties"]["PolicyDocument"]["Statement"]
                  if any(str(a).startswith("dynamodb:") for a in (s["Action"] if isinstance(s["Action"], list)
                                                                  else [s["Action"]]))]
    # Then its one DynamoDB statement is limited to the items whose partition key begins with COUNTER#
    assert len(statements) == 1
    assert statements[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["COUNTER#*"]}}
