"""cdk-nag wiring: the AwsSolutions pack is registered once on the app; findings are acknowledged
on the narrowest construct that causes them, each with a reason a reviewer can check."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def register_checks(app: cdk.App) -> None:
    # cdk-nag 3 is a policy-validation plugin: any unacknowledged finding fails synthesis,
    # which is what keeps `cdk synth` and the infra tests honest.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope`."""
    if not rule_id.startswith("AwsSolutions-"):
        raise ValueError(f"only AwsSolutions rules are acknowledged here, got {rule_id!r}")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule_id} needs a specific reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::{rule_id}", reason=reason))
