"""pytest plugin: the Nomad + Consul emulator as fixtures.

* ``nomad_emulator``: an :class:`~airflow_provider_nomad.testing.Emulator` (ACLs off) with fresh
  state for each test (one server per test run, reset between tests).
* ``nomad_emulator_acl``: the same with ACLs on (``emulator.token`` is a management token,
  which ``emulator.control`` sends, as the control API then requires).
* ``nomad_target``: where contract tests point: a real Nomad when ``NOMAD_ADDR`` is set (with
  ``NOMAD_TOKEN``), else the emulator. ``target.control`` skips the test on a real Nomad.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .control import EmulatorControl
from .server import Emulator


@dataclass
class NomadTarget:
    """A Nomad API to run contract tests against.

    :param addr: base URL.
    :param token: ACL token, if any.
    :param emulator: the emulator behind ``addr``; None for a real Nomad.
    """

    addr: str
    token: str | None
    emulator: Emulator | None

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    @property
    def control(self) -> EmulatorControl:
        """The emulator's control API; skips the test when the target is a real Nomad."""
        if self.emulator is None:
            pytest.skip("needs the emulator's control API (target is a real Nomad)")
        return self.emulator.control

    def headers(self) -> dict[str, str]:
        return {"X-Nomad-Token": self.token} if self.token else {}


@pytest.fixture(scope="session")
def _nomad_emulator_session() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _nomad_emulator_acl_session() -> Iterator[Emulator]:
    with Emulator(acl=True) as emulator:
        yield emulator


@pytest.fixture
def nomad_emulator(_nomad_emulator_session: Emulator) -> Emulator:
    """The emulator, reset to its initial state."""
    _nomad_emulator_session.control.reset()
    return _nomad_emulator_session


@pytest.fixture
def nomad_emulator_acl(_nomad_emulator_acl_session: Emulator) -> Emulator:
    """The emulator with ACLs enforced, reset to its initial state."""
    _nomad_emulator_acl_session.control.reset()
    return _nomad_emulator_acl_session


@pytest.fixture
def nomad_target(request: pytest.FixtureRequest) -> NomadTarget:
    """A real Nomad (``NOMAD_ADDR``, ``NOMAD_TOKEN``) or, by default, the emulator."""
    addr = os.environ.get("NOMAD_ADDR")
    if addr:
        return NomadTarget(addr.rstrip("/"), os.environ.get("NOMAD_TOKEN") or None, None)
    emulator = request.getfixturevalue("nomad_emulator")
    return NomadTarget(emulator.nomad_addr, emulator.token, emulator)
