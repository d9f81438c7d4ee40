"""Run python-nomad's own test suite against the Nomad emulator and report what passed.

The suite (``tests/emulator/thirdparty/python_nomad``: python-nomad 2.1.0's tests from its
sdist, unmodified, plus the harness its CI provides: ``tests/common.py``, ``conftest.py`` and
the example jobs) is written for ``nomad agent -dev -acl-enabled -node pynomad1``. This script
starts the emulator the same way (ACLs on and not bootstrapped, the node named ``pynomad1``,
docker jobs replaced by ``mock_driver`` ones), runs the suite in its own pytest process, and
compares the outcome with :data:`EXPECTED_FAILURES` and :data:`EXCLUDED`.

Exit status 0 when exactly the expected tests fail; 1 otherwise (a new failure, or an expected
failure that now passes: take it off the list). Nothing is downloaded.

Usage: ``python scripts/run_python_nomad_suite.py [--junit FILE] [-- PYTEST_ARGS...]``
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from thirdparty_suite import Outcome, main, read_junit, run_pytest

from airflow_provider_nomad.testing import Emulator
from airflow_provider_nomad.testing.nomad.records import NOMAD_VERSION

SUITE_DIR = Path(__file__).resolve().parent.parent / "tests/emulator/thirdparty/python_nomad"
NODE_NAME = "pynomad1"  # the suite's CI: nomad agent -dev -node pynomad1

#: Not run: they need something no single-process emulator on loopback can give.
EXCLUDED: dict[str, str] = {
    "tests/test_base.py::test_base_get_connection_error": (
        "connects to 162.16.10.102, an outside address, to provoke a connection error"
    ),
    "tests/test_base.py::test_base_put_connection_error": (
        "connects to 162.16.10.102, an outside address, to provoke a connection error"
    ),
    "tests/test_base.py::test_base_delete_connection_error": (
        "connects to 162.16.10.102, an outside address, to provoke a connection error"
    ),
}

#: Run, and expected to fail, each with the reason: none needs anything the emulator lacks,
#: they fail against a real Nomad 2.x (or without any server) just the same.
EXPECTED_FAILURES: dict[str, str] = {
    "tests/test_deployments.py::test_get_deployments_with_namespace": (
        "no server involved: python-nomad 2.1.0 asks /v1/deployments?prefix=&namespace=..., "
        "the URL the test mocks with `responses` has no prefix, so the mock refuses the call"
    ),
    "tests/test_job.py::test_delete_job_with_invalid_purge_param_raises": (
        "no server involved: python-nomad 2.1.0 no longer refuses purge='True' client-side"
    ),
    "tests/test_job.py::test_dispatch_job_idempotency": (
        "registers example_batch_parameterized.json (Job.ID example-batch) under the name "
        "example-batch-idempotent: Nomad answers 400 'Job ID does not match name'"
    ),
    "tests/test_node.py::test_drain_node_with_spec": (
        "reads Node['Drain'], a field structs.Node no longer has (only NodeListStub does)"
    ),
}


def _suite_env(emulator: Emulator) -> dict[str, str]:
    """The suite's CI environment, pointed at the emulator (no NOMAD_* of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "VAULT_", "CONSUL_"))}
    port = emulator.nomad_addr.rsplit(":", 1)[1]
    env.update(NOMAD_IP="127.0.0.1", NOMAD_PORT=port, NOMAD_VERSION=NOMAD_VERSION)
    return env


def run_suite(pytest_args: list[str], junit: Path) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="python-nomad-suite-") as state_dir:
        emulator = Emulator(
            acl=True, acl_bootstrapped=False, node_name=NODE_NAME, state_dir=state_dir
        )
        with emulator:
            deselected = [f"--deselect={node_id}" for node_id in EXCLUDED]
            run_pytest(SUITE_DIR, junit, _suite_env(emulator), [*deselected, *pytest_args])
    return read_junit(junit)


if __name__ == "__main__":
    sys.exit(main("python-nomad", __doc__, run_suite, EXCLUDED, EXPECTED_FAILURES))
