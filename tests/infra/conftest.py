"""Synthesise the Responder app once per session; every infra test reads the same assembly."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# jsii prints a banner per process on older Node versions; it is noise in test output.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from infra import constants as c  # noqa: E402
from infra.app import build_app  # noqa: E402


@dataclass(frozen=True)
class Synthesized:
    app: cdk.App
    stack: cdk.Stack
    assembly: cdk.cx_api.CloudAssembly
    template: Template
    template_dict: dict[str, Any]

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((Path(self.assembly.directory) / "validation-report.json").read_text())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_dict["Resources"].items() if v["Type"] == resource_type}

    def logical_id(self, construct: Any) -> str:
        """Logical id of an L2 construct's CloudFormation resource, e.g. `stack.storage.table`."""
        return self.stack.get_logical_id(construct.node.default_child)

    def resource(self, construct: Any) -> dict[str, Any]:
        return self.template_dict["Resources"][self.logical_id(construct)]


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    # Given the app exactly as `cdk synth` builds it, cdk-nag included
    app = build_app()
    # When it is synthesised (cdk-nag 3 raises here on any unacknowledged finding)
    assembly = app.synth()
    stack = app.node.find_child(c.STACK_NAME)
    template_dict = assembly.get_stack_by_name(c.STACK_NAME).template
    return Synthesized(
        app=app,
        stack=stack,
        assembly=assembly,
        template=Template.from_json(template_dict),
        template_dict=template_dict,
    )


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


@pytest.fixture(scope="session")
def template_dict(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.template_dict

