"""HTTP plumbing shared by the Nomad handlers: query parsing, bodies, blocking queries, replies.

Parsing follows ``command/agent/http.go``: query values are the *first* occurrence (Go's
``url.Values.Get``); ``parse`` checks ``stale``, ``per_page``, ``wait`` and ``index`` in that
order with Nomad's 400 texts; request bodies are decoded as Go's ``encoding/json`` would,
including its error messages; a blocking query returns when its index passes the one asked
for, or after ``wait`` (default and cap 300 s) plus up to 1/16 of random jitter.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from . import errors
from .golang import GoError, parse_bool, parse_duration_ns, parse_int, parse_uint

if TYPE_CHECKING:
    from .backend import NomadBackend

MAX_QUERY_NS = 300 * 1_000_000_000
JITTER_FRACTION = 16
PLAIN = "text/plain; charset=utf-8"


class Query:
    """Query parameters with Go's first-value semantics.

    :param raw: the raw query string.
    """

    def __init__(self, raw: bytes) -> None:
        self._values: dict[str, str] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            self._values.setdefault(key, value)

    def get(self, key: str, default: str = "") -> str:
        return self._values.get(key, default)

    def has(self, key: str) -> bool:
        return key in self._values

    def bool(self, key: str) -> bool | None:
        """``parseBool``: None when absent, else Go's ``strconv.ParseBool``."""
        text = self.get(key)
        if not text:
            return None
        try:
            return parse_bool(text)
        except GoError as exc:
            raise errors.server_error(errors.bad_query_bool(key, text, str(exc))) from exc


def token_of(headers: Any) -> str:
    """``parseToken``: ``X-Nomad-Token``, else ``Authorization: Bearer``."""
    token = (headers.get("x-nomad-token") or "").strip()
    if token:
        return token
    parts = (headers.get("authorization") or "").split(" ")
    if len(parts) > 1 and parts[0].lower() == "bearer":
        return " ".join(parts[1:]).strip().split(" ")[0].strip()
    return ""


@dataclass
class QueryOptions:
    """``structs.QueryOptions`` as ``HTTPServer.parse`` fills it."""

    region: str
    namespace: str
    token: str
    prefix: str = ""
    min_index: int = 0
    max_query_ns: int = 0


def parse_query_options(query: Query, headers: Any, default_region: str) -> QueryOptions:
    if query.has("stale") and query.get("stale"):
        try:
            parse_bool(query.get("stale"))
        except GoError as exc:
            raise errors.bad_request(errors.STALE_NOT_BOOL) from exc
    if query.get("per_page"):
        try:
            parse_int(query.get("per_page"))
        except GoError as exc:
            raise errors.bad_request(errors.PER_PAGE_NOT_NUMBER) from exc
    opts = QueryOptions(
        region=query.get("region") or default_region,
        namespace=query.get("namespace") or "default",
        token=token_of(headers),
        prefix=query.get("prefix"),
    )
    if query.get("wait"):
        try:
            opts.max_query_ns = parse_duration_ns(query.get("wait"))
        except GoError as exc:
            raise errors.bad_request(errors.INVALID_WAIT) from exc
    if query.get("index"):
        try:
            opts.min_index = parse_uint(query.get("index"))
        except GoError as exc:
            raise errors.bad_request(errors.INVALID_INDEX) from exc
    return opts


def check_region(region: str, backend: NomadBackend) -> None:
    """An RPC for another region is forwarded; this agent knows no other region."""
    if region and region != backend.region:
        raise errors.server_error(errors.NO_REGION_PATH)


# -- bodies -------------------------------------------------------------------------------------


def _quote_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + json.dumps(char)[1:-1] + "'"


def _container(text: str, pos: int) -> str:
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _go_json_error(text: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    if pos >= len(text) or exc.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    char = _quote_char(text[pos])
    msg = exc.msg
    if msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if msg.startswith("Expecting ',' delimiter"):
        where = "object key:value pair" if _container(text, pos) == "{" else "array element"
        return f"invalid character {char} after {where}"
    if msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    literal = _LITERALS.get(text[pos])
    if literal is not None:
        return _literal_error(text, pos, literal)
    return f"invalid character {char} looking for beginning of value"


_LITERALS = {"t": "true", "f": "false", "n": "null"}


def _literal_error(text: str, pos: int, literal: str) -> str:
    for i, expected in enumerate(literal):
        if pos + i >= len(text):
            return "unexpected EOF"
        if text[pos + i] != expected:
            got, want = _quote_char(text[pos + i]), _quote_char(expected)
            return f"invalid character {got} in literal {literal} (expecting {want})"
    return f"invalid character {_quote_char(text[pos])} looking for beginning of value"


def decode_body(body: bytes) -> Any:
    """``decodeBody``: the first JSON value of the body (Go ignores what follows it)."""
    if not body:
        raise errors.bad_request(errors.REQUEST_BODY_EMPTY)
    text = body.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise errors.bad_request("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise errors.bad_request(_go_json_error(text, exc)) from exc
    return value


_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}


def json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    return _JSON_KIND.get(type(value), "value")


def type_error(value: Any, struct: str, field_name: str, go_type: str) -> errors.NomadError:
    return errors.bad_request(
        f"json: cannot unmarshal {json_kind(value)} into Go struct field "
        f"{struct}.{field_name} of type {go_type}"
    )


def field_of(body: dict[str, Any], name: str) -> Any:
    """Go matches JSON keys to struct fields case-insensitively."""
    if name in body:
        return body[name]
    lowered = name.lower()
    for key, value in body.items():
        if key.lower() == lowered:
            return value
    return None


# -- responses -------------------------------------------------------------------------------


def json_response(
    body: Any, index: int | None = None, status: int = 200, *, write: bool = False
) -> Response:
    """JSON reply; reads carry the query meta headers, writes only ``X-Nomad-Index``."""
    headers = {}
    if index is not None:
        headers = {"X-Nomad-Index": str(index)} if write else meta_headers(index)
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def meta_headers(index: int) -> dict[str, str]:
    """``setMeta``: index, leader known, no lag."""
    return {"X-Nomad-Index": str(index), "X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0"}


def error_response(error: errors.NomadError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error.message.encode(), status_code=error.status, headers=headers, media_type=PLAIN
    )


# -- blocking queries -----------------------------------------------------------------------


@dataclass
class QueryResult:
    """A query's answer, its index, and the watch keys that would change it."""

    body: Any
    index: int
    keys: tuple[Hashable, ...] = field(default_factory=tuple)


async def blocking(
    backend: NomadBackend, opts: QueryOptions, run: Callable[[], QueryResult]
) -> QueryResult:
    """``blockingRPC``: answer now unless ``index`` was given and nothing newer exists."""
    result = run()
    if opts.min_index == 0 or result.index > opts.min_index:
        return result
    wait_ns = opts.max_query_ns
    if wait_ns <= 0 or wait_ns > MAX_QUERY_NS:
        wait_ns = MAX_QUERY_NS
    wait_ns += random.randrange(wait_ns // JITTER_FRACTION) if wait_ns >= JITTER_FRACTION else 0
    loop = backend.loop
    deadline = loop.time() + wait_ns / 1e9
    while result.index <= opts.min_index and not backend.closed.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await backend.watch.wait(result.keys, remaining)
        result = run()
    return result
