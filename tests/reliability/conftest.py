"""Fixtures of the reliability suite."""

from __future__ import annotations

import pytest
from reliability_testlib import FAST_BACKOFF_POLICY


@pytest.fixture
def fast_backoff(monkeypatch):
    """Hooks built without an explicit policy use the default attempts with short pauses."""
    monkeypatch.setattr(
        "airflow_provider_nomad.hooks.nomad.DEFAULT_RETRY_POLICY", FAST_BACKOFF_POLICY
    )
    return FAST_BACKOFF_POLICY
