"""The other half of the loop: the review page behind every notification, its signing key, and the sender.

GET  /review/{token} → review function: the page only (mail scanners fetch links before people do)
POST /review/{token} → review function: verify token and nonce, claim the reply (conditional write), queue it
outbound queue → sender function (tweepy for X, requests for the Graph API), rate-limit aware, exactly once
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.function import ResponderFunction
from infra.nag import acknowledge


class ReviewKey(Construct):
    """The key review links are signed with: the project's own, never a platform secret, so neither can forge the
    other's signatures. Generated at deploy time; it never appears in the template."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self, c.REVIEW_KEY_ID,
            description="Responder review links: the HMAC-SHA256 key (the whole string) signing /review/{token}",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True,
                                                                        password_length=64),
            # A new key only invalidates the links already sent; nothing else depends on it.
            removal_policy=RemovalPolicy.DESTROY)
        acknowledge(self.secret, "AwsSolutions-SMG4",
                    "Rotating the review key invalidates every review link already sent to agents (7 days by "
                    "default); rotate it by hand (put-secret-value with a new random value) when it may have leaked.")


class Replies(Construct):
    """The review function on the webhook API, and the sender consuming the outbound queue."""

    def __init__(self, scope: Construct, construct_id: str, *, api: apigwv2.HttpApi, stage: apigwv2.HttpStage,
                 table: dynamodb.ITable, outbound_queue: sqs.IQueue, platform_secret: secretsmanager.ISecret,
                 review_key: secretsmanager.ISecret, agent_topic: sns.ITopic,
                 layers: Sequence[lambda_.ILayerVersion], review_base_url: str,
                 review_link_days: int = c.DEFAULT_REVIEW_LINK_DAYS,
                 graph_api_version: str = c.DEFAULT_GRAPH_API_VERSION, messenger_human_agent: bool = False,
                 throttle_burst_limit: int = c.DEFAULT_REVIEW_THROTTLE_BURST,
                 throttle_rate_limit: int = c.DEFAULT_REVIEW_THROTTLE_RATE) -> None:
        super().__init__(scope, construct_id)
        common = {c.ENV_TABLE_NAME: table.table_name, c.ENV_OUTBOUND_QUEUE_URL: outbound_queue.queue_url,
                  c.ENV_SECRET_ARN: platform_secret.secret_arn, c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL}

        review = ResponderFunction(
            self, c.REVIEW_FUNCTION_ID, code_dir=c.REVIEW_CODE_DIR, layers=layers,
            description="Responder review page: shows a mention and its draft; Send queues the approved reply",
            timeout=Duration.seconds(c.REVIEW_TIMEOUT_SECONDS),
            environment={**common, c.ENV_REVIEW_KEY_SECRET_ARN: review_key.secret_arn,
                         c.ENV_REVIEW_TTL_SECONDS: str(review_link_days * 86_400),
                         c.ENV_POWERTOOLS_SERVICE_NAME: c.REVIEW_SERVICE_NAME})
        # Reads the mention (GetItem) and its thread's earlier messages (Query on gsi1); the claim, its release and
        # "handled" are conditional UpdateItems. It reads the platform secret only to know which channels can send.
        review.role.add_to_principal_policy(iam.PolicyStatement(actions=list(c.REVIEW_TABLE_ACTIONS),
                                                                resources=[table.table_arn]))
        review.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{c.GSI1_NAME}"]))
        review.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"], resources=[review_key.secret_arn, platform_secret.secret_arn]))
        outbound_queue.grant(review.role, "sqs:SendMessage")
        self.review_function = review.function

        integration = integrations.HttpLambdaIntegration(
            "ReviewIntegration", review.function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0)
        routes = api.add_routes(path=c.REVIEW_PATH, methods=[apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST],
                                integration=integration)
        stage_resource = cast(apigwv2.CfnStage, stage.node.default_child)
        settings = dict(stage_resource.route_settings or {})
        settings.update({key: {"ThrottlingBurstLimit": throttle_burst_limit, "ThrottlingRateLimit": throttle_rate_limit}
                         for key in c.REVIEW_ROUTE_KEYS})
        stage_resource.route_settings = settings
        for route in routes:
            stage.node.add_dependency(route)

        sender = ResponderFunction(
            self, c.SENDER_FUNCTION_ID, code_dir=c.SENDER_CODE_DIR, layers=layers,
            description="Responder sender: posts approved replies through X and Meta, exactly once",
            timeout=Duration.seconds(c.SENDER_TIMEOUT_SECONDS),
            # Its alerts (a refused or failed reply) link the review page, where Send can be tried again.
            environment={**common, c.ENV_AGENT_TOPIC_ARN: agent_topic.topic_arn,
                         c.ENV_REVIEW_BASE_URL: review_base_url, c.ENV_REVIEW_KEY_SECRET_ARN: review_key.secret_arn,
                         c.ENV_REVIEW_TTL_SECONDS: str(review_link_days * 86_400),
                         c.ENV_GRAPH_API_VERSION: graph_api_version,
                         c.ENV_MESSENGER_HUMAN_AGENT: "1" if messenger_human_agent else "0",
                         c.ENV_POWERTOOLS_SERVICE_NAME: c.SENDER_SERVICE_NAME})
        # Reads the mention (GetItem); every state change of the reply is a conditional UpdateItem, and "sent" is one
        # UpdateItem of the mention followed by one of its thread's last reply.
        # A rate-limited reply is sent again with a delay (SendMessage) to its own queue; a 5xx is retried later
        # (ChangeMessageVisibility, part of the event source's grant).
        sender.role.add_to_principal_policy(iam.PolicyStatement(actions=list(c.SENDER_TABLE_ACTIONS),
                                                                resources=[table.table_arn]))
        sender.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"], resources=[platform_secret.secret_arn, review_key.secret_arn]))
        outbound_queue.grant(sender.role, "sqs:SendMessage")
        agent_topic.grant_publish(sender.role)
        sender.function.add_event_source(sources.SqsEventSource(
            outbound_queue, batch_size=c.SENDER_BATCH_SIZE, report_batch_item_failures=True,
            max_concurrency=c.SENDER_MAX_CONCURRENCY))
        self.sender_function = sender.function
