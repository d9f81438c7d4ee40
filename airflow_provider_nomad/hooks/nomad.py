"""Hooks for HashiCorp Nomad: :class:`NomadHook` (sync) and :class:`NomadAsyncHook` (async).

Both build their requests with :mod:`airflow_provider_nomad.nomad.requests`, retry with
:mod:`airflow_provider_nomad.retry` and map errors with
:func:`~airflow_provider_nomad.exceptions.error_for_response` and
:func:`~airflow_provider_nomad.transport.transport_error`; only the I/O differs. The sync
hook sends through python-nomad's raw request machinery (its HTTP session, TLS settings and
exceptions), the async hook through one ``httpx.AsyncClient`` so a trigger never blocks the
triggerer's event loop. The ACL token travels in a header only and never appears in messages.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import httpx
import nomad
import nomad.api.exceptions as nomad_exceptions
import requests
from airflow.sdk import BaseHook
from nomad.api.base import Requester

from airflow_provider_nomad.connection import (
    ClientSettings,
    nomad_settings_from_connection,
)
from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadConnectionError,
    NomadProviderError,
    NomadUnreachableError,
    error_for_response,
)
from airflow_provider_nomad.hooks.base import AsyncHttpClientMixin, ServiceHookMixin
from airflow_provider_nomad.nomad import requests as api
from airflow_provider_nomad.nomad.logs import FrameDecoder, LogFrame, is_plain_log_answer
from airflow_provider_nomad.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_provider_nomad.transport import (
    NOMAD,
    index_header,
    redact,
    redirect_error,
    requests_session,
)

if TYPE_CHECKING:
    from airflow_provider_nomad.nomad.requests import ApiRequest

__all__ = ["NomadAsyncHook", "NomadHook"]

LogStream = Literal["stdout", "stderr"]
#: Bytes per read of a finished log: large reads keep the per-read overhead of a big log low.
LOG_READ_CHUNK_BYTES = 256 * 1024


# --- shared by both hooks ---------------------------------------------------------------------


class _NomadHookMixin(ServiceHookMixin):
    """What the sync and the async hook share: identity, arguments, errors, request scoping."""

    conn_name_attr = "nomad_conn_id"
    default_conn_name = "nomad_default"
    conn_type = "nomad"
    hook_name = "Nomad"
    service = NOMAD

    def __init__(
        self,
        nomad_conn_id: str = default_conn_name,
        namespace: str | None = None,
        region: str | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.nomad_conn_id = nomad_conn_id
        self.namespace = namespace
        self.region = region
        self.timeout = timeout
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY

    def _settings_from(self, conn: Any) -> ClientSettings:
        return nomad_settings_from_connection(
            conn, namespace=self.namespace, region=self.region, timeout=self.timeout
        )

    @staticmethod
    def _scoped(
        settings: ClientSettings, build: Callable[..., ApiRequest], *args: Any, **kwargs: Any
    ) -> ApiRequest:
        return build(*args, namespace=settings.namespace, region=settings.region, **kwargs)

    @staticmethod
    def _api_error(
        settings: ClientSettings, status: int, text: str, request: ApiRequest
    ) -> NomadApiError:
        return error_for_response(
            status,
            redact(text, settings.token),
            request.method,
            request.path,
            namespace=settings.namespace,
        )

    @staticmethod
    def _read_timeout(settings: ClientSettings, request: ApiRequest) -> float | None:
        if request.open_ended:
            return None
        if request.wait:
            return api.blocking_read_timeout(request.wait, settings.timeout)
        return settings.timeout

    @staticmethod
    def _decode_json(settings: ClientSettings, status: int, text: str, request: ApiRequest) -> Any:
        # Redacted before it is cut: an answer that is not Nomad's (a proxy's debug page, a
        # service echoing the request's headers) may carry the token, and a cut could leave
        # part of it. The message reaches trigger events and connection tests, unmasked.
        shown = redact(text, settings.token)
        snippet = shown[:200] if shown else "(empty body)"
        try:
            body = json.loads(text)
        except ValueError:
            raise NomadApiError(
                status,
                f"expected JSON from Nomad at {settings.base_url}, got: {snippet}",
                request.method,
                request.path,
            ) from None
        problem = request.answer_problem(body)
        if problem:
            # A proxy's page or a cut-off answer must not be mistaken for Nomad's.
            raise NomadApiError(
                status,
                f"unexpected answer from Nomad at {settings.base_url}: {problem}: {snippet}",
                request.method,
                request.path,
            )
        return body


# --- sync -------------------------------------------------------------------------------------


def _pin_settings(client: nomad.Nomad, settings: ClientSettings) -> None:
    """Make every python-nomad requester use exactly ``settings``.

    python-nomad falls back to ``NOMAD_TOKEN``, ``NOMAD_REGION``, ``NOMAD_NAMESPACE`` and
    ``NOMAD_CLIENT_CERT``/``KEY`` whenever an argument is empty; the connection must be the
    only source of settings, so the values are overwritten after construction. TLS (trust,
    client certificate) is the session's adapter's: the requesters get no files of their own.
    """
    values = {
        "address": settings.base_url,
        "token": settings.token,
        "namespace": settings.namespace,
        "region": settings.region,
        "verify": settings.verify is not False,
        "cert": (),
        "timeout": settings.timeout,
    }
    for requester in vars(client).values():
        if isinstance(requester, Requester):
            for name, value in values.items():
                setattr(requester, name, value)
    client.address, client.token, client.region = (
        settings.base_url,
        settings.token,
        settings.region,
    )
    client.verify, client.cert = values["verify"], ()
    client._Nomad__namespace = settings.namespace  # type: ignore[attr-defined]
    client.requester_settings.update(values)


class NomadHook(_NomadHookMixin, BaseHook):
    """Talk to Nomad from a worker, through python-nomad.

    :param nomad_conn_id: Airflow connection of type ``nomad``.
    :param namespace: Nomad namespace; overrides the connection's ``namespace`` extra.
    :param region: Nomad region; overrides the connection's ``region`` extra.
    :param timeout: connect/read timeout in seconds of calls (default 30).
    :param retry_policy: bounds of retries of transient failures.
    """

    _client: nomad.Nomad | None = None

    @cached_property
    def settings(self) -> ClientSettings:
        """The connection's settings, with this hook's overrides applied."""
        return self._settings_from(self.get_connection(self.nomad_conn_id))

    def get_conn(self) -> nomad.Nomad:
        """A ``nomad.Nomad`` client set up from the connection alone (TLS verified by default).

        Its session never follows a redirect and reads nothing from the environment, whatever
        calls it (see :func:`~airflow_provider_nomad.transport.requests_session`).
        """
        if self._client is None:
            settings = self.settings
            client = nomad.Nomad(
                address=settings.base_url,
                token=settings.token,
                namespace=settings.namespace,
                region=settings.region,
                timeout=settings.timeout,
                verify=settings.verify is not False,
                session=requests_session(settings),
            )
            _pin_settings(client, settings)
            self._client = client
        return self._client

    def close(self) -> None:
        """Close the HTTP session (pooled connections)."""
        if self._client is not None:
            self._client.jobs.session.close()
            self._client = None

    # -- transport --

    def _send_once(self, request: ApiRequest) -> requests.Response:
        settings = self.settings
        # Every python-nomad requester shares the session and settings; `_request` is its raw
        # machinery, taking our params (namespace on every endpoint), timeouts and stream flag.
        requester = self.get_conn().jobs
        try:
            response = requester._request(
                method=request.method,
                endpoint=request.path.lstrip("/"),
                params=dict(request.params),
                json=request.json,
                headers={},
                allow_redirects=False,
                timeout=(settings.timeout, self._read_timeout(settings, request)),
                stream=request.stream,
            )
        except nomad_exceptions.BaseNomadException as exc:
            response = exc.nomad_resp
            if isinstance(response, requests.Response):
                raise self._api_error(
                    settings, response.status_code, response.text, request
                ) from None
            raise self._transport_error(response, settings, request) from None
        except requests.RequestException as exc:  # incl. python-nomad's TimeoutNomadException
            raise self._transport_error(exc, settings, request) from None
        redirect = redirect_error(
            response.status_code, response.headers, self.service, settings, request.description
        )
        if redirect is not None:
            response.close()
            raise redirect
        return response

    def _send(self, request: ApiRequest) -> requests.Response:
        retrying = self.retry_policy.sync(request.description, **self._retry_args(request))
        return retrying(self._send_once, request)

    def _json(self, request: ApiRequest) -> Any:
        response = self._send(request)
        return self._decode_json(self.settings, response.status_code, response.text, request)

    def _build(self, build: Callable[..., ApiRequest], *args: Any, **kwargs: Any) -> ApiRequest:
        return self._scoped(self.settings, build, *args, **kwargs)

    # -- API --

    def get_job(self, job_id: str) -> dict:
        """The job (``GET /v1/job/:id``); :class:`NomadNotFoundError` if it does not exist."""
        return self._json(self._build(api.get_job, job_id))

    def list_jobs(self, prefix: str, *, meta: bool = False) -> list[dict]:
        """Job stubs whose ID starts with ``prefix`` (``GET /v1/jobs?prefix=``); ``meta``
        includes each stub's ``Meta`` (Nomad 1.6+; older versions leave it out)."""
        return self._json(self._build(api.list_jobs, prefix, meta=meta))

    def list_jobs_blocking(
        self, prefix: str, *, index: int, wait: float, meta: bool = False
    ) -> tuple[list[dict], int]:
        """Job stubs of ``prefix`` and ``X-Nomad-Index``, once the index passes ``index``.

        :param prefix: job ID prefix.
        :param index: return once the jobs' index exceeds this (0: at once).
        :param wait: longest wait in seconds (Nomad caps it at 300).
        :param meta: include each stub's ``Meta`` (Nomad 1.6+).
        """
        request = self._build(api.list_jobs, prefix, index=index, wait=wait, meta=meta)
        response = self._send(request)
        body = self._decode_json(self.settings, response.status_code, response.text, request)
        return body, index_header(response.headers, self.service)

    def parse_jobspec(self, hcl: str) -> dict:
        """HCL jobspec to the job's JSON, canonicalized, by the cluster (``/v1/jobs/parse``)."""
        return self._json(self._build(api.parse_jobspec, hcl))

    def register_job(self, job: dict) -> dict:
        """Register (run) a job given as JSON: ``{"EvalID", "JobModifyIndex", "Warnings", ...}``."""
        return self._json(self._build(api.register_job, job))

    def dispatch_job(
        self,
        job_id: str,
        *,
        meta: dict[str, str],
        payload: bytes | None,
        id_prefix_template: str | None,
        idempotency_token: str | None,
    ) -> dict:
        """Dispatch a parameterized job: ``{"DispatchedJobID", "EvalID", ...}``.

        With an ``idempotency_token`` the request is retried after a dropped connection and
        Nomad answers with the existing child (``EvalID`` empty) instead of a second one.

        :param job_id: the parameterized parent job.
        :param meta: dispatch meta (strings).
        :param payload: payload bytes, or ``None``.
        :param id_prefix_template: inserted in the child ID after ``dispatch-``.
        :param idempotency_token: deduplicates the dispatch among the parent's children.
        """
        return self._json(
            self._build(
                api.dispatch_job,
                job_id,
                meta=meta,
                payload=payload,
                id_prefix_template=id_prefix_template,
                idempotency_token=idempotency_token,
            )
        )

    def stop_job(self, job_id: str, *, purge: bool = False) -> dict:
        """Stop (deregister) a job: ``{"EvalID", "JobModifyIndex", ...}``."""
        return self._json(self._build(api.stop_job, job_id, purge=purge))

    def get_evaluation(self, eval_id: str) -> dict:
        """The evaluation (``GET /v1/evaluation/:id``)."""
        return self._json(self._build(api.get_evaluation, eval_id))

    def get_allocation(self, alloc_id: str) -> dict:
        """The full allocation (``GET /v1/allocation/:id``)."""
        return self._json(self._build(api.get_allocation, alloc_id))

    def get_job_allocations(self, job_id: str) -> list[dict]:
        """Allocation stubs of a job (``[]`` for an unknown job)."""
        return self._json(self._build(api.get_job_allocations, job_id))

    def get_job_evaluations(self, job_id: str) -> list[dict]:
        """Evaluations of a job."""
        return self._json(self._build(api.get_job_evaluations, job_id))

    def read_alloc_file(self, alloc_id: str, path: str) -> bytes:
        """A file of the allocation directory (``/v1/client/fs/cat``), e.g. a result file.

        :param alloc_id: the allocation.
        :param path: relative to the allocation directory, e.g. ``alloc/data/result.json``.
        """
        return self._send(self._build(api.read_alloc_file, alloc_id, path)).content

    def read_log(
        self,
        alloc_id: str,
        task: str,
        stream: LogStream,
        *,
        offset: int = 0,
        chunk_size: int = LOG_READ_CHUNK_BYTES,
    ) -> Iterator[bytes]:
        """The bytes of a task's stdout or stderr from ``offset`` to its current end.

        Reads the plain endpoint without following, so the stream ends by itself: meant for a
        task that has ended. Opening the stream is retried; a drop once bytes flow raises
        :class:`NomadUnreachableError`: count the bytes received and call again with
        ``offset=<count>`` to resume without duplicates.

        :param alloc_id: the allocation.
        :param task: the task's name.
        :param stream: ``"stdout"`` or ``"stderr"``.
        :param offset: bytes to skip (across rotated files).
        :param chunk_size: most bytes per item yielded.
        """
        request = self._build(
            api.stream_logs, alloc_id, task, stream, offset=offset, follow=False, plain=True
        )
        response = self._send(request)
        framed = not is_plain_log_answer(response.headers.get("Content-Type"))
        if framed:
            # Not log bytes (a proxy's page?): read the framed answer, whose structure is
            # checked frame by frame, so nothing foreign reaches the task log.
            response.close()
            request = self._build(
                api.stream_logs, alloc_id, task, stream, offset=offset, follow=False
            )
            response = self._send(request)
        decoder = FrameDecoder()
        try:
            for chunk in response.iter_content(chunk_size):
                if not framed:
                    yield chunk
                    continue
                for frame in decoder.feed(chunk):
                    if frame.data:
                        yield frame.data
        except (requests.RequestException, OSError) as exc:
            raise self._transport_error(exc, self.settings, request) from None
        finally:
            response.close()
        if decoder.pending:
            raise NomadUnreachableError(
                f"Log read from Nomad at {self.settings.base_url} ended inside a frame "
                f"({request.description}); resume from the bytes received",
                request_sent=True,
            )

    def job_ui_url(self, job_id: str) -> str:
        """Link to the job in the Nomad web UI."""
        return api.job_ui_url(self.settings.base_url, job_id, self.settings.namespace)

    def test_connection(self) -> tuple[bool, str]:
        """Check address, TLS, token and namespace by listing jobs (needs ``list-jobs``).

        One attempt with at most a 5 s timeout: it answers within seconds, unreachable or not.
        """
        probe = None
        try:
            probe = self._connection_test_probe()
            settings = probe.settings
            probe._json(probe._build(api.list_jobs, "airflow-connection-test-"))
        except NomadProviderError as exc:
            return False, str(exc)
        finally:
            if probe is not None:
                probe.close()
        return True, (
            f"Connected to Nomad at {settings.base_url}; the token may list jobs in namespace "
            f"{settings.namespace!r}"
        )


# --- async ------------------------------------------------------------------------------------


class NomadAsyncHook(_NomadHookMixin, AsyncHttpClientMixin, BaseHook):
    """Talk to Nomad from the triggerer's event loop (httpx), never blocking it.

    Use as ``async with NomadAsyncHook(...) as hook:`` or call :meth:`aclose`. Requests that
    end at once go through one ``httpx.AsyncClient`` per event loop and client settings,
    shared by every hook of that loop (:mod:`~airflow_provider_nomad.hooks.shared_client`);
    blocking queries and streams go through the hook's own client, which keeps their
    connections alive between calls.

    :param nomad_conn_id: Airflow connection of type ``nomad``.
    :param namespace: Nomad namespace; overrides the connection's ``namespace`` extra.
    :param region: Nomad region; overrides the connection's ``region`` extra.
    :param timeout: connect/read timeout in seconds of calls that are not blocking queries.
    :param retry_policy: bounds of retries of transient failures.
    """

    _sync_hook: NomadHook | None = None

    # -- transport --

    def _timeout(self, settings: ClientSettings, request: ApiRequest) -> httpx.Timeout:
        return httpx.Timeout(settings.timeout, read=self._read_timeout(settings, request))

    async def _send_once(self, request: ApiRequest, *, stream: bool = False) -> httpx.Response:
        settings = await self.get_settings()
        # Blocking queries and streams hold their connection for minutes: on the hook's own
        # client. Everything else ends at once and shares the loop's pool.
        gate: Any = contextlib.nullcontext()
        if stream or request.wait:
            client = await self._get_client()
        else:
            shared = await self._get_shared_client()
            client, gate = shared.client, shared.gate
        built = client.build_request(
            request.method,
            request.path,
            params=request.params,
            json=request.json,
            timeout=self._timeout(settings, request),
        )
        try:
            async with gate:
                response = await client.send(built, stream=stream)
        # anyio lets some TLS alerts (e.g. "certificate required" under mutual TLS) escape
        # as a bare ssl.SSLError, outside httpx's exception mapping.
        except (httpx.TransportError, OSError) as exc:
            raise self._transport_error(exc, settings, request) from None
        redirect = redirect_error(
            response.status_code, response.headers, self.service, settings, request.description
        )
        if redirect is not None:
            await response.aclose()
            raise redirect
        if response.status_code >= 400:
            try:
                text = (await response.aread()).decode("utf-8", "replace")
            except (httpx.TransportError, OSError):
                text = ""
            finally:
                await response.aclose()
            raise self._api_error(settings, response.status_code, text, request)
        return response

    async def _send(self, request: ApiRequest, *, stream: bool = False) -> httpx.Response:
        retrying = self.retry_policy.asynchronous(request.description, **self._retry_args(request))
        return await retrying(self._send_once, request, stream=stream)

    async def _build(
        self, build: Callable[..., ApiRequest], *args: Any, **kwargs: Any
    ) -> ApiRequest:
        return self._scoped(await self.get_settings(), build, *args, **kwargs)

    async def _json(self, request: ApiRequest) -> tuple[Any, int]:
        response = await self._send(request)
        settings = await self.get_settings()
        body = self._decode_json(settings, response.status_code, response.text, request)
        return body, index_header(response.headers, self.service)

    # -- API --

    async def get_job(self, job_id: str) -> dict:
        """The job (``GET /v1/job/:id``)."""
        body, _ = await self._json(await self._build(api.get_job, job_id))
        return body

    async def get_evaluation(
        self, eval_id: str, *, index: int | None = None, wait: float | None = None
    ) -> tuple[dict, int]:
        """The evaluation and ``X-Nomad-Index``; blocks until the index passes ``index``.

        :param eval_id: the evaluation.
        :param index: return once the evaluation's index exceeds this (blocking query).
        :param wait: longest wait in seconds (Nomad caps it at 300).
        """
        request = await self._build(api.get_evaluation, eval_id, index=index, wait=wait)
        return await self._json(request)

    async def get_job_allocations(
        self, job_id: str, *, index: int | None = None, wait: float | None = None
    ) -> tuple[list[dict], int]:
        """Allocation stubs of a job and ``X-Nomad-Index`` (blocking query, see above)."""
        request = await self._build(api.get_job_allocations, job_id, index=index, wait=wait)
        return await self._json(request)

    async def get_job_evaluations(
        self, job_id: str, *, index: int | None = None, wait: float | None = None
    ) -> tuple[list[dict], int]:
        """Evaluations of a job and ``X-Nomad-Index`` (blocking query)."""
        request = await self._build(api.get_job_evaluations, job_id, index=index, wait=wait)
        return await self._json(request)

    async def get_allocation(
        self, alloc_id: str, *, index: int | None = None, wait: float | None = None
    ) -> tuple[dict, int]:
        """The full allocation and ``X-Nomad-Index`` (blocking query)."""
        request = await self._build(api.get_allocation, alloc_id, index=index, wait=wait)
        return await self._json(request)

    async def stop_job(self, job_id: str, *, purge: bool = False) -> dict:
        """Stop (deregister) a job."""
        body, _ = await self._json(await self._build(api.stop_job, job_id, purge=purge))
        return body

    async def read_alloc_file(self, alloc_id: str, path: str) -> bytes:
        """A file of the allocation directory (``/v1/client/fs/cat``)."""
        response = await self._send(await self._build(api.read_alloc_file, alloc_id, path))
        return response.content

    async def open_event_stream(self, index: int = 0) -> httpx.Response:
        """Nomad's allocation and evaluation events from ``index`` on (``/v1/event/stream``).

        The open streaming response: newline-delimited JSON, ``{"Index": n, "Events": [...]}``
        batches and ``{}`` heartbeats; close it with ``aclose``.
        """
        return await self._send(await self._build(api.event_stream, index), stream=True)

    def sync_hook(self) -> NomadHook:
        """A :class:`NomadHook` on the same connection and overrides, for blocking work.

        Call it after a request (it reuses the settings already read) and use the hook in a
        worker thread only; :meth:`aclose` closes it.
        """
        if self._settings is None:
            raise NomadConnectionError("sync_hook needs the connection: await get_settings() first")
        if self._sync_hook is None:
            hook = NomadHook(
                self.nomad_conn_id,
                namespace=self.namespace,
                region=self.region,
                timeout=self.timeout,
                retry_policy=self.retry_policy,
            )
            hook.settings = self._settings  # read once, by this hook, off the event loop
            self._sync_hook = hook
        return self._sync_hook

    async def aclose(self) -> None:
        sync_hook, self._sync_hook = self._sync_hook, None
        if sync_hook is not None:
            sync_hook.close()
        await super().aclose()

    def job_ui_url(self, job_id: str) -> str:
        """Link to the job in the Nomad web UI (needs the settings: call after a request)."""
        if self._settings is None:
            raise NomadConnectionError(
                "job_ui_url needs the connection: await get_settings() first"
            )
        return api.job_ui_url(self._settings.base_url, job_id, self._settings.namespace)

    async def stream_logs(
        self,
        alloc_id: str,
        task: str,
        stream: LogStream,
        *,
        offset: int,
        follow: bool,
        plain: bool = False,
    ) -> AsyncIterator[LogFrame]:
        """Frames of a task's stdout or stderr, from byte ``offset`` on.

        Heartbeats are skipped; file-event frames (``file deleted``/``file truncated``) come
        with empty data. Opening the stream is retried; a drop once frames flow raises
        :class:`NomadUnreachableError`: count the data bytes received and call again with
        ``offset=<count>`` to resume without duplicates.

        :param alloc_id: the allocation.
        :param task: the task's name.
        :param stream: ``"stdout"`` or ``"stderr"``.
        :param offset: bytes already received (across rotated files).
        :param follow: keep streaming while the task runs.
        :param plain: read the plain endpoint: each chunk comes as a frame carrying only data.
            Several times faster than decoding base64 inside JSON, with no file events and no
            heartbeats: followed, the stream is silent while the task prints nothing, so it is
            read with no read timeout and the caller ends it.
        """
        settings = await self.get_settings()
        request = await self._build(
            api.stream_logs, alloc_id, task, stream, offset=offset, follow=follow, plain=plain
        )
        response = await self._send(request, stream=True)
        if plain and not is_plain_log_answer(response.headers.get("Content-Type")):
            # Not log bytes (a proxy's page?): read the framed answer, whose structure is
            # checked frame by frame, so nothing foreign reaches the task log.
            await response.aclose()
            plain = False
            request = await self._build(
                api.stream_logs, alloc_id, task, stream, offset=offset, follow=follow
            )
            response = await self._send(request, stream=True)
        decoder = FrameDecoder()
        try:
            async for chunk in response.aiter_bytes():
                if plain:
                    yield LogFrame(data=chunk)
                    continue
                for frame in decoder.feed(chunk):
                    yield frame
        except (httpx.TransportError, OSError) as exc:
            raise self._transport_error(exc, settings, request) from None
        finally:
            await response.aclose()
        if decoder.pending:
            raise NomadUnreachableError(
                f"Log stream from Nomad at {settings.base_url} ended inside a frame "
                f"({request.description}); resume from the bytes received",
                request_sent=True,
            )
