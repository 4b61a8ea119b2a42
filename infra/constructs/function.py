"""The one way Responder builds a Lambda function, so every function gets the same baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.nag import acknowledge


class ResponderFunction(Construct):
    """A Python 3.13 arm64 function with its own role, its own log group and X-Ray tracing.

    Reserved concurrency is deliberately not set: new accounts often have an account limit of 10
    concurrent executions, and reserving any of it fails the deploy. Where an account has headroom,
    cap a function with `reserved_concurrent_executions` to protect DynamoDB and downstream APIs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: Path,
        description: str,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion],
        handler: str = "handler.handler",
        timeout: Duration = Duration.seconds(c.WEBHOOK_TIMEOUT_SECONDS),
        memory_size: int = c.FUNCTION_MEMORY_MB,
        resource_star_uses: Sequence[str] = (),
    ) -> None:
        """`resource_star_uses` names further statements of this role that need Resource '*', with why."""
        super().__init__(scope, construct_id)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=logs.RetentionDays.ONE_MONTH,
            # Kept when the stack is deleted or the group replaced: the last month of logs is what explains an
            # incident, and it still expires with the retention. CDK names the group, so a new stack never
            # collides with a retained one.
            removal_policy=RemovalPolicy.RETAIN,
        )

        # Its own role rather than AWSLambdaBasicExecutionRole, whose log permissions span every log group
        # in the account; this one may only write to the log group above.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {description}",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            code=lambda_.Code.from_asset(str(code_dir), exclude=list(c.ASSET_EXCLUDES)),
            handler=handler,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=memory_size,
            timeout=timeout,
            layers=list(layers),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            role=self.role,
            description=description,
            environment=dict(environment),
        )

        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.13 is pinned on purpose: the dependency layer is built for cp313 wheels and the "
            "domain code is tested on 3.13; moving to a newer runtime is a deliberate, tested upgrade.",
        )
        star_reason = ("Only the X-Ray statement CDK adds for active tracing uses Resource '*': "
                       "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.")
        if resource_star_uses:
            star_reason = ("Resource '*' is used by the X-Ray statement CDK adds for active tracing "
                           "(xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
                           "permissions) and by " + "; and by ".join(resource_star_uses) + ".")
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", star_reason)
