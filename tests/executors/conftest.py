"""Fixtures of the NomadExecutor tests run in this process (mock runner jobs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from executor_inproc_testlib import RUNNERS
from nomad_testlib import batch_job

from airflow_provider_nomad.executors.dispatch_spec import IDENTITY_META_KEYS


@pytest.fixture
def runners(nomad_conn, monkeypatch):
    """The mock runner jobs registered; ``runner-ok`` the configured default."""
    with httpx.Client(base_url=nomad_conn.nomad_addr, timeout=30) as nomad:
        for job_id, spec in RUNNERS.items():
            job = batch_job(
                job_id,
                "",
                meta_optional=(*IDENTITY_META_KEYS, "desk"),
                payload="required",
                driver=spec["driver"],
                config=spec["config"],
            )
            nomad.post("/v1/jobs", json={"Job": job}).raise_for_status()
    monkeypatch.setenv("AIRFLOW__NOMAD_EXECUTOR__RUNNER_JOB_ID", "runner-ok")
    return nomad_conn


@pytest.fixture
def nomad(runners) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runners.nomad_addr, timeout=30) as client:
        yield client


@pytest.fixture
def make_executor(runners) -> Iterator[Callable[[], Any]]:
    from airflow_provider_nomad.executors.nomad import NomadExecutor

    made = []

    def make() -> NomadExecutor:
        executor = NomadExecutor(parallelism=32)
        executor.start()
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.terminate()
