"""Operational alarms: dead letters and an old triage backlog page the alarm topic, which CloudWatch may use."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}


def _render(value: Any) -> str:
    """An ARN built with Fn::Join, with pseudo parameters left as `${AWS::...}`."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    separator, parts = value["Fn::Join"]
    return separator.join(_render(part) for part in parts)


def _alarm_arns(template_dict: dict[str, Any]) -> set[str]:
    names = [r["Properties"]["AlarmName"] for r in template_dict["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Alarm"]
    return {f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{name}" for name in names}


def _cloudwatch_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s.get("Principal") == CLOUDWATCH]


def _assert_scoped_to_the_stack_alarms(statement: dict[str, Any], template_dict: dict[str, Any]) -> None:
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    arns = {_render(arn) for arn in condition["ArnLike"]["aws:SourceArn"]}
    assert arns == _alarm_arns(template_dict)
    assert len(arns) == 6  # triage DLQ, triage backlog, outbound DLQ, SLA breach rate, sweeper failing and behind


def test_dead_letters_and_backlog_age_raise_alarms_to_the_alarm_topic(template, synthesized):
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [{"Ref": topic}]})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateAgeOfOldestMessage", "Threshold": 900, "EvaluationPeriods": 3,
        "AlarmActions": [{"Ref": topic}]})


def test_the_alarm_topic_key_lets_cloudwatch_publish_and_rotates(template):
    template.has_resource_properties("AWS::KMS::Key", {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"]})])}})


def test_cloudwatch_may_publish_to_the_alarm_topic_for_this_stack_alarms_only(synthesized, template_dict):
    # Given the alarm topic's policy (a topic policy replaces SNS's default one, which let the account publish)
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    policies = [r["Properties"]["PolicyDocument"] for r in synthesized.resources("AWS::SNS::TopicPolicy").values()
                if r["Properties"]["Topics"] == [{"Ref": topic}]]
    assert len(policies) == 1
    # When the statements for CloudWatch are picked out
    statements = _cloudwatch_statements(policies[0])
    # Then exactly one allows sns:Publish on this topic, for this account's two Responder alarms only
    assert len(statements) == 1
    statement = statements[0]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Allow", "sns:Publish",
                                                                                 {"Ref": topic})
    _assert_scoped_to_the_stack_alarms(statement, template_dict)
    # And the TLS-only deny is still there
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policies[0]["Statement"])


def test_the_alarm_key_serves_cloudwatch_only_for_this_stack_alarms(synthesized, template_dict):
    # Given the alarm topic's customer-managed key
    key = synthesized.template_dict["Resources"][synthesized.logical_id(synthesized.stack.alarms.topic)]
    key_id = key["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    policy = template_dict["Resources"][key_id]["Properties"]["KeyPolicy"]
    # When the statements for CloudWatch are picked out
    statements = _cloudwatch_statements(policy)
    # Then the one that lets it encrypt is conditioned on this account and the stack's alarms
    assert len(statements) == 1
    assert statements[0]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    _assert_scoped_to_the_stack_alarms(statements[0], template_dict)
