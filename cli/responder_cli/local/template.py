"""The synthesized CloudFormation template as the local stack's source of truth: tables, queues, env vars."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.constants import STACK_NAME
from responder_cli.local.paths import CDK_OUT, REPO_ROOT

TEMPLATE_FILE = CDK_OUT / f"{STACK_NAME}.template.json"
_SOURCES = ("infra", "cdk.json", "layers/deps/requirements.txt")


class TemplateError(RuntimeError):
    """The template is missing, stale and cannot be synthesized, or lacks what the local stack needs."""


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = REPO_ROOT / name
        files = path.rglob("*.py") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.exists())])
    return newest


def synthesize() -> None:
    """Run the pinned CDK CLI (`cdk synth`), exactly as a user would before `cdk deploy`."""
    cdk = REPO_ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise TemplateError("the CDK CLI is not installed: run `make setup`")
    env = {"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_CLI_TELEMETRY": "true", **os.environ}
    done = subprocess.run([str(cdk), "synth", "--quiet"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise TemplateError(f"cdk synth failed:\n{done.stderr[-2000:]}")


def load_template(path: Path = TEMPLATE_FILE, synth: bool | None = None) -> dict[str, Any]:
    """The stack's template from cdk.out, synthesized first when missing or older than the infra code."""
    if synth is None:
        synth = not path.exists() or path.stat().st_mtime < _newest_source_mtime()
    if synth:
        synthesize()
    if not path.exists():
        raise TemplateError(f"{path} not found after synthesis")
    return json.loads(path.read_text())


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table as declared in the template, ready for CreateTable."""

    logical_id: str
    create_args: dict[str, Any]
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue as declared in the template."""

    logical_id: str
    dead_letter_logical_id: str | None = None
    max_receive_count: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def tables(template: dict[str, Any]) -> list[TableSpec]:
    """Every DynamoDB table of the stack, with its keys and indexes (billing is always on demand locally)."""
    specs = []
    for logical_id, resource in _resources(template, "AWS::DynamoDB::Table").items():
        props = resource.get("Properties", {})
        args: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        gsis = [{"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in props.get("GlobalSecondaryIndexes", [])]
        if gsis:
            args["GlobalSecondaryIndexes"] = gsis
        ttl = props.get("TimeToLiveSpecification") or {}
        specs.append(TableSpec(logical_id, args, ttl.get("AttributeName") if ttl.get("Enabled") else None))
    if not specs:
        raise TemplateError("the template declares no DynamoDB table")
    return specs


def queues(template: dict[str, Any]) -> list[QueueSpec]:
    """Every SQS queue of the stack, dead-letter queues first so redrive targets exist when needed."""
    specs = []
    for logical_id, resource in _resources(template, "AWS::SQS::Queue").items():
        props = resource.get("Properties", {})
        redrive = props.get("RedrivePolicy") or {}
        target = (redrive.get("deadLetterTargetArn") or {}).get("Fn::GetAtt", [None])[0]
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if "MessageRetentionPeriod" in props:
            attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
        specs.append(QueueSpec(logical_id, target, redrive.get("maxReceiveCount"), attributes))
    return sorted(specs, key=lambda q: q.dead_letter_logical_id is not None)


# --- intrinsic functions, resolved against local names ------------------------------------------------

LOCAL_ACCOUNT = "123456789012"  # moto's default account
LOCAL_REGION = "us-east-1"
_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": LOCAL_REGION, "AWS::AccountId": LOCAL_ACCOUNT,
           "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": STACK_NAME}


def resolve(value: Any, refs: dict[str, str], arns: dict[str, str]) -> Any:
    """Resolve Ref, Fn::GetAtt (Arn) and Fn::Join in `value`; `refs` and `arns` map logical ids to local values."""
    if isinstance(value, list):
        return [resolve(v, refs, arns) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            if arg in _PSEUDO:
                return _PSEUDO[arg]
            if arg not in refs:
                raise TemplateError(f"no local value for Ref {arg}")
            return refs[arg]
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            if attribute != "Arn" or logical_id not in arns:
                raise TemplateError(f"no local value for Fn::GetAtt {logical_id}.{attribute}")
            return arns[logical_id]
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(str(resolve(p, refs, arns)) for p in parts)
    return {k: resolve(v, refs, arns) for k, v in value.items()}


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the stack: its service name (which names its code folder) and environment."""

    logical_id: str
    service: str
    environment: dict[str, Any]


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every Responder function (those with a POWERTOOLS_SERVICE_NAME), with its raw environment."""
    specs = []
    for logical_id, resource in _resources(template, "AWS::Lambda::Function").items():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        service = variables.get("POWERTOOLS_SERVICE_NAME")
        if isinstance(service, str) and service.startswith("responder-"):
            specs.append(FunctionSpec(logical_id, service, variables))
    return specs


def layer_path(template: dict[str, Any], function_logical_id: str, path: str,
               assembly_dir: Path = CDK_OUT) -> Path | None:
    """Where `/opt/<path>` of a function (what Lambda extracts from its layers) is in the cloud assembly.

    A layer's S3 key is its asset's hash; the stack's asset manifest names the folder staged for that hash.
    """
    relative = Path(path).relative_to("/opt")
    manifest = assembly_dir / f"{STACK_NAME}.assets.json"
    if not manifest.is_file():
        return None
    staged = {f"{asset_hash}.zip": asset["source"]["path"]
              for asset_hash, asset in json.loads(manifest.read_text()).get("files", {}).items()}
    props = template["Resources"][function_logical_id].get("Properties", {})
    for layer in props.get("Layers", []):
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        key = template["Resources"].get(layer_id, {}).get("Properties", {}).get("Content", {}).get("S3Key")
        if isinstance(key, str) and key in staged and (assembly_dir / staged[key] / relative).exists():
            return assembly_dir / staged[key] / relative
    return None


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → properties of every Step Functions state machine."""
    return {lid: r["Properties"] for lid, r in _resources(template, "AWS::StepFunctions::StateMachine").items()}


def topics(template: dict[str, Any]) -> list[str]:
    """Logical ids of the SNS topics."""
    return list(_resources(template, "AWS::SNS::Topic"))


def subscriptions(template: dict[str, Any]) -> list[dict[str, Any]]:
    """SNS subscriptions declared in the template (from CDK context), with their filter policies."""
    return [r["Properties"] for r in _resources(template, "AWS::SNS::Subscription").values()]
