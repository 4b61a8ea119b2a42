"""The triage functions' configuration overrides (routing rules, brand voice), shipped as a small layer.

Lambda caps a function's environment at 4 KB (keys and values together; Lambda quotas), and the shipped brand
voice alone is 28.8 KB, so overrides from CDK context cannot travel as environment variables. They are validated
here at synth (a bad override fails `cdk synth`, not the first mention), written as JSON files into a folder keyed
by their content, and shipped as a layer: Lambda extracts layers under /opt, so the functions find them in
`/opt/responder-config/`, named by one short variable, and `responder.core.config` reads them once per container.
The files hold the overrides as given, which the functions deep-merge over the shipped defaults exactly as
`responder classify --rules` and the local stack do (`null` removes a key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants as c


def _validate(routing_rules: Mapping[str, Any] | None, brand_voice: Mapping[str, Any] | None) -> None:
    # The same loaders the functions run: an override they would refuse is refused here first.
    from responder.triage.drafting import load_voice
    from responder.triage.routing import load_rules

    if routing_rules is not None:
        load_rules(dict(routing_rules))
    if brand_voice is not None:
        load_voice(dict(brand_voice))


def write_config(routing_rules: Mapping[str, Any] | None, brand_voice: Mapping[str, Any] | None,
                 build_root: Path = c.CONFIG_BUILD_DIR) -> Path:
    """Validate the overrides and write them under `build_root/<digest>/`; returns the layer's root folder."""
    _validate(routing_rules, brand_voice)
    files = {name: json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
             for name, document in ((c.CONFIG_ROUTING_RULES_FILE, routing_rules),
                                    (c.CONFIG_BRAND_VOICE_FILE, brand_voice)) if document is not None}
    digest = hashlib.sha256()
    for name, content in sorted(files.items()):
        digest.update(name.encode() + b"\0" + content + b"\0")
    root = build_root / digest.hexdigest()[:32]
    folder = root / c.CONFIG_LAYER_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        if not target.is_file() or target.read_bytes() != content:
            # Written beside the target and renamed over it: a reader never sees a half-written file.
            scratch = target.with_suffix(".tmp")
            scratch.write_bytes(content)
            scratch.replace(target)
    return root


class TriageConfig(Construct):
    """The overrides' layer and the one variable that points at it; nothing at all when there is no override."""

    def __init__(self, scope: Construct, construct_id: str, *, routing_rules: Mapping[str, Any] | None = None,
                 brand_voice: Mapping[str, Any] | None = None) -> None:
        super().__init__(scope, construct_id)
        self.layers: list[lambda_.ILayerVersion] = []
        self.environment: dict[str, str] = {}
        if not routing_rules and not brand_voice:
            return
        root = write_config(routing_rules or None, brand_voice or None)
        self.layers.append(lambda_.LayerVersion(
            self, c.CONFIG_LAYER_ID, code=lambda_.Code.from_asset(str(root)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Responder configuration overrides from CDK context (routingRules, brandVoice)"))
        self.environment[c.ENV_CONFIG_DIR] = f"/opt/{c.CONFIG_LAYER_FOLDER}"
