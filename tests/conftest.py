"""Shared test helpers: the project's own fixtures and signing with test-only secrets."""

from __future__ import annotations

import os

# Before any test module imports numpy: OpenBLAS with a pool of threads can hang a fork in its fork handler, and the
# tests start DynamoDB Local while a local stack classifies in threads (see responder_cli/__init__.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
from pathlib import Path
from typing import Any

import pytest

from responder.core.config import PlatformCredentials
from responder.ingest.signatures import sign_meta, sign_x

FIXTURES = Path(__file__).parent / "fixtures"

# Test-only values: never real credentials.
X_SECRET = "test-x-consumer-secret"
META_SECRET = "test-meta-app-secret"
META_VERIFY = "test-meta-verify-token"


def fixture_bytes(name: str) -> bytes:
    """A delivery body from tests/fixtures, as raw bytes (what the platform signs)."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def x_headers(body: bytes, secret: str = X_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "x-twitter-webhooks-signature": sign_x(secret, body)}


def meta_headers(body: bytes, secret: str = META_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": sign_meta(secret, body)}


def api_event(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, query: str = "",
              b64: bool = False) -> dict[str, Any]:
    """A minimal API Gateway HTTP API (payload 2.0) event, as the webhook function receives it."""
    import base64

    return {"version": "2.0", "rawPath": path, "rawQueryString": query, "headers": headers or {},
            "requestContext": {"http": {"method": method, "path": path}},
            "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8"), "isBase64Encoded": b64}


class StaticCredentials:
    """A CredentialsProvider with fixed test values."""

    def __init__(self, x: str | None = X_SECRET, meta: str | None = META_SECRET, verify: str | None = META_VERIFY):
        self.value = PlatformCredentials(x, meta, verify)

    def get(self) -> PlatformCredentials:
        return self.value


@pytest.fixture
def credentials() -> StaticCredentials:
    return StaticCredentials()


try:  # Hypothesis profiles: bounded in the suite, longer on demand (`pytest --hypothesis-profile=long`)
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("default", max_examples=80, deadline=None)
    _hypothesis_settings.register_profile("long", max_examples=2_000, deadline=None)
    _hypothesis_settings.load_profile("default")
except ImportError:  # the dev extras are not installed: the property-based tests skip themselves
    _hypothesis_settings = None
