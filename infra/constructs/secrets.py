"""Platform credentials issued by X and Meta, stored once and read by the functions at run time."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants as c
from infra.nag import acknowledge


class PlatformSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        # Only a generated placeholder is created, so no credential ever appears in the template;
        # operators overwrite the JSON with the real values after the first deploy.
        placeholder = {key: "REPLACE_ME" for key in c.PLATFORM_SECRET_KEYS if key != c.SECRET_KEY_META_VERIFY_TOKEN}
        self.secret = secretsmanager.Secret(
            self,
            c.PLATFORM_SECRET_ID,
            description=(
                "Responder platform credentials: JSON with "
                + ", ".join(c.PLATFORM_SECRET_KEYS)
                + ". Replace the placeholders with the values issued by X and Meta."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(placeholder),
                # The verify token is ours to choose, so a random one is already a usable value.
                generate_string_key=c.SECRET_KEY_META_VERIFY_TOKEN,
                exclude_punctuation=True,
                password_length=48,
            ),
            # Real credentials are pasted in by hand; deleting the stack must not destroy them.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "These are credentials issued by X and Meta (consumer secret, app secret); rotating them "
            "requires the platforms' developer consoles, so a rotation Lambda cannot do it.",
        )
