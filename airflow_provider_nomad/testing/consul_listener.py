"""The Consul agent's HTTP listener inside the emulator: it serves until the agent leaves.

``PUT /v1/agent/leave`` makes a Consul agent leave its cluster and exit: its port stops
answering. The emulated agent does the same (its listener closes once the answer is sent);
the next reset of the emulator (``POST /_emulator/reset`` on the Nomad port, what the pytest
fixtures do before each test) starts a fresh agent on the same port, as a new container would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvicorn


class ConsulListener:
    """Serves the Consul app on one port; after a leave, :meth:`reset` serves a fresh one.

    :param make_app: ``() -> (asgi_app, backend)`` builds a fresh agent.
    :param sock: the bound listening socket to start with.
    :param bind: ``() -> socket`` binds the same address again after a leave.
    :param config: ``(asgi_app) -> uvicorn.Config``.
    """

    def __init__(
        self,
        make_app: Callable[[], tuple[Any, Any]],
        sock: socket.socket,
        bind: Callable[[], socket.socket],
        config: Callable[[Any], uvicorn.Config],
    ) -> None:
        self._make_app = make_app
        self._sock = sock
        self._bind = bind
        self._config = config
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Future | None = None
        self.backend: Any = None

    def start(self) -> None:
        """Start serving a fresh agent (call on the emulator's loop; poll :attr:`started`)."""
        app, backend = self._make_app()
        self.backend = backend
        if backend is not None:
            backend.on_leave = self.leave
        self.server = uvicorn.Server(self._config(app))
        self.task = asyncio.ensure_future(self.server.serve(sockets=[self._sock]))

    @property
    def started(self) -> bool:
        return self.server is not None and self.server.started

    @property
    def left(self) -> bool:
        return self.server is not None and self.server.should_exit

    def leave(self) -> None:
        """The agent left: stop serving (uvicorn closes the listening socket)."""
        if self.server is not None:
            self.server.should_exit = True

    async def reset(self) -> None:
        """Reset the agent; one that left is replaced by a fresh agent on the same port."""
        if not self.left:
            if self.backend is not None:
                self.backend.reset()
            return
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        self._sock = self._bind()
        self.start()
        while not self.started:
            if self.task is not None and self.task.done():
                self.task.result()
                raise RuntimeError("the Consul listener exited while starting again")
            await asyncio.sleep(0.005)  # uvicorn exposes no startup event; poll its flag

    async def stop(self) -> None:
        self.leave()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
