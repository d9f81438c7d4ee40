"""Fixtures the python-nomad suite expects, and a guard that keeps its traffic on loopback.

Written for this repository, not part of python-nomad's sdist. The fixtures build clients the
way the suite's CI does (address from ``tests.common``, the token bootstrapped by
``test_acl.py``). The guard refuses any connection to a non-loopback address, so a test that
points at a made-up outside host fails here with a clear error instead of sending packets.
"""

import ipaddress
import socket

import nomad
import pytest

import tests.common as common

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _check_loopback(address) -> None:
    if not isinstance(address, tuple):  # a Unix socket path
        return
    host = address[0]
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConnectionRefusedError(f"the emulator suite only talks to loopback, not {host}")


def _guarded_connect(self, address):
    _check_loopback(address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _check_loopback(address)
    return _connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture
def nomad_setup():
    return nomad.Nomad(
        host=common.IP, port=common.NOMAD_PORT, verify=False, token=common.NOMAD_TOKEN
    )


@pytest.fixture
def nomad_setup_with_namespace():
    return nomad.Nomad(
        host=common.IP,
        port=common.NOMAD_PORT,
        verify=False,
        token=common.NOMAD_TOKEN,
        namespace=common.NOMAD_NAMESPACE,
    )
