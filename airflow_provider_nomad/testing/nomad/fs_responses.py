"""Handlers of the client filesystem API: ``/v1/client/fs/{logs,cat,readat,ls,stat,stream}``.

After ``command/agent/fs_endpoint.go`` and ``client/fs_endpoint.go``: parameters are checked in
the agent's order, then the client looks up the allocation (404 ``Unknown allocation``) before
it resolves the token, then the task; logs stream as plain text or concatenated JSON frames.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

from starlette.responses import Response, StreamingResponse

from . import errors
from .golang import GoError, format_time, parse_bool, parse_int
from .httputil import PLAIN, Query, json_response
from .logs import LogRequest, LogStreamer, list_entries, validate_path
from .responses import Ctx


async def fs_request(ctx: Ctx, path: str) -> Response:
    for prefix, handler in (
        ("logs/", _logs),
        ("cat/", _cat),
        ("readat/", _readat),
        ("ls/", _ls),
        ("stat/", _stat),
        ("stream/", _stream),
    ):
        if path.startswith(prefix):
            return await handler(ctx, path[len(prefix) :])
    raise errors.not_found(errors.INVALID_METHOD)


def _client_alloc(ctx: Ctx, alloc_id: str, *caps: str, status: int):
    """The client's lookups: unknown allocation (404) first, then the token."""
    backend = ctx.backend
    alloc = backend.state.allocs.get(alloc_id)
    if alloc is None or not os.path.isdir(backend.alloc_dir(alloc_id)):
        raise errors.not_found(errors.unknown_allocation(alloc_id))
    backend.acl.check(ctx.token, alloc.namespace, *caps, client_status=status)
    node = backend.state.nodes.get(alloc.node_id)
    if node is None or node.status == "down":
        raise errors.server_error(errors.NO_NODE_CONN)
    return alloc


async def _logs(ctx: Ctx, alloc_id: str) -> Response:
    query = ctx.query
    if not alloc_id:
        raise errors.bad_request(errors.MUST_PROVIDE_ALLOC_ID)
    task = query.get("task")
    if not task:
        raise errors.bad_request(errors.MUST_PROVIDE_TASK)
    follow = _query_bool(query, "follow")
    plain = _query_bool(query, "plain")
    log_type = query.get("type")
    if log_type not in ("stdout", "stderr"):
        raise errors.bad_request(errors.MUST_PROVIDE_LOG_TYPE)
    offset = 0
    if query.get("offset"):
        try:
            offset = parse_int(query.get("offset"))
        except GoError as exc:
            raise errors.bad_request(errors.bad_offset(str(exc))) from exc
    origin = query.get("origin") or "start"
    if origin not in ("start", "end"):
        raise errors.bad_request(errors.INVALID_ORIGIN)
    ctx.check_write_region()
    alloc = _client_alloc(ctx, alloc_id, "read-logs", "read-fs", status=500)
    state = alloc.task_states.get(task)
    if state is None:
        raise errors.bad_request(errors.unknown_task(task))
    if not state.started_at_ns:
        raise errors.not_found(errors.task_not_started(task))
    alloc_dir = ctx.backend.alloc_dir(alloc_id)
    if not list_entries(alloc_dir, task, log_type):
        raise errors.not_found(errors.log_not_found(task, log_type))
    backend = ctx.backend
    key = ("logs", alloc_id, task, log_type)

    async def wait_change(timeout: float) -> None:
        await backend.watch.wait((key,), timeout)

    streamer = LogStreamer(
        LogRequest(alloc_dir, task, log_type, offset, origin, follow, plain),
        wait_change,
        backend.closed,
    )
    media = "text/plain" if plain else "application/json"
    return StreamingResponse(streamer.body(), media_type=media)


def _query_bool(query: Query, field_name: str) -> bool:
    text = query.get(field_name)
    if not text:
        return False
    try:
        return parse_bool(text)
    except GoError as exc:
        raise errors.bad_request(errors.bad_bool_param(field_name, str(exc))) from exc


def _file_path(ctx: Ctx, alloc_id: str) -> tuple[str, str]:
    if not alloc_id:
        raise errors.bad_request(errors.MUST_PROVIDE_ALLOC_ID)
    rel = ctx.query.get("path")
    if not rel:
        raise errors.bad_request(errors.MUST_PROVIDE_FILE_NAME)
    return rel, validate_path(ctx.backend.alloc_dir(alloc_id), rel)


def _stat_file(full: str, rel: str) -> os.stat_result:
    try:
        info = os.stat(full)
    except FileNotFoundError as exc:
        raise errors.bad_request(errors.no_such_file(full)) from exc
    if os.path.isdir(full):
        raise errors.bad_request(errors.is_directory(rel))
    return info


async def _cat(ctx: Ctx, alloc_id: str) -> Response:
    rel, full = _file_path(ctx, alloc_id)
    _client_alloc(ctx, alloc_id, "read-fs", status=403)
    _stat_file(full, rel)
    return StreamingResponse(_file_chunks(full, 0, 0), media_type=_content_type(full))


async def _readat(ctx: Ctx, alloc_id: str) -> Response:
    rel, full = _file_path(ctx, alloc_id)
    try:
        offset = parse_int(ctx.query.get("offset"))
    except GoError as exc:
        raise errors.server_error(errors.bad_offset(str(exc))) from exc
    limit = 0
    if ctx.query.get("limit"):
        try:
            limit = parse_int(ctx.query.get("limit"))
        except GoError as exc:
            raise errors.server_error(errors.bad_limit(str(exc))) from exc
    _client_alloc(ctx, alloc_id, "read-fs", status=403)
    _stat_file(full, rel)
    return StreamingResponse(_file_chunks(full, offset, limit), media_type=_content_type(full))


def _content_type(full: str) -> str:
    with open(full, "rb") as f:
        head = f.read(512)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return PLAIN


async def _file_chunks(full: str, offset: int, limit: int):
    remaining = limit if limit > 0 else None
    with open(full, "rb") as f:
        f.seek(max(offset, 0))
        while remaining is None or remaining > 0:
            size = 1 << 20 if remaining is None else min(1 << 20, remaining)
            chunk = f.read(size)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _file_info(full: str, name: str) -> dict[str, Any]:
    info = os.stat(full)
    is_dir = os.path.isdir(full)
    return {
        "Name": name,
        "IsDir": is_dir,
        "Size": 4096 if is_dir else info.st_size,
        "FileMode": ("d" if is_dir else "-") + "rwxr-xr-x",
        "ModTime": format_time(info.st_mtime_ns),
        "ContentType": "" if is_dir else "text/plain; charset=utf-8",
    }


async def _ls(ctx: Ctx, alloc_id: str) -> Response:
    if not alloc_id:
        raise errors.bad_request(errors.MUST_PROVIDE_ALLOC_ID)
    rel = ctx.query.get("path") or "/"
    full = validate_path(ctx.backend.alloc_dir(alloc_id), rel)
    _client_alloc(ctx, alloc_id, "read-fs", status=403)
    if not os.path.isdir(full):
        raise errors.not_found(f"open {full}: no such file or directory")
    entries = [_file_info(os.path.join(full, n), n) for n in sorted(os.listdir(full))]
    return json_response(entries)


async def _stat(ctx: Ctx, alloc_id: str) -> Response:
    _, full = _file_path(ctx, alloc_id)
    _client_alloc(ctx, alloc_id, "read-fs", status=403)
    if not os.path.exists(full):
        raise errors.not_found(errors.no_such_file(full))
    return json_response(_file_info(full, os.path.basename(full.rstrip("/"))))


# client/fs_endpoint.go: streamFrameSize, and the framer's heartbeat while following.
STREAM_FRAME_SIZE = 64 * 1024
STREAM_HEARTBEAT_SECONDS = 1.0


async def _stream(ctx: Ctx, alloc_id: str) -> Response:
    """``/v1/client/fs/stream``: a file as JSON frames, following it by default."""
    rel, full = _file_path(ctx, alloc_id)
    follow = True
    if ctx.query.get("follow"):
        try:
            follow = parse_bool(ctx.query.get("follow"))
        except GoError as exc:
            raise errors.server_error(errors.bad_bool_param("follow", str(exc))) from exc
    offset = 0
    if ctx.query.get("offset"):
        try:
            offset = parse_int(ctx.query.get("offset"))
        except GoError as exc:
            raise errors.server_error(errors.bad_offset(str(exc))) from exc
    origin = ctx.query.get("origin") or "start"
    if origin not in ("start", "end"):
        raise errors.bad_request(errors.INVALID_ORIGIN)
    _client_alloc(ctx, alloc_id, "read-fs", status=403)
    info = _stat_file(full, rel)
    if origin == "end":
        offset = max(info.st_size - offset, 0)
    return StreamingResponse(_frames(full, rel, offset, follow), media_type="application/json")


async def _frames(full: str, rel: str, offset: int, follow: bool):
    """Data frames from ``offset`` on; while following, new data or a ``{}`` heartbeat each
    second (Nomad's framer polls the file the same way)."""
    position = max(offset, 0)
    while True:
        with open(full, "rb") as f:
            f.seek(position)
            while chunk := f.read(STREAM_FRAME_SIZE):
                frame = {"Offset": position, "Data": base64.b64encode(chunk).decode(), "File": rel}
                position += len(chunk)
                yield json.dumps(frame, separators=(",", ":")).encode()
        if not follow:
            return
        await asyncio.sleep(STREAM_HEARTBEAT_SECONDS)  # the framer's tick, not a test wait
        if os.path.getsize(full) <= position:
            yield b"{}"
