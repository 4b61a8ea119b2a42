"""SLA timers: the schedule group, the role Scheduler assumes, and who may create schedules."""

from __future__ import annotations

from typing import Any

from infra import constants as c


def _statements(synthesized, role: Any) -> list[dict[str, Any]]:
    role_ref = {"Ref": synthesized.logical_id(role)}
    found = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if role_ref in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_scheduler_assumes_a_role_that_may_only_invoke_the_sla_function(synthesized):
    # Given the role the timers name
    sla = synthesized.stack.sla
    role = synthesized.resources("AWS::IAM::Role")[synthesized.logical_id(sla.role)]
    # Then only EventBridge Scheduler of this account may assume it
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # And it may do one thing: invoke the sla function (unqualified ARN, no version wildcard)
    statements = _statements(synthesized, sla.role)
    assert [(_actions(s), s["Resource"]) for s in statements] == [
        (["lambda:InvokeFunction"], {"Fn::GetAtt": [synthesized.logical_id(sla.function), "Arn"]})]


def test_draft_and_classify_may_create_schedules_in_the_group_and_pass_that_role_only(synthesized):
    sla = synthesized.stack.sla
    group_id = synthesized.stack.get_logical_id(sla.group)
    for name in ("draft", "classify"):
        # Given the function that sets timers
        fn = synthesized.stack.triage.functions[name]
        statements = _statements(synthesized, fn.role)
        scheduler = [s for s in statements if any(a.startswith("scheduler:") for a in _actions(s))]
        passing = [s for s in statements if "iam:PassRole" in _actions(s)]
        # Then it may create schedules, nothing else of Scheduler, in the stack's group only
        assert [_actions(s) for s in scheduler] == [["scheduler:CreateSchedule"]], name
        assert {"Ref": group_id} in scheduler[0]["Resource"]["Fn::Join"][1], name
        # And pass the Scheduler role only, to Scheduler only
        assert [s["Resource"] for s in passing] == [{"Fn::GetAtt": [synthesized.logical_id(sla.role), "Arn"]}], name
        assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        # And its environment names the group, the target and the role
        variables = synthesized.resources("AWS::Lambda::Function")[synthesized.logical_id(fn)]["Properties"][
            "Environment"]["Variables"]
        assert variables["SLA_GROUP"] == {"Ref": group_id}, name
        assert variables["SLA_TARGET_ARN"] == {"Fn::GetAtt": [synthesized.logical_id(sla.function), "Arn"]}


def test_only_draft_classify_and_the_sla_function_set_timers(synthesized):
    # Given every function of the stack
    told = {fn["Properties"]["Environment"]["Variables"][c.ENV_POWERTOOLS_SERVICE_NAME]
            for fn in synthesized.resources("AWS::Lambda::Function").values()
            if "SLA_GROUP" in fn["Properties"].get("Environment", {}).get("Variables", {})}
    # Then the two steps that route a notified mention or open an incident set timers, and the sla function (a bucket's
    # continuation); no other
    assert told == {c.DRAFT_SERVICE_NAME, c.CLASSIFY_SERVICE_NAME, c.SLA_SERVICE_NAME}


def test_the_sla_function_sets_its_continuations_in_the_group_and_passes_the_scheduler_role_only(synthesized):
    sla = synthesized.stack.sla
    group_id = synthesized.stack.get_logical_id(sla.group)
    # Given the sla function's grants
    statements = _statements(synthesized, sla.function_role)
    scheduler = [s for s in statements if any(a.startswith("scheduler:") for a in _actions(s))]
    passing = [s for s in statements if "iam:PassRole" in _actions(s)]
    # Then it may create schedules in the stack's group only, and pass the Scheduler role to Scheduler only
    assert [_actions(s) for s in scheduler] == [["scheduler:CreateSchedule"]]
    assert {"Ref": group_id} in scheduler[0]["Resource"]["Fn::Join"][1]
    assert [s["Resource"] for s in passing] == [{"Fn::GetAtt": [synthesized.logical_id(sla.role), "Arn"]}]
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    # And its environment names the group and the role, not itself (a cycle): its ARN comes with the invocation
    variables = synthesized.resources("AWS::Lambda::Function")[synthesized.logical_id(sla.function)]["Properties"][
        "Environment"]["Variables"]
    assert variables["SLA_GROUP"] == {"Ref": group_id} and "SLA_TARGET_ARN" not in variables
    assert variables["SLA_ROLE_ARN"] == {"Fn::GetAtt": [synthesized.logical_id(sla.role), "Arn"]}


def test_the_sla_function_publishes_on_the_escalation_and_agent_topics_only(synthesized):
    stack = synthesized.stack
    statements = _statements(synthesized, stack.sla.function_role)
    published = [r for s in statements if "sns:Publish" in _actions(s)
                 for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert sorted(map(str, published)) == sorted(map(str, [
        {"Ref": synthesized.logical_id(stack.notifications.escalation_topic)},
        {"Ref": synthesized.logical_id(stack.notifications.agent_topic)}]))
