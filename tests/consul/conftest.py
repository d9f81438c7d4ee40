"""Fixtures of the Consul tests (see ``consul_testlib`` for what they serve)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from consul_testlib import (
    REAL_CONSUL_ADDR,
    REAL_CONSUL_TOKEN,
    ConsulEmulator,
    ConsulTarget,
    cleanup_real,
    connection_env,
)
from nomad_testlib import HANG_BOUND

from airflow_provider_nomad.testing import Emulator
from airflow_provider_nomad.testing.consul import ConsulControl


def _consul_side(emulator: Emulator) -> Iterator[ConsulEmulator]:
    control = ConsulControl(emulator.consul_addr, token=emulator.token)
    try:
        yield ConsulEmulator(emulator=emulator, consul=control)
    finally:
        control.close()


@pytest.fixture
def consul_emulator(nomad_emulator: Emulator) -> Iterator[ConsulEmulator]:
    """The emulator's Consul side (ACLs off), reset for this test."""
    yield from _consul_side(nomad_emulator)


@pytest.fixture
def consul_emulator_acl(nomad_emulator_acl: Emulator) -> Iterator[ConsulEmulator]:
    """The emulator's Consul side with ACLs on (default deny); ``token`` is a management one."""
    yield from _consul_side(nomad_emulator_acl)


@pytest.fixture
def consul_target(request: pytest.FixtureRequest) -> Iterator[ConsulTarget]:
    """A real Consul when CONSUL_HTTP_ADDR is set, else the emulator (ACLs off)."""
    if REAL_CONSUL_ADDR:
        addr = REAL_CONSUL_ADDR if "://" in REAL_CONSUL_ADDR else f"http://{REAL_CONSUL_ADDR}"
        target = ConsulTarget(addr=addr, token=REAL_CONSUL_TOKEN, emulator=None)
        yield target
        cleanup_real(target)
        return
    emulator: ConsulEmulator = request.getfixturevalue("consul_emulator")
    yield ConsulTarget(addr=emulator.addr, token=None, emulator=emulator)


@pytest.fixture
def consul_conn(consul_emulator: ConsulEmulator, monkeypatch: pytest.MonkeyPatch) -> ConsulEmulator:
    """``consul_default`` pointing at the emulator (ACLs off)."""
    connection_env(monkeypatch, "consul_default", consul_emulator.addr)
    return consul_emulator


@pytest.fixture
def http(consul_emulator: ConsulEmulator) -> Iterator[httpx.Client]:
    """A plain HTTP client of the emulated Consul agent (ACLs off)."""
    with httpx.Client(base_url=consul_emulator.addr, timeout=HANG_BOUND) as client:
        yield client
