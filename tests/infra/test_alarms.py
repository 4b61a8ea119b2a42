"""Operational alarms: dead letters and an old triage backlog page the alarm topic."""

from __future__ import annotations

from aws_cdk.assertions import Match


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
