"""CDK context overrides: TTL and throttling are tunable without code changes."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from infra import constants as c
from infra.app import build_app


def test_context_overrides_ttl_and_throttling():
    # Given context that shortens the raw-event TTL and lowers the throttle
    app = build_app(
        {c.CONTEXT_RAW_EVENT_TTL_DAYS: "7", c.CONTEXT_THROTTLE_BURST: "50", c.CONTEXT_THROTTLE_RATE: 25},
        with_nag=False,
    )
    # When the stack is synthesised
    template = Template.from_stack(app.node.find_child(c.STACK_NAME))
    # Then the function and the stage carry the overridden values
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"RAW_EVENT_TTL_DAYS": "7"})}},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"DefaultRouteSettings": {"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 25}},
    )


def test_context_overrides_the_handshake_throttle():
    # Given context that raises the handshake routes' limits
    app = build_app({c.CONTEXT_HANDSHAKE_THROTTLE_BURST: "40", c.CONTEXT_HANDSHAKE_THROTTLE_RATE: 20}, with_nag=False)
    # When the stack is synthesised
    template = Template.from_stack(app.node.find_child(c.STACK_NAME))
    # Then both GET routes carry them
    limits = {"ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20}
    template.has_resource_properties("AWS::ApiGatewayV2::Stage", {
        "RouteSettings": {"GET /webhooks/x": limits, "GET /webhooks/meta": limits}})


@pytest.mark.parametrize("bad", ["0", "-5", "ten"])
def test_invalid_handshake_throttle_is_rejected(bad):
    with pytest.raises(ValueError, match=c.CONTEXT_HANDSHAKE_THROTTLE_RATE):
        build_app({c.CONTEXT_HANDSHAKE_THROTTLE_RATE: bad}, with_nag=False)


@pytest.mark.parametrize("bad", ["-1", "-3", "thirty", "1.5"])
def test_invalid_ttl_context_is_rejected(bad):
    # Given a raw-event TTL that is not a whole number of days (0 is: no audit copy)
    # When the app is built
    # Then it fails with a message naming the context key
    with pytest.raises(ValueError, match=c.CONTEXT_RAW_EVENT_TTL_DAYS):
        build_app({c.CONTEXT_RAW_EVENT_TTL_DAYS: bad}, with_nag=False)
