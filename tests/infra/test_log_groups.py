"""Log groups outlive the stack until their retention expires, and the workflow logs as a vended log."""

from __future__ import annotations

from infra import constants as c


def test_every_log_group_is_retained_with_a_retention(synthesized):
    # Given every log group of the stack (eight functions, the API's access logs, the workflow)
    groups = synthesized.resources("AWS::Logs::LogGroup")
    assert len(groups) == 10
    # When their deletion policies are read
    policies = {logical_id: (g.get("DeletionPolicy"), g.get("UpdateReplacePolicy"), g["Properties"].get(
        "RetentionInDays")) for logical_id, g in groups.items()}
    # Then deleting the stack or replacing a group keeps the logs, which still expire after 30 days
    assert set(policies.values()) == {("Retain", "Retain", 30)}, policies


def test_workflow_logs_to_a_vended_log_group_named_per_stack(synthesized):
    # Given the state machine and its logging destination
    machine = synthesized.resource(synthesized.stack.triage.state_machine)
    destination = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]
    group_id = destination["LogGroupArn"]["Fn::GetAtt"][0]
    group = synthesized.template_dict["Resources"][group_id]
    # When the group's name is read
    separator, parts = group["Properties"]["LogGroupName"]["Fn::Join"]
    # Then it sits under /aws/vendedlogs/states/, after the stack name, and ends with this stack's unique id
    assert parts[0] == f"{c.STATE_MACHINE_LOG_GROUP_PREFIX}{c.STACK_NAME}-Triage-"
    assert parts[1] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert separator == "" and len(parts) == 2
