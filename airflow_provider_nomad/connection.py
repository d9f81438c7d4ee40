"""From an Airflow connection to client settings, shared by the Nomad and Consul hooks.

One parser serves the sync hook (python-nomad / requests) and the async hook (httpx), so both
talk to the same address with the same token, namespace and TLS material. Explicit hook
arguments override the connection's extras; environment variables (``NOMAD_ADDR``,
``NOMAD_TOKEN``...) are never read behind the connection's back.

Connection fields: ``host`` (may carry the scheme, ``https://nomad.internal``), ``port``,
``schema`` (``http``/``https``), ``password`` (the ACL token) and extras named after Nomad's CLI
flags: ``namespace``, ``region``, ``ca_cert``, ``client_cert``, ``client_key`` (a key file's
path), ``client_private_key`` (the key's PEM text, or a path), ``tls_server_name``,
``tls_skip_verify``. Certificates are a file path or inline PEM.

Secret material: Airflow hides an extra in its API, UI and task logs only when the extra's name
says it is secret (``private_key``, ``password``, ``token``...). The key's PEM text therefore
lives in ``client_private_key``; inline PEM under ``client_key``, which Airflow would show in
clear, is refused. Inline PEM is never written to disk: the CA is loaded from memory, and the
client certificate and key through an anonymous in-memory file (``memfd``) that vanishes with
the process, even when it is killed. An encrypted (passphrase-protected) key is refused when
the connection is read: OpenSSL would otherwise prompt for the passphrase on the terminal.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_nomad.exceptions import NomadConnectionError

__all__ = [
    "CONSUL_EXTRAS",
    "DEFAULT_TIMEOUT",
    "NOMAD_EXTRAS",
    "ClientSettings",
    "ConnectionSpec",
    "InlinePem",
    "consul_settings_from_connection",
    "httpx_client_kwargs",
    "nomad_settings_from_connection",
    "settings_from_connection",
    "ssl_context",
]

log = logging.getLogger(__name__)

#: Connect/read timeout (seconds) of calls that are not blocking queries.
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "airflow-provider-nomad"

_TLS_EXTRAS = frozenset(
    {
        "ca_cert",
        "client_cert",
        "client_key",
        "client_private_key",
        "tls_server_name",
        "tls_skip_verify",
    }
)
#: Extras whose presence means the agent speaks TLS (``tls_skip_verify`` only when true).
_TLS_MATERIAL = ("ca_cert", "client_cert", "client_key", "client_private_key", "tls_server_name")
#: Where OpenSSL's PEM armour says the key is encrypted (PKCS#8 and traditional forms).
_ENCRYPTED_KEY_MARKERS = ("ENCRYPTED PRIVATE KEY", "Proc-Type: 4,ENCRYPTED")
#: Body lines shorter than this are not registered with the log masker (too common to mask).
_MIN_MASKED_LINE = 16
NOMAD_EXTRAS = frozenset({"namespace", "region"}) | _TLS_EXTRAS
CONSUL_EXTRAS = frozenset({"datacenter"}) | _TLS_EXTRAS
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True)
class InlinePem:
    """PEM text given in the connection itself; loaded from memory, never written to disk.

    :param text: the PEM text (kept out of ``repr``).
    """

    text: str = field(repr=False)


#: A CA bundle, certificate or key: a file path, or PEM text from the connection.
PemSource = str | InlinePem


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to talk to one Nomad (or Consul) agent.

    :param base_url: scheme, host and port, e.g. ``https://nomad.internal:4646`` (no trailing
        slash).
    :param token: the ACL token; kept out of ``repr``.
    :param namespace: Nomad namespace (``default`` when unset); ``None`` for Consul.
    :param region: Nomad region, ``None`` for the agent's own.
    :param datacenter: Consul datacenter, ``None`` for the agent's own.
    :param verify: ``True`` (the system trust store and certifi's bundle), ``False`` (skip
        verification), the path of a CA bundle file or directory, or the CA's PEM text.
    :param cert: ``(client_cert, client_key)`` for mutual TLS, each a path or PEM text.
    :param tls_server_name: name to check the server certificate against (and send as SNI)
        instead of the host.
    :param timeout: connect/read timeout in seconds for calls that are not blocking queries.
    """

    base_url: str
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    region: str | None = None
    datacenter: str | None = None
    verify: bool | PemSource = True
    cert: tuple[PemSource, PemSource] | None = field(default=None, repr=False)
    tls_server_name: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def is_tls(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def address(self) -> str:
        """The base URL, for messages (it never carries the token)."""
        return self.base_url


@dataclass(frozen=True)
class ConnectionSpec:
    """What differs between the services sharing the parser.

    :param service: name used in messages ("Nomad", "Consul").
    :param conn_type: Airflow connection type, also the prefix of legacy
        ``extra__<type>__<field>`` extra keys.
    :param default_port: port when the connection names none.
    :param extras: the extra keys this connection type accepts.
    :param error_cls: error class raised for bad settings.
    """

    service: str
    conn_type: str
    default_port: int
    extras: frozenset[str]
    error_cls: type[NomadConnectionError] = NomadConnectionError


NOMAD_SPEC = ConnectionSpec("Nomad", "nomad", 4646, NOMAD_EXTRAS)
CONSUL_SPEC = ConnectionSpec("Consul", "consul", 8500, CONSUL_EXTRAS)


def nomad_settings_from_connection(
    conn: Any,
    *,
    namespace: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
) -> ClientSettings:
    """Build Nomad client settings from an Airflow connection of type ``nomad``.

    :param conn: the Airflow connection.
    :param namespace: overrides the ``namespace`` extra; ``default`` when neither is set.
    :param region: overrides the ``region`` extra.
    :param timeout: overrides :data:`DEFAULT_TIMEOUT`.
    """
    settings = settings_from_connection(
        conn, NOMAD_SPEC, overrides={"namespace": namespace, "region": region}, timeout=timeout
    )
    if settings.namespace is None:
        return replace(settings, namespace="default")
    return settings


def consul_settings_from_connection(
    conn: Any,
    *,
    datacenter: str | None = None,
    timeout: float | None = None,
    error_cls: type[NomadConnectionError] = NomadConnectionError,
) -> ClientSettings:
    """Build Consul client settings from an Airflow connection of type ``consul``.

    :param conn: the Airflow connection.
    :param datacenter: overrides the ``datacenter`` extra.
    :param timeout: overrides :data:`DEFAULT_TIMEOUT`.
    :param error_cls: error class for bad settings (a Consul-specific subclass, if any).
    """
    spec = replace(CONSUL_SPEC, error_cls=error_cls)
    return settings_from_connection(
        conn, spec, overrides={"datacenter": datacenter}, timeout=timeout
    )


def settings_from_connection(
    conn: Any,
    spec: ConnectionSpec,
    *,
    overrides: Mapping[str, str | None] | None = None,
    timeout: float | None = None,
) -> ClientSettings:
    """Parse a connection per ``spec``; non-None ``overrides`` win over the extras.

    :param conn: the Airflow connection (``host``, ``port``, ``schema``, ``password``,
        ``extra_dejson``, ``conn_id``).
    :param spec: which service the connection is for.
    :param overrides: explicit hook arguments by extra name.
    :param timeout: timeout in seconds, :data:`DEFAULT_TIMEOUT` when ``None``.
    """
    where = f"Airflow connection {getattr(conn, 'conn_id', None)!r}"
    extras = _extras(conn, spec, where)
    for key, value in (overrides or {}).items():
        if value is not None:
            extras[key] = value

    def fail(message: str) -> NomadConnectionError:
        return spec.error_cls(f"{where} ({spec.service}): {message}")

    skip_verify = _as_bool(extras.get("tls_skip_verify"), "tls_skip_verify", fail)
    wants_tls = skip_verify or any(extras.get(name) for name in _TLS_MATERIAL)
    base_url = _base_url(conn, spec, fail, wants_tls=wants_tls)
    ca_cert = _pem_or_path(extras.get("ca_cert"), "ca_cert", fail, allow_dir=True)
    client_cert = _pem_or_path(extras.get("client_cert"), "client_cert", fail)
    client_key = _client_key(extras, fail)
    if bool(client_cert) != bool(client_key):
        missing, given = (
            ("client_key", "client_cert") if client_cert else ("client_cert", "client_key")
        )
        raise fail(
            f"{given} is set but {missing} is not: mutual TLS needs both; set {missing} "
            f"(path or PEM text) or remove {given}"
        )
    verify: bool | PemSource = False if skip_verify else (ca_cert or True)
    token = (getattr(conn, "password", None) or "").strip() or None
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if timeout <= 0:
        raise fail(f"timeout must be a positive number of seconds, got {timeout!r}")
    # Allowed, as Nomad's and Consul's CLIs allow them, for a network path the user trusts.
    if token and _in_clear_off_this_machine(base_url):
        _warn_once(
            f"{where} ({spec.service}): the ACL token goes in clear over http to {base_url}. "
            "Use an https:// address (with ca_cert) unless the whole network path is trusted."
        )
    if skip_verify:
        _warn_once(
            f"{where} ({spec.service}): tls_skip_verify is on, so the certificate of "
            f"{base_url} is not checked and whoever intercepts the connection gets the ACL "
            "token. Set ca_cert to the CA that signed it instead."
        )
    return ClientSettings(
        base_url=base_url,
        token=token,
        namespace=extras.get("namespace"),
        region=extras.get("region"),
        datacenter=extras.get("datacenter"),
        verify=verify,
        cert=(client_cert, client_key) if client_cert and client_key else None,
        tls_server_name=extras.get("tls_server_name"),
        timeout=float(timeout),
    )


def _in_clear_off_this_machine(base_url: str) -> bool:
    """Whether requests to ``base_url`` leave this machine unencrypted."""
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return True


@functools.cache
def _warn_once(message: str) -> None:
    """Log ``message`` once per process: a triggerer parses the connection once per trigger."""
    log.warning("%s", message)


def _extras(conn: Any, spec: ConnectionSpec, where: str) -> dict[str, Any]:
    raw = getattr(conn, "extra_dejson", None) or {}
    if not isinstance(raw, Mapping):
        raise spec.error_cls(f"{where} ({spec.service}): extra must be a JSON object")
    legacy_prefix = f"extra__{spec.conn_type}__"
    extras: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        name = key[len(legacy_prefix) :] if key.startswith(legacy_prefix) else key
        if name not in spec.extras:
            unknown.append(key)
            continue
        # The UI stores untouched optional fields as "" or null: both mean unset.
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        extras[name] = value.strip() if isinstance(value, str) else value
    if unknown:
        raise spec.error_cls(
            f"{where} ({spec.service}): unknown extra field(s) {sorted(unknown)}; "
            f"accepted: {sorted(spec.extras)}. Remove them or fix their spelling."
        )
    for name in ("namespace", "region", "datacenter", "tls_server_name"):
        if name in extras and not isinstance(extras[name], str):
            raise spec.error_cls(
                f"{where} ({spec.service}): extra {name!r} must be a string, "
                f"got {type(extras[name]).__name__}"
            )
    return extras


def _base_url(conn: Any, spec: ConnectionSpec, fail: Any, *, wants_tls: bool) -> str:
    host = (getattr(conn, "host", None) or "").strip()
    schema = (getattr(conn, "schema", None) or "").strip().lower()
    if schema and schema not in ("http", "https"):
        raise fail(f"schema must be 'http' or 'https', got {schema!r}")
    if not host:
        # Nomad's and Consul's own CLIs default to the local agent.
        host = "127.0.0.1"
    if "://" not in host:
        # TLS settings with no scheme anywhere mean TLS: plain http would send the token in
        # clear while the connection looks secured.
        host = f"{schema or ('https' if wants_tls else 'http')}://{host}"
    parts = urlsplit(host)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        # The host is not echoed: a mistyped one may carry credentials (user:token@).
        raise fail(f"host scheme must be http or https, got {scheme!r}")
    if schema and schema != scheme:
        raise fail(
            f"host says {scheme!r} but schema says {schema!r}: make them agree, or leave "
            "schema empty"
        )
    if scheme == "http" and wants_tls:
        raise fail(
            "the TLS extras (ca_cert, client_cert, client_key/client_private_key, "
            "tls_server_name, tls_skip_verify) are set but the address says http: the token "
            "would travel in clear. Use https:// (or schema https), or remove the TLS extras"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise fail(
            "host must be an address like https://nomad.internal (put the token in the "
            "password field, options in the extras)"
        )
    if not parts.hostname:
        raise fail(f"host {host!r} names no machine")
    try:
        host_port = parts.port
    except ValueError:
        raise fail(f"host {host!r} carries an invalid port") from None
    conn_port = getattr(conn, "port", None)
    if conn_port in ("", None):
        conn_port = None
    else:
        try:
            conn_port = int(conn_port)
        except (TypeError, ValueError):
            raise fail(f"port must be a number, got {conn_port!r}") from None
        if not 0 < conn_port < 65536:
            raise fail(f"port must be between 1 and 65535, got {conn_port}")
    if host_port is not None and conn_port is not None and host_port != conn_port:
        raise fail(f"host says port {host_port} but the port field says {conn_port}: keep one")
    port = conn_port or host_port or spec.default_port
    hostname = parts.hostname
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    path = parts.path.rstrip("/")
    return f"{scheme}://{hostname}:{port}{path}"


def _as_bool(value: Any, name: str, fail: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise fail(f"extra {name!r} must be true or false, got {value!r}")


def _mask_key_material(text: str) -> None:
    """Register key material with Airflow's log masker: the whole text and each body line.

    Airflow masks a connection's extras by their names; registering the text (and its lines,
    should anything log them one by one) hides it whatever reads it later.
    """
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside Airflow
        return
    mask_secret(text)
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= _MIN_MASKED_LINE and not line.startswith("-----"):
            mask_secret(line)


def _client_key(extras: Mapping[str, Any], fail: Any) -> PemSource | None:
    """The client key from ``client_private_key`` (PEM or path) or ``client_key`` (a path)."""
    inline, path = extras.get("client_private_key"), extras.get("client_key")
    if inline and path:
        raise fail(
            "client_key and client_private_key are both set: keep one (client_private_key for "
            "the key's PEM text, client_key for the path of a key file)"
        )
    if isinstance(path, str) and "-----BEGIN" in path:
        raise fail(
            "extra 'client_key' holds the key itself, and Airflow shows an extra of that name "
            "in clear (REST API, UI, task logs). Move the PEM text to the extra "
            "'client_private_key', which Airflow hides like a password; keep client_key for "
            "the path of a key file"
        )
    name = "client_private_key" if inline else "client_key"
    key = _pem_or_path(inline or path, name, fail)
    if key is not None:
        _refuse_encrypted_key(key, name, fail)
    return key


def _refuse_encrypted_key(key: PemSource, name: str, fail: Any) -> None:
    if isinstance(key, InlinePem):
        text = key.text
    else:
        try:
            with open(key, "rb") as f:
                text = f.read(1 << 20).decode("ascii", "replace")
        except OSError as exc:
            raise fail(
                f"extra {name!r}: the key file cannot be read ({exc.strerror}); make it "
                "readable by the user running the task"
            ) from None
    if any(marker in text for marker in _ENCRYPTED_KEY_MARKERS):
        raise fail(
            f"extra {name!r}: the client key is encrypted (passphrase-protected), and the "
            "provider has no way to give the passphrase: OpenSSL would stop and ask for it. "
            "Store the key unencrypted (e.g. `openssl pkey -in key.pem -out plain.pem`), "
            "protected by the secrets backend or file permissions instead"
        )


def _pem_or_path(value: Any, name: str, fail: Any, *, allow_dir: bool = False) -> PemSource | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"extra {name!r} must be a file path or PEM text, got {type(value).__name__}")
    if "-----BEGIN" in value:
        if "-----END" not in value:
            raise fail(f"extra {name!r} looks like PEM text but has no -----END line")
        text = value.replace("\\n", "\n").strip() + "\n"
        if "PRIVATE KEY" in text:
            _mask_key_material(text)
            if name != "client_private_key":
                # A certificate and its key pasted together (``cat cert.pem key.pem``) load
                # fine, but Airflow shows this extra in clear (REST API, UI): only an extra
                # whose name says it is secret is hidden.
                raise fail(
                    f"extra {name!r} holds a private key, and Airflow shows an extra of that "
                    "name in clear (REST API, UI). Move the key's PEM block to the extra "
                    "'client_private_key', which Airflow hides like a password, and keep only "
                    f"the certificate(s) in {name!r}"
                )
        return InlinePem(text)
    path = os.path.expanduser(value)
    if os.path.isfile(path) or (allow_dir and os.path.isdir(path)):
        return path
    # A value that is neither PEM nor a file may be key material pasted without its armour
    # lines: name only its length, never its text.
    shown = (
        f"{value!r}"
        if len(value) <= 120 and "\n" not in value and "key" not in name
        else (f"the given value ({len(value)} characters, not shown)")
    )
    raise fail(
        f"extra {name!r}: no file at {shown}; give the path of a readable PEM file on the "
        "machine running the task, or paste the PEM text itself with its -----BEGIN/-----END "
        "lines"
    )


# --- TLS for httpx (and any client that takes an ssl.SSLContext) ------------------------------


class _ServerNameSSLContext(ssl.SSLContext):
    """An SSLContext that checks certificates against (and sends as SNI) a fixed server name.

    Nomad's servers present certificates for ``server.<region>.nomad`` whatever address is
    dialled, which is what ``tls_server_name`` (``NOMAD_TLS_SERVER_NAME``) is for.
    """

    pinned_server_name: str = ""

    def wrap_socket(  # type: ignore[override]
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | None = None,
        session: Any = None,
    ) -> Any:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.pinned_server_name,
            session=session,
        )

    def wrap_bio(  # type: ignore[override]
        self,
        incoming: Any,
        outgoing: Any,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: Any = None,
    ) -> Any:
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=self.pinned_server_name,
            session=session,
        )


_ssl_contexts: dict[tuple, ssl.SSLContext] = {}
_ssl_contexts_lock = threading.Lock()


def ssl_context(settings: ClientSettings, *, for_urllib3: bool = False) -> ssl.SSLContext:
    """An SSLContext implementing ``settings``' verify, client cert and server name.

    Contexts are shared between clients with the same TLS settings: building one loads the
    whole CA bundle (tens of milliseconds of CPU and about half a megabyte), which a triggerer
    following hundreds of batches would otherwise pay once per trigger. A changed CA or
    certificate file (new modification time) gets a new context.

    :param settings: the client settings.
    :param for_urllib3: a context for requests/urllib3, which sets ``verify_mode`` on the
        context it is given: it gets its own, built the same way, never httpx's.
    """
    files = [p for p in (settings.verify, *(settings.cert or ())) if isinstance(p, str)]
    key = (
        for_urllib3,
        settings.verify,
        settings.cert,
        settings.tls_server_name,
        tuple(_mtime(p) for p in files),
    )
    with _ssl_contexts_lock:
        ctx = _ssl_contexts.get(key)
        if ctx is None:
            ctx = _ssl_contexts[key] = _new_ssl_context(settings)
        return ctx


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _new_ssl_context(settings: ClientSettings) -> ssl.SSLContext:
    if settings.tls_server_name:
        ctx: ssl.SSLContext = _ServerNameSSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.pinned_server_name = settings.tls_server_name  # type: ignore[attr-defined]
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif isinstance(settings.verify, InlinePem):
        ctx.load_verify_locations(cadata=settings.verify.text)
    elif isinstance(settings.verify, str):
        if os.path.isdir(settings.verify):
            ctx.load_verify_locations(capath=settings.verify)
        else:
            ctx.load_verify_locations(cafile=settings.verify)
    else:
        ctx.load_default_certs()
        try:
            import certifi

            ctx.load_verify_locations(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with requests and httpx
            pass
    if settings.cert:
        with _readable_path(settings.cert[0]) as cert, _readable_path(settings.cert[1]) as key:
            ctx.load_cert_chain(cert, key, password=_no_passphrase)
    return ctx


def _no_passphrase() -> str:
    # Called by OpenSSL only for an encrypted key; without this callback it would prompt on the
    # terminal and block the task beyond any timeout.
    raise NomadConnectionError(
        "the client key is encrypted (passphrase-protected); store it unencrypted, protected "
        "by the secrets backend or file permissions instead"
    )


@contextlib.contextmanager
def _readable_path(source: PemSource) -> Iterator[str]:
    """A path OpenSSL can open for ``source``; for inline PEM, one that never reaches a disk.

    ``load_cert_chain`` takes file names only. On Linux the PEM goes into an anonymous memory
    file (``memfd``) opened through ``/proc/self/fd``: nothing to clean up, even after SIGKILL.
    Elsewhere it is a private temporary file, removed as soon as OpenSSL has read it.
    """
    if not isinstance(source, InlinePem):
        yield source
        return
    data = source.text.encode()
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("airflow-nomad-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="airflow-nomad-tls-", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.close(fd)
        fd = -1
        yield path
    finally:
        if fd >= 0:
            os.close(fd)
        os.unlink(path)


def httpx_client_kwargs(
    settings: ClientSettings, *, token_header: str = "X-Nomad-Token"
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client``/``httpx.AsyncClient`` from ``settings``.

    The client certificate goes into the SSL context (httpx 0.28 deprecates ``cert=``).

    :param settings: the client settings.
    :param token_header: header carrying the token (``X-Consul-Token`` for Consul).
    """
    import httpx

    headers = {"User-Agent": USER_AGENT}
    if settings.token:
        headers[token_header] = settings.token
    return {
        "base_url": settings.base_url,
        "verify": ssl_context(settings),
        "headers": headers,
        "timeout": httpx.Timeout(settings.timeout),
        "follow_redirects": False,
        # The connection is the only source of settings: no proxy variables, no netrc.
        "trust_env": False,
    }
