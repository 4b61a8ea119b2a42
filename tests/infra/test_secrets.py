"""The platform credentials secret: placeholder only, never a value in the template."""

from __future__ import annotations

import json

from infra import constants as c


def test_secret_is_generated_from_a_template_with_every_credential_key(synthesized):
    # Given the synthesised stack
    secret = synthesized.resource(synthesized.stack.secrets.secret)
    # When the secret's generation settings are inspected
    generate = secret["Properties"]["GenerateSecretString"]
    template_keys = set(json.loads(generate["SecretStringTemplate"]))
    # Then the generated JSON carries x_consumer_secret, meta_app_secret and meta_verify_token
    assert template_keys | {generate["GenerateStringKey"]} == {
        "x_consumer_secret",
        "meta_app_secret",
        "meta_verify_token",
    }
    assert set(c.PLATFORM_SECRET_KEYS) == template_keys | {generate["GenerateStringKey"]}


def test_no_secret_value_is_written_into_the_template(synthesized):
    # Given the synthesised stack
    secret = synthesized.resource(synthesized.stack.secrets.secret)
    # When the secret resource is inspected
    # Then it has no SecretString and is retained if the stack goes away
    assert "SecretString" not in secret["Properties"]
    assert secret["DeletionPolicy"] == "Retain"
