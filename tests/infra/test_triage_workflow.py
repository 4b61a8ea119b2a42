"""The triage workflow as synthesized: Express, logged, traced, direct integrations, fed by the dispatcher."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra import constants as c
from infra.app import build_app


def machine_definition(template_dict) -> dict:
    """The state machine's definition as synthesized."""
    (machine,) = [r for r in template_dict["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    # Every non-string part (a Ref or GetAtt) sits inside a JSON string literal of the definition.
    def literal(part):
        if isinstance(part, str):
            return part
        return "aws" if part == {"Ref": "AWS::Partition"} else "ARN"

    return json.loads("".join(literal(p) for p in parts))


def definition(template_dict) -> dict:
    """The per-mention workflow (the batch Map's item processor: StartAt and States), with the machine's timeout."""
    machine = machine_definition(template_dict)
    (each,) = machine["States"].values()
    return {**each["ItemProcessor"], "TimeoutSeconds": machine["TimeoutSeconds"]}


def test_one_execution_triages_a_batch_side_by_side_and_no_mention_fails_the_others(template_dict):
    # Given the synthesized machine
    machine = machine_definition(template_dict)
    # Then it is one inline Map over the batch's items, as many at once as the dispatcher's batch holds
    assert list(machine["States"]) == [machine["StartAt"]] == ["EachMention"]
    each = machine["States"]["EachMention"]
    assert each["Type"] == "Map" and each["ItemsPath"] == "$.items" and each.get("End") is True
    assert each["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    (dispatcher,) = [r["Properties"] for r in template_dict["Resources"].values()
                     if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Environment", {})
                     .get("Variables", {}).get("POWERTOOLS_SERVICE_NAME") == c.DISPATCHER_SERVICE_NAME]
    (source,) = [r["Properties"] for r in template_dict["Resources"].values()
                 if r["Type"] == "AWS::Lambda::EventSourceMapping"
                 and r["Properties"].get("FunctionName", {}).get("Ref", "").startswith("TriageDispatcher")]
    assert each["MaxConcurrency"] == source["BatchSize"] == int(
        dispatcher["Environment"]["Variables"]["MAX_PARALLEL_EXECUTIONS"])
    # And no state of an iteration ends it in failure (a failed iteration would stop its siblings mid-way), and none
    # ends without its small result: the message id, failed or not, and the counters' share
    states = each["ItemProcessor"]["States"]
    assert not [n for n, st in states.items() if st["Type"] in ("Fail", "Succeed")]
    ends = {n: st for n, st in states.items() if st.get("End")}
    assert sorted(ends) == ["Archived", "Done", "NotClaimedHere", "Skipped", "TriageFailed"]
    assert all(st["Type"] == "Pass" and "ResultPath" not in st and st["Parameters"]["claim.$"] == "$.claim"
               for st in ends.values())
    assert ends["Done"]["Parameters"] == ends["Archived"]["Parameters"] == {
        "claim.$": "$.claim", "failed": False, "count.$": "$.classified.count"}
    assert ends["Skipped"]["Parameters"] == {"claim.$": "$.claim", "failed": False}
    assert ends["TriageFailed"]["Parameters"] == ends["NotClaimedHere"]["Parameters"] == {
        "claim.$": "$.claim", "failed": True, "error.$": "$.error.Error"}
    # And the failure path's own steps end in the item's failure when they fail: nothing is left uncaught
    for name in ("MarkFailed", "MarkFailedAfterPaging", "MarkFailedAfterEscalating", "AlertTriageFailed"):
        assert states[name]["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": None,
                                             "Next": "TriageFailed"}, name
    assert not [n for n, st in states.items() if st["Type"] == "Task" and not any(
        "States.ALL" in catch["ErrorEquals"] for catch in st.get("Catch", []))]


def test_state_machine_is_express_logs_all_without_data_and_is_traced(template):
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineType": "EXPRESS",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": False,
                                 "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}]},
    })


def test_sns_and_dynamodb_steps_are_direct_service_integrations(template_dict):
    states = definition(template_dict)["States"]
    resources = {name: s.get("Resource") for name, s in states.items() if s["Type"] == "Task"}
    assert resources["NotifyAgents"] == resources["Escalate"] == "arn:aws:states:::sns:publish"
    assert resources["AlertIncident"] == "arn:aws:states:::sns:publish"
    for name in ("RecordMention", "Archive", "MarkFailed", "RecordIncidentMember", "RecordIncidentAlert"):
        assert resources[name] == "arn:aws:states:::dynamodb:updateItem", name
    # And no step writes the thread: nothing reads what a thread update would record (0.7 write units per mention)
    assert not [n for n, s in states.items() if "THREAD" in json.dumps(s) or "keys.thread" in json.dumps(s)]
    # Only the domain steps are Lambda functions (Draft runs for paged mentions, which it routes too, and for incident
    # members)
    assert sorted(n for n, r in resources.items() if r == "ARN") == ["Classify", "Draft", "DraftMember"]


def test_every_outcome_removes_the_claims_bookkeeping(template_dict):
    # Given the three outcome writes of a claimed mention
    states = definition(template_dict)["States"]
    for name in ("RecordMention", "Archive", "RecordIncidentMember"):
        expression = states[name]["Parameters"]["UpdateExpression"]
        # Then each removes the claim's attributes, keeping a notified mention's item small (billed per KB)
        removed = {a.strip() for a in expression.split("REMOVE", 1)[1].split(",")}
        assert {"triage_claimed_until", "triage_claim", "triage_attempts"} <= removed, name
    # And a member keeps only the route's team and priority of its classification, as two attributes of their own
    member = states["RecordIncidentMember"]["Parameters"]
    assert member["ExpressionAttributeValues"][":team"] == {"S.$": "$.classified.member_route.team"}
    assert member["ExpressionAttributeValues"][":priority"] == {"S.$": "$.classified.member_route.priority"}
    assert "team = :team, priority = :priority" in member["UpdateExpression"]
    assert "classification_json" not in member["UpdateExpression"]


def test_agent_notification_carries_the_routing_attributes(template_dict):
    states = definition(template_dict)["States"]
    attributes = states["NotifyAgents"]["Parameters"]["MessageAttributes"]
    assert sorted(attributes) == ["channel", "intent", "language", "platform", "priority", "team"]
    assert attributes["team"] == {"DataType": "String", "StringValue.$": "$.drafted.route.team"}
    # Draft, told to notify, routes the mention and composes the notification (per protocol) in the same invocation;
    # an incident member's draft is not routed (it is recorded without a page)
    assert states["Draft"]["Parameters"] == {
        "mention.$": "$.classified.mention", "classification.$": "$.classified.classification", "notify": True}
    assert states["DraftMember"]["Parameters"] == {
        "mention.$": "$.classified.mention", "classification.$": "$.classified.classification"}
    # And NotifyAgents and Escalate publish it with one entry per subscription protocol and its subject
    for name in ("NotifyAgents", "Escalate"):
        parameters = states[name]["Parameters"]
        assert parameters["Message.$"] == "$.drafted.route.message" and parameters["MessageStructure"] == "json", name
        assert parameters["Subject.$"] == "$.drafted.route.subject", name
    # And after Draft the state keeps the mention's ids only: its text travels once, in the notification
    assert states["Draft"]["Next"] == "SlimMention"
    assert sorted(states["SlimMention"]["Parameters"]) == ["channel.$", "kind.$", "mention_id.$", "platform.$",
                                                           "thread_id.$"]
    assert states["SlimMention"]["ResultPath"] == "$.classified.mention"
    assert not [name for name, state in states.items() if state.get("ResultPath") == "$.notification"]


def test_incident_and_failure_alerts_are_published_per_protocol(template_dict):
    states = definition(template_dict)["States"]
    # Given the incident alert composed by Classify
    alert = states["AlertIncident"]["Parameters"]
    assert alert["Message.$"] == "$.classified.incident.alert_message" and alert["MessageStructure"] == "json"
    assert alert["Subject.$"] == "$.classified.incident.alert_subject"
    # And the triage-failed alert, composed in the state machine: its document for machines, sentences for people
    failed = states["AlertTriageFailed"]["Parameters"]
    assert failed["MessageStructure"] == "json"
    assert sorted(failed["Message"]) == ["default.$", "email.$", "sms.$"]
    assert failed["Message"]["default.$"] == "States.JsonToString($.failure)"
    assert states["DescribeFailure"]["Next"] == "AlertTriageFailed"


def test_every_task_retries_and_catches_into_the_failure_path(template_dict):
    states = definition(template_dict)["States"]
    for name, state in states.items():
        if state["Type"] != "Task" or name in ("MarkFailed", "MarkFailedAfterPaging", "MarkFailedAfterEscalating",
                                               "AlertTriageFailed", "ReadOutcome", "ClaimOpeningAlert"):
            continue
        assert state.get("Retry"), f"{name} has no retry"
        assert state["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                      "Next": "PagedBeforeFailing?"}, name
    # Except the read after a refused outcome write: the mention is not this execution's to mark failed, and an
    # unreadable status sends nothing (an unverified alert could quote an erased post)
    assert states["ReadOutcome"]["Retry"] and states["ReadOutcome"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Done"}]
    # Triage takes no claim: nothing is caught apart from failures, and no state waits on another execution
    assert "ClaimHeldElsewhere" not in states
    assert all(e != ["ClaimHeld"] for state in states.values() for e in
               [c["ErrorEquals"] for c in state.get("Catch", [])])
    lambda_retry = states["Classify"]["Retry"][0]
    assert "StorageUnavailable" in lambda_retry["ErrorEquals"] and lambda_retry["BackoffRate"] == 2
    assert states["MarkFailed"]["Next"] == states["MarkFailedAfterPaging"]["Next"] == "FirstFailure?"
    assert states["MarkFailedAfterEscalating"]["Next"] == "FirstFailure?"
    # And a failure ends the item, not the batch (test_one_execution_triages_a_batch_side_by_side_...)
    assert states["TriageFailed"]["Parameters"]["failed"] is True and states["TriageFailed"]["End"] is True
    # A failure after the page (and after a p1's escalation) records it, so the next triage of the mention does not
    # page (or escalate) again
    assert states["PagedBeforeFailing?"]["Choices"] == [
        {"Variable": "$.escalated", "IsPresent": True, "Next": "MarkFailedAfterEscalating"},
        {"Variable": "$.paged", "IsPresent": True, "Next": "MarkFailedAfterPaging"}]
    assert "paged_at = :at" in states["MarkFailedAfterPaging"]["Parameters"]["UpdateExpression"]
    assert "escalated_at" not in states["MarkFailedAfterPaging"]["Parameters"]["UpdateExpression"]
    assert {"paged_at = :at", "escalated_at = :at"} <= {
        part.strip() for part in states["MarkFailedAfterEscalating"]["Parameters"]["UpdateExpression"][4:].split(",")}
    assert "paged_at" not in states["MarkFailed"]["Parameters"]["UpdateExpression"]
    # The agents are paged, then a p1 is escalated: each recorded in the state as soon as it is done
    assert states["NotifyAgents"]["Next"] == "Paged" and states["Paged"]["ResultPath"] == "$.paged"
    assert states["Paged"]["Next"] == "Priority1?" and states["Escalate"]["Next"] == "Escalated"
    assert states["Escalated"]["Next"] == "IncidentAlert?" and states["Escalated"]["ResultPath"] == "$.escalated"
    assert states["PagedBefore?"]["Default"] == "NotifyAgents"
    assert states["PagedBefore?"]["Choices"][0]["Next"] == "Priority1?"


def test_noise_is_archived_and_p1_is_escalated(template_dict):
    states = definition(template_dict)["States"]
    assert states["Noise?"]["Choices"][0] == {"Variable": "$.classified.classification.noise", "BooleanEquals": True,
                                              "Next": "RecordingNoise"}
    assert states["RecordingNoise"]["Next"] == "Archive"
    (p1,) = states["Priority1?"]["Choices"]
    assert {"Variable": "$.drafted.route.priority", "StringEquals": "p1"} in p1["And"] and p1["Next"] == "Escalate"


def test_dispatcher_consumes_the_triage_queue_with_partial_batch_failures(template):
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BatchSize": 10,
        "ScalingConfig": {"MaximumConcurrency": c.DEFAULT_TRIAGE_MAX_CONCURRENCY},
    })


def test_the_dispatcher_which_mostly_waits_has_less_memory_than_the_functions_that_compute(template_dict):
    # Lambda bills the dispatcher's wait on its executions at its memory: 256 MB, not the 512 MB of the task functions
    memory = {lid: r["Properties"].get("MemorySize") for lid, r in template_dict["Resources"].items()
              if r["Type"] == "AWS::Lambda::Function"}
    (dispatcher,) = [m for lid, m in memory.items() if "Dispatcher" in lid]
    classify = [m for lid, m in memory.items() if "Classify" in lid]
    assert dispatcher == c.DISPATCHER_MEMORY_MB == 256 and classify == [c.FUNCTION_MEMORY_MB]


def test_dispatcher_may_only_start_sync_executions(template_dict):
    policies = [r["Properties"]["PolicyDocument"]["Statement"] for lid, r in template_dict["Resources"].items()
                if r["Type"] == "AWS::IAM::Policy" and "Dispatcher" in lid]
    actions = {a for statements in policies for s in statements
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "states:StartSyncExecution" in actions
    assert not any(a in ("states:*", "states:StartExecution") for a in actions)


def test_topics_are_encrypted_and_ssl_only(template):
    template.resource_count_is("AWS::SNS::Topic", 4)
    template.all_resources_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})


def test_subscriptions_from_context_carry_team_filter_policies():
    # Given subscriptions declared in CDK context
    app = build_app({c.CONTEXT_AGENT_SUBSCRIPTIONS: [
        {"team": "billing", "protocol": "email", "endpoint": "billing@example.com"},
        {"team": "orders", "protocol": "https", "endpoint": "https://hooks.example.com/orders",
         "filter": {"priority": ["p1", "p2"]}}],
        c.CONTEXT_ESCALATION_SUBSCRIPTIONS: [{"protocol": "sms", "endpoint": "+15550100"}]}, with_nag=False)
    template = Template.from_stack(app.node.find_child(c.STACK_NAME))
    # Then each agent subscription filters on its team (and any extra attribute)
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "billing@example.com", "FilterPolicy": {"team": ["billing"]}})
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "https", "FilterPolicy": {"team": ["orders"], "priority": ["p1", "p2"]}})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "sms", "FilterPolicy": Match.absent()})


@pytest.mark.parametrize("bad", [
    [{"team": "billing", "protocol": "pigeon", "endpoint": "x"}],
    [{"protocol": "email", "endpoint": "all@example.com"}],
    [{"team": "billing", "protocol": "email", "endpoint": "b@example.com", "filter": {"colour": ["red"]}}],
])
def test_malformed_subscriptions_are_rejected(bad):
    with pytest.raises(Exception, match="subscription|filter"):
        build_app({c.CONTEXT_AGENT_SUBSCRIPTIONS: bad}, with_nag=False)



def _functions_by_service(template_dict) -> dict[str, dict]:
    return {r["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: r["Properties"]
            for r in template_dict["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and "POWERTOOLS_SERVICE_NAME" in r["Properties"].get("Environment", {}).get("Variables", {})}


# The workflow's Lambda tasks and the function each one invokes.
TASK_SERVICES = {"Classify": c.CLASSIFY_SERVICE_NAME, "Draft": c.DRAFT_SERVICE_NAME,
                 "DraftMember": c.DRAFT_SERVICE_NAME}


@pytest.mark.parametrize("context", [{}, {c.CONTEXT_DRAFT_BACKEND: "bedrock"}], ids=["default", "bedrock-draft"])
def test_every_timeout_outlasts_what_it_waits_for(context, template_dict):
    # Given the synthesized template (and one with the slower model-drafting function)
    if context:
        app = build_app(context, with_nag=False)
        template_dict = app.synth().get_stack_by_name(c.STACK_NAME).template
    machine = definition(template_dict)
    functions = _functions_by_service(template_dict)
    (queue,) = [r["Properties"] for key, r in template_dict["Resources"].items()
                if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
                and key.startswith(c.INGEST_QUEUE_ID)]
    dispatcher = functions[c.DISPATCHER_SERVICE_NAME]
    # Then each Lambda task waits for its function's whole invocation (init included): no retry beside a live one
    for task, service in TASK_SERVICES.items():
        assert machine["States"][task]["TimeoutSeconds"] >= functions[service]["Timeout"] + 10, task
    # And the workflow ends, with time to spare, before the dispatcher waiting on it times out
    workflow = machine["TimeoutSeconds"]
    assert workflow + 10 <= dispatcher["Timeout"]
    assert dispatcher["Environment"]["Variables"][c.ENV_WORKFLOW_TIMEOUT_SECONDS] == str(workflow)
    # And the queue hides a message for at least six dispatcher timeouts (AWS's guidance for SQS event sources)
    assert queue["VisibilityTimeout"] >= 6 * dispatcher["Timeout"]


def test_a_task_that_outgrows_the_state_limit_is_caught_into_the_failure_path(template_dict):
    # Given the synthesized workflow
    states = definition(template_dict)["States"]
    # Then every guarded task names States.DataLimitExceeded, which States.ALL does not catch, before States.ALL
    for name, state in states.items():
        if state["Type"] != "Task" or name in ("MarkFailed", "MarkFailedAfterPaging", "MarkFailedAfterEscalating",
                                               "AlertTriageFailed", "ReadOutcome", "ClaimOpeningAlert"):
            continue
        assert {"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error",
                "Next": "PagedBeforeFailing?"} in state["Catch"][:-1], name


def _dispatcher_sizing(template_dict) -> tuple[int, int, str]:
    (mapping,) = [r["Properties"] for r in template_dict["Resources"].values()
                  if r["Type"] == "AWS::Lambda::EventSourceMapping"
                  and r["Properties"]["FunctionName"]["Ref"].startswith(c.TRIAGE_ID)]
    env = _functions_by_service(template_dict)[c.DISPATCHER_SERVICE_NAME]["Environment"]["Variables"]
    return mapping["ScalingConfig"]["MaximumConcurrency"], mapping["BatchSize"], env[c.ENV_MAX_PARALLEL_EXECUTIONS]


def test_default_account_runs_ten_dispatchers_of_ten_executions(template_dict):
    # Given the default account concurrency limit (1,000)
    # Then ten dispatchers each take and run ten messages at once: 110 concurrent executions at most
    assert _dispatcher_sizing(template_dict) == (10, 10, "10")


def test_an_account_limited_to_ten_leaves_room_for_the_task_functions_and_the_webhook():
    # Given an account whose Lambda concurrency limit is 10 (a new account)
    app = build_app({c.CONTEXT_ACCOUNT_CONCURRENCY_LIMIT: "10"}, with_nag=False)
    template_dict = app.synth().get_stack_by_name(c.STACK_NAME).template
    # Then two dispatchers (SQS's minimum) run three executions each: 2 x (1 + 3) = 8, two left for the webhook
    maximum, batch, parallel = _dispatcher_sizing(template_dict)
    assert (maximum, batch, parallel) == (2, 3, "3")
    assert maximum * (1 + batch) <= 10 - 2


def test_an_account_too_small_for_triage_is_a_clear_synth_error():
    # Given an account limit that cannot hold two dispatchers with one execution each besides the webhook
    # Then synthesis stops and says what is needed
    with pytest.raises(ValueError, match=r"accountConcurrencyLimit.*at least 4 concurrent.*at least 5"):
        build_app({c.CONTEXT_ACCOUNT_CONCURRENCY_LIMIT: 4}, with_nag=False)


def test_a_timed_out_task_is_not_retried_inside_the_execution(template_dict):
    # Given the synthesized workflow
    machine = definition(template_dict)
    # Then no task retries States.Timeout (more attempts would outlast the workflow's own timeout, which no Catch
    # sees), and the retries a task does make cannot outlast it either
    for name, state in machine["States"].items():
        for retrier in state.get("Retry", []):
            assert "States.Timeout" not in retrier["ErrorEquals"], name
    classify = machine["States"]["Classify"]
    assert classify["TimeoutSeconds"] + machine["States"]["Draft"]["TimeoutSeconds"] < machine["TimeoutSeconds"]


def test_review_links_are_an_option_reading_only_the_review_key():
    from aws_cdk import App, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_secretsmanager as secretsmanager
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_sqs as sqs

    from infra.constructs import triage_workflow
    from responder.replies import tokens

    # Given the workflow built with a review base URL and the review key's secret
    stack = Stack(App(), "ReviewOption")
    table = dynamodb.Table(stack, "Table", partition_key=dynamodb.Attribute(name="pk",
                                                                            type=dynamodb.AttributeType.STRING))
    secret = secretsmanager.Secret(stack, "ReviewKey")
    triage_workflow.TriageWorkflow(stack, "Triage", table=table, queue=sqs.Queue(stack, "Queue"),
                                   agent_topic=sns.Topic(stack, "A"), escalation_topic=sns.Topic(stack, "E"),
                                   incident_topic=sns.Topic(stack, "I"), layers=[],
                                   review=("https://review.example.com", secret))
    template = Template.from_stack(stack).to_json()
    functions = {r["Properties"]["Environment"]["Variables"][c.ENV_POWERTOOLS_SERVICE_NAME]: (lid, r)
                 for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    secret_id = next(lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret")
    # Then Classify and Draft (which sign links) are told where the page is and which secret holds the key, under the
    # names responder.replies.tokens reads
    assert (triage_workflow.ENV_REVIEW_BASE_URL, triage_workflow.ENV_REVIEW_KEY_SECRET_ARN) == (
        tokens.ENV_REVIEW_BASE_URL, tokens.ENV_REVIEW_KEY_SECRET_ARN)
    readers = set()
    for service, (logical_id, fn) in functions.items():
        variables = fn["Properties"]["Environment"]["Variables"]
        policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                    and {"Ref": fn["Properties"]["Role"]["Fn::GetAtt"][0]} in r["Properties"]["Roles"]]
        reads = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
                 if s["Resource"] == {"Ref": secret_id}]
        if service in (c.CLASSIFY_SERVICE_NAME, c.DRAFT_SERVICE_NAME):
            assert variables[tokens.ENV_REVIEW_BASE_URL] == "https://review.example.com", service
            assert variables[tokens.ENV_REVIEW_KEY_SECRET_ARN] == {"Ref": secret_id}, service
            # And may read that one secret, nothing more
            allowed = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
            assert reads and all(sorted(s["Action"]) == allowed for s in reads), (service, reads)
            readers.add(service)
        else:
            assert tokens.ENV_REVIEW_KEY_SECRET_ARN not in variables and not reads, service
    assert readers == {c.CLASSIFY_SERVICE_NAME, c.DRAFT_SERVICE_NAME}


def test_in_the_stack_only_the_functions_that_sign_or_check_links_are_told_of_the_review_key(template_dict):
    # Given the whole stack
    told = {fn["Properties"]["Environment"]["Variables"][c.ENV_POWERTOOLS_SERVICE_NAME]
            for fn in template_dict["Resources"].values() if fn["Type"] == "AWS::Lambda::Function"
            and "REVIEW_KEY_SECRET_ARN" in fn["Properties"]["Environment"]["Variables"]}
    # Then Classify and Draft (notifications), the sender and the sla function (their alerts) and the review page
    # know it; no other
    assert told == {c.CLASSIFY_SERVICE_NAME, c.DRAFT_SERVICE_NAME, c.SENDER_SERVICE_NAME, c.REVIEW_SERVICE_NAME,
                    c.SLA_SERVICE_NAME}


def test_the_outcome_is_recorded_only_on_a_mention_awaiting_triage_and_before_any_page(template_dict):
    states = definition(template_dict)["States"]
    for name, status in (("RecordMention", ":notified"), ("RecordIncidentMember", ":member"),
                         ("Archive", ":archived")):
        # Given the task that records triage's outcome on the mention
        parameters = states[name]["Parameters"]
        # Then it records only a mention still awaiting triage as Classify read it, not paged nor escalated since (or
        # its own outcome, written again on a retry): an answered, handled, deleted mention, one another execution
        # recorded, or one another execution paged and then failed, is left as it is
        assert parameters["ConditionExpression"] == (
            "(#s IN (:received, :queued, :triaging, :failed) AND "
            "(attribute_not_exists(paged_at) OR paged_at = :seenPaged) AND "
            "(attribute_not_exists(escalated_at) OR escalated_at = :seenEscalated)) "
            f"OR (#s = {status} AND triaged_by = :by)"), name
        values = parameters["ExpressionAttributeValues"]
        assert values[":seenPaged"] == {"S.$": "$.classified.seen.paged_at"}, name
        assert values[":seenEscalated"] == {"S.$": "$.classified.seen.escalated_at"}, name
        # And "its own" is this execution's recording, told by an identity of its own and not by the time
        assert (values[":at"], values[":by"]) == ({"S.$": "$.recording.at"}, {"S.$": "$.recording.by"}), name
        assert "triaged_at = :at, triaged_by = :by" in parameters["UpdateExpression"], name
        # And that refusal is no failure: the execution goes on to the incident alert, if one is due, uncounted
        assert states[name]["Catch"][0] == {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                                            "ResultPath": None, "Next": "ClosedMeanwhile"}, name
    assert states["ClosedMeanwhile"]["Next"] == "AlertAfterRefusal?"
    assert states["ClosedMeanwhile"]["ResultPath"] == "$.classified.count" and states["ClosedMeanwhile"]["Result"] == {}
    # And the agents are paged only after the outcome is recorded
    assert states["Recording"]["Next"] == "RecordMention" and states["RecordMention"]["Next"] == "PagedBefore?"
    assert states["RecordingMember"]["Next"] == "RecordIncidentMember"
    for recording in ("Recording", "RecordingMember", "RecordingNoise"):
        assert states[recording]["Parameters"] == {
            "at.$": "$$.State.EnteredTime", "by.$": "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4)"}
    # And the execution starts with no recording of its own, which the failure path compares with
    assert states[definition(template_dict)["StartAt"]]["Result"] == {"at": "-", "by": "-"}


def test_a_failure_reverts_only_this_executions_outcome_and_never_once_a_reply_is_queued(template_dict):
    states = definition(template_dict)["States"]
    for name in ("MarkFailed", "MarkFailedAfterPaging", "MarkFailedAfterEscalating"):
        # Given a failure path's write
        parameters = states[name]["Parameters"]
        # Then it marks the mention failed while it awaits triage, or when its outcome is this execution's (by its
        # recording's identity) and no agent has queued a reply to it since
        assert parameters["ConditionExpression"] == (
            "#s IN (:received, :queued, :triaging, :failed) OR (triaged_by = :by AND #s IN (:notified, :member) "
            "AND attribute_not_exists(reply_state))"), name
        assert parameters["ExpressionAttributeValues"][":by"] == {"S.$": "$.recording.by"}, name


def test_after_a_refused_outcome_write_an_alert_is_sent_only_after_reading_the_mention(template_dict):
    states = definition(template_dict)["States"]
    # Given the path of an execution whose outcome write was refused, carrying an incident alert
    (due,) = states["AlertAfterRefusal?"]["Choices"]
    assert due["Next"] == "ReadOutcome" and states["AlertAfterRefusal?"]["Default"] == "Done"
    read = states["ReadOutcome"]
    assert read["Resource"] == "arn:aws:states:::dynamodb:getItem" and read["Parameters"]["ConsistentRead"] is True
    assert "triaged_by" in read["Parameters"]["ProjectionExpression"]
    # Then nothing is sent for a mention erased meanwhile (the alert quotes it), a digest (claimed once) is sent, and
    # an opened alert only for a mention answered or handled before any execution recorded it: one another execution
    # recorded is that execution's to announce, one back to triage_failed its redelivery's
    erased, digest, closed = states["AnnounceAfterRefusal?"]["Choices"]
    assert erased["Next"] == "Done"
    assert {"Variable": "$.outcome.Item.status.S", "StringEquals": "deleted"} in erased["And"]
    assert digest["Next"] == "AlertIncident" and digest["Not"]["StringEquals"] == "opened"
    assert closed["Next"] == "ClaimOpeningAlert" and states["AnnounceAfterRefusal?"]["Default"] == "Done"
    assert sorted(c["StringEquals"] for c in closed["And"][1]["Or"]) == ["answered", "handled"]
    assert {"Variable": "$.outcome.Item.triaged_by", "IsPresent": False} in closed["And"]
    # And of two refused executions, the first to mark the incident announced announces it
    claim = states["ClaimOpeningAlert"]
    assert claim["Next"] == "AlertIncident"
    assert "attribute_not_exists(opened_announced_by)" in claim["Parameters"]["ConditionExpression"]
    assert claim["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Done"}]