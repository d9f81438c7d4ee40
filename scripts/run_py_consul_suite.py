"""Run py-consul's own test suite against the Consul emulator and report what passed.

The suite (``tests/consul/thirdparty/py_consul``: py-consul 1.8.0's tests from its sdist,
unmodified) starts a ``consul agent -dev`` container per test; its harness here
(``conftest.py``) serves the same fixtures from two emulators this script starts, one with
ACLs off and one with ACLs on, reset before every test. The suite runs in its own pytest
process; the outcome is compared with :data:`EXPECTED_FAILURES` and :data:`EXCLUDED`.

Exit status 0 when exactly the expected tests fail; 1 otherwise. Nothing is downloaded.

Usage: ``python scripts/run_py_consul_suite.py [--junit FILE] [-- PYTEST_ARGS...]``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from thirdparty_suite import Outcome, main, read_junit, run_pytest

from airflow_provider_nomad.testing import Emulator
from airflow_provider_nomad.testing.consul.node_responses import CONSUL_VERSION

SUITE_DIR = Path(__file__).resolve().parent.parent / "tests/consul/thirdparty/py_consul"

#: Not run, each with the reason (a file: none of its tests). None today: ``tests/test_aio.py``
#: runs too (consul.aio over aiohttp, which the ``test`` extra installs for it).
EXCLUDED: dict[str, str] = {}

#: Tests expected to fail, grouped by what they need that the emulator does not serve (each
#: answer names the missing route: 501) or cannot do. Keys are ``file::Class``.
_NOT_EMULATED: dict[str, tuple[str, list[str]]] = {
    "HTTP checks of localhost:8500: in the suite's container that is the agent's own HTTP port, "
    "so they pass; these emulators listen on free ports picked at start (several run at once "
    "on one machine), nothing answers on 8500 and the checks are rightly critical. The "
    "emulator does run HTTP and script checks (test_consul_emulator_check_runner.py)": (
        "test_agent.py::TestAgent",
        ["test_agent_checks", "test_service_multi_check"],
    ),
}


def _expected_failures() -> dict[str, str]:
    out = {}
    for reason, (owner, names) in _NOT_EMULATED.items():
        for name in names:
            test = f"{owner}::{name}" if owner else name
            out[f"tests/api/{test}[{CONSUL_VERSION}]"] = reason
    return out


#: Run, and expected to fail, each with the reason.
EXPECTED_FAILURES: dict[str, str] = _expected_failures()


def _suite_env(plain: Emulator, acl: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "NOMAD_"))}
    env.update(
        EMULATOR_CONSUL_PORT=plain.consul_addr.rsplit(":", 1)[1],
        EMULATOR_ACL_CONSUL_PORT=acl.consul_addr.rsplit(":", 1)[1],
        EMULATOR_NOMAD_PORT=plain.nomad_addr.rsplit(":", 1)[1],
        EMULATOR_ACL_NOMAD_PORT=acl.nomad_addr.rsplit(":", 1)[1],
        EMULATOR_ACL_TOKEN=acl.token or "",
        EMULATOR_CONSUL_VERSION=CONSUL_VERSION,
    )
    return env


def run_suite(pytest_args: list[str], junit: Path) -> Outcome:
    # The suite's container runs its agent with script checks enabled; so do these.
    with (
        Emulator(consul_script_checks=True) as plain,
        Emulator(acl=True, consul_script_checks=True) as acl,
    ):
        not_run = [
            f"--ignore={node_id}" if node_id.endswith(".py") else f"--deselect={node_id}"
            for node_id in EXCLUDED
        ]
        run_pytest(SUITE_DIR, junit, _suite_env(plain, acl), [*not_run, *pytest_args])
    return read_junit(junit)


if __name__ == "__main__":
    sys.exit(main("py-consul", __doc__, run_suite, EXCLUDED, EXPECTED_FAILURES))
