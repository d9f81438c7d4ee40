"""What the runners of third-party test suites share: reading the JUnit report of the suite's
own pytest run, and comparing its outcome with the runner's expectations.

Each runner (``run_python_nomad_suite.py``, ``run_py_consul_suite.py``) lists the tests it does
not run and the tests expected to fail, each with the reason; :func:`report` prints the counts
and says whether the run matched those lists exactly.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    passed: list[str]
    failed: dict[str, str]
    skipped: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed) + len(self.skipped)


def _node_id(case: ET.Element) -> str:
    """pytest's node ID of a JUnit test case (``file`` is there with ``junit_family=xunit1``)."""
    classname = case.get("classname", "")
    path = case.get("file") or classname.replace(".", "/") + ".py"
    module = path[: -len(".py")].replace("/", ".")
    inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
    parts = [path, *inner.split(".")] if inner else [path]
    return "::".join([*parts, case.get("name", "")])


#: pytest options every runner passes so the report carries what :func:`read_junit` needs.
JUNIT_OPTIONS = ("-o", "junit_family=xunit1")


def read_junit(path: Path) -> Outcome:
    """Outcomes by test (the last report of a test whose case appears more than once)."""
    last: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            lines = (failure.get("message") or failure.text or "").strip().splitlines()
            last[_node_id(case)] = ("failed", lines[0] if lines else "failed")
        elif skipped is not None:
            last[_node_id(case)] = ("skipped", skipped.get("message") or "skipped")
        else:
            last[_node_id(case)] = ("passed", "")
    outcome = Outcome([], {}, {})
    for node_id, (state, message) in last.items():
        if state == "passed":
            outcome.passed.append(node_id)
        elif state == "failed":
            outcome.failed[node_id] = message
        else:
            outcome.skipped[node_id] = message
    return outcome


def report(name: str, outcome: Outcome, excluded: dict[str, str], expected: dict[str, str]) -> bool:
    """Print the counts and the differences from the expectations; True if as expected."""
    print(f"\n{name} suite against the emulator: {outcome.total} run")
    print(
        f"  {len(outcome.passed)} passed, {len(outcome.failed)} failed, "
        f"{len(outcome.skipped)} skipped, {len(excluded)} not run"
    )
    for node_id, reason in sorted(excluded.items()):
        print(f"  not run   {node_id}: {reason}")
    for node_id, reason in sorted(expected.items()):
        state = "fails" if node_id in outcome.failed else "PASSES NOW"
        print(f"  expected  {node_id} ({state}): {reason}")
    unexpected = {k: v for k, v in outcome.failed.items() if k not in expected}
    for node_id, message in sorted(unexpected.items()):
        print(f"  FAILED    {node_id}: {message}")
    fixed = [k for k in expected if k in outcome.passed]
    for node_id in fixed:
        print(f"  FIXED     {node_id}: remove it from expected")
    missing = [k for k in expected if k not in outcome.failed and k not in outcome.passed]
    for node_id in missing:
        print(f"  MISSING   {node_id}: not run at all")
    return not unexpected and not fixed and not missing


def run_pytest(suite_dir: Path, junit: Path, env: dict[str, str], args: list[str]) -> int:
    """Run the suite in its own pytest process, every test once; pytest's exit status.

    A few suites mark tests ``@flaky``: flaky's reruns are off, so a test that fails against
    the emulator fails the run instead of passing on a later try.
    """
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:flaky",
        f"--junitxml={junit}",
        *JUNIT_OPTIONS,
        *args,
    ]
    return subprocess.run(command, cwd=suite_dir, env=env, check=False, timeout=1800).returncode


def main(
    name: str,
    doc: str,
    run_suite: Callable[[list[str], Path], Outcome],
    excluded: dict[str, str],
    expected: dict[str, str],
    argv: list[str] | None = None,
) -> int:
    """A runner's command line: run the suite, report, 0 when the outcome is as expected."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--junit", type=Path, help="keep the JUnit XML report here")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        junit = args.junit or Path(tmp) / f"{name}.xml"
        outcome = run_suite(pytest_args, junit)
        return 0 if report(name, outcome, excluded, expected) else 1
