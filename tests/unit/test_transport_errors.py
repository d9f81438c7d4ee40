"""How a transport failure is named, from the exceptions the client libraries raise."""

from __future__ import annotations

import errno
import sys

import pytest

from airflow_provider_nomad.connection import ClientSettings
from airflow_provider_nomad.transport import NOMAD, transport_error

SETTINGS = ClientSettings(base_url="http://nomad.internal:4646")


def _group(message: str, errors: list[Exception]) -> BaseException:
    if sys.version_info >= (3, 11):
        return ExceptionGroup(message, errors)  # noqa: F821 (a builtin from 3.11)
    from exceptiongroup import ExceptionGroup as Backport

    return Backport(message, errors)


def _every_address_failed(*errors: OSError) -> OSError:
    """What anyio raises when no address of the host took a connection: an ``OSError`` whose
    cause is the group of each address's error."""
    try:
        raise OSError("All connection attempts failed") from _group("attempts", list(errors))
    except OSError as exc:
        return exc


@pytest.mark.parametrize(
    ("code", "scope"), [(errno.EMFILE, "this process"), (errno.ENFILE, "this machine")]
)
def test_out_of_descriptors_inside_a_group_of_attempts_is_named(code, scope):
    exc = _every_address_failed(OSError(code, "Too many open files"), OSError(code, "again"))
    error = transport_error(exc, NOMAD, SETTINGS, "GET /v1/jobs", None)
    assert str(error).startswith(
        f"Cannot open a connection to Nomad at http://nomad.internal:4646: {scope} has no file "
        "descriptor left (Too many open files; GET /v1/jobs)"
    )
    assert "agent is running" not in str(error)


def test_a_refused_connection_inside_a_group_is_still_refused():
    exc = _every_address_failed(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    error = transport_error(exc, NOMAD, SETTINGS, "GET /v1/jobs", None)
    assert "connection refused (GET /v1/jobs)" in str(error)
    assert "agent is running" in str(error)
