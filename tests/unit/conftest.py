"""Unit-test fixtures: the in-memory stand-ins for the webhook's storage and queue ports."""

from __future__ import annotations

import pytest

from tests.fakes import FakeQueue, InMemoryStore


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()
