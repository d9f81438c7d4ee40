"""What the Nomad and the Consul hooks share on the wire, whichever HTTP client they use.

The two services are reached the same way (requests under python-nomad and py-consul, httpx in
the triggerer), so a failed connection means the same thing for both: :func:`transport_error`
is the one mapping from a requests/urllib3/httpx failure to a typed, token-free error, and
:class:`Service` says how it names the service and which error classes it raises.

Both paths also behave alike where the token is at stake: :func:`requests_session` gives the
sync hooks a session that never follows a redirect, reads nothing from the environment
(``~/.netrc``, ``REQUESTS_CA_BUNDLE``, proxy variables) and verifies TLS with the same
:class:`ssl.SSLContext` the async hooks use; :func:`redirect_error` turns a 3xx answer into an
error on either path instead of a request to the host it names.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_nomad.connection import USER_AGENT, ClientSettings, ssl_context
from airflow_provider_nomad.exceptions import (
    ConsulRedirectError,
    ConsulTlsError,
    ConsulUnreachableError,
    NomadConnectionError,
    NomadRedirectError,
    NomadTlsError,
    NomadUnreachableError,
)

__all__ = [
    "CONSUL",
    "NOMAD",
    "NoRedirectSession",
    "Service",
    "SslContextAdapter",
    "index_header",
    "redact",
    "redirect_error",
    "requests_session",
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
    :param redirect: error class of an answer that redirects elsewhere.
    """

    name: str
    unreachable: type[NomadUnreachableError]
    tls: type[NomadTlsError]
    server_names: str
    token_header: str
    index_header: str
    redirect: type[NomadRedirectError] = NomadRedirectError


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
    redirect=ConsulRedirectError,
)


def _error_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 reasons, args, and
    the members of exception groups)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        # anyio's "All connection attempts failed" holds each address's error in an exception
        # group (the builtin, or the backport on Python 3.10): its ``exceptions``.
        grouped = getattr(current, "exceptions", ())
        if not isinstance(grouped, (tuple, list)):
            grouped = ()
        for nxt in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *getattr(current, "args", ()),
            *grouped,
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def transport_error(
    exc: BaseException,
    service: Service,
    settings: ClientSettings,
    what: str,
    read_timeout: float | None,
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
    cert_error = next(
        (e for e in chain if isinstance(e, ssl.SSLCertVerificationError) or _is_name_mismatch(e)),
        None,
    )
    if cert_error is not None:
        reason = getattr(cert_error, "verify_message", None) or str(cert_error)
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
        within = f"within {read_timeout:g} s" if read_timeout is not None else "in time"
        return service.unreachable(
            f"{name} at {address} did not answer {what} {within}",
            request_sent=True,
        )
    gai = next((e for e in chain if isinstance(e, socket.gaierror)), None)
    if gai is not None:
        return service.unreachable(
            f"Cannot reach {name} at {address}: the host name does not resolve "
            f"({gai.strerror or gai}) ({what}). Check the connection's host",
            request_sent=False,
        )
    exhausted = next(
        (e for e in chain if isinstance(e, OSError) and e.errno in (errno.EMFILE, errno.ENFILE)),
        None,
    )
    if exhausted is not None:
        # Not the agent's fault: said so, or the user checks a Nomad that is fine.
        scope = "this process" if exhausted.errno == errno.EMFILE else "this machine"
        return service.unreachable(
            f"Cannot open a connection to {name} at {address}: {scope} has no file "
            f"descriptor left ({exhausted.strerror}; {what}). Raise the limit of open files "
            "(ulimit -n; LimitNOFILE= for a systemd service)",
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


def _is_name_mismatch(exc: BaseException) -> bool:
    # urllib3 matches host names itself in some set-ups and raises its own CertificateError
    # (not an ssl.SSLError): the same untrusted certificate as far as the user is concerned.
    return type(exc).__name__ == "CertificateError"


def redirect_error(
    status: int, headers: Any, service: Service, settings: ClientSettings, what: str
) -> NomadRedirectError | None:
    """The error for a redirect answer, or ``None`` when ``status`` is not a redirect.

    Nomad and Consul agents never redirect an API call; a 3xx comes from something in between
    (a proxy, a login portal, a hijacked address). Following it would hand the ACL token to
    the host it names, so it is refused, naming that host but nothing else of the location
    (its query string may carry anything).

    :param status: the answer's HTTP status.
    :param headers: the answer's headers (a case-insensitive mapping).
    :param service: the service the request went to.
    :param settings: the client settings (for the address).
    :param what: the request, ``"<METHOD> <path>"``.
    """
    if not 300 <= status < 400:
        return None
    location = str(headers.get("Location") or "")
    try:
        parts = urlsplit(location)
        target = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else ""
    except ValueError:
        target = ""
    where = f"to {target}" if target else "elsewhere on the same host" if location else ""
    return service.redirect(
        f"{service.name} at {settings.base_url} answered {what} with HTTP {status}, a redirect "
        f"{where or '(no Location given)'}. Redirects are never followed: the ACL token would "
        f"go along. Point the connection at the {service.name} agent itself (its real address, "
        "or a load balancer that forwards rather than redirects)"
    )


class NoRedirectSession(requests.Session):
    """A requests session that never follows a redirect and reads nothing from the environment.

    python-nomad passes ``allow_redirects`` only for GET and POST, and py-consul never does, so
    a DELETE or a Consul read would follow a 307 with the token header (requests strips only
    ``Authorization`` across hosts). Forcing it here covers every caller of the session,
    including DAG code using ``hook.get_conn()``. ``trust_env`` is off: ``~/.netrc``
    credentials, ``REQUESTS_CA_BUNDLE`` and proxy variables would otherwise change where the
    token goes and which certificates are trusted, behind the connection's back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = USER_AGENT

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


class SslContextAdapter(HTTPAdapter):
    """requests adapter whose TLS is exactly one :class:`ssl.SSLContext` from the settings.

    The async hooks hand httpx the context of :func:`~airflow_provider_nomad.connection.
    ssl_context`; this adapter gives requests a context built the same way (same trust store,
    same client certificate, same pinned server name), so both paths trust the same CAs and
    fail the same way. The per-request ``verify``/``cert`` that python-nomad and py-consul pass
    are ignored: the context carries them. urllib3 writes ``verify_mode`` into the context it
    is given, so it gets one of its own, never the one httpx shares.

    :param settings: the client settings.
    """

    def __init__(self, settings: ClientSettings, **kwargs: Any) -> None:
        self._context = ssl_context(settings, for_urllib3=True)
        self._cert_reqs = "CERT_NONE" if settings.verify is False else "CERT_REQUIRED"
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        return host_params, {"ssl_context": self._context, "cert_reqs": self._cert_reqs}

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Nothing to set per request: the pool's SSL context holds the trust and the cert."""


def requests_session(settings: ClientSettings) -> NoRedirectSession:
    """The session of a sync hook: no redirects, no environment, TLS from the settings alone.

    :param settings: the client settings.
    """
    session = NoRedirectSession()
    session.mount("https://", SslContextAdapter(settings))
    return session


def redact(text: str, token: str | None) -> str:
    """``text`` with the token cut out: some servers echo a bad token in their error body.

    :param text: a response body.
    :param token: the ACL token the request carried, if any.
    """
    if token and token in text:
        return text.replace(token, _REDACTED)
    return text


def index_header(headers: Any, service: Service) -> int:
    """A blocking query's index from the response ``headers``: always at least 1.

    An index of 0 never blocks, so a header that is missing (a proxy stripped it), malformed,
    zero (a Consul bug its docs warn of) or negative reads as 1, as Consul advises: a query
    on index 1 blocks until anything exists, and :class:`~airflow_provider_nomad.blocking.
    BlockingPacer` keeps a server that still answers at once from being asked in a loop.

    :param headers: the response headers (a case-insensitive mapping).
    :param service: whose index header to read.
    """
    try:
        index = int(headers.get(service.index_header) or 0)
    except ValueError:
        return 1
    return max(1, index)
