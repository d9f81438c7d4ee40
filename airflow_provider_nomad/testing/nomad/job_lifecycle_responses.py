"""Job endpoints beyond register/read/stop: versions, plan, revert, stable, evaluate, the job's
deployments, and ``/v1/validate/job``, after ``command/agent/job_endpoint.go`` and
``nomad/job_endpoint.go`` (RPC errors are plain errors: HTTP 500).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from . import errors
from .golang import ZERO_TIME, GoError, parse_bool
from .httputil import (
    QueryResult,
    blocking,
    error_response,
    field_of,
    json_response,
    meta_headers,
    type_error,
)
from .job_shape import stored_job
from .jobspec.registration import canonicalize_job, spec_changed, validate_job
from .placement import select_node
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed


def _query_meta(index: int) -> dict[str, Any]:
    return {"Index": index, "LastContact": 0, "KnownLeader": True, "NextToken": ""}


async def job_versions(ctx: Ctx, job_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    diffs = ctx.query.get("diffs")
    if diffs:
        try:
            parse_bool(diffs)
        except GoError as exc:
            raise errors.server_error(errors.bad_query_bool("diffs", diffs, str(exc))) from exc
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        versions = backend.versions.versions(key)
        index = max((v.modify_index for v in versions), default=backend.state.table_index["jobs"])
        return QueryResult(backend.versions.as_dicts(versions), index, (("job", *key),))

    result = await blocking(backend, opts, run)
    if not result.body:
        return error_response(
            errors.not_found("job versions not found"), meta_headers(result.index)
        )
    body = {"Versions": result.body, "Diffs": None, **_query_meta(result.index)}
    return json_response(body, result.index)


async def job_deployments(ctx: Ctx, job_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        found = backend.state.job_deployments(key)
        return QueryResult(
            [d.to_dict() for d in found],
            backend.state.table_index["deployment"],
            (("job_deployments", *key),),
        )

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def job_latest_deployment(ctx: Ctx, job_id: str) -> Response:
    """``null`` when the job has none (a batch job never has one)."""
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        found = backend.state.job_deployments(key)
        body = found[0].to_dict() if found else None
        return QueryResult(
            body, backend.state.table_index["deployment"], (("job_deployments", *key),)
        )

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


def _job_of_body(body: Any, struct: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise type_error(body, struct, "Job", "api.Job")
    job = field_of(body, "Job")
    if job is None:
        raise errors.bad_request(errors.JOB_MUST_BE_SPECIFIED)
    if not isinstance(job, dict):
        raise type_error(job, struct, "Job", "api.Job")
    return job


async def job_plan(ctx: Ctx, job_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    raw = _job_of_body(body, "JobPlanRequest")
    if not isinstance(raw.get("ID"), str):
        raise errors.bad_request("Job must have a valid ID")
    if job_id and raw["ID"] != job_id:
        raise errors.bad_request(errors.JOB_ID_DOES_NOT_MATCH)
    backend = ctx.backend
    namespace = ctx.query.get("namespace") or raw.get("Namespace") or "default"
    backend.acl.check(ctx.token, namespace, "submit-job")
    spec = stored_job(canonicalize_job(raw, namespace=namespace, region=backend.region))
    problems = validate_job(spec)
    if problems:
        raise errors.server_error(errors.multierror(problems))
    existing = backend.state.jobs.get((namespace, spec["ID"]))
    changed = existing is None or spec_changed(existing.spec, spec)
    updates, failed = _plan_groups(backend, spec, existing, changed)
    reply = {
        "Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": None},
        "FailedTGAllocs": failed or None,
        "JobModifyIndex": existing.job_modify_index if existing else 0,
        "CreatedEvals": None,
        "Diff": _diff(spec, existing, changed) if field_of(body, "Diff") else None,
        "NextPeriodicLaunch": ZERO_TIME,
        "Warnings": backend.driver_warnings(spec),
        "Index": backend.state.index,
    }
    return json_response(reply, backend.state.index, write=True)


def _plan_groups(backend, spec, existing, changed) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the scheduler would do per task group, and where placement would fail."""
    from .records import JobRecord

    job = JobRecord(spec=spec)
    live = []
    if existing is not None:
        live = [a for a in backend.state.job_allocs(existing.key) if not a.terminal]
    nodes = list(backend.state.nodes.values())
    usage = {n.id: backend.state.node_usage(n.id) for n in nodes}
    updates: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    batch_or_periodic = spec.get("Periodic") or spec.get("ParameterizedJob")
    for group in spec.get("TaskGroups") or []:
        counts = dict.fromkeys(
            (
                "Ignore",
                "Place",
                "Migrate",
                "Stop",
                "InPlaceUpdate",
                "DestructiveUpdate",
                "Canary",
                "Preemptions",
                "Disconnect",
                "Reconnect",
                "RescheduleNow",
                "RescheduleLater",
            ),
            0,
        )
        running = [a for a in live if a.task_group == group["Name"]]
        want = 0 if batch_or_periodic else int(group.get("Count", 1))
        kept = min(len(running), want)
        counts["DestructiveUpdate" if changed else "Ignore"] = kept
        counts["Stop"] = max(len(running) - want, 0)
        counts["Place"] = max(want - len(running), 0)
        updates[group["Name"]] = counts
        if counts["Place"]:
            node, metrics = select_node(job, group, nodes, usage, backend.substitutions)
            if node is None:
                metrics["CoalescedFailures"] = counts["Place"] - 1
                failed[group["Name"]] = metrics
    return updates, failed


def _diff(spec: dict[str, Any], existing, changed: bool) -> dict[str, Any]:
    """A ``JobDiff`` summary: its type and the task groups' types (no field detail)."""
    kind = "Added" if existing is None else ("Edited" if changed else "None")
    groups = [
        {
            "Type": kind,
            "Name": g["Name"],
            "Fields": None,
            "Objects": None,
            "Tasks": [
                {"Type": kind, "Name": t.get("Name"), "Fields": None, "Objects": None}
                for t in g.get("Tasks") or []
            ],
            "Updates": None,
        }
        for g in spec.get("TaskGroups") or []
    ]
    return {"Type": kind, "ID": spec["ID"], "Fields": None, "Objects": None, "TaskGroups": groups}


async def validate_job_request(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    raw = _job_of_body(body, "JobValidateRequest")
    backend = ctx.backend
    namespace = ctx.query.get("namespace") or raw.get("Namespace") or "default"
    backend.acl.check(ctx.token, namespace, "read-job", "submit-job")
    problems = []
    if not isinstance(raw.get("ID"), str) or not raw.get("ID"):
        problems.append("Missing job ID")
    else:
        spec = stored_job(canonicalize_job(raw, namespace=namespace, region=backend.region))
        problems = validate_job(spec)
    reply = {
        "DriverConfigValidated": not problems,
        "ValidationErrors": problems or None,
        "Error": errors.multierror(problems) if problems else "",
        "Warnings": "",
    }
    return json_response(reply)


async def _request_body(ctx: Ctx, job_id: str, struct: str) -> dict[str, Any]:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise type_error(body, struct, "JobID", "string")
    given = field_of(body, "JobID")
    if not given:
        raise errors.bad_request("JobID must be specified")
    if given != job_id:
        raise errors.bad_request(errors.JOB_ID_DOES_NOT_MATCH)
    return body


async def job_revert(ctx: Ctx, job_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await _request_body(ctx, job_id, "JobRevertRequest")
    namespace = ctx.write_namespace()
    backend = ctx.backend
    backend.acl.check(ctx.token, namespace, "submit-job")
    current = backend.state.jobs.get((namespace, job_id))
    if current is None:
        raise errors.server_error(f'job "{job_id}" not found')
    version = int(field_of(body, "JobVersion") or 0)
    if version == current.version:
        raise errors.server_error("can't revert to current version")
    target = backend.versions.get(current.key, version)
    if target is None:
        raise errors.server_error(
            f'job "{job_id}" in namespace "{namespace}" at version {version} not found'
        )
    prior = field_of(body, "EnforcePriorVersion")
    if prior is not None and int(prior) != current.version:
        raise errors.server_error(
            f"Current job has version {current.version}; enforcing version {int(prior)}"
        )
    reply = backend.register_job(target.spec, namespace, None)
    return json_response(reply, reply["Index"], write=True)


async def job_stable(ctx: Ctx, job_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await _request_body(ctx, job_id, "JobStabilityRequest")
    namespace = ctx.write_namespace()
    backend = ctx.backend
    backend.acl.check(ctx.token, namespace, "submit-job")
    version = int(field_of(body, "JobVersion") or 0)
    with backend.state.write() as w:
        found = backend.versions.mark_stable(
            w, (namespace, job_id), version, bool(field_of(body, "Stable"))
        )
    if not found:
        raise errors.server_error(
            f'job "{job_id}" in namespace "{namespace}" at version {version} not found'
        )
    return json_response({"Index": w.index}, w.index, write=True)


async def job_evaluate(ctx: Ctx, job_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    raw = await ctx.request.body()
    if raw:
        body = await ctx.body()
        given = field_of(body, "JobID") if isinstance(body, dict) else None
        if not given:
            raise errors.bad_request("Job ID must be specified")
        if given != job_id:
            raise errors.bad_request("JobID not same as job name")
    namespace = ctx.write_namespace()
    backend = ctx.backend
    backend.acl.check(ctx.token, namespace, "submit-job")
    reply = backend.evaluate_job(namespace, job_id)
    return json_response(reply, reply["Index"], write=True)
