"""The triage workflow: an EXPRESS state machine fed from the triage queue by a dispatcher function.

One execution per dispatcher batch: its input is `{"items": [...]}`, one item per queued mention, and an inline Map
(EachMention) runs each item through the chain below, side by side (MaxConcurrency: the batch size). An item's failure
ends its own iteration with a result that says so, never the Map: the execution's output is one small result per item
(`claim`: its SQS message id, `failed` and `error`, `count`: its minute-counter share), read by
responder.triage.dispatch.

Per mention: Classify (λ: classify, count, join or open an incident) → noise? → Archive (DynamoDB UpdateItem)
  → incident member not paged? → Draft (λ) → Record member (DynamoDB UpdateItem) → alert due? → Alert (SNS)
  → Draft (λ: the draft, and the routing rules in the same invocation: team, priority, SLA due and timer, the
    notification per protocol) → Slim mention (Pass: ids only)
    → Publish (SNS, `MessageStructure: json`, with message attributes)
    → p1? → Escalate (SNS) → Record mention (DynamoDB UpdateItem) → alert due? → Alert (SNS)
Every task retries transient errors with backoff; any failure goes to MarkFailed (status `triage_failed`),
alerts the escalation topic on the first attempt, and ends the item as failed so SQS redelivers its message alone
(to the dead-letter queue after the redrive policy's receive count).

Optional managed backends (`responder.aws.managed`), off by default and then absent from the template: Amazon
Comprehend in Classify (its env, least-privilege IAM, and its `ManagedBackendUnavailable` retried like a Lambda
error) and a Bedrock model in Draft (its env, InvokeModel on that one model, a longer timeout, and `drafted_by`
in the agents' notification).

Review links (optional, `review=(base_url, secret)`): Classify and Draft read the review key from that secret and put
`actions.review_url` in every notification and incident alert; without it (or when the key cannot be read) the
notifications carry no link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import constants as c
from infra.constructs.function import ResponderFunction
from infra.constructs.triage_config import TriageConfig
from infra.nag import acknowledge
from infra.triage_sizing import size_triage

J = sfn.JsonPath
S = tasks.DynamoAttributeValue.from_string

# Errors worth retrying: Lambda's own transient failures and the domain's "storage unavailable".
# States.Timeout is not retried inside the execution: three more 70 s attempts of Classify would outlast the
# 120 s workflow timeout, which no Catch sees (the mention would stay `triaging`). A timed-out task goes to
# MarkFailed instead, and SQS's redelivery is the retry.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException", "StorageUnavailable",
]


# Raised by the classify function when Comprehend throttles or fails transiently (responder.aws.managed).
MANAGED_BACKEND_UNAVAILABLE = "ManagedBackendUnavailable"
COMPREHEND_ACTIONS = ("comprehend:DetectSentiment", "comprehend:DetectDominantLanguage")
# Cross-Region inference profile ids start with a geography (Bedrock user guide, "Supported Regions and models").
INFERENCE_PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "jp", "au", "ca", "global")
# Where the review page is served and the secret holding the review key (read by responder.replies.tokens).
ENV_REVIEW_BASE_URL = "RESPONDER_REVIEW_BASE_URL"
ENV_REVIEW_KEY_SECRET_ARN = "REVIEW_KEY_SECRET_ARN"


def _retry_lambda(task: sfn.TaskStateBase, extra_errors: Sequence[str] = ()) -> sfn.TaskStateBase:
    return task.add_retry(errors=[*LAMBDA_TRANSIENT_ERRORS, *extra_errors], interval=Duration.seconds(1),
                          max_attempts=3, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)


def _retry_service(task: sfn.TaskStateBase) -> sfn.TaskStateBase:
    # SNS and DynamoDB throttling surface under several names; a short bounded retry covers them all.
    return task.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(1), max_attempts=2,
                          backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)


class TriageWorkflow(Construct):
    """The state machine, its two task functions, and the dispatcher consuming the triage queue."""

    def __init__(self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, queue: sqs.IQueue,
                 agent_topic: sns.ITopic, escalation_topic: sns.ITopic, incident_topic: sns.ITopic,
                 layers: Sequence[lambda_.ILayerVersion], classify_layers: Sequence[lambda_.ILayerVersion] = (),
                 retention_days: int = c.DEFAULT_RETENTION_DAYS,
                 routing_rules: dict[str, Any] | None = None, brand_voice: dict[str, Any] | None = None,
                 max_concurrency: int = c.DEFAULT_TRIAGE_MAX_CONCURRENCY,
                 account_concurrency_limit: int = c.DEFAULT_ACCOUNT_CONCURRENCY_LIMIT,
                 sentiment_backend: str = "local", draft_backend: str = "template",
                 bedrock_model_id: str = c.DEFAULT_BEDROCK_MODEL_ID,
                 review: tuple[str, secretsmanager.ISecret] | None = None,
                 platform_secret: secretsmanager.ISecret | None = None,
                 graph_api_version: str = c.DEFAULT_GRAPH_API_VERSION) -> None:
        super().__init__(scope, construct_id)
        comprehend, bedrock = sentiment_backend == "comprehend", draft_backend == "bedrock"
        # Before any resource: an account too small for triage is a synth error, not a stalled deployment.
        self.sizing = size_triage(account_concurrency_limit, max_concurrency)

        env = {
            c.ENV_TABLE_NAME: table.table_name,
            c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL,
        }
        # Overrides travel in a layer: as environment variables they would break Lambda's 4 KB limit.
        config = TriageConfig(self, c.CONFIG_ID, routing_rules=routing_rules, brand_voice=brand_voice)
        env.update(config.environment)
        task_layers = [*layers, *config.layers]

        def step_function(construct_id: str, code_dir: Any, service: str, description: str,
                          timeout: int = c.WEBHOOK_TIMEOUT_SECONDS, extra_env: dict[str, str] | None = None,
                          resource_star_uses: Sequence[str] = (),
                          own_layers: Sequence[lambda_.ILayerVersion] = ()) -> ResponderFunction:
            return ResponderFunction(self, construct_id, code_dir=code_dir, description=description,
                                     layers=[*task_layers, *own_layers],
                                     environment={**env, **(extra_env or {}), c.ENV_POWERTOOLS_SERVICE_NAME: service},
                                     timeout=Duration.seconds(timeout), resource_star_uses=resource_star_uses)

        # Classify opens incidents and adds their members: same retention as mentions. Its environment is the fullest
        # (2,031 of the 2,048 bytes test_triage_config allows), so it names the retention only when it is not the
        # default that responder.core.config shares with infra/constants.py.
        retention_env = ({c.ENV_RETENTION_DAYS: str(retention_days)} if retention_days != c.DEFAULT_RETENTION_DAYS
                         else {})
        review_env = {ENV_REVIEW_BASE_URL: review[0], ENV_REVIEW_KEY_SECRET_ARN: review[1].secret_arn} if review else {}
        # Instagram @mentions arrive as ids only: Classify fetches their text with the Instagram token of the
        # platform secret (responder.platforms.meta.instagram_text_from_env).
        platform_env = ({c.ENV_SECRET_ARN: platform_secret.secret_arn, c.ENV_GRAPH_API_VERSION: graph_api_version}
                        if platform_secret is not None else {})
        classify = step_function(c.CLASSIFY_FUNCTION_ID, c.CLASSIFY_CODE_DIR, c.CLASSIFY_SERVICE_NAME,
                                 "Responder triage: classify a mention and correlate it with surges",
                                 timeout=c.CLASSIFY_TIMEOUT_SECONDS,
                                 extra_env={**review_env, **platform_env, **retention_env,
                                            **({c.ENV_SENTIMENT_BACKEND: "comprehend"} if comprehend else {})},
                                 resource_star_uses=[
                                     "Amazon Comprehend's comprehend:DetectSentiment and "
                                     "comprehend:DetectDominantLanguage, which act on no resource and support "
                                     "no resource-level permissions"] if comprehend else (),
                                 # numpy and the sentiment encoder: Classify is the one function that runs them
                                 own_layers=classify_layers)
        # Draft applies the routing rules in the same invocation (one Lambda request per paged mention, not two): its
        # timeout adds the time the routing step had as a function of its own (c.ROUTE_TIMEOUT_SECONDS).
        draft = step_function(c.DRAFT_FUNCTION_ID, c.DRAFT_CODE_DIR, c.DRAFT_SERVICE_NAME,
                              "Responder triage: draft a reply with the thread's context; team, priority and SLA "
                              "from the routing rules, and the notification",
                              timeout=(c.DRAFT_WITH_MODEL_TIMEOUT_SECONDS if bedrock else c.WEBHOOK_TIMEOUT_SECONDS)
                              + c.ROUTE_TIMEOUT_SECONDS,
                              extra_env={**review_env,
                                         **({c.ENV_DRAFT_BACKEND: "bedrock", c.ENV_BEDROCK_MODEL_ID: bedrock_model_id}
                                            if bedrock else {})})
        # Classify reads the mention (GetItem; no claim), and reads and writes incidents
        # (Query, GetItem, UpdateItem, PutItem; PutItem also inside TransactWriteItems when one opens), recent mentions
        # through gsi2 only;
        # Draft reads the thread (GetItem), and routing reads nothing. No transaction holds a ConditionCheck.
        classify.role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(c.CLASSIFY_TABLE_ACTIONS), resources=[table.table_arn]))
        classify.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{c.GSI2_NAME}"]))
        draft.role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                               resources=[table.table_arn]))
        if review:
            # Classify (incident alerts) and Draft (notifications) sign review links: read the review key, nothing else.
            for fn in (classify, draft):
                review[1].grant_read(fn.role)
        if platform_secret is not None:
            classify.role.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                                                      resources=[platform_secret.secret_arn]))
        if comprehend:
            classify.role.add_to_principal_policy(iam.PolicyStatement(actions=list(COMPREHEND_ACTIONS),
                                                                      resources=["*"]))
        if bedrock:
            self._grant_model(draft.role, bedrock_model_id)
        self.functions = {"classify": classify.function, "draft": draft.function}
        # A task waits for its function's whole invocation (init included), so Step Functions never retries a step
        # while its first invocation still runs.
        self.task_timeouts = {name: fn.timeout.to_seconds() + c.LAMBDA_INIT_ALLOWANCE_SECONDS
                              for name, fn in self.functions.items()}

        self.state_machine = self._state_machine(
            table, agent_topic, escalation_topic, incident_topic, classify.function, draft.function,
            classify_retry_errors=[MANAGED_BACKEND_UNAVAILABLE] if comprehend else [],
            task_timeouts=self.task_timeouts, max_concurrency=self.sizing.parallel_executions)
        acknowledge(self.state_machine.role, "AwsSolutions-IAM5[Resource::*]",
                    "Step Functions' log delivery (logs:CreateLogDelivery and related) and X-Ray actions "
                    "support no resource-level permissions; CDK scopes every other statement to its resource.")
        for fn in (classify.function, draft.function):
            logical_id = Stack.of(self).get_logical_id(fn.node.default_child)
            acknowledge(self.state_machine.role, f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                        "Invoking any version or alias of this one triage function: CDK's LambdaInvoke grant "
                        "covers the function's qualified ARNs, nothing beyond it.")

        dispatcher = ResponderFunction(
            self, c.DISPATCHER_FUNCTION_ID, code_dir=c.DISPATCHER_CODE_DIR,
            description="Responder triage dispatcher: one Express execution per batch of queued mentions",
            layers=layers, timeout=Duration.seconds(c.TRIAGE_FUNCTION_TIMEOUT_SECONDS),
            memory_size=c.DISPATCHER_MEMORY_MB,
            environment={c.ENV_STATE_MACHINE_ARN: self.state_machine.state_machine_arn,
                         c.ENV_TABLE_NAME: table.table_name,
                         c.ENV_QUEUE_URL: queue.queue_url,
                         c.ENV_WORKFLOW_TIMEOUT_SECONDS: str(c.TRIAGE_WORKFLOW_TIMEOUT_SECONDS),
                         c.ENV_MAX_PARALLEL_EXECUTIONS: str(self.sizing.parallel_executions),
                         c.ENV_POWERTOOLS_SERVICE_NAME: c.DISPATCHER_SERVICE_NAME,
                         c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL})
        self.state_machine.grant(dispatcher.role, "states:StartSyncExecution")
        # The batch's minute counts (one increment per minute): the counter items and nothing else of the table.
        dispatcher.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:UpdateItem"], resources=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["COUNTER#*"]}}))
        dispatcher.function.add_event_source(sources.SqsEventSource(
            queue, batch_size=self.sizing.parallel_executions, max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True,
            # Bounds triage concurrency during a surge (the queue absorbs the rest), sized so that the waiting
            # dispatchers leave room for the task functions they wait on and for the webhook.
            max_concurrency=self.sizing.max_concurrency))
        self.dispatcher = dispatcher.function

    def _grant_model(self, role: iam.IRole, model_id: str) -> None:
        """bedrock:InvokeModel (which Converse needs) on the one configured model, nothing else.

        A cross-Region inference profile routes to the model in several Regions: the grant covers the profile
        in this account and Region, and the model's foundation-model ARN in any Region.
        """
        stack = Stack.of(self)
        geography, _, base = model_id.partition(".")
        if geography in INFERENCE_PROFILE_PREFIXES:
            model_arn = f"arn:{stack.partition}:bedrock:*::foundation-model/{base}"
            resources = [f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:inference-profile/{model_id}",
                         model_arn]
            acknowledge(role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base}]",
                        "A cross-Region inference profile serves the model from any Region of its geography; "
                        "the grant names that one model, only its Region is open.")
        else:
            resources = [f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}"]
        role.add_to_principal_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=resources))

    def _state_machine(self, table: dynamodb.ITable, agent_topic: sns.ITopic, escalation_topic: sns.ITopic,
                       incident_topic: sns.ITopic, classify_fn: lambda_.IFunction, draft_fn: lambda_.IFunction,
                       classify_retry_errors: Sequence[str] = (),
                       task_timeouts: dict[str, int] | None = None,
                       max_concurrency: int = c.TRIAGE_BATCH_SIZE) -> sfn.StateMachine:
        timeouts = task_timeouts or {}

        def task_timeout(name: str) -> sfn.Timeout:
            return sfn.Timeout.duration(Duration.seconds(timeouts.get(name, c.WEBHOOK_TIMEOUT_SECONDS
                                                                      + c.LAMBDA_INIT_ALLOWANCE_SECONDS)))

        mention_key = {"pk": S(J.string_at("$.classified.keys.mention.pk")),
                       "sk": S(J.string_at("$.classified.keys.mention.sk"))}
        input_key = {"pk": S(J.format("MENTION#{}#{}", J.string_at("$.key.channel"), J.string_at("$.key.mention_id"))),
                     "sk": S("MENTION")}
        classification = "$.classified.classification"
        # The labels every outcome records on the mention, as plain attributes (queryable, unlike the JSON copy).
        labels = {f":{name}": S(J.string_at(f"{classification}.{name}"))
                  for name in ("intent", "sentiment", "topic", "language")}

        # Triage takes no claim. The outcome is recorded first, by a write conditional on the mention still awaiting
        # triage (responder.aws.storage.AWAITING_TRIAGE) as Classify read it, and only then are the agents paged: of
        # two executions for one mention (a duplicate message) the one whose write is refused pages nobody.
        # "As Classify read it": no `paged_at` or `escalated_at` recorded since (Classify's `seen`). Another execution
        # that recorded, paged and then failed turns the mention back into `triage_failed` with `paged_at`, which
        # still awaits triage; a duplicate that read it before must not page it again (the redelivery records it
        # without a page).
        # `$.recording` is this execution's recording: `at`, when (`triaged_at`), and `by`, an identity of its own
        # (`triaged_by`). Its own write, retried after a lost answer, is accepted again, and a failure after it can
        # tell its own outcome from another execution's; a time cannot (two executions record in the same
        # millisecond). The identity is the random last group of a UUID (12 hex digits, 48 random bits: two
        # executions of one mention share it once in 2**48): every triaged item carries it, and an item is billed per
        # started KB, which the execution's ARN (over 100 bytes) or a whole UUID (36) would tip more items over.
        awaiting = {":received": S("received"), ":queued": S("queued"), ":triaging": S("triaging"),
                    ":failed": S("triage_failed"),
                    ":seenPaged": S(J.string_at("$.classified.seen.paged_at")),
                    ":seenEscalated": S(J.string_at("$.classified.seen.escalated_at"))}
        awaits_triage = "#s IN (:received, :queued, :triaging, :failed)"
        unchanged = ("(attribute_not_exists(paged_at) OR paged_at = :seenPaged) AND "
                     "(attribute_not_exists(escalated_at) OR escalated_at = :seenEscalated)")
        recording = {":at": S(J.string_at("$.recording.at")), ":by": S(J.string_at("$.recording.by"))}

        def records(status: str) -> str:
            """The condition of an outcome write: awaiting triage as read, or this execution's own write again."""
            return f"({awaits_triage} AND {unchanged}) OR (#s = {status} AND triaged_by = :by)"

        # --- the item's result ------------------------------------------------------------------------
        # Every path of an iteration ends in a Pass that keeps only what the dispatcher reads: the item's SQS message
        # (`claim`), whether it failed (and the error), and the mention's share of the minute counters (`count`, see
        # responder.triage.dispatch.tally; null or {} when it counts nothing). The Map's output is the array of these,
        # a few hundred bytes per mention, far below Express's 256 KB for a state's output, whatever the mentions hold.
        def item_triaged(state_id: str) -> sfn.Pass:
            return sfn.Pass(self, state_id, parameters={"claim": J.string_at("$.claim"), "failed": False,
                                                        "count": J.object_at("$.classified.count")})

        def item_failed(state_id: str) -> sfn.Pass:
            return sfn.Pass(self, state_id, parameters={"claim": J.string_at("$.claim"), "failed": True,
                                                        "error": J.string_at("$.error.Error")})

        # Triaged (or closed, or erased) already: counted by the execution that triaged it.
        item_skipped = sfn.Pass(self, "Skipped", parameters={"claim": J.string_at("$.claim"), "failed": False})
        # A mention's failure ends its own iteration of the batch, successfully: a failed iteration would fail the
        # Map, which stops its siblings wherever they are (after their outcome write, before their page). The item's
        # result says it failed, and the dispatcher reports its message alone to SQS.
        failed = item_failed("TriageFailed")
        # Failed on a mention another execution triaged: its status is left as it is.
        not_claimed = item_failed("NotClaimedHere")

        # --- failure path ----------------------------------------------------------------------------
        # A failure marks the mention `triage_failed` (so that SQS's redelivery triages it again) only while it awaits
        # triage, or when the outcome it holds is this execution's: a duplicate's failure must never turn another
        # execution's `notified` back into `triage_failed`, which a redelivery would triage, and page, again. Nor
        # this execution's own outcome once an agent has queued a reply to it (`reply_state`): the reply is sent
        # only from `notified` or `incident` (responder.replies.ledger), and a redelivery would page it again.
        # A failure after the agents were paged (`$.paged`, set once NotifyAgents is done) records `paged_at` too,
        # and after the p1 escalation (`$.escalated`) `escalated_at`, so the redelivery that triages the mention again
        # records it without paging anyone again (and still escalates a p1 whose escalation failed).
        def failed_task(state_id: str, paged: bool, escalated: bool = False) -> tasks.DynamoUpdateItem:
            task = tasks.DynamoUpdateItem(
                self, state_id, table=table, key=input_key,
                update_expression="SET #s = :failed, triage_error = :error, triage_failed_at = :at"
                                  + (", paged_at = :at" if paged else "")
                                  + (", escalated_at = :at" if escalated else ""),
                condition_expression=(f"{awaits_triage} OR (triaged_by = :by AND #s IN (:notified, :member) "
                                      "AND attribute_not_exists(reply_state))"),
                expression_attribute_names={"#s": "status"},
                expression_attribute_values={":received": S("received"), ":queued": S("queued"),
                                             ":triaging": S("triaging"), ":failed": S("triage_failed"),
                                             ":error": S(J.string_at("$.error.Error")),
                                             ":at": S(J.string_at("$$.State.EnteredTime")),
                                             ":by": S(J.string_at("$.recording.by")),
                                             ":notified": S("notified"), ":member": S("incident")},
                result_path=J.DISCARD)
            task.add_retry(errors=["DynamoDB.ConditionalCheckFailedException"], max_attempts=0)
            _retry_service(task)
            return task

        mark_failed_unpaged = failed_task("MarkFailed", paged=False)
        mark_failed_paged = failed_task("MarkFailedAfterPaging", paged=True)
        mark_failed_escalated = failed_task("MarkFailedAfterEscalating", paged=True, escalated=True)
        mark_failed = (sfn.Choice(self, "PagedBeforeFailing?")
                       .when(sfn.Condition.is_present("$.escalated"), mark_failed_escalated)
                       .when(sfn.Condition.is_present("$.paged"), mark_failed_paged)
                       .otherwise(mark_failed_unpaged))
        # The alert per protocol: the JSON document as before for machines, a sentence for e-mail and SMS. It carries
        # no review link: no step signs one on this path (the mention may not even have been read). The sentences are
        # intrinsic-function literals: no apostrophes (they end the literal), no braces but the placeholders.
        describe_failure = sfn.Pass(self, "DescribeFailure", result_path="$.failure", parameters={
            "alert": "triage_failed", "key": J.object_at("$.key"), "error": J.object_at("$.error"),
            "attempt": J.number_at("$.attempt")})
        failure_sentence = ("Responder could not triage the {} mention {} (attempt {}): {}. "
                            "It is marked triage_failed; SQS delivers it again, and after the receive count of its "
                            "redrive policy it waits in the triage dead-letter queue for a redrive.")
        alert = tasks.SnsPublish(
            self, "AlertTriageFailed", topic=escalation_topic, subject="Responder: triage failed",
            message=sfn.TaskInput.from_object({
                "default": J.json_to_string(J.object_at("$.failure")),
                "email": J.format(failure_sentence, J.string_at("$.key.channel"), J.string_at("$.key.mention_id"),
                                  J.string_at("$.attempt"), J.string_at("$.error.Error")),
                "sms": J.format("Responder: triage failed for the {} mention {} (attempt {}): {}",
                                J.string_at("$.key.channel"), J.string_at("$.key.mention_id"),
                                J.string_at("$.attempt"), J.string_at("$.error.Error"))}),
            message_per_subscription_type=True, result_path=J.DISCARD)
        _retry_service(alert)
        # Nothing may fail the iteration: an alert or a failure mark that cannot be written still ends in the item's
        # failure (its message comes back; the mention keeps the status it had).
        alert.add_catch(failed, errors=["States.ALL"], result_path=J.DISCARD)
        first_failure = (sfn.Choice(self, "FirstFailure?")
                         .when(sfn.Condition.number_equals("$.attempt", 1), describe_failure.next(alert).next(failed))
                         .otherwise(failed))
        for task in (mark_failed_unpaged, mark_failed_paged, mark_failed_escalated):
            task.add_catch(not_claimed, errors=["DynamoDB.ConditionalCheckFailedException"], result_path=J.DISCARD)
            task.add_catch(failed, errors=["States.ALL"], result_path=J.DISCARD)
            task.next(first_failure)

        def guarded(task: sfn.TaskStateBase, lambda_task: bool = False,
                    extra_errors: Sequence[str] = ()) -> sfn.TaskStateBase:
            _retry_lambda(task, extra_errors) if lambda_task else _retry_service(task)
            # States.ALL does not catch States.DataLimitExceeded, a terminal error unless it is named (Step
            # Functions developer guide, "Error names"); the state is kept far below the limit, this is the net.
            task.add_catch(mark_failed, errors=["States.DataLimitExceeded"], result_path="$.error")
            return task.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")

        # --- main path ----------------------------------------------------------------------------------
        # Before anything can fail: a failure path that finds no recording of this execution's.
        begin = sfn.Pass(self, "Begin", result=sfn.Result.from_object({"at": "-", "by": "-"}),
                         result_path="$.recording")
        classify_task = tasks.LambdaInvoke(
            self, "Classify", lambda_function=classify_fn, payload_response_only=True, retry_on_service_exceptions=False,
            payload=sfn.TaskInput.from_object({"key": J.object_at("$.key"), "claim": J.string_at("$.claim")}),
            result_path="$.classified", task_timeout=task_timeout("classify"))
        classify = guarded(classify_task, lambda_task=True, extra_errors=classify_retry_errors)
        # An incident member's Draft (DraftMember): drafted only, recorded without a page, so not routed.
        step_input = sfn.TaskInput.from_object({"mention": J.object_at("$.classified.mention"),
                                                "classification": J.object_at(classification)})
        # A mention the agents are paged for is drafted and routed by one invocation (`notify`,
        # responder.triage.steps.draft_and_route_step): the draft, then the team, priority, SLA due and timer, and the
        # agents' notification (responder.triage.notify: the JSON document, e-mail text, SMS line and subject, each
        # with the review link). A failure of either retries and fails the task as a whole, the mention alone.
        route = "$.drafted.route"
        draft = guarded(tasks.LambdaInvoke(
            self, "Draft", lambda_function=draft_fn, payload_response_only=True, retry_on_service_exceptions=False,
            payload=sfn.TaskInput.from_object({"mention": J.object_at("$.classified.mention"),
                                               "classification": J.object_at(classification), "notify": True}),
            result_path="$.drafted", task_timeout=task_timeout("draft")), lambda_task=True)
        # From here on the mention's text travels once, inside the composed notification: the state keeps the
        # mention's ids only (see responder.triage.steps: NOTIFIED_TEXT_MAX_CHARS).
        slim_mention = sfn.Pass(self, "SlimMention", result_path="$.classified.mention", parameters={
            name: J.string_at(f"$.classified.mention.{name}")
            for name in ("channel", "mention_id", "thread_id", "platform", "kind")})
        notification = sfn.TaskInput.from_json_path_at(f"{route}.message")
        attributes = {
            "team": J.string_at(f"{route}.team"), "priority": J.string_at(f"{route}.priority"),
            "platform": J.string_at("$.classified.mention.platform"),
            "channel": J.string_at("$.classified.mention.channel"),
            "intent": J.string_at(f"{classification}.intent"), "language": J.string_at(f"{classification}.language"),
        }
        message_attributes = {name: tasks.MessageAttribute(value=value, data_type=tasks.MessageAttributeDataType.STRING)
                              for name, value in attributes.items()}
        publish = guarded(tasks.SnsPublish(self, "NotifyAgents", topic=agent_topic, message=notification,
                                           message_per_subscription_type=True, subject=J.string_at(f"{route}.subject"),
                                           message_attributes=message_attributes, result_path=J.DISCARD))
        escalate = guarded(tasks.SnsPublish(
            self, "Escalate", topic=escalation_topic, message=notification, message_attributes=message_attributes,
            message_per_subscription_type=True, subject=J.string_at(f"{route}.subject"), result_path=J.DISCARD))
        # A mention the brand answered (natively, on the platform) or an agent closed while triage ran keeps that
        # status: the outcome is recorded only on a mention awaiting triage (see `records` above); otherwise the
        # execution goes on to the incident alert, if one is due and still this execution's to send, and ends.
        # Closed meanwhile, or recorded by another execution: this one pages nobody and counts nothing (the dispatcher
        # counts the execution that recorded it; see responder.triage.dispatch.tally).
        closed_meanwhile = sfn.Pass(self, "ClosedMeanwhile", result=sfn.Result.from_object({}),
                                    result_path="$.classified.count")

        def unless_closed(task: tasks.DynamoUpdateItem) -> tasks.DynamoUpdateItem:
            task.add_retry(errors=["DynamoDB.ConditionalCheckFailedException"], max_attempts=0)
            task.add_catch(closed_meanwhile, errors=["DynamoDB.ConditionalCheckFailedException"],
                           result_path=J.DISCARD)
            return task

        # The labels, team and priority are attributes of their own; incident members, which are not routed, keep the
        # team and priority routing would have given them (`member_route`; responder.sla.escalate reads them; items
        # written before kept them as a JSON copy, `classification_json`). Every outcome removes the bookkeeping of the
        # claims that earlier versions took, and the thread is not written: a mention's outcome and every later update
        # of it (its reply's claim, sending, sent) are billed on the item's size, one write unit per started KB.
        def recording_time(state_id: str) -> sfn.Pass:
            return sfn.Pass(self, state_id, result_path="$.recording", parameters={
                "at": J.string_at("$$.State.EnteredTime"), "by": J.array_get_item(J.string_split(J.uuid(), "-"), 4)})

        record_mention = guarded(unless_closed(tasks.DynamoUpdateItem(
            self, "RecordMention", table=table, key=mention_key,
            update_expression=("SET #s = :notified, triaged_at = :at, triaged_by = :by, intent = :intent, "
                               "sentiment = :sentiment, topic = :topic, #lang = :language, priority = :priority, "
                               "team = :team, sla_due = :due, draft_text = :draft "
                               "REMOVE triage_claimed_until, triage_claim, triage_attempts"),
            condition_expression=records(":notified"),
            expression_attribute_names={"#s": "status", "#lang": "language"},
            expression_attribute_values={
                **awaiting, ":notified": S("notified"), **recording,
                **labels,
                ":priority": S(J.string_at(f"{route}.priority")), ":team": S(J.string_at(f"{route}.team")),
                ":due": S(J.string_at(f"{route}.sla_due")), ":draft": S(J.string_at("$.drafted.draft.text")),
            },
            result_path=J.DISCARD)))
        # Noise is recorded on the same terms as RecordMention: erased, answered or recorded by another execution
        # meanwhile, it keeps that status.
        archive = guarded(unless_closed(tasks.DynamoUpdateItem(
            self, "Archive", table=table, key=mention_key,
            update_expression=("SET #s = :archived, archive_reason = :reason, triaged_at = :at, triaged_by = :by, "
                               "intent = :intent, sentiment = :sentiment, topic = :topic, #lang = :language "
                               "REMOVE triage_claimed_until, triage_claim, triage_attempts"),
            condition_expression=records(":archived"),
            expression_attribute_names={"#s": "status", "#lang": "language"},
            expression_attribute_values={
                **awaiting, ":archived": S("archived"), ":reason": S(J.string_at(f"{classification}.noise_reason")),
                **recording,
                **labels,
            },
            result_path=J.DISCARD)))

        # --- incidents: members that are not paged one by one, and incident alerts ----------------------
        incident = "$.classified.incident"
        publish_incident = guarded(tasks.SnsPublish(
            self, "AlertIncident", topic=incident_topic,
            message=sfn.TaskInput.from_json_path_at(f"{incident}.alert_message"), message_per_subscription_type=True,
            subject=J.string_at(f"{incident}.alert_subject"),
            message_attributes={
                "alert": tasks.MessageAttribute(value=J.string_at(f"{incident}.alert.alert"),
                                                data_type=tasks.MessageAttributeDataType.STRING),
                "priority": tasks.MessageAttribute(value="p1", data_type=tasks.MessageAttributeDataType.STRING)},
            result_path=J.DISCARD))
        record_alert = guarded(tasks.DynamoUpdateItem(
            self, "RecordIncidentAlert", table=table,
            key={"pk": S(J.string_at(f"{incident}.alert_key.pk")), "sk": S(J.string_at(f"{incident}.alert_key.sk"))},
            update_expression="SET alerts = list_append(if_not_exists(alerts, :none), :alert)",
            expression_attribute_values={
                ":none": tasks.DynamoAttributeValue.from_list([]),
                ":alert": tasks.DynamoAttributeValue.from_list([S(J.json_to_string(J.object_at(f"{incident}.alert_record")))]),
            },
            result_path=J.DISCARD))
        done = item_triaged("Done")
        alert_due = sfn.Choice(self, "IncidentAlert?").when(
            sfn.Condition.and_(sfn.Condition.is_present(f"{incident}.alert"),
                               sfn.Condition.is_not_null(f"{incident}.alert")),
            publish_incident.next(record_alert).next(done)).otherwise(done)
        draft_member = guarded(tasks.LambdaInvoke(
            self, "DraftMember", lambda_function=draft_fn, payload_response_only=True,
            retry_on_service_exceptions=False, payload=step_input, result_path="$.drafted",
            task_timeout=task_timeout("draft")), lambda_task=True)
        record_member = guarded(unless_closed(tasks.DynamoUpdateItem(
            self, "RecordIncidentMember", table=table, key=mention_key,
            update_expression=("SET #s = :member, incident_id = :incident, triaged_at = :at, triaged_by = :by, "
                               "intent = :intent, sentiment = :sentiment, topic = :topic, #lang = :language, "
                               "draft_text = :draft, team = :team, priority = :priority "
                               "REMOVE triage_claimed_until, triage_claim, triage_attempts"),
            condition_expression=records(":member"),
            expression_attribute_names={"#s": "status", "#lang": "language"},
            expression_attribute_values={
                **awaiting, ":member": S("incident"), ":incident": S(J.string_at(f"{incident}.incident_id")),
                **recording,
                **labels,
                ":draft": S(J.string_at("$.drafted.draft.text")),
                ":team": S(J.string_at("$.classified.member_route.team")),
                ":priority": S(J.string_at("$.classified.member_route.priority")),
            },
            result_path=J.DISCARD)))
        member_path = draft_member.next(recording_time("RecordingMember")).next(record_member).next(alert_due)
        # After a refused outcome write (another execution recorded the mention, or it was closed meanwhile), an
        # alert this execution carries is sent only after a read of the mention:
        # - never for a mention erased meanwhile (`deleted`): the alert quotes it;
        # - an `opened` alert is announced once, by the execution whose outcome write was accepted. Every execution of
        #   the mention that opened the incident carries that alert until it is recorded on the incident
        #   (responder.surge.correlate), so a duplicate that announced it too would announce the incident twice. Only
        #   a mention closed (answered, handled) before any execution recorded it (no `triaged_by`) has it announced
        #   by a refused one, lest it be lost; a mention back to `triage_failed` is announced by its redelivery;
        # - a digest is claimed once (IncidentStore.claim_digest): the execution that holds it sends it.
        # The read (strongly consistent: one read unit) is made on this path only; if it fails, nothing is sent (an
        # unverified alert could quote an erased post; a lost digest is followed by the next one).
        read_outcome = tasks.DynamoGetItem(
            self, "ReadOutcome", table=table, key=mention_key, consistent_read=True,
            projection_expression=[tasks.DynamoProjectionExpression().with_attribute("#s"),
                                   tasks.DynamoProjectionExpression().with_attribute("triaged_by")],
            expression_attribute_names={"#s": "status"}, result_path="$.outcome")
        _retry_service(read_outcome)
        read_outcome.add_catch(done, errors=["States.ALL"], result_path=J.DISCARD)
        status = "$.outcome.Item.status.S"
        erased = sfn.Condition.and_(sfn.Condition.is_present(status), sfn.Condition.string_equals(status, "deleted"))
        closed_unrecorded = sfn.Condition.and_(
            sfn.Condition.is_present(status),
            sfn.Condition.or_(*(sfn.Condition.string_equals(status, s) for s in ("answered", "handled"))),
            sfn.Condition.is_not_present("$.outcome.Item.triaged_by"))
        opening = sfn.Condition.string_equals(f"{incident}.alert.alert", "opened")
        # Two refused executions of such a mention would both announce it: the first to mark the incident announced
        # does (one conditional write on the incident item, on this rare path only).
        claim_opening = tasks.DynamoUpdateItem(
            self, "ClaimOpeningAlert", table=table,
            key={"pk": S(J.string_at(f"{incident}.alert_key.pk")), "sk": S(J.string_at(f"{incident}.alert_key.sk"))},
            update_expression="SET opened_announced_by = :by",
            condition_expression="attribute_exists(pk) AND attribute_not_exists(opened_announced_by)",
            expression_attribute_values={":by": S(J.string_at("$.recording.by"))}, result_path=J.DISCARD)
        claim_opening.add_retry(errors=["DynamoDB.ConditionalCheckFailedException"], max_attempts=0)
        _retry_service(claim_opening)
        claim_opening.add_catch(done, errors=["States.ALL"], result_path=J.DISCARD)
        claim_opening.next(publish_incident)
        read_outcome.next(sfn.Choice(self, "AnnounceAfterRefusal?")
                          .when(erased, done)
                          .when(sfn.Condition.not_(opening), publish_incident)
                          .when(closed_unrecorded, claim_opening)
                          .otherwise(done))
        closed_meanwhile.next(sfn.Choice(self, "AlertAfterRefusal?").when(
            sfn.Condition.and_(sfn.Condition.is_present(f"{incident}.alert"),
                               sfn.Condition.is_not_null(f"{incident}.alert")), read_outcome).otherwise(done))

        # The outcome is written before the pages: only the execution whose write was accepted pages anyone. Once the
        # agents have been paged, and again once a p1 has been escalated, the state says so: a step failing after
        # this marks the mention `paged_at` (and `escalated_at`) with `triage_failed`, and its next triage records it
        # without a page (and escalates only a p1 whose escalation had not gone out).
        def earlier(field: str) -> sfn.Condition:
            return sfn.Condition.and_(sfn.Condition.is_present(f"$.classified.{field}"),
                                      sfn.Condition.boolean_equals(f"$.classified.{field}", True))

        escalated = sfn.Pass(self, "Escalated", result=sfn.Result.from_boolean(True), result_path="$.escalated")
        escalated.next(alert_due)
        after_publish = sfn.Choice(self, "Priority1?").when(
            sfn.Condition.and_(sfn.Condition.string_equals(f"{route}.priority", "p1"),
                               sfn.Condition.not_(earlier("escalated"))), escalate.next(escalated)).otherwise(alert_due)
        paged = sfn.Pass(self, "Paged", result=sfn.Result.from_boolean(True), result_path="$.paged")
        paged.next(after_publish)
        paged_before = sfn.Choice(self, "PagedBefore?").when(earlier("paged"), after_publish
                                                             ).otherwise(publish.next(paged))
        record_mention.next(paged_before)
        notify = draft.next(slim_mention).next(recording_time("Recording")).next(record_mention)
        definition = begin.next(classify).next(
            sfn.Choice(self, "AlreadyTriaged?")
            .when(sfn.Condition.boolean_equals("$.classified.skip", True), item_skipped)
            .otherwise(sfn.Choice(self, "Noise?")
                       .when(sfn.Condition.boolean_equals(f"{classification}.noise", True),
                             recording_time("RecordingNoise").next(archive).next(item_triaged("Archived")))
                       # Incident members are drafted and recorded, not paged one by one (crises, VIPs and
                       # high-reach authors still are: `page` is true for them).
                       .when(sfn.Condition.and_(sfn.Condition.boolean_equals(f"{incident}.member", True),
                                                sfn.Condition.boolean_equals(f"{incident}.page", False)),
                             member_path)
                       .otherwise(notify)))

        # Under /aws/vendedlogs/ so that log delivery needs no CloudWatch Logs resource policy per group (an
        # account has at most 10 policies of 5,120 characters; CloudWatch Logs user guide, "Enabling logging from
        # AWS services"). Retained like the functions' groups; the stack's id makes the name unique per stack, so
        # a re-created stack does not collide with the group a deleted one left behind.
        stack_uuid = Fn.select(2, Fn.split("/", Stack.of(self).stack_id))
        log_group = logs.LogGroup(self, "StateMachineLogs", retention=logs.RetentionDays.ONE_MONTH,
                                  log_group_name=f"{c.STATE_MACHINE_LOG_GROUP_PREFIX}{Stack.of(self).stack_name}-"
                                                 f"Triage-{stack_uuid}",
                                  removal_policy=RemovalPolicy.RETAIN)
        # One execution per dispatcher batch (Express bills $1.00 per million executions): the batch's mentions run
        # side by side, each through the whole chain above, as one inline Map iteration. Each iteration's input is the
        # item as the dispatcher wrote it (responder.triage.dispatch.execution_input).
        each_mention = sfn.Map(self, "EachMention", items_path="$.items", max_concurrency=max_concurrency)
        each_mention.item_processor(definition)
        return sfn.StateMachine(
            self, c.STATE_MACHINE_ID, state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_chainable(each_mention),
            timeout=Duration.seconds(c.TRIAGE_WORKFLOW_TIMEOUT_SECONDS), tracing_enabled=True,
            # Every state transition is logged, but not the data: mention text (DMs included) stays out of logs.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False))
