"""The first-response dashboard names the metrics the functions emit; the breach-rate alarm pages the alarm topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra import constants as c
from infra.app import build_app


def _dashboard_body(template_dict: dict[str, Any]) -> str:
    """The dashboard's JSON body with the tokens (queue names, region) rendered as placeholders."""
    (dashboard,) = [r for r in template_dict["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return "".join(p if isinstance(p, str) else "<token>" for p in parts)


def _breach_alarm(template_dict: dict[str, Any]) -> dict[str, Any]:
    (alarm,) = [r["Properties"] for r in template_dict["Resources"].values()
                if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["AlarmName"].endswith(
                    f"-{c.BREACH_RATE_ALARM_ID}")]
    return alarm


def test_the_dashboard_shows_volume_first_response_the_hour_breaches_backlog_and_dead_letters(template_dict):
    # Given the synthesised stack's dashboard
    body = _dashboard_body(template_dict)
    widgets = json.loads(body.replace('"<token>"', '"x"').replace("<token>", "x"))["widgets"]
    titles = [w["properties"].get("title") for w in widgets]
    metrics = json.dumps([w["properties"].get("metrics") for w in widgets])
    # Then every business metric it graphs is one the functions emit, in the Responder namespace
    for name in ("MentionsReceived", "MentionsNotified", "MentionsAnswered", "FirstResponseSeconds", "SlaBreaches",
                 "RepliesSent", "RepliesFailed"):
        assert f'"Responder", "{name}"' in metrics, name
    # And first response p50/p90, the share within the hour (percentile rank up to 3,600 s), breaches by team
    assert '"stat": "p50"' in metrics and '"stat": "p90"' in metrics
    assert '"stat": "PR(:3600)"' in metrics
    assert "SEARCH('{Responder,priority,team} MetricName=\\\"SlaBreaches\\\"'" in metrics
    # And the triage backlog and both dead-letter queues
    assert "ApproximateAgeOfOldestMessage" in metrics and metrics.count("ApproximateNumberOfMessagesVisible") == 2
    assert "SLA breach rate alarm" in titles


def test_the_breach_rate_alarm_divides_breaches_by_notified_over_15_minutes_above_10_percent(synthesized,
                                                                                            template_dict):
    # Given the breach-rate alarm with the default threshold
    alarm = _breach_alarm(template_dict)
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    # Then it pages the operational alarm topic above 10 (%) ...
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["TreatMissingData"] == "notBreaching"
    # ... of SlaBreaches over MentionsNotified, both summed over 15 minutes, the totals (no dimensions)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    (expression,) = [q for q in queries.values() if "Expression" in q]
    assert expression["Expression"] == "IF(notified > 0, 100 * breaches / notified, 0)"
    for query_id, name in (("breaches", "SlaBreaches"), ("notified", "MentionsNotified")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("Responder", name)
        assert "Dimensions" not in stat["Metric"]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 900)


def test_the_threshold_comes_from_context_and_is_validated():
    # Given a threshold of 5% in context
    app = build_app({c.CONTEXT_BREACH_RATE_ALARM_PERCENT: "5"}, with_nag=False)
    template = Template.from_stack(app.node.find_child(c.STACK_NAME))
    # Then the alarm uses it
    assert _breach_alarm(template.to_json())["Threshold"] == 5
    # And a value that is not a percentage fails naming the key
    for bad in ("0", "150", "ten"):
        with pytest.raises(ValueError, match=c.CONTEXT_BREACH_RATE_ALARM_PERCENT):
            build_app({c.CONTEXT_BREACH_RATE_ALARM_PERCENT: bad}, with_nag=False)
