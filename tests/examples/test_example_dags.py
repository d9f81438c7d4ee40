"""The example DAGs import cleanly and are wired as documented; their jobspecs fit them."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronTriggerTimetable
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import DataInterval, TimeRestriction

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.dispatch_input import check_against_parent, encode_payload
from airflow_provider_nomad.testing.nomad.jobspec import parse_jobspec

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
JOBS = EXAMPLES / "jobs"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(EXAMPLES))


@pytest.fixture(scope="module")
def jobspecs() -> dict[str, dict]:
    return {
        path.name.removesuffix(".nomad.hcl"): parse_jobspec(path.read_text(), canonicalize=True)
        for path in sorted(JOBS.glob("*.nomad.hcl"))
    }


def test_dag_files_import_without_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"nightly_settlement", "desk_pnl", "position_rollup"}
    # The batch programs are not DAG files: .airflowignore keeps the parser out of jobs/.
    assert all("/jobs/" not in path for path in dagbag.file_last_changed)


@pytest.fixture
def program_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget what importing the batch programs into this process added (sys.path, modules)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in ("batch_runtime", "trading_day"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("safe_mode", [True, False], ids=["safe-mode", "every-py-file"])
def test_a_copy_without_airflowignore_parses_the_same(
    tmp_path: Path, program_imports: None, safe_mode: bool
) -> None:
    """The DAG processor may read jobs/ (a copy that lost .airflowignore): nothing breaks."""
    copy = tmp_path / "dags"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns(".airflowignore", "__pycache__"))
    bag = DagBag(dag_folder=str(copy), safe_mode=safe_mode)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"nightly_settlement", "desk_pnl", "position_rollup"}
    # The batch programs were imported: the test exercised them, not an ignore rule.
    parsed = {Path(path).name for path in bag.file_last_changed if "/jobs/" in path}
    assert "desk_pnl.py" in parsed  # its docstring names Airflow and the DAG: safe mode reads it
    if not safe_mode:
        assert parsed == {path.name for path in JOBS.glob("*.py")}


@pytest.mark.parametrize("dag_id", ["nightly_settlement", "desk_pnl", "position_rollup"])
def test_dags_serialize_as_the_dag_processor_stores_them(dagbag: DagBag, dag_id: str) -> None:
    """The scheduler and the UI only ever see the serialized DAG: it must round-trip."""
    data = DagSerialization.to_dict(dagbag.dags[dag_id])
    restored = DagSerialization.from_dict(data)
    assert set(restored.task_dict) == set(dagbag.dags[dag_id].task_dict)


def test_nightly_settlement_runs_on_tokyo_business_nights(dagbag: DagBag) -> None:
    dag = dagbag.dags["nightly_settlement"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.max_active_runs == 1 and not dag.catchup
    timetable = coerce_to_core_timetable(dag.timetable)
    # Friday night's run (Saturday 01:30 JST) is followed by Tuesday's: none over the weekend.
    last = pendulum.datetime(2026, 11, 26, 1, 30, tz="Asia/Tokyo")  # a Thursday
    fires = []
    for _ in range(4):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval(last, last),
            restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
        )
        last = info.logical_date
        fires.append(pendulum.instance(last).in_tz("Asia/Tokyo"))
    assert [(f.format("ddd"), f.hour, f.minute) for f in fires] == [
        ("Fri", 1, 30),
        ("Sat", 1, 30),
        ("Tue", 1, 30),
        ("Wed", 1, 30),
    ]


def test_business_date_is_the_weekday_before_the_run() -> None:
    spec = importlib.util.spec_from_file_location("nightly", EXAMPLES / "nightly_settlement.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    previous = module.previous_business_day
    assert previous(dt.date(2026, 11, 24)) == dt.date(2026, 11, 23)  # Tuesday -> Monday
    assert previous(dt.date(2026, 11, 28)) == dt.date(2026, 11, 27)  # Saturday -> Friday
    assert previous(dt.date(2026, 11, 30)) == dt.date(2026, 11, 27)  # Monday -> Friday


def test_nightly_settlement_trigger_form_params(dagbag: DagBag) -> None:
    params = dagbag.dags["nightly_settlement"].params
    assert set(params) == {
        "business_date",
        "first_account",
        "last_account",
        "dry_run",
        "inject_break",
    }
    assert params.get_param("business_date").schema["format"] == "date"
    assert params["first_account"] == 1000 and params["last_account"] == 1099
    assert params["dry_run"] is False and params["inject_break"] is False
    with pytest.raises(ValueError):
        params.get_param("first_account").resolve(999)


def test_nightly_settlement_tasks(dagbag: DagBag) -> None:
    dag = dagbag.dags["nightly_settlement"]
    sensors = {t.service: t for t in dag.tasks if type(t).__name__ == "ConsulHealthSensor"}
    assert {s: t.min_passing for s, t in sensors.items()} == {
        "ledger-db": 1,
        "market-data": 2,
        "trade-capture": 1,
    }
    settle, reconcile = dag.get_task("settle"), dag.get_task("reconcile")
    assert settle.job_id == "settlement" and settle.adopt_succeeded_child
    assert settle.result_file == "alloc/settlement.json" and not settle.deferrable
    assert reconcile.job_id == "reconciliation" and reconcile.deferrable
    assert reconcile.result_file == "alloc/reconciliation.json"
    assert "settle" in reconcile.upstream_task_ids
    assert "register_settlement_job" in settle.upstream_task_ids
    sensor_ids = {t.task_id for t in sensors.values()}
    assert sensor_ids <= dag.get_task("register_settlement_job").upstream_task_ids
    assert dag.get_task("report").upstream_task_ids == {"reconcile"}
    for task_id in ("register_settlement_job", "register_reconciliation_job"):
        assert Path(dag.get_task(task_id).job).is_file()


def test_desk_pnl_tasks(dagbag: DagBag) -> None:
    dag = dagbag.dags["desk_pnl"]
    mapped = dag.get_task("desk_pnl")
    assert type(mapped).__name__ == "MappedOperator"
    assert mapped.partial_kwargs["job_id"] == "desk-pnl"
    sensor = dag.get_task("wait_for_snapshot")
    assert sensor.job_id == "eod-price-snapshot" and sensor.fetch_logs
    purge = dag.get_task("purge_snapshot_job")
    assert purge.is_teardown and purge.purge
    assert "register_snapshot_job" in purge.upstream_task_ids
    assert "wait_for_snapshot" in mapped.upstream_task_ids


def test_howto_markers_are_paired() -> None:
    names: list[str] = []
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        starts = re.findall(r"# \[START (\w+)\]", text)
        ends = re.findall(r"# \[END (\w+)\]", text)
        assert starts == ends, path.name
        names += starts
    assert len(names) == len(set(names)) >= 7
    assert all(name.startswith("howto_") for name in names)


#: Whole jobspecs a NomadRunJobOperator registers as they are: not parent jobs to dispatch.
WHOLE_JOBSPECS = {"position-extract"}


def test_jobspecs_are_raw_exec_batches(jobspecs: dict[str, dict]) -> None:
    assert set(jobspecs) == {"settlement", "reconciliation", "desk-pnl", *WHOLE_JOBSPECS}
    for name, job in jobspecs.items():
        assert job["ID"] == name and job["Type"] == "batch"
        assert (job["ParameterizedJob"] is None) == (name in WHOLE_JOBSPECS)
        (group,) = job["TaskGroups"]
        (task,) = group["Tasks"]
        assert task["Driver"] == "raw_exec"
        assert task["Config"]["command"] == "python3"
        (program,) = task["Config"]["args"]
        # The program is found through the jobs_dir meta key, so the file is the same for the
        # emulator demo and the docker-compose stack.
        assert program.startswith("${NOMAD_META_jobs_dir}/")
        assert (JOBS / program.removeprefix("${NOMAD_META_jobs_dir}/")).is_file()
        assert job["Meta"]["jobs_dir"] == "/opt/batch/jobs"


def test_dag_dispatch_input_fits_the_jobspecs(jobspecs: dict[str, dict]) -> None:
    """What the DAGs dispatch passes the same check the operator makes before dispatching."""
    date, jobs_dir = "2026-11-24", str(JOBS)
    settlement_meta = {
        "business_date": date,
        "jobs_dir": jobs_dir,
        "dry_run": "false",
        "inject_break": "false",
    }
    accounts = encode_payload({"accounts": {"first": 1000, "last": 1099}})
    check_against_parent(jobspecs["settlement"], settlement_meta, accounts)
    reconciliation_meta = {"business_date": date, "jobs_dir": jobs_dir, "dry_run": "false"}
    check_against_parent(jobspecs["reconciliation"], reconciliation_meta, b"{}")
    desk_meta = {"desk": "delta-one", "business_date": date, "jobs_dir": jobs_dir}
    check_against_parent(jobspecs["desk-pnl"], desk_meta, None)
    with pytest.raises(NomadInvalidInputError):
        check_against_parent(jobspecs["settlement"], settlement_meta, None)  # payload required


def test_snapshot_job_dict_runs_an_existing_program(dagbag: DagBag) -> None:
    job = dagbag.dags["desk_pnl"].get_task("register_snapshot_job").job
    assert "ParameterizedJob" not in job  # a plain batch job: registering it runs it
    (task,) = job["TaskGroups"][0]["Tasks"]
    (program,) = task["Config"]["args"]
    assert (JOBS / program.removeprefix("${NOMAD_META_jobs_dir}/")).is_file()
    assert set(job["Meta"]) == {"business_date", "jobs_dir", "airflow_run_id"}
