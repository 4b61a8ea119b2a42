"""cdk-nag (AwsSolutions): no open findings, and every acknowledgement is specific and still needed."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match

from infra.nag import MIN_REASON_LENGTH, acknowledge, register_checks

ACK_PREFIX = "AwsSolutions::"


def _acknowledgements(stack: cdk.Stack) -> dict[str, dict[str, str]]:
    """Construct path -> {acknowledged rule id: reason}, as recorded in construct metadata."""
    found: dict[str, dict[str, str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


def test_stack_has_no_unacknowledged_aws_solutions_errors_or_warnings(synthesized):
    # Given the app synthesised with the AwsSolutions pack registered
    annotations = Annotations.from_stack(synthesized.stack)
    # When annotations and the validation report are inspected
    report = synthesized.validation_report
    (aws_solutions,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    # Then nothing is left open
    assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert aws_solutions["conclusion"] == "success"
    assert aws_solutions["violations"] == []


def test_every_acknowledgement_has_a_specific_reason(synthesized):
    # Given the acknowledgements recorded on the stack's constructs
    acknowledgements = _acknowledgements(synthesized.stack)
    # When each rule id and reason is inspected
    flat = [(path, rule, reason) for path, rules in acknowledgements.items() for rule, reason in rules.items()]
    # Then each is an AwsSolutions rule with a reason of at least 40 characters
    assert flat, "expected at least the SMG4 and APIG4 acknowledgements"
    for path, rule, reason in flat:
        assert rule.startswith(ACK_PREFIX + "AwsSolutions-"), (path, rule)
        assert len(reason.strip()) >= MIN_REASON_LENGTH, (path, rule, reason)


def test_every_acknowledgement_still_suppresses_a_finding(synthesized):
    # Given the acknowledgements and the findings they suppressed during synthesis
    declared = {rule for rules in _acknowledgements(synthesized.stack).values() for rule in rules}
    report = synthesized.validation_report
    used = {
        violation["acknowledgedId"]
        for plugin in report["pluginReports"]
        for violation in plugin.get("suppressedViolations", [])
    }
    # When the two sets are compared
    # Then no acknowledgement is stale (a stale one would hide a future regression)
    assert declared == used


def test_expected_findings_are_the_acknowledged_ones(synthesized):
    # Given the acknowledgements on the stack
    acknowledged = _acknowledgements(synthesized.stack).values()
    rules = {rule.removeprefix(ACK_PREFIX).split("[")[0] for by_rule in acknowledged for rule in by_rule}
    # When they are reduced to rule ids
    # Then only the reviewed exceptions are present
    assert rules == {"AwsSolutions-SMG4", "AwsSolutions-APIG4", "AwsSolutions-IAM5", "AwsSolutions-L1"}


def test_unacknowledged_finding_fails_synthesis():
    # Given a throwaway app with the same nag wiring and a queue that allows plain HTTP and has no DLQ,
    # where only the missing DLQ is acknowledged
    app = cdk.App()
    stack = cdk.Stack(app, "NagProbe")
    queue = sqs.Queue(stack, "Insecure", encryption=sqs.QueueEncryption.SQS_MANAGED)
    acknowledge(queue, "AwsSolutions-SQS3", "Probe queue in a unit test; it exists only to trigger SQS4.")
    register_checks(app)
    # When it is synthesised
    with pytest.raises(Exception) as failure:
        app.synth()
    # Then synthesis fails on the open finding only (so the suite cannot pass with nag silently off)
    assert "AwsSolutions-SQS4" in str(failure.value)
    assert "AwsSolutions-SQS3" not in str(failure.value)


def test_acknowledge_rejects_vague_reasons():
    # Given a construct
    stack = cdk.Stack(cdk.App(), "AckProbe")
    # When it is acknowledged with a short reason or a non-AwsSolutions id
    # Then the helper refuses
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-SQS3", "not needed")
    with pytest.raises(ValueError, match="only AwsSolutions"):
        acknowledge(stack, "HIPAA.Security-SQS", "x" * 60)
