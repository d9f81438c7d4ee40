"""The provider as it was before the shared watch, for claim 3's side-by-side baseline.

Claim 3's target, CPU per waiting batch ten times lower than per-trigger waits, was set against
the triggers as they were at :data:`COMMIT`, before the shared watch: each trigger with its own
HTTP client and its own blocking queries. The per-trigger waits of today's code
(``shared_watch=False``) are not that baseline any more: they share one HTTP client per loop
and first look at the allocations, changes made with the shared watch. So claim 3 also runs
that older code, in the same run, from this repository's own history: :data:`COMMIT`'s
``airflow_provider_nomad`` package, extracted with ``git archive`` beside a link to today's
``benchmarks`` package. The swarm worker started there imports the old provider and drives it
exactly as it drives today's.

Without the history (a source archive, a shallow clone), :func:`available` is false,
:func:`extract` says why, and claim 3 runs without the baseline.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

#: The last commit before the shared watch (``c56db46``): the code the target was set against.
COMMIT = "c56db46a720346c4f5de0f190553080d6c0f8a0f"
#: The package taken from it; everything else (the harness, the emulator) is today's.
PACKAGE = "airflow_provider_nomad"

REPO_ROOT = Path(__file__).resolve().parent.parent


def available() -> bool:
    """Whether this checkout holds :data:`COMMIT` (not a shallow clone or a source archive)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{COMMIT}^{{commit}}"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def extract(dest: Path) -> tuple[Path | None, str | None]:
    """``dest`` holding :data:`COMMIT`'s package and a link to today's ``benchmarks``, to start
    the swarm worker in; or ``None`` and the reason it cannot be built here."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", COMMIT, PACKAGE],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except FileNotFoundError:
        return None, "git is not installed"
    except subprocess.TimeoutExpired:
        return None, f"git archive of commit {COMMIT[:7]} did not finish within 120 s"
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip().splitlines()
        return None, f"commit {COMMIT[:7]} is not in this checkout's history ({' '.join(reason)})"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    link = dest / "benchmarks"
    if not link.exists():
        link.symlink_to(REPO_ROOT / "benchmarks", target_is_directory=True)
    return dest, None
