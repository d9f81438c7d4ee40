"""The triggerer's limit of open files: raised once by the first trigger, so that following the
logs of more batches than a service's usual soft limit allows still works.

Each case runs in a process of its own: the limit belongs to the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nomad_testlib import HANG_BOUND, batch_job, dispatch

TRIGGERER = Path(__file__).with_name("open_files_triggerer.py")


def _run_python(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


RAISE_TWICE = """
    import json, logging, resource, sys
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
    from airflow_provider_nomad.triggers.open_files import raise_open_file_limit
    log = logging.getLogger("test")
    first, second = raise_open_file_limit(log), raise_open_file_limit(log)
    print(json.dumps({
        "first": first, "second": second, "hard": hard,
        "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }))
"""


def test_the_soft_limit_is_raised_to_the_hard_one_once():
    import resource

    seen = _run_python(RAISE_TWICE, "64")
    assert seen["first"] == [64, seen["soft"]]
    if seen["hard"] != resource.RLIM_INFINITY:  # else as far as the kernel takes it (macOS)
        assert seen["soft"] == seen["hard"]
    assert seen["soft"] > 64
    assert seen["second"] is None  # once per process


def test_a_soft_limit_already_at_the_hard_one_is_left_alone():
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    seen = _run_python(RAISE_TWICE, str(hard))
    assert seen["first"] is None and seen["soft"] == hard


#: Batches followed at once by the triggerer: two log streams each, more than the limit.
BATCHES = 40
LOW_LIMIT = 64


def _follow_in_a_triggerer(nomad_client, tmp_path: Path, batches: int, **env: str) -> dict:
    release = tmp_path / "release"
    script = f"""
        import os, time
        print("batch ready", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.05)
        print("batch done", flush=True)
    """
    nomad_client.jobs.register_job({"Job": batch_job("many", script)})
    jobs = []
    for _ in range(batches):
        answer = dispatch(nomad_client, "many")
        jobs.append([answer["DispatchedJobID"], answer["EvalID"]])
    try:
        done = subprocess.run(
            [sys.executable, str(TRIGGERER), str(LOW_LIMIT), json.dumps(jobs), str(release)],
            capture_output=True,
            text=True,
            timeout=HANG_BOUND,
            env={**os.environ, **env},
        )
    finally:
        release.touch()  # whatever happened, no batch waits on
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_triggerer_started_with_a_low_limit_follows_more_logs_than_it_allows(
    nomad_conn, nomad_client, tmp_path
):
    seen = _follow_in_a_triggerer(nomad_client, tmp_path, BATCHES)
    assert seen["soft_limit"] > 2 * BATCHES  # raised by the first trigger
    assert [e["error"] for e in seen["events"]] == [None] * BATCHES
    assert {e["outcome"]["result"] for e in seen["events"]} == {"succeeded"}
    # Every batch's two lines, each once, with every log stream open at the same time.
    assert seen["lines"] == {"batch ready": BATCHES, "batch done": BATCHES}
    assert seen["stream_warnings"] == []


@pytest.mark.parametrize("opt_out", ["False", "f"])
def test_opting_out_keeps_the_limit_the_triggerer_started_with(
    nomad_conn, nomad_client, tmp_path, opt_out
):
    # Two batches: well within the limit, so their waits end either way.
    seen = _follow_in_a_triggerer(
        nomad_client, tmp_path, 2, AIRFLOW__NOMAD_TRIGGERER__RAISE_OPEN_FILE_LIMIT=opt_out
    )
    assert seen["soft_limit"] == LOW_LIMIT
    assert [e["error"] for e in seen["events"]] == [None, None]
    assert seen["lines"] == {"batch ready": 2, "batch done": 2}
