"""Builders of the Nomad HTTP requests the provider makes (pure: no I/O).

Each builder returns an :class:`ApiRequest`; the sync hook sends it through python-nomad's
session, the async hook through httpx. Building them in one place keeps the two hooks in step:
the namespace and region go on every call (python-nomad leaves the namespace off some
endpoints), the dispatch idempotency token is a query parameter (the body key python-nomad
sends is ignored by Nomad), IDs are escaped as path segments (dispatched job IDs contain ``/``)
and blocking reads carry ``index`` and ``wait``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

__all__ = [
    "MAX_BLOCKING_WAIT",
    "ApiRequest",
    "blocking_read_timeout",
    "check_id",
    "dispatch_job",
    "format_wait",
    "get_allocation",
    "get_evaluation",
    "get_job",
    "get_job_allocations",
    "get_job_evaluations",
    "job_ui_url",
    "list_jobs",
    "parse_jobspec",
    "read_alloc_file",
    "register_job",
    "stop_job",
    "stream_logs",
]

#: Nomad caps a blocking query's wait at 5 minutes.
MAX_BLOCKING_WAIT = 300.0


@dataclass(frozen=True)
class ApiRequest:
    """One Nomad HTTP request, ready to send.

    :param method: HTTP method.
    :param path: URL path, segments already escaped (``/v1/job/a%2Fb``).
    :param params: query parameters (``None`` values already left out).
    :param json: JSON body, if any.
    :param stream: whether the answer is a stream to read incrementally.
    :param wait: a blocking query's wait in seconds, so the sender extends its read timeout.
    :param idempotent: whether sending it again after it reached Nomad is harmless.
    :param answer: the JSON answer's expected shape (``dict`` or ``list``), if checked.
    :param answer_keys: keys a ``dict`` answer must carry for the caller to use it.
    :param open_ended: an answer that stays silent for as long as the server has nothing to
        send (a followed plain log sends no heartbeats): read with no read timeout; the caller
        ends it.
    """

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    stream: bool = False
    wait: float | None = None
    idempotent: bool = True
    answer: type | None = None
    answer_keys: tuple[str, ...] = ()
    open_ended: bool = False

    def answer_problem(self, body: Any) -> str | None:
        """What is wrong with a decoded answer (a truncated or foreign one), or None."""
        if self.answer is None:
            return None
        if not isinstance(body, self.answer):
            return f"expected a JSON {self.answer.__name__}, got {type(body).__name__}"
        missing = [k for k in self.answer_keys if k not in body]
        if missing:
            return f"the answer lacks {', '.join(missing)}"
        return None

    @property
    def description(self) -> str:
        """``METHOD path`` for messages: never the query string, which may carry tokens."""
        return f"{self.method} {self.path}"


def check_id(value: str, what: str = "ID") -> str:
    """``value``, if it can be sent as a path segment; a ``ValueError`` naming it if not.

    ``.`` and ``..`` are path steps, not IDs: URL normalisation drops them, so the request
    would reach another endpoint (``/v1/job/../allocations`` lists every allocation of the
    namespace). Within a dispatched child's ID (``parent/dispatch-...``) they are refused too:
    Nomad cleans the unescaped path before routing it.

    :param value: the ID.
    :param what: what it is, for the message (``"job ID"``).
    """
    if not value:
        raise ValueError(f"a Nomad {what} in an API path must not be empty")
    if {".", ".."} & set(value.split("/")):
        raise ValueError(
            f"{value!r} cannot be a Nomad {what}: '.' and '..' are path steps that URL "
            "normalisation removes, so the request would reach another Nomad endpoint; use the "
            f"real {what}"
        )
    return value


def _segment(value: str) -> str:
    return quote(check_id(value), safe="")


def _scope(namespace: str | None, region: str | None, **more: Any) -> dict[str, str]:
    params: dict[str, str] = {}
    if namespace:
        params["namespace"] = namespace
    if region:
        params["region"] = region
    for key, value in more.items():
        if value is None:
            continue
        params[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return params


def format_wait(seconds: float) -> str:
    """A blocking query's ``wait`` as Nomad parses it: ``"30s"``, or ``"1500ms"`` if fractional.

    :param seconds: the wait, capped at :data:`MAX_BLOCKING_WAIT`.
    """
    if seconds <= 0:
        raise ValueError(f"a blocking query's wait must be positive, got {seconds!r}")
    seconds = min(float(seconds), MAX_BLOCKING_WAIT)
    if seconds.is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def blocking_read_timeout(wait: float, margin: float) -> float:
    """Read timeout for a blocking query: Nomad may hold it for ``wait + wait/16`` (jitter).

    :param wait: the query's wait in seconds.
    :param margin: extra seconds for the network and a slow server.
    """
    wait = min(float(wait), MAX_BLOCKING_WAIT)
    return wait + wait / 16 + margin


def _blocking(
    method: str,
    path: str,
    namespace: str | None,
    region: str | None,
    index: int | None,
    wait: float | None,
    answer: type,
    answer_keys: tuple[str, ...] = (),
) -> ApiRequest:
    if wait is not None and index is None:
        index = 0
    params = _scope(namespace, region)
    if index is not None:
        if index < 0:
            raise ValueError(f"a blocking query's index must be >= 0, got {index!r}")
        params["index"] = str(int(index))
    if wait is not None:
        params["wait"] = format_wait(wait)
        wait = min(float(wait), MAX_BLOCKING_WAIT)
    return ApiRequest(method, path, params, wait=wait, answer=answer, answer_keys=answer_keys)


def get_job(job_id: str, *, namespace: str | None = None, region: str | None = None) -> ApiRequest:
    """``GET /v1/job/:id``."""
    return ApiRequest(
        "GET",
        f"/v1/job/{_segment(job_id)}",
        _scope(namespace, region),
        answer=dict,
        answer_keys=("ID",),
    )


def list_jobs(
    prefix: str,
    *,
    index: int | None = None,
    wait: float | None = None,
    meta: bool = False,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/jobs?prefix=``: job stubs whose ID starts with ``prefix``.

    Blocking when ``index``/``wait`` are given: one such query watches every job of the
    prefix (the executor's watch of all its children). ``meta`` asks for each stub's ``Meta``
    (``?meta=true``, Nomad 1.6+).
    """
    if index is None and wait is None:
        params = _scope(namespace, region, prefix=prefix)
        if meta:
            params["meta"] = "true"
        return ApiRequest("GET", "/v1/jobs", params, answer=list)
    request = _blocking("GET", "/v1/jobs", namespace, region, index, wait, list)
    params = {**request.params, "prefix": prefix}
    if meta:
        params["meta"] = "true"
    return ApiRequest("GET", "/v1/jobs", params, wait=request.wait, answer=list)


def parse_jobspec(
    hcl: str, *, namespace: str | None = None, region: str | None = None
) -> ApiRequest:
    """``POST /v1/jobs/parse`` with ``Canonicalize: true``: HCL to the job's JSON."""
    return ApiRequest(
        "POST", "/v1/jobs/parse", _scope(namespace, region), {"JobHCL": hcl, "Canonicalize": True}
    )


def register_job(
    job: Mapping[str, Any], *, namespace: str | None = None, region: str | None = None
) -> ApiRequest:
    """``POST /v1/jobs`` with ``{"Job": job}``. Registering the same job twice is harmless."""
    return ApiRequest("POST", "/v1/jobs", _scope(namespace, region), {"Job": dict(job)})


def dispatch_job(
    job_id: str,
    *,
    meta: Mapping[str, str] | None = None,
    payload: bytes | None = None,
    id_prefix_template: str | None = None,
    idempotency_token: str | None = None,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``POST /v1/job/:id/dispatch``.

    :param job_id: the parameterized parent job.
    :param meta: dispatch meta (strings).
    :param payload: raw payload bytes; sent base64-encoded.
    :param id_prefix_template: text inserted in the child ID after ``dispatch-``.
    :param idempotency_token: sent as the ``idempotency_token`` query parameter, where Nomad
        reads it; with it the request may be retried after a dropped connection.
    """
    body: dict[str, Any] = {"Meta": dict(meta or {})}
    if payload:
        body["Payload"] = base64.b64encode(payload).decode("ascii")
    if id_prefix_template:
        body["IdPrefixTemplate"] = id_prefix_template
    params = _scope(namespace, region, idempotency_token=idempotency_token or None)
    return ApiRequest(
        "POST",
        f"/v1/job/{_segment(job_id)}/dispatch",
        params,
        body,
        idempotent=bool(idempotency_token),
        answer=dict,
        answer_keys=("DispatchedJobID",),
    )


def stop_job(
    job_id: str, *, purge: bool = False, namespace: str | None = None, region: str | None = None
) -> ApiRequest:
    """``DELETE /v1/job/:id?purge=``."""
    return ApiRequest(
        "DELETE", f"/v1/job/{_segment(job_id)}", _scope(namespace, region, purge=purge)
    )


def get_evaluation(
    eval_id: str,
    *,
    index: int | None = None,
    wait: float | None = None,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/evaluation/:id``, blocking when ``index``/``wait`` are given."""
    path = f"/v1/evaluation/{_segment(eval_id)}"
    return _blocking("GET", path, namespace, region, index, wait, dict, ("ID", "Status"))


def get_allocation(
    alloc_id: str,
    *,
    index: int | None = None,
    wait: float | None = None,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/allocation/:id``, blocking when ``index``/``wait`` are given."""
    path = f"/v1/allocation/{_segment(alloc_id)}"
    return _blocking("GET", path, namespace, region, index, wait, dict, ("ID",))


def get_job_allocations(
    job_id: str,
    *,
    index: int | None = None,
    wait: float | None = None,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/job/:id/allocations`` (stubs), blocking when ``index``/``wait`` are given."""
    path = f"/v1/job/{_segment(job_id)}/allocations"
    return _blocking("GET", path, namespace, region, index, wait, list)


def get_job_evaluations(
    job_id: str,
    *,
    index: int | None = None,
    wait: float | None = None,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/job/:id/evaluations``, blocking when ``index``/``wait`` are given."""
    path = f"/v1/job/{_segment(job_id)}/evaluations"
    return _blocking("GET", path, namespace, region, index, wait, list)


def read_alloc_file(
    alloc_id: str, path: str, *, namespace: str | None = None, region: str | None = None
) -> ApiRequest:
    """``GET /v1/client/fs/cat/:alloc_id?path=``: a file of the allocation directory.

    :param path: relative to the allocation directory, e.g. ``alloc/data/result.json`` or
        ``<task>/local/out.json``.
    """
    if not path:
        raise ValueError("read_alloc_file needs the path of a file in the allocation directory")
    return ApiRequest(
        "GET",
        f"/v1/client/fs/cat/{_segment(alloc_id)}",
        _scope(namespace, region, path=path),
    )


def stream_logs(
    alloc_id: str,
    task: str,
    stream: Literal["stdout", "stderr"],
    *,
    offset: int = 0,
    follow: bool = False,
    plain: bool = False,
    namespace: str | None = None,
    region: str | None = None,
) -> ApiRequest:
    """``GET /v1/client/fs/logs/:alloc_id``, framed (or ``plain``), ``origin=start``.

    :param offset: bytes to skip, counted across the rotated files from the oldest kept one:
        the number of bytes already received, to resume after a drop.
    :param follow: keep the stream open while the task runs (framed: a heartbeat every
        second; plain: nothing while the task prints nothing).
    :param plain: the raw bytes instead of JSON frames (no heartbeats, no file events).
    """
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"log stream must be 'stdout' or 'stderr', got {stream!r}")
    if not task:
        raise ValueError("stream_logs needs the task name")
    if offset < 0:
        raise ValueError(f"log offset must be >= 0, got {offset!r}")
    params = _scope(
        namespace,
        region,
        task=task,
        type=stream,
        origin="start",
        offset=int(offset),
        follow=follow,
        plain=plain,
    )
    return ApiRequest(
        "GET",
        f"/v1/client/fs/logs/{_segment(alloc_id)}",
        params,
        stream=True,
        open_ended=follow and plain,
    )


#: ``nomad/event_endpoint.go``: an idle event stream sends a heartbeat every 30 s; twice that
#: without a byte means the connection is dead.
EVENT_HEARTBEAT_SECONDS = 30.0


def event_stream(
    index: int = 0, *, namespace: str | None = None, region: str | None = None
) -> ApiRequest:
    """``GET /v1/event/stream`` for allocation and evaluation events from ``index`` on.

    ``topic`` repeats, so it goes in the path: the request's parameters are a mapping.
    """
    params = _scope(namespace, region, index=max(int(index), 0))
    return ApiRequest(
        "GET",
        "/v1/event/stream?topic=Allocation&topic=Evaluation",
        params,
        stream=True,
        wait=2 * EVENT_HEARTBEAT_SECONDS,
    )


def job_ui_url(base_url: str, job_id: str, namespace: str | None) -> str:
    """Link to the job in the Nomad web UI: ``<base>/ui/jobs/<id>@<namespace>``.

    :param base_url: the agent's address (the UI is served by the same HTTP listener).
    :param job_id: the job's ID.
    :param namespace: the job's namespace (``default`` when ``None``).
    """
    return f"{base_url.rstrip('/')}/ui/jobs/{_segment(job_id)}@{_segment(namespace or 'default')}"
