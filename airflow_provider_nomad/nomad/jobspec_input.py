"""Turning an operator's ``job`` argument (dict, HCL text or jobspec path) into Nomad's JSON job.

Shared by :class:`~airflow_provider_nomad.operators.nomad.NomadRegisterJobOperator` and
:class:`~airflow_provider_nomad.operators.nomad.NomadRunJobOperator`, so both read a jobspec
alike. HCL goes to the cluster's parser (``/v1/jobs/parse``): the jobspec then means exactly what
``nomad job run`` would make of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError

__all__ = ["JOBSPEC_SUFFIXES", "load_job"]

JOBSPEC_SUFFIXES = (".hcl", ".nomad", ".json")


def load_job(job: Any, parse_hcl: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The job as a JSON dict.

    :param job: a dict (Nomad's JSON ``Job``, bare or wrapped in ``{"Job": ...}``), HCL or JSON
        text, or the path of a ``.hcl`` / ``.nomad`` / ``.json`` file.
    :param parse_hcl: turns HCL text into the job's JSON (the hook's ``parse_jobspec``).
    """
    if isinstance(job, Mapping):
        data = dict(job)
        return dict(data["Job"]) if set(data) == {"Job"} else data
    if not isinstance(job, str) or not job.strip():
        raise NomadInvalidInputError(
            f"job must be a dict, HCL text or the path of a jobspec file, got {type(job).__name__}."
        )
    text = job
    if "\n" not in text and text.rstrip().endswith(JOBSPEC_SUFFIXES):
        path = Path(text)
        if not path.is_file():
            raise NomadInvalidInputError(f"Jobspec file {text!r} does not exist.")
        text = path.read_text()
        if path.suffix == ".json":
            return _job_from_json(text, source=str(path))
    if text.lstrip().startswith("{"):
        return _job_from_json(text, source="job")
    return parse_hcl(text)


def _job_from_json(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise NomadInvalidInputError(f"{source} is not valid JSON: {exc}") from None
    return dict(data["Job"]) if isinstance(data, dict) and set(data) == {"Job"} else data
