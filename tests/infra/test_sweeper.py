"""The sweeper in the template: on a schedule, allowed exactly what it does, nothing on the webhook's path."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra import constants as c


def test_sweeper_runs_on_a_schedule_of_a_few_minutes(synthesized):
    # Given the synthesised stack
    function_id = synthesized.logical_id(synthesized.stack.sweeper.function.function)
    rules = synthesized.resources("AWS::Events::Rule").values()
    # Then one rule invokes the sweeper every SWEEPER_RATE_MINUTES, so a stranded mention waits minutes, not forever
    (rule,) = [r for r in rules if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
                                       for t in r["Properties"]["Targets"])]
    assert rule["Properties"]["ScheduleExpression"] == f"rate({c.SWEEPER_RATE_MINUTES} minutes)"
    assert rule["Properties"]["State"] == "ENABLED"


def test_sweeper_may_query_only_the_stranded_index_update_the_table_and_send_to_triage(synthesized):
    role_id = synthesized.logical_id(synthesized.stack.sweeper.function.role)
    policies = [p for p in synthesized.resources("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]]
    actions = sorted({a for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
                      for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])})
    assert [a for a in actions if a.startswith("dynamodb:")] == ["dynamodb:Query", "dynamodb:UpdateItem"]
    assert [a for a in actions if a.startswith("sqs:")] == ["sqs:SendMessage"]
    assert not [a for a in actions if a.startswith(("dynamodb:Scan", "dynamodb:Delete", "dynamodb:Batch"))]
    queries = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
               if s["Action"] == "dynamodb:Query"]
    assert len(queries) == 1 and f"/index/{c.GSI3_NAME}" in str(queries[0]["Resource"])


def test_sweeper_reads_the_same_table_and_queue_as_the_webhook(template, synthesized):
    env = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.sweeper.function.function)]["Properties"]["Environment"]["Variables"]
    webhook = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.webhook.function)]["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_TABLE_NAME] == webhook[c.ENV_TABLE_NAME]
    assert env[c.ENV_QUEUE_URL] == webhook[c.ENV_QUEUE_URL]
    template.has_resource_properties("AWS::Lambda::Function", {"Handler": "handler.handler",
                                                              "Description": Match.string_like_regexp("sweeper")})
