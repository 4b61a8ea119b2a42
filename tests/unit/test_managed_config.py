"""The managed backends are off unless the environment (set from CDK context) turns them on."""

from __future__ import annotations

import pytest

from infra import constants as c
from responder.core import config
from responder.triage import runtime as triage_runtime
from responder.core.config import ConfigError, ManagedBackends, TriageSettings
from responder.aws.managed import BedrockDrafter, ComprehendSentiment, backends_for


@pytest.fixture(autouse=True)
def fresh_runtime():
    triage_runtime.reset()
    yield
    triage_runtime.reset()


def test_backends_are_off_by_default_and_the_runtime_builds_none():
    # Given triage settings from an environment that names only the table
    settings = TriageSettings.from_env({"TABLE_NAME": "t"})
    # When the container's runtime is built
    rt = triage_runtime.runtime(lambda: settings)
    # Then the local classifier and templates are used: no Comprehend, no Bedrock
    assert settings.backends == ManagedBackends() and not settings.backends.enabled
    assert (rt.sentiment, rt.drafter) == (None, None)


def test_the_environment_turns_each_backend_on():
    env = {"TABLE_NAME": "t", config.ENV_SENTIMENT_BACKEND: "Comprehend", config.ENV_DRAFT_BACKEND: "bedrock",
           config.ENV_BEDROCK_MODEL_ID: "us.amazon.nova-lite-v1:0"}
    rt = triage_runtime.runtime(lambda: TriageSettings.from_env(env))
    assert isinstance(rt.sentiment, ComprehendSentiment)
    assert isinstance(rt.drafter, BedrockDrafter) and rt.drafter.model_id == "us.amazon.nova-lite-v1:0"
    only_drafts = backends_for(ManagedBackends(draft="bedrock"))
    assert only_drafts[0] is None and only_drafts[1].model_id == config.DEFAULT_BEDROCK_MODEL_ID


@pytest.mark.parametrize("name, value", [(config.ENV_SENTIMENT_BACKEND, "vader"),
                                         (config.ENV_DRAFT_BACKEND, "gpt")])
def test_an_unknown_backend_is_a_configuration_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        TriageSettings.from_env({"TABLE_NAME": "t", name: value})


def test_the_stack_and_the_functions_use_the_same_names_and_defaults():
    assert (c.ENV_SENTIMENT_BACKEND, c.ENV_DRAFT_BACKEND, c.ENV_BEDROCK_MODEL_ID) == (
        config.ENV_SENTIMENT_BACKEND, config.ENV_DRAFT_BACKEND, config.ENV_BEDROCK_MODEL_ID)
    assert (c.SENTIMENT_BACKENDS, c.DRAFT_BACKENDS) == (config.SENTIMENT_BACKENDS, config.DRAFT_BACKENDS)
    assert c.DEFAULT_BEDROCK_MODEL_ID == config.DEFAULT_BEDROCK_MODEL_ID
