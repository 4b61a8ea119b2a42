"""CDK entry point: `python -m infra.app` (what cdk.json runs)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk

from infra import constants as c
from infra.nag import register_checks
from infra.stack import ResponderStack

CDK_JSON = c.REPO_ROOT / "cdk.json"


def _cdk_json_context() -> dict[str, Any]:
    # The CLI feeds cdk.json's context to the app; reading it here too makes tests that call
    # build_app() directly synthesise with the same feature flags as `cdk synth`.
    if not CDK_JSON.is_file():
        return {}
    return dict(json.loads(CDK_JSON.read_text()).get("context", {}))


def build_app(context: dict[str, Any] | None = None, with_nag: bool = True) -> cdk.App:
    """Create the app with the Responder stack; `context` overrides cdk.json and CLI context."""
    app = cdk.App(context=_cdk_json_context(), post_cli_context=context or None)
    # No env: the template stays account- and region-agnostic, so synth needs no credentials or lookups.
    ResponderStack(
        app,
        c.STACK_NAME,
        description="Responder: receives X and Meta webhooks, stores and triages mentions",
    )
    if with_nag:
        register_checks(app)
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
