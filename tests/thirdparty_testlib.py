"""What the tests of the vendored third-party suites share: loading a runner script, checking
the vendored files are unmodified, and running the runner as a user would."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def runner_module(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported, for its lists of excluded and expected failures."""
    sys.path.insert(0, str(SCRIPTS))  # it imports its sibling thirdparty_suite
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def vendored_files_checked(suite: Path) -> int:
    """Check each file of ``SHA256SUMS`` against its digest; how many were checked."""
    checked = 0
    for line in filter(None, (suite / "SHA256SUMS").read_text().split("\n")):
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((suite / name).read_bytes()).hexdigest() == digest, name
        checked += 1
    assert (suite / "LICENSE").read_text().startswith("The MIT License (MIT)")
    return checked


def run_runner(name: str, junit: Path) -> str:
    """Run ``scripts/<name>.py`` and require exit status 0; the end of its report."""
    completed = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), "--junit", str(junit)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = completed.stdout[-4000:] + completed.stderr[-2000:]
    assert completed.returncode == 0, report
    return report
