"""The optional managed backends in the stack: absent by default, least privilege and clean cdk-nag when on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from infra import constants as c
from infra.app import build_app
from tests.infra.test_cfn_lint import IGNORED_WARNINGS
from tests.infra.test_triage_workflow import definition

ON = {c.CONTEXT_SENTIMENT_BACKEND: "comprehend", c.CONTEXT_DRAFT_BACKEND: "bedrock"}


def synthesize(context: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template, AwsSolutions report) of the app with cdk-nag, which raises on any unacknowledged finding."""
    app = build_app(context)
    assembly = app.synth()
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return assembly.get_stack_by_name(c.STACK_NAME).template, nag


@pytest.fixture(scope="module")
def backends_on() -> tuple[dict[str, Any], dict[str, Any]]:
    return synthesize(ON)


def function(template: dict[str, Any], service: str) -> dict[str, Any]:
    (fn,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
             and r["Properties"]["Environment"]["Variables"].get(c.ENV_POWERTOOLS_SERVICE_NAME) == service]
    return fn


def statements_of(template: dict[str, Any], fn: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement attached to the function's role."""
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"] for s in r["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def managed_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            for s in r["Properties"]["PolicyDocument"]["Statement"]
            if any(a.split(":")[0] in ("comprehend", "bedrock") for a in actions(s))]


def test_default_stack_has_no_managed_backend(template_dict):
    # Given the stack synthesised without the context keys
    # Then no function may call Comprehend or Bedrock, none is told to, and Classify retries as before
    assert managed_statements(template_dict) == []
    variables = [r["Properties"]["Environment"]["Variables"] for r in template_dict["Resources"].values()
                 if r["Type"] == "AWS::Lambda::Function"]
    managed = {c.ENV_SENTIMENT_BACKEND, c.ENV_DRAFT_BACKEND, c.ENV_BEDROCK_MODEL_ID}
    assert not any(name in managed for v in variables for name in v)
    states = definition(template_dict)["States"]
    assert "ManagedBackendUnavailable" not in states["Classify"]["Retry"][0]["ErrorEquals"]


# What the context keys default to: the backends off, spelled out.
OFF = {c.CONTEXT_SENTIMENT_BACKEND: "local", c.CONTEXT_DRAFT_BACKEND: "template",
       c.CONTEXT_BEDROCK_MODEL_ID: c.DEFAULT_BEDROCK_MODEL_ID}


def comparable(template: dict[str, Any]) -> str:
    """The template as canonical JSON, asset hashes (64 hex digits) replaced: what a deploy would change."""
    return re.sub(r"[0-9a-f]{64}", "<asset-hash>", json.dumps(template, sort_keys=True, indent=1))


def test_backends_off_leave_the_template_exactly_as_without_the_keys(template_dict):
    # Given the stack synthesised without the context keys (template_dict) and with them set to their defaults
    explicit, _ = synthesize(OFF)
    # Then the two templates are identical, property for property
    assert comparable(explicit) == comparable(template_dict)


def test_the_template_comparison_sees_a_backend_switched_on(template_dict, backends_on):
    # Given the comparison above, When one backend is on, Then it reports a difference (it is not vacuous)
    assert comparable(backends_on[0]) != comparable(template_dict)


def test_comprehend_is_granted_to_classify_only(backends_on):
    template, _ = backends_on
    classify = function(template, c.CLASSIFY_SERVICE_NAME)
    assert classify["Properties"]["Environment"]["Variables"][c.ENV_SENTIMENT_BACKEND] == "comprehend"
    (statement,) = [s for s in statements_of(template, classify) if "comprehend:DetectSentiment" in actions(s)]
    # (CDK merges it with the X-Ray statement: both need Resource '*', no resource-level permission exists)
    assert statement["Resource"] == "*"
    assert {a for a in actions(statement) if not a.startswith("xray:")} == {"comprehend:DetectDominantLanguage",
                                                                              "comprehend:DetectSentiment"}
    assert managed_statements(template) != [] and all(
        s is statement or "comprehend" not in json.dumps(s) for s in managed_statements(template))
    # And a throttled Comprehend is retried by the workflow like a Lambda error
    assert "ManagedBackendUnavailable" in definition(template)["States"]["Classify"]["Retry"][0]["ErrorEquals"]


def test_bedrock_is_granted_to_draft_on_the_one_configured_model(backends_on):
    template, _ = backends_on
    draft = function(template, c.DRAFT_SERVICE_NAME)
    variables = draft["Properties"]["Environment"]["Variables"]
    assert (variables[c.ENV_DRAFT_BACKEND], variables[c.ENV_BEDROCK_MODEL_ID]) == ("bedrock",
                                                                                    c.DEFAULT_BEDROCK_MODEL_ID)
    # (plus the routing it applies in the same invocation)
    assert draft["Properties"]["Timeout"] == c.DRAFT_WITH_MODEL_TIMEOUT_SECONDS + c.ROUTE_TIMEOUT_SECONDS
    # And the Draft task waits for the slower function's whole invocation
    assert definition(template)["States"]["Draft"]["TimeoutSeconds"] >= draft["Properties"]["Timeout"] + 10
    (statement,) = [s for s in statements_of(template, draft) if "bedrock:InvokeModel" in actions(s)]
    assert actions(statement) == ["bedrock:InvokeModel"]
    parts = statement["Resource"]["Fn::Join"][1]
    assert parts[-1] == f"::foundation-model/{c.DEFAULT_BEDROCK_MODEL_ID}" and {"Ref": "AWS::Region"} in parts
    # And the notification is composed by the same invocation, from the whole draft, which says which drafted it
    # (test_notify, test_triage_steps)
    assert definition(template)["States"]["Draft"]["Parameters"]["notify"] is True


def test_backends_on_pass_cdk_nag_and_cfn_lint(backends_on):
    template, nag = backends_on
    assert nag["conclusion"] == "success" and nag["violations"] == []
    acknowledged = {v["acknowledgedId"] for v in nag.get("suppressedViolations", [])}
    assert "AwsSolutions::AwsSolutions-IAM5[Resource::*]" in acknowledged
    findings = [(m.rule.id, m.rule.severity, m.message) for m in lint_all(json.dumps(template))]
    assert [f for f in findings if f[1] == "error"] == []
    assert [f for f in findings if f[1] == "warning" and f[0] not in IGNORED_WARNINGS] == []


def test_an_inference_profile_is_granted_with_its_model_in_the_profile_regions():
    # Given a cross-Region inference profile as the model
    template, nag = synthesize({c.CONTEXT_DRAFT_BACKEND: "bedrock",
                                c.CONTEXT_BEDROCK_MODEL_ID: "us.amazon.nova-lite-v1:0"})
    (statement,) = managed_statements(template)
    profile, model = statement["Resource"]
    # Then the grant names the profile here and that model in any Region, and the wildcard is acknowledged
    assert profile["Fn::Join"][1][-1] == ":inference-profile/us.amazon.nova-lite-v1:0"
    assert model["Fn::Join"][1][-1] == ":bedrock:*::foundation-model/amazon.nova-lite-v1:0"
    assert nag["conclusion"] == "success"


@pytest.mark.parametrize("context, key", [
    ({c.CONTEXT_SENTIMENT_BACKEND: "vader"}, c.CONTEXT_SENTIMENT_BACKEND),
    ({c.CONTEXT_DRAFT_BACKEND: "gpt"}, c.CONTEXT_DRAFT_BACKEND),
    ({c.CONTEXT_DRAFT_BACKEND: "bedrock", c.CONTEXT_BEDROCK_MODEL_ID: "arn:aws:bedrock:*::foundation-model/*"},
     c.CONTEXT_BEDROCK_MODEL_ID),
])
def test_invalid_backend_context_is_rejected(context, key):
    with pytest.raises(ValueError, match=key):
        build_app(context, with_nag=False)


def test_with_a_model_drafting_the_workflow_still_outlasts_one_attempt_of_each_lambda_task(backends_on):
    # Given the workflow with Comprehend and a Bedrock model (a slower Draft)
    template, _ = backends_on
    machine = definition(template)
    # Then one attempt of Classify and Draft (which routes too), each up to its task timeout, ends before the workflow's own
    # timeout, as it does by default (test_triage_workflow): the outcome is recorded before the page, and a workflow
    # timeout after that record, which no Catch sees, would leave the mention `notified` with nobody paged
    assert machine["States"]["Classify"]["TimeoutSeconds"] + machine["States"]["Draft"]["TimeoutSeconds"] \
        < machine["TimeoutSeconds"]
