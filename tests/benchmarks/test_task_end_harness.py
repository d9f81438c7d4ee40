"""Claim 1b's harness tells Airflow's own failures of a deferred task from everything else."""

from __future__ import annotations

from pathlib import Path

from benchmarks.claims.task_end import _stale_defer_exit

RUN = "manual__2026-12-07T01:20:44.794041+00:00"
# The scheduler's line, as Airflow 3.3.2 logged it in a failed run of this benchmark.
STALE = (
    "2026-12-07T01:20:53.757445Z [error    ] Executor LocalExecutor(parallelism=4) reported "
    "that the task instance <TaskInstance: bench_task_end_deferrable.batch "
    f"{RUN} [queued] ti_id=01a24e16-c502-746e-bbd9-1843d5c39ce2> finished with state "
    "success, but the task instance's state attribute is queued. Learn more: https://airflow"
)


class _Deployment:
    def __init__(self, scheduler_log: Path) -> None:
        self.scheduler_log = scheduler_log

    def log_path(self, component: str) -> Path:
        assert component == "scheduler"
        return self.scheduler_log


def test_the_stale_defer_exit_of_this_run_is_recognized(tmp_path):
    log = tmp_path / "scheduler.1.log"
    log.write_text(f"2026-12-07T01:20:53.70Z [info     ] something else\n{STALE}\n")
    found = _stale_defer_exit(_Deployment(log), RUN)
    assert found is not None and "state attribute is queued" in found


def test_another_run_or_another_failure_is_not_taken_for_it(tmp_path):
    log = tmp_path / "scheduler.1.log"
    log.write_text(STALE.replace(RUN, "manual__2026-12-07T01:20:53.966605+00:00") + "\n")
    assert _stale_defer_exit(_Deployment(log), RUN) is None
    log.write_text(f"[error] Task failed with exception {RUN}\n")
    assert _stale_defer_exit(_Deployment(log), RUN) is None
    assert _stale_defer_exit(_Deployment(tmp_path / "missing.log"), RUN) is None
