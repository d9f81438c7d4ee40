"""``Emulator``: the Nomad and Consul emulators served over HTTP(S), in a background thread.

The CLI (``python -m airflow_provider_nomad.testing serve``) and the pytest fixtures both use
this class. All emulator state lives on one asyncio loop in the emulator's thread; both HTTP
servers (uvicorn) run on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import uvicorn

from .consul_listener import ConsulListener
from .control import EmulatorControl
from .control_api import ControlApi
from .middleware import (
    CONTROL_PREFIX,
    CommonMiddleware,
    Observatory,
    TransportAwareProtocol,
    starlette_template,
)
from .nomad.acl import Acl
from .nomad.backend import NomadBackend
from .nomad.clock import Clock
from .nomad.routes import NomadApp, route_template
from .nomad.substitutes import Substitution

log = logging.getLogger(__name__)


def _consul_app(acl_token: str | None, enable_script_checks: bool = False) -> Any:
    """The Consul emulator app, or a 404-everything stand-in while it does not exist."""
    try:
        from .consul import create_app
    except ImportError:  # pragma: no cover - depends on the Consul side being present
        return _NotFoundApp()
    return create_app(acl_token=acl_token, enable_script_checks=enable_script_checks)


class _NotFoundApp:
    routes: list = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class _ControlFirst:
    """``/_emulator/...`` goes to the control API, everything else to the service."""

    def __init__(self, control, app) -> None:
        self.control = control
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CONTROL_PREFIX):
            await self.control(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def _cancel_leftovers() -> None:
    """Cancel task runners and timers still pending so the loop closes cleanly."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def _raise_open_files_limit() -> None:
    """Thousands of blocked queries and log streams each hold a socket: lift the soft limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform dependent
        pass


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()


class Emulator:
    """The Nomad + Consul API emulator.

    :param host: interface to listen on.
    :param nomad_port: Nomad API port; 0 picks a free port.
    :param consul_port: Consul API port; 0 picks a free port.
    :param acl: enforce ACLs; :attr:`token` is then a management token (Nomad and Consul).
    :param state_dir: where allocation directories are kept; a temporary directory (removed on
        stop) when None.
    :param tls_cert: server certificate (PEM); with ``tls_key`` both ports serve HTTPS.
    :param tls_key: server private key (PEM).
    :param tls_ca: CA bundle; when given, clients must present a certificate it signed (mTLS).
    :param client_cert: ``(cert, key)`` the :attr:`control` client presents under mTLS.
    :param clock: time source for the Nomad model (tests may inject a manual clock).
    :param node_name: name of the emulated client node (``nomad agent -dev -node NAME``).
    :param acl_bootstrapped: with ``acl``, False starts like a fresh ``-acl-enabled`` agent:
        no token works until ``POST /v1/acl/bootstrap`` hands out :attr:`token`.
    :param event_heartbeat: seconds between ``/v1/event/stream`` heartbeats (Nomad: 30).
    :param substitutions: driver substitutions (objects as ``POST /_emulator/substitutions``
        takes them) in force from the start and kept across resets.
    :param consul_script_checks: the Consul agent runs script checks (``Args``) as local
        subprocesses, as one started with ``enable_script_checks``; off by default, as in Consul.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        nomad_port: int = 0,
        consul_port: int = 0,
        acl: bool = False,
        state_dir: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_ca: str | None = None,
        client_cert: tuple[str, str] | None = None,
        clock: Clock | None = None,
        node_name: str = "node-1",
        acl_bootstrapped: bool = True,
        event_heartbeat: float = 30.0,
        substitutions: Iterable[dict[str, Any]] = (),
        consul_script_checks: bool = False,
    ) -> None:
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("tls_cert and tls_key go together")
        self.host = host
        self._ports = (nomad_port, consul_port)
        self.acl = acl
        self._state_dir = state_dir
        self._own_state_dir = state_dir is None
        self._tls = (tls_cert, tls_key, tls_ca)
        self._client_cert = client_cert
        self._clock = clock
        self._node_name = node_name
        self._acl_bootstrapped = acl_bootstrapped
        self._event_heartbeat = event_heartbeat
        self._consul_script_checks = consul_script_checks
        # Validated now, so a bad declaration fails the caller, not the emulator's thread.
        self._substitutions = [Substitution.from_dict(spec) for spec in substitutions]
        self.token: str | None = str(uuid.uuid4()) if acl else None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._control: EmulatorControl | None = None
        self.backend: NomadBackend | None = None
        self.nomad_addr = ""
        self.consul_addr = ""

    def __repr__(self) -> str:
        return f"Emulator(nomad={self.nomad_addr!r}, consul={self.consul_addr!r}, acl={self.acl})"

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state_dir(self) -> str:
        return self._state_dir or ""

    def start(self) -> Emulator:
        """Bind both ports, start serving, return once requests are answered."""
        if self._thread is not None:
            return self
        _raise_open_files_limit()
        if self._state_dir is None:
            self._state_dir = tempfile.mkdtemp(prefix="nomad-emulator-")
        sockets = [_bind(self.host, port) for port in self._ports]
        scheme = "https" if self._tls[0] else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.nomad_addr = f"{scheme}://{host}:{sockets[0].getsockname()[1]}"
        self.consul_addr = f"{scheme}://{host}:{sockets[1].getsockname()[1]}"
        self._thread = threading.Thread(
            target=self._thread_main, args=(sockets,), name="nomad-emulator", daemon=True
        )
        self._thread.start()
        ready = self._ready.wait(timeout=60)
        if self._error is None and not ready:
            self._error = TimeoutError("the emulator did not start within 60 s")
        if self._error is not None:
            self._thread.join(timeout=10)
            self._thread = None
            raise RuntimeError("the emulator failed to start") from self._error
        return self

    def stop(self) -> None:
        """Stop serving and end every task process the emulator started."""
        if self._thread is None:
            return
        if self._control is not None:
            # Close our own keep-alive connection first: an idle TLS connection would hold
            # the servers' graceful shutdown until its timeout.
            self._control.close()
            self._control = None
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._thread = None
        if self._own_state_dir and self._state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    @property
    def control(self) -> EmulatorControl:
        """A client of the ``/_emulator/`` control API (and blocking-query waits)."""
        if self._control is None:
            verify: bool | str = True
            if self._tls[0]:
                verify = self._tls[2] or self._tls[0]
            self._control = EmulatorControl(
                self.nomad_addr, token=self.token, verify=verify, cert=self._client_cert
            )
        return self._control

    # -- emulator thread ---------------------------------------------------------------------

    def _thread_main(self, sockets: list[socket.socket]) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sockets))
        except BaseException as exc:
            self._error = exc
            log.exception("emulator stopped with an error")
        finally:
            self._ready.set()
            for sock in sockets:
                sock.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        self._stop = asyncio.Event()
        backend = NomadBackend(
            state_dir=self._state_dir or "",
            acl=Acl(self.acl, self.token, bootstrapped=self._acl_bootstrapped),
            clock=self._clock,
            node_name=self._node_name,
            event_heartbeat=self._event_heartbeat,
            substitutions=self._substitutions,
        )
        self.backend = backend
        observatory = Observatory()

        def consul_side() -> tuple[Any, Any]:
            consul = _consul_app(self.token, self._consul_script_checks)
            asgi = CommonMiddleware(consul, "consul", observatory, starlette_template(consul))
            return asgi, getattr(getattr(consul, "state", None), "backend", None)

        consul_port = sockets[1].getsockname()[1]
        listener = ConsulListener(
            consul_side, sockets[1], lambda: _bind(self.host, consul_port), self._config
        )
        control = ControlApi(backend, listener.reset, observatory)
        nomad_app = CommonMiddleware(NomadApp(backend), "nomad", observatory, route_template)
        nomad_server = uvicorn.Server(self._config(_ControlFirst(control, nomad_app)))
        nomad_task = asyncio.ensure_future(nomad_server.serve(sockets=[sockets[0]]))
        listener.start()
        while not (nomad_server.started and listener.started):
            for task in (nomad_task, listener.task):
                if task is not None and task.done():
                    task.result()
                    raise RuntimeError("an HTTP server exited during startup")
            await asyncio.sleep(0.005)  # uvicorn exposes no startup event; poll its flag
        self._ready.set()
        await self._stop.wait()
        backend.shutdown()
        nomad_server.should_exit = True
        await asyncio.gather(nomad_task, listener.stop(), return_exceptions=True)
        await _cancel_leftovers()

    def _config(self, app) -> uvicorn.Config:
        cert, key, ca = self._tls
        kwargs: dict[str, Any] = {}
        if cert:
            kwargs.update(ssl_certfile=cert, ssl_keyfile=key)
            if ca:
                kwargs.update(ssl_ca_certs=ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        return uvicorn.Config(
            app,
            lifespan="off",
            http=TransportAwareProtocol,
            ws="none",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
            **kwargs,
        )
