"""The webhook function: runtime, packaging, configuration and least-privilege role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra import constants as c
from infra import layer_build

# importlib.util.MAGIC_NUMBER of CPython 3.13 (3571; Lib/importlib/_bootstrap_external.py), and the PEP 552 flags
# word of an unchecked hash-based .pyc (bit 0: hash-based; bit 1: check_source, unset).
PYTHON_313_MAGIC = b"\xf3\r\r\n"
UNCHECKED_HASH_FLAGS = (1).to_bytes(4, "little")



def _webhook(synthesized) -> dict[str, Any]:
    return synthesized.resource(synthesized.stack.webhook.function)


def _layer_folder(synthesized, assembly_dir: Path, construct: Any) -> Path:
    layer = synthesized.resource(construct)
    manifest = json.loads((assembly_dir / f"{c.STACK_NAME}.assets.json").read_text())
    return assembly_dir / manifest["files"][layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")][
        "source"]["path"]


def _policy_statements(synthesized) -> list[dict[str, Any]]:
    role_id = synthesized.logical_id(synthesized.stack.webhook.function.role)
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statements, "the webhook role has no policy attached"
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_webhook_runs_python_313_on_arm64_with_both_layers(synthesized):
    # Given the synthesised stack
    # When the webhook function is inspected
    props = _webhook(synthesized)["Properties"]
    layers = synthesized.stack.layers
    # Then it is a zip on python3.13/arm64 with handler.handler, 512 MB, 10 s, the deps and domain layers
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.handler"
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 10
    assert props["Layers"] == [
        {"Ref": synthesized.logical_id(layers.deps)},
        {"Ref": synthesized.logical_id(layers.domain)},
    ]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "ReservedConcurrentExecutions" not in props


def test_webhook_environment_references_the_created_resources(synthesized):
    # Given the synthesised stack
    stack = synthesized.stack
    # When the webhook's environment is inspected
    env = _webhook(synthesized)["Properties"]["Environment"]["Variables"]
    # Then every variable the domain code reads is set, pointing at this stack's resources
    assert env == {
        "TABLE_NAME": {"Ref": synthesized.logical_id(stack.storage.table)},
        "QUEUE_URL": {"Ref": synthesized.logical_id(stack.ingest.queue)},
        "SECRET_ARN": {"Ref": synthesized.logical_id(stack.secrets.secret)},
        # No audit copy of the raw event unless `rawEventTtlDays` asks for one
        "RAW_EVENT_TTL_DAYS": "0",
        "RETENTION_DAYS": "400",
        "POWERTOOLS_SERVICE_NAME": "responder-webhook",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # The data deletion callback answers Meta with a status URL on the API's public address
        "RESPONDER_REVIEW_BASE_URL": env["RESPONDER_REVIEW_BASE_URL"],
    }
    assert "Fn::Join" in env["RESPONDER_REVIEW_BASE_URL"]


def test_webhook_logs_json_to_its_own_log_group_kept_30_days(synthesized, template):
    # Given the synthesised stack
    props = _webhook(synthesized)["Properties"]
    # When its logging configuration is inspected
    log_group_ref = props["LoggingConfig"]["LogGroup"]
    # Then it logs JSON into an explicit log group with 30-day retention
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group = synthesized.template_dict["Resources"][log_group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_layers_target_python_313_arm64(template):
    # Given the synthesised stack
    # When the layer versions are inspected
    # Then all three (dependencies, domain package, Classify's encoder) declare the runtime and architecture the
    # functions use
    template.resource_count_is("AWS::Lambda::LayerVersion", 3)
    template.all_resources_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.13"], "CompatibleArchitectures": ["arm64"]},
    )


def test_no_function_is_a_container_image(synthesized):
    # Given the synthesised stack
    functions = synthesized.resources("AWS::Lambda::Function")
    # When each function's packaging is inspected
    # Then none needs Docker: all are zip packages with an S3 code asset
    assert functions
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props.get("PackageType", "Zip") != "Image", logical_id
        assert "ImageUri" not in props["Code"], logical_id
        assert "S3Key" in props["Code"], logical_id


def test_webhook_role_has_no_managed_policies(synthesized):
    # Given the synthesised stack
    # When the webhook's role is inspected
    role = synthesized.resource(synthesized.stack.webhook.function.role)
    # Then it relies on its own inline grants, not AWSLambdaBasicExecutionRole
    assert "ManagedPolicyArns" not in role["Properties"]


def test_webhook_policy_allows_send_and_get_secret_only_on_its_resources(synthesized):
    # Given the synthesised stack
    stack = synthesized.stack
    statements = _policy_statements(synthesized)
    # When the grants are indexed by action
    by_action: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(_as_list(statement["Resource"]))
    # Then sqs:SendMessage targets the triage queue and GetSecretValue the platform secret
    assert by_action["sqs:SendMessage"] == [{"Fn::GetAtt": [synthesized.logical_id(stack.ingest.queue), "Arn"]}]
    assert by_action["secretsmanager:GetSecretValue"] == [{"Ref": synthesized.logical_id(stack.secrets.secret)}]
    # And it can write only to its own log group
    log_group_id = synthesized.logical_id(stack.webhook.function_log_group)
    assert by_action["logs:PutLogEvents"] == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
    # And it has table data access but nothing on the DLQ or any sqs:* style wildcard action
    table_arn = {"Fn::GetAtt": [synthesized.logical_id(stack.storage.table), "Arn"]}
    assert table_arn in by_action["dynamodb:PutItem"]
    # And the indexes it reads are gsi1 (a native DM answer finds its conversation's latest mention) and gsi4 (the
    # data deletion callback finds a person's mentions)
    indexes = [r for action, resources in by_action.items() for r in resources if "/index/" in json.dumps(r)]
    assert by_action["dynamodb:Query"] == [table_arn, {"Fn::Join": ["", [table_arn, "/index/gsi1"]]},
                                           {"Fn::Join": ["", [table_arn, "/index/gsi4"]]}], indexes
    assert not any("*" in action for action in by_action), sorted(by_action)


def test_only_xray_uses_a_wildcard_resource(synthesized):
    # Given the webhook role's statements
    statements = _policy_statements(synthesized)
    # When the statements with Resource "*" are collected
    wildcard_actions = {
        action for s in statements if "*" in _as_list(s["Resource"]) for action in _as_list(s["Action"])
    }
    # Then they are exactly the X-Ray calls, which support no resource-level permissions
    assert wildcard_actions == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_code_assets_are_plain_zips_without_docker_or_host_bytecode(synthesized):
    # Given the synthesised cloud assembly
    assembly_dir = Path(synthesized.assembly.directory)
    manifest = json.loads((assembly_dir / f"{c.STACK_NAME}.assets.json").read_text())
    sources = [asset["source"] for asset in manifest["files"].values()]
    staged = [assembly_dir / source["path"] for source in sources if source["packaging"] == "zip"]
    # When the asset manifest and the staged folders are inspected
    pyc = [p for d in staged for p in d.rglob("*.pyc")]
    # Then nothing is a container image, every function's code and the layers are zipped folders
    assert manifest.get("dockerImages", {}) == {}
    functions = {"webhook", "dispatcher", "classify", "draft", "sweeper", "review", "sender", "sla"}
    # one folder per function, plus the domain, dependency and encoder layers
    assert len(staged) == len(functions) + 3
    assert all(d.is_dir() for d in staged)
    # And the only bytecode is the layers', compiled for Lambda's Python 3.13, hash-based and never checked
    # against a source (Lambda cannot rewrite a stale .pyc under the read-only /opt)
    layers = [_layer_folder(synthesized, assembly_dir, layer)
              for layer in [*synthesized.stack.layers.all, synthesized.stack.layers.encoder]]
    assert all(any(layer in p.parents for layer in layers) and p.name.endswith(".cpython-313.pyc") for p in pyc)
    headers = {p.read_bytes()[:8] for p in pyc}
    assert headers <= {PYTHON_313_MAGIC + UNCHECKED_HASH_FLAGS}, headers
    # And when this machine has a Python 3.13 (infra.layer_build compiles with it), every module has its .pyc
    if layer_build.find_lambda_python() is not None:
        for layer in layers:
            modules = [p for p in layer.rglob("*.py")]
            assert modules and len([p for p in pyc if layer in p.parents]) == len(modules), layer