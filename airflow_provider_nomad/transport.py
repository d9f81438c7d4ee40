"""What the Nomad and the Consul hooks share on the wire, whichever HTTP client they use.

The two services are reached the same way (requests under python-nomad and py-consul, httpx in
the triggerer), so a failed connection means the same thing for both: :func:`transport_error`
is the one mapping from a requests/urllib3/httpx failure to a typed, token-free error, and
:class:`Service` says how it names the service and which error classes it raises.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

from requests.adapters import HTTPAdapter

from airflow_provider_nomad.connection import ClientSettings
from airflow_provider_nomad.exceptions import (
    ConsulTlsError,
    ConsulUnreachableError,
    NomadConnectionError,
    NomadTlsError,
    NomadUnreachableError,
)

__all__ = [
    "CONSUL",
    "NOMAD",
    "ServerNameAdapter",
    "Service",
    "index_header",
    "redact",
    "transport_error",
]

_REDACTED = "<redacted>"


@dataclass(frozen=True)
class Service:
    """What differs between Nomad and Consul once a request is on the wire.

    :param name: the service as messages and retry warnings name it.
    :param unreachable: error class of an agent that cannot be reached or a dropped connection.
    :param tls: error class of a failed TLS handshake.
    :param server_names: which names its servers' certificates carry, for the TLS hint.
    :param token_header: the header that carries the ACL token.
    :param index_header: the header that carries a blocking query's index.
    """

    name: str
    unreachable: type[NomadUnreachableError]
    tls: type[NomadTlsError]
    server_names: str
    token_header: str
    index_header: str


NOMAD = Service(
    "Nomad",
    NomadUnreachableError,
    NomadTlsError,
    server_names="Nomad servers use server.<region>.nomad",
    token_header="X-Nomad-Token",
    index_header="X-Nomad-Index",
)
CONSUL = Service(
    "Consul",
    ConsulUnreachableError,
    ConsulTlsError,
    server_names="Consul agents use server.<datacenter>.<domain>",
    token_header="X-Consul-Token",
    index_header="X-Consul-Index",
)


def _error_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 reasons, args)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *getattr(current, "args", ()),
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def transport_error(
    exc: BaseException,
    service: Service,
    settings: ClientSettings,
    what: str,
    read_timeout: float,
) -> NomadConnectionError:
    """Turn a requests/urllib3/httpx transport failure into a typed, token-free error.

    :param exc: the low-level error.
    :param service: the service the request went to.
    :param settings: the client settings (for the address).
    :param what: the request that failed, ``"<METHOD> <path>"``.
    :param read_timeout: the read timeout it ran with, to name it.
    """
    name, address = service.name, settings.base_url
    chain = _error_chain(exc)
    names = {type(e).__name__ for e in chain}
    cert_error = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert_error is not None:
        reason = cert_error.verify_message or str(cert_error)
        return service.tls(
            f"TLS: the certificate of {name} at {address} is not trusted ({reason}) during "
            f"{what}. If the cluster uses a private CA, set the connection's ca_cert extra to "
            "that CA (file path or PEM text); if the certificate names another host "
            f"({service.server_names}), set tls_server_name to that name"
        )
    tls_error = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls_error is not None:
        reason = getattr(tls_error, "reason", None) or str(tls_error)
        hint = (
            " Is the scheme right? The agent may not speak TLS (use http://)."
            if "WRONG_VERSION_NUMBER" in str(reason).upper()
            else " If the agent requires mutual TLS, set client_cert and client_key."
        )
        return service.tls(
            f"TLS handshake with {name} at {address} failed ({reason}) during {what}.{hint}"
        )
    if names & {"ConnectTimeout", "ConnectTimeoutError", "PoolTimeout"}:
        return service.unreachable(
            f"Cannot reach {name} at {address}: no connection within {settings.timeout:g} s "
            f"({what}). Check the connection's host and port, and the network path to it",
            request_sent=False,
        )
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError", "WriteTimeout", "timeout"}:
        return service.unreachable(
            f"{name} at {address} did not answer {what} within {read_timeout:g} s",
            request_sent=True,
        )
    gai = next((e for e in chain if isinstance(e, socket.gaierror)), None)
    if gai is not None:
        return service.unreachable(
            f"Cannot reach {name} at {address}: the host name does not resolve "
            f"({gai.strerror or gai}) ({what}). Check the connection's host",
            request_sent=False,
        )
    refused = next((e for e in chain if isinstance(e, ConnectionRefusedError)), None)
    if refused is not None or names & {"NewConnectionError", "ConnectError"}:
        reason = (refused.strerror if refused else None) or "connection failed"
        return service.unreachable(
            f"Cannot reach {name} at {address}: {reason.lower()} ({what}). Check the "
            f"connection's host, port and scheme, and that the {name} agent is running",
            request_sent=False,
        )
    # Under TLS 1.3 a server that wants a client certificate hangs up after the handshake.
    hint = (
        "; if the agent requires mutual TLS, set the connection's client_cert and client_key"
        if settings.is_tls and not settings.cert
        else ""
    )
    return service.unreachable(
        f"Connection to {name} at {address} dropped during {what} "
        f"({type(chain[-1]).__name__}){hint}",
        request_sent=True,
    )


def redact(text: str, token: str | None) -> str:
    """``text`` with the token cut out: some servers echo a bad token in their error body.

    :param text: a response body.
    :param token: the ACL token the request carried, if any.
    """
    if token and token in text:
        return text.replace(token, _REDACTED)
    return text


def index_header(headers: Any, service: Service) -> int:
    """A blocking query's index from the response ``headers`` (0 when absent or malformed).

    :param headers: the response headers (a case-insensitive mapping).
    :param service: whose index header to read.
    """
    try:
        return int(headers.get(service.index_header) or 0)
    except ValueError:
        return 0


class ServerNameAdapter(HTTPAdapter):
    """requests adapter checking the certificate against (and sending as SNI) a fixed name.

    The sync hooks mount it on their session for ``tls_server_name``; httpx gets the same
    from :func:`~airflow_provider_nomad.connection.ssl_context`.

    :param server_name: the name the server's certificate carries.
    """

    def __init__(self, server_name: str, **kwargs: Any) -> None:
        self._server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)
