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


def test_sweeper_may_read_the_brand_listing_and_statuses_write_only_its_watermark_and_send_to_triage(synthesized):
    # Given the sweeper's role in the synthesised template
    role_id = synthesized.logical_id(synthesized.stack.sweeper.function.role)
    policies = [p for p in synthesized.resources("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = sorted({a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])})
    # Then it reads (Query on gsi2, BatchGetItem, GetItem), writes one item (PutItem), reads one metric, sends
    assert [a for a in actions if a.startswith("dynamodb:")] == [
        "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    assert [a for a in actions if a.startswith("sqs:")] == ["sqs:SendMessage"]
    assert [a for a in actions if a.startswith("cloudwatch:")] == ["cloudwatch:GetMetricStatistics"]
    assert not [a for a in actions if a.startswith(("dynamodb:Scan", "dynamodb:Delete", "dynamodb:Update",
                                                    "dynamodb:BatchWrite", "cloudwatch:Put"))]
    # And its one write is limited to its watermark's partition
    (put,) = [s for s in statements if s["Action"] == "dynamodb:PutItem"]
    assert put["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [c.SWEEP_WATERMARK_PK]}}
    (query,) = [s for s in statements if s["Action"] == "dynamodb:Query"]
    assert f"/index/{c.GSI2_NAME}" in str(query["Resource"])


def test_no_index_keeps_an_entry_per_mention_for_the_sweeper(synthesized):
    # Given the table in the synthesised template
    (table,) = synthesized.resources("AWS::DynamoDB::Table").values()
    # Then it has no sparse pending index (three write units per mention): the sweeper reads gsi2
    assert sorted(i["IndexName"] for i in table["Properties"]["GlobalSecondaryIndexes"]) == ["gsi1", "gsi2", "gsi4"]


def test_sweeper_reads_the_same_table_and_queue_as_the_webhook(template, synthesized):
    env = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.sweeper.function.function)]["Properties"]["Environment"]["Variables"]
    webhook = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.webhook.function)]["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_TABLE_NAME] == webhook[c.ENV_TABLE_NAME]
    assert env[c.ENV_QUEUE_URL] == webhook[c.ENV_QUEUE_URL]
    template.has_resource_properties("AWS::Lambda::Function", {"Handler": "handler.handler",
                                                              "Description": Match.string_like_regexp("sweeper")})


def test_the_sweepers_write_permission_names_the_item_it_writes():
    from responder.aws.storage import SWEEP_WATERMARK_KEY

    assert SWEEP_WATERMARK_KEY["pk"] == c.SWEEP_WATERMARK_PK


def test_a_failing_sweeper_raises_an_alarm_to_the_alarm_topic(template, synthesized):
    # Given the synthesised stack
    function_id = synthesized.logical_id(synthesized.stack.sweeper.function.function)
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    # Then the sweeper's errors in two of three 5-minute periods page the operators
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "Errors", "Namespace": "AWS/Lambda", "Threshold": 0, "Period": 300, "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2, "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
        "AlarmActions": [{"Ref": topic}]})


def test_a_sweeper_that_falls_behind_raises_an_alarm_to_the_alarm_topic(template, synthesized):
    from infra import constants as c
    from responder.core.metrics import NAMESPACE, SWEEP_LAG_SECONDS

    # Given the synthesised stack
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    # Then a watermark more than two hours behind in two of three 5-minute periods pages the operators, on the
    # metric the sweeper publishes
    assert (NAMESPACE, SWEEP_LAG_SECONDS) == (c.METRICS_NAMESPACE, c.METRIC_SWEEP_LAG_SECONDS)
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": SWEEP_LAG_SECONDS, "Namespace": NAMESPACE, "Statistic": "Maximum", "Threshold": 7200,
        "Period": 300, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "AlarmActions": [{"Ref": topic}]})
