"""Fixtures of the emulator's own tests (the emulator fixtures come from the pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_testlib import Nomad


@pytest.fixture
def api(nomad_target) -> Iterator[Nomad]:
    """The contract-test client: a real Nomad when NOMAD_ADDR is set, else the emulator."""
    client = Nomad(nomad_target.addr, nomad_target.token)
    yield client
    client.close()


@pytest.fixture
def emu(nomad_emulator) -> Iterator[Nomad]:
    """A client of the (fresh) emulator, for tests that need its control API or drivers."""
    client = Nomad(nomad_emulator.nomad_addr)
    yield client
    client.close()
