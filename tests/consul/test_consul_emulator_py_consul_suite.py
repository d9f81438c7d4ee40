"""py-consul's own test suite, which nobody here wrote, against the Consul emulator.

``scripts/run_py_consul_suite.py`` runs the vendored suite (py-consul 1.8.0's tests,
unmodified) against fresh emulators; every test passes except those the script lists, each
with the route or ability it needs that the emulator does not have.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from thirdparty_testlib import run_runner, runner_module, vendored_files_checked

SUITE = Path(__file__).resolve().parent / "thirdparty" / "py_consul"
RUNNER = "run_py_consul_suite"

pytestmark = pytest.mark.slow


def test_the_vendored_tests_are_py_consuls_unmodified():
    assert vendored_files_checked(SUITE) == len(list((SUITE / "tests").rglob("*.py"))) == 26


def test_py_consuls_suite_passes_but_for_the_listed_tests(tmp_path):
    script = runner_module(RUNNER)
    junit = tmp_path / "py-consul.xml"
    report = run_runner(RUNNER, junit)
    outcome = script.read_junit(junit)
    assert set(outcome.failed) == set(script.EXPECTED_FAILURES), report
    assert not outcome.skipped
    assert len(outcome.passed) == outcome.total - len(script.EXPECTED_FAILURES) >= 166
