"""The baseline claim 3 runs beside the shared watch: the provider as it was before it."""

from __future__ import annotations

from pathlib import Path

from benchmarks import before_watch

REPO = Path(__file__).resolve().parents[2]


def test_the_baseline_is_the_provider_before_the_shared_watch(tmp_path):
    where, skipped = before_watch.extract(tmp_path / "baseline")

    if not before_watch.available():
        # Claim 3 then runs without the baseline, and says why.
        assert where is None and "not in this checkout's history" in skipped
        return
    assert skipped is None and where is not None
    trigger = (where / "airflow_provider_nomad" / "triggers" / "nomad.py").read_text()
    assert "class NomadJobTrigger" in trigger
    # Its triggers wait alone: there is no shared watch to choose.
    assert "shared_watch" not in trigger
    assert not (where / "airflow_provider_nomad" / "nomad" / "job_watch.py").exists()
    # Started there, a worker imports that package and today's harness.
    assert (where / "benchmarks").resolve() == REPO / "benchmarks"


def test_a_checkout_without_the_commit_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(before_watch, "COMMIT", "0" * 40)

    where, skipped = before_watch.extract(tmp_path / "baseline")

    assert where is None
    assert "0000000 is not in this checkout's history" in skipped
    assert not (tmp_path / "baseline").exists()
