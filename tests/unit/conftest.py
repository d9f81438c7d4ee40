"""Fixtures of the unit tests."""

from __future__ import annotations

import asyncio

import pytest


class FakeXCom:
    """The two XCom calls a checkpoint makes, with a gate to hold a save in flight."""

    def __init__(self, stored=None) -> None:
        self.stored = stored
        self.saves: list[dict] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.where: dict | None = None

    async def aget_one(self, **where):
        self.where = where
        return self.stored

    async def aset(self, value, **where):
        await self.gate.wait()
        self.saves.append(dict(value))
        self.stored = value


@pytest.fixture
def fake_xcom(monkeypatch):
    fake = FakeXCom()
    monkeypatch.setattr("airflow.sdk.execution_time.xcom.XCom", fake)
    return fake
