"""Routing-rules and brand-voice overrides ship in a layer, not in Lambda's 4 KB environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import constants as c
from infra.app import build_app
from responder.core.config import ENV_CONFIG_DIR, TriageSettings
from responder.triage.drafting import VOICE_FILE, BrandVoiceError, load_voice
from responder.triage.routing import load_rules
from responder_cli.local.triage import LocalTriage

# Lambda quotas: "Environment variables: 4 KB, for all environment variables associated with the function, in total".
LAMBDA_ENV_LIMIT = 4096
# A reference resolves at deploy to a name, URL or ARN; none of this stack's is longer than this.
RESOLVED_REFERENCE_BYTES = 256
TASK_SERVICES = {c.CLASSIFY_SERVICE_NAME, c.DRAFT_SERVICE_NAME}
RULES = {"vip": {"handles": ["bigcustomer"]}, "teams": {"care_es": "Spanish care"}, "language_teams": {"es": "care_es"}}


def _big_voice() -> dict[str, Any]:
    """The shipped voice as an override, renamed and with long per-language support hours: over 30 KB."""
    voice = json.loads(VOICE_FILE.read_text(encoding="utf-8"))
    voice["brand_name"] = "Northwind Outfitters"
    voice.setdefault("capabilities", {})["support_hours"] = {
        language: f"every day from 8:00 to 20:00 ({language}), holidays included. " * 20
        for language in voice["templates"]}
    return voice


@pytest.fixture(scope="module")
def with_overrides() -> dict[str, Any]:
    # Given a 30 KB brand-voice override and a routing-rules override in CDK context
    voice = _big_voice()
    assert len(json.dumps(voice).encode()) > 30_000
    app = build_app({c.CONTEXT_BRAND_VOICE: voice, c.CONTEXT_ROUTING_RULES: RULES})
    # When the app is synthesised with cdk-nag on
    assembly = app.synth()
    template = assembly.get_stack_by_name(c.STACK_NAME).template
    return {"voice": voice, "template": template, "assembly_dir": Path(assembly.directory)}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: r
            for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
            and "POWERTOOLS_SERVICE_NAME" in r["Properties"].get("Environment", {}).get("Variables", {})}


def _deployed_size(variables: dict[str, Any]) -> int:
    """Bytes of the environment once deployed: literal values as they are, references at their longest."""
    return sum(len(key.encode()) + (len(value.encode()) if isinstance(value, str) else RESOLVED_REFERENCE_BYTES)
               for key, value in variables.items())


def test_every_function_environment_stays_far_under_the_4_kb_limit(with_overrides):
    functions = _functions(with_overrides["template"])
    assert len(functions) == 8
    # Then every function's variables, even with references at their longest, take under half the limit
    # (the sender names six resources: table, queue, two secrets, topic, the API's URL)
    sizes = {service: _deployed_size(f["Properties"]["Environment"]["Variables"]) for service, f in functions.items()}
    assert max(sizes.values()) < LAMBDA_ENV_LIMIT // 2, sizes
    # And no variable carries the overrides themselves
    for function in functions.values():
        assert "Northwind" not in json.dumps(function["Properties"]["Environment"])


def test_the_task_functions_get_the_config_layer_and_one_short_variable(with_overrides):
    template = with_overrides["template"]
    layers = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"
              and "configuration overrides" in r["Properties"]["Description"]}
    assert len(layers) == 1
    (layer_id,) = layers
    for service, function in _functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        has_layer = {"Ref": layer_id} in function["Properties"]["Layers"]
        # Then classify and draft (which routes too) read /opt/responder-config from the layer; the others know nothing of it
        if service in TASK_SERVICES:
            assert has_layer and variables[ENV_CONFIG_DIR] == "/opt/responder-config"
        else:
            assert not has_layer and ENV_CONFIG_DIR not in variables
        assert "ROUTING_RULES" not in variables and "BRAND_VOICE" not in variables


def _layer_folder(with_overrides) -> Path:
    template, assembly_dir = with_overrides["template"], with_overrides["assembly_dir"]
    (key,) = [r["Properties"]["Content"]["S3Key"] for r in template["Resources"].values()
              if r["Type"] == "AWS::Lambda::LayerVersion"
              and "configuration overrides" in r["Properties"]["Description"]]
    manifest = json.loads((assembly_dir / f"{c.STACK_NAME}.assets.json").read_text())
    source = manifest["files"][key.removesuffix(".zip")]["source"]
    assert source["packaging"] == "zip"  # a folder zipped as it is: Lambda unzips it under /opt
    return assembly_dir / source["path"] / "responder-config"


def test_the_deployed_functions_would_read_the_overrides_from_the_synthesized_layer(with_overrides):
    # Given the layer exactly as synthesised (Lambda unzips it under /opt)
    folder = _layer_folder(with_overrides)
    shipped = (folder / "brand_voice.json").read_bytes()
    assert len(shipped) > 30_000
    assert json.loads(shipped)["capabilities"]["support_hours"] == with_overrides["voice"]["capabilities"][
        "support_hours"]
    # When the task functions' settings are read with the variable pointing at it
    settings = TriageSettings.from_env({"TABLE_NAME": "t", ENV_CONFIG_DIR: str(folder)})
    # Then the voice and the rules they build carry the overrides, merged over the shipped defaults
    voice = load_voice(settings.brand_voice)
    assert voice.brand_name == "Northwind Outfitters"
    assert voice.capability("support_hours", "en").startswith("every day from 8:00 to 20:00 (en)")
    rules = load_rules(settings.routing_rules)
    assert rules.is_vip({"handle": "@BigCustomer"})
    assert rules.team_for(priority="p3", intent="question", topic="order", language="es")[0] == "care_es"
    assert "billing" in rules.teams()  # the shipped teams are still there


def test_the_local_stack_finds_the_overrides_in_the_cloud_assembly(with_overrides):
    # Given the local stack's view of the same template and cloud assembly
    triage = LocalTriage(with_overrides["template"], {}, {}, None, None, lambda name: None, "local-queue")
    triage.assembly_dir = with_overrides["assembly_dir"]
    # When it resolves the functions' environments
    environments = triage.function_environments()
    # Then /opt/responder-config becomes the layer's folder in the assembly, and the draft function's settings
    # carry the overridden voice
    draft_env = environments[c.DRAFT_SERVICE_NAME]
    assert Path(draft_env[ENV_CONFIG_DIR]) == _layer_folder(with_overrides)
    settings = TriageSettings.from_env({**draft_env, "TABLE_NAME": "t"})
    assert load_voice(settings.brand_voice).brand_name == "Northwind Outfitters"


def test_without_overrides_there_is_no_config_layer(template_dict):
    for resource in template_dict["Resources"].values():
        if resource["Type"] == "AWS::Lambda::LayerVersion":
            assert "configuration overrides" not in resource["Properties"]["Description"]
        if resource["Type"] == "AWS::Lambda::Function":
            assert ENV_CONFIG_DIR not in resource["Properties"].get("Environment", {}).get("Variables", {})


def test_an_invalid_override_fails_synthesis():
    with pytest.raises(BrandVoiceError, match="tone"):
        build_app({c.CONTEXT_BRAND_VOICE: {"tone": "shouty"}}, with_nag=False)


def test_infra_and_domain_agree_on_the_variable_and_file_names():
    from responder.core import config

    assert (c.ENV_CONFIG_DIR, c.CONFIG_ROUTING_RULES_FILE, c.CONFIG_BRAND_VOICE_FILE) == (
        config.ENV_CONFIG_DIR, config.ROUTING_RULES_FILE, config.BRAND_VOICE_FILE)
