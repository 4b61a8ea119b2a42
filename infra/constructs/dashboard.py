"""The first-response dashboard: volume, first response p50/p90, the share answered within the hour, SLA breaches,
the triage backlog and dead letters; and the breach-rate metric its alarm watches (see alarms.py).

The functions publish their metrics as EMF in namespace `Responder` (responder.core.metrics), each also without
dimensions: the totals read here. Per-team series are found with SEARCH (dashboards only: alarms cannot search).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c

HOUR_SECONDS = 3600
FIVE_MINUTES = Duration.minutes(5)


def business_metric(name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
                    label: str | None = None) -> cloudwatch.Metric:
    """A Responder metric's total (the series published without dimensions)."""
    return cloudwatch.Metric(namespace=c.METRICS_NAMESPACE, metric_name=name, statistic=statistic, period=period,
                             label=label)


def breach_rate(period: Duration = Duration.minutes(c.BREACH_RATE_PERIOD_MINUTES)) -> cloudwatch.MathExpression:
    """SLA breaches per hundred mentions notified in the same window (0 when none was notified).

    Breaches in a window belong to mentions notified up to an SLA earlier: in steady traffic the ratio is the
    share of mentions that breach; in a surge's first window it reads low, after it high (hence the 15 minutes)."""
    return cloudwatch.MathExpression(
        expression="IF(notified > 0, 100 * breaches / notified, 0)",
        using_metrics={"breaches": business_metric("SlaBreaches", period=period),
                       "notified": business_metric("MentionsNotified", period=period)},
        period=period, label="SLA breaches per 100 mentions notified (%)")


def _search(name: str, statistic: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{c.METRICS_NAMESPACE},priority,team}} MetricName=\"{name}\"', '{statistic}', 300)",
        using_metrics={}, label=f"{name} by team and priority", period=FIVE_MINUTES)


class FirstResponseDashboard(Construct):
    """A CloudWatch dashboard (about $3 a month, CloudWatch pricing: dashboards beyond the free three)."""

    def __init__(self, scope: Construct, construct_id: str, *, queue: sqs.IQueue, dlq: sqs.IQueue,
                 outbound_dlq: sqs.IQueue, breach_alarm: cloudwatch.IAlarm | None = None) -> None:
        super().__init__(scope, construct_id)
        name = f"{Stack.of(self).stack_name}-first-response"
        first_response = [business_metric("FirstResponseSeconds", statistic=s, label=f"first response {s}")
                          for s in ("p50", "p90")]
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(title="Mentions: received, notified, answered", width=12, left=[
                business_metric("MentionsReceived", label="received"),
                business_metric("MentionsNotified", label="notified"),
                business_metric("MentionsAnswered", label="answered")]),
            cloudwatch.GraphWidget(title="First response (seconds): p50, p90", width=12, left=first_response,
                                   left_annotations=[cloudwatch.HorizontalAnnotation(value=HOUR_SECONDS,
                                                                                     label="one hour")]),
            cloudwatch.GraphWidget(
                title="Answered within the hour (% of answers)", width=12,
                # Percentile rank: the share of first-response values at most 3,600 s (CloudWatch statistics).
                left=[business_metric("FirstResponseSeconds", statistic=f"PR(:{HOUR_SECONDS})",
                                      period=Duration.hours(1), label="answered within 1 h (%)")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left_annotations=[cloudwatch.HorizontalAnnotation(value=53, label="53% of customers expect it")]),
            cloudwatch.GraphWidget(title="SLA breaches", width=12,
                                   left=[business_metric("SlaBreaches", label="breaches")],
                                   right=[breach_rate()]),
            cloudwatch.GraphWidget(title="SLA breaches by team and priority", width=12,
                                   left=[_search("SlaBreaches", "Sum")]),
            cloudwatch.GraphWidget(title="Triage backlog: oldest mention waiting (seconds)", width=12, left=[
                queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum")]),
            cloudwatch.GraphWidget(title="Dead letters: triage, outbound replies", width=12, left=[
                dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum",
                                                                  label="triage DLQ"),
                outbound_dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum", label="outbound DLQ")]),
            cloudwatch.GraphWidget(title="Replies: sent, failed", width=12, left=[
                business_metric("RepliesSent", label="sent"), business_metric("RepliesFailed", label="failed")]),
        ]
        if breach_alarm is not None:
            widgets.append(cloudwatch.AlarmWidget(title="SLA breach rate alarm", alarm=breach_alarm, width=24))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name,
                                              default_interval=Duration.days(1))
        for row in range(0, len(widgets), 2):
            self.dashboard.add_widgets(*widgets[row:row + 2])
