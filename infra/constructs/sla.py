"""SLA timers: a schedule group, the role Scheduler assumes, and the sla function the timers invoke.

Draft (a notified mention, as it routes it) and Classify (an incident that opens) create one-time schedules in the
group (responder.sla.timers); when one fires, the sla function escalates the mention once if it is still unanswered
(responder.sla.escalate). No polling, nothing always on: one invocation per minute bucket of notified mentions with
the same rule minutes (a mention that a bucket would not serve gets a timer of its own).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import constants as c
from infra.constructs.function import ResponderFunction
from infra.nag import acknowledge

ENV_SCHEDULE_GROUP = "SLA_GROUP"  # read by responder.sla.timers
ENV_TARGET_ARN = "SLA_TARGET_ARN"
ENV_ROLE_ARN = "SLA_ROLE_ARN"


class SlaTimers(Construct):
    """The schedule group, the sla function and the role Scheduler assumes; `allow_timers` for those who set them."""

    def __init__(self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, escalation_topic: sns.ITopic,
                 agent_topic: sns.ITopic, layers: Sequence[lambda_.ILayerVersion],
                 review_env: dict[str, str] | None = None) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = scheduler.CfnScheduleGroup(self, "Timers")
        fn = ResponderFunction(
            self, c.SLA_FUNCTION_ID, code_dir=c.SLA_CODE_DIR, layers=layers,
            description="Responder SLA: a timer fired; escalates the mention once if it is still unanswered",
            timeout=Duration.seconds(c.SLA_TIMEOUT_SECONDS),
            environment={c.ENV_TABLE_NAME: table.table_name, "ESCALATION_TOPIC_ARN": escalation_topic.topic_arn,
                         c.ENV_AGENT_TOPIC_ARN: agent_topic.topic_arn, **(review_env or {}),
                         c.ENV_POWERTOOLS_SERVICE_NAME: c.SLA_SERVICE_NAME,
                         c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL})
        # Reads the mention or incident (GetItem) and an incident's members (Query on the table); the claim, the
        # breach and the alert are conditional UpdateItems. A bucket's members: its minute of the brand's gsi2 listing
        # (Query on that index only) and their status and SLA fields (BatchGetItem).
        fn.role.add_to_principal_policy(iam.PolicyStatement(actions=list(c.SLA_TABLE_ACTIONS),
                                                            resources=[table.table_arn]))
        fn.role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:Query"],
                                                            resources=[f"{table.table_arn}/index/gsi2"]))
        escalation_topic.grant_publish(fn.role)
        agent_topic.grant_publish(fn.role)
        self.function = fn.function
        self.function_role = fn.role

        # Scheduler assumes this role to invoke the sla function, and nothing else; only for this account's schedules
        # (the confused-deputy condition of the Scheduler user guide, "Set up the execution role").
        self.role = iam.Role(self, "SchedulerRole",
                             description="EventBridge Scheduler: invoke the Responder sla function",
                             assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                                 "StringEquals": {"aws:SourceAccount": stack.account}}))
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                              resources=[fn.function.function_arn]))
        self.schedules_arn = (f"arn:{stack.partition}:scheduler:{stack.region}:{stack.account}:schedule/"
                              f"{self.group.ref}/*")
        # A bucket with more members than one invocation escalates continues on a timer a minute out: the sla function
        # sets timers too, invoking itself (its ARN from the invocation; in its environment it would be a cycle).
        self._grant_timers(fn.function, target=False)

    def _grant_timers(self, function: lambda_.Function, target: bool = True) -> None:
        function.add_environment(ENV_SCHEDULE_GROUP, self.group.ref)
        if target:
            function.add_environment(ENV_TARGET_ARN, self.function.function_arn)
        function.add_environment(ENV_ROLE_ARN, self.role.role_arn)
        role = function.role
        assert role is not None
        role.add_to_principal_policy(iam.PolicyStatement(actions=["scheduler:CreateSchedule"],
                                                         resources=[self.schedules_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}))
        acknowledge(role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:"
                          f"<AWS::AccountId>:schedule/<{Stack.of(self).get_logical_id(self.group)}>/*]",
                    "SLA timers are one schedule per minute bucket (or per mention), named by a hash of its key: "
                    "CreateSchedule is granted on the schedules of the stack's own group only.")

    def allow_timers(self, *functions: ResponderFunction | lambda_.Function) -> None:
        """Let these functions create timers: CreateSchedule in the group, PassRole of the Scheduler role only."""
        for fn in functions:
            self._grant_timers(fn.function if isinstance(fn, ResponderFunction) else fn)
