"""The ``[nomad_executor]`` section, the provider info and the dispatch of a workload (pure)."""

from __future__ import annotations

import pytest
from nomad_testlib import SectionConf

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.executors.config import OPTIONS, SECTION, ExecutorSettings
from airflow_provider_nomad.executors.dispatch_spec import (
    TaskKey,
    WorkloadTooLargeError,
    build_dispatch,
)
from airflow_provider_nomad.get_provider_info import get_provider_info

KEY = TaskKey("settle", "post", "manual__2026-01-02", 3, 7)


def _conf(**values: str) -> SectionConf:
    return SectionConf(SECTION, **values)


def test_defaults():
    settings = ExecutorSettings.read(_conf())
    assert settings.conn_id == "nomad_default"
    assert settings.runner_job_id == "airflow-task-runner"
    assert settings.namespace is None and settings.region is None
    assert settings.watch_wait_seconds == 60.0
    assert settings.dispatch_concurrency == 4


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"watch_wait_seconds": "600"}, "watch_wait_seconds must be a number from 1 to 300"),
        ({"dispatch_concurrency": "many"}, "dispatch_concurrency must be a number"),
        ({"runner_job_id": " "}, "runner_job_id must not be empty"),
    ],
)
def test_bad_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        ExecutorSettings.read(_conf(**values))


def test_provider_declares_the_executor_and_every_option_with_its_default():
    info = get_provider_info()
    assert info["executors"] == ["airflow_provider_nomad.executors.nomad.NomadExecutor"]
    options = info["config"][SECTION]["options"]
    assert {name: o["default"] for name, o in options.items()} == {
        name: default for name, (default, _) in OPTIONS.items()
    }
    assert all(o["description"] for o in options.values())


def test_dispatch_names_the_try_and_keeps_the_token_in_the_payload():
    spec = build_dispatch(KEY, '{"token": "sekret"}', {"nomad": {"meta": {"desk": "fx"}}}, "r")
    assert spec.runner_job_id == "r"
    assert spec.idempotency_token == f"{spec.id_prefix_template}-try3"
    assert spec.meta == {
        "desk": "fx",
        "airflow_dag_id": "settle",
        "airflow_task_id": "post",
        "airflow_run_id": "manual__2026-01-02",
        "airflow_try_number": "3",
        "airflow_map_index": "7",
    }
    assert spec.payload == b'{"token": "sekret"}'
    assert "sekret" not in repr(spec)


def test_another_runner_per_task():
    spec = build_dispatch(KEY, "{}", {"nomad": {"runner_job_id": "gpu-runner"}}, "r")
    assert spec.runner_job_id == "gpu-runner"


def test_a_workload_of_exactly_16_kib_is_sent_one_byte_more_is_not():
    assert len(build_dispatch(KEY, "x" * 16384, None, "r").payload) == 16384
    with pytest.raises(WorkloadTooLargeError, match="16385 bytes as JSON, over Nomad's"):
        build_dispatch(KEY, "x" * 16385, None, "r")


@pytest.mark.parametrize(
    "config",
    [
        {"nomad": "gpu"},
        {"nomad": {"runner_job_id": ""}},
        {"nomad": {"meta": ["a"]}},
        {"nomad": {"meta": {"airflow_dag_id": "x"}}},
        {"nomad": {"priority": 90}},
    ],
)
def test_bad_executor_config(config):
    with pytest.raises(NomadInvalidInputError):
        build_dispatch(KEY, "{}", config, "r")
