"""What both emulated services share: request counters per route and fault injection.

A plain ASGI middleware (no per-request task or buffering) so it costs next to nothing under
load. Faults answer a status and body, add latency, or drop the connection without a response
(the transport is handed over by :class:`TransportAwareProtocol`).
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

try:  # httptools comes with uvicorn[standard]; h11 is always there
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol

TRANSPORT_KEY = "emulator.transport"
CONTROL_PREFIX = "/_emulator/"


class TransportAwareProtocol(_BaseProtocol):
    """uvicorn's protocol, with the connection's transport placed in the ASGI scope."""

    def on_message_begin(self) -> None:  # httptools
        super().on_message_begin()
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]

    def handle_events(self) -> None:  # h11: scope is built per request inside
        super().handle_events()
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope[TRANSPORT_KEY] = self.transport


@dataclass
class Fault:
    """One injected fault; ``count`` None means unlimited."""

    id: str
    service: str
    route: str
    status: int | None = 500
    body: str = ""
    count: int | None = 1
    drop: bool = False
    after_processing: bool = False
    delay: float = 0.0
    probability: float | None = None
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, service: str, template: str, path: str) -> bool:
        if self.service != service or self.count == 0:
            return False
        if self.route == "*":
            return path.startswith("/v1/")
        return self.route == template

    def as_dict(self) -> dict:
        return {
            "ID": self.id,
            "Service": self.service,
            "Route": self.route,
            "Status": self.status,
            "Count": self.count,
            "Drop": self.drop,
            "AfterProcessing": self.after_processing,
            "Delay": self.delay,
            "Probability": self.probability,
        }


class Observatory:
    """Counters and faults of every service of one emulator (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._faults: list[Fault] = []

    def count(self, service: str, template: str) -> None:
        with self._lock:
            self._counts.setdefault(service, Counter())[template] += 1

    def counts(self, service: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(service, Counter()))

    def reset_counts(self, service: str | None = None) -> None:
        with self._lock:
            if service is None:
                self._counts.clear()
            else:
                self._counts.pop(service, None)

    def add_fault(self, **spec) -> Fault:
        seed = spec.pop("seed", None)
        fault = Fault(id=str(uuid.uuid4()), rng=random.Random(seed), **spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take_fault(self, service: str, template: str, path: str) -> Fault | None:
        """The first active fault for this request, consuming one of its uses."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(service, template, path):
                    continue
                if fault.probability is not None and fault.rng.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                return fault
        return None


class CommonMiddleware:
    """Counts each request under its route template and applies matching faults.

    :param app: the service's ASGI app.
    :param service: ``"nomad"`` or ``"consul"``.
    :param observatory: where counts and faults live.
    :param template_of: ``(method, path) -> "GET /v1/job/:job_id"``.
    """

    def __init__(
        self,
        app,
        service: str,
        observatory: Observatory,
        template_of: Callable[[str, str], str],
    ) -> None:
        self.app = app
        self.service = service
        self.observatory = observatory
        self.template_of = template_of

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        template = self.template_of(scope["method"], scope["path"])
        self.observatory.count(self.service, template)
        fault = self.observatory.take_fault(self.service, template, scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)  # injected latency, by request
        if fault.drop and fault.after_processing:
            await self.app(scope, receive, _discard)
            await _drop(scope)
            return
        if fault.drop:
            await _drop(scope)
            return
        if not fault.status:
            await self.app(scope, receive, send)
            return
        body = fault.body.encode()
        await send(
            {
                "type": "http.response.start",
                "status": fault.status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _discard(message) -> None:
    """An ASGI ``send`` that loses the answer, as a connection cut on the way back would."""


async def _drop(scope) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is not None:
        transport.abort()
    # Let the server see the lost connection before the app returns, so it does not try
    # to answer a 500 on it.
    for _ in range(3):
        await asyncio.sleep(0)


def starlette_template(app) -> Callable[[str, str], str]:
    """Route templates (``:name`` style) for a Starlette app such as the Consul emulator."""
    from starlette.routing import Match

    def template_of(method: str, path: str) -> str:
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        for route in getattr(app, "routes", []):
            match, _ = route.matches(scope)
            if match != Match.NONE:
                template = getattr(route, "path", path)
                for part in template.split("/"):
                    if part.startswith("{") and part.endswith("}"):
                        name = part[1:-1].split(":")[0]
                        template = template.replace(part, f":{name}")
                return f"{method} {template}"
        return f"{method} {path}"

    return template_of
