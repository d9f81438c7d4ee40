"""The fixtures py-consul's suite expects, backed by the emulator instead of docker.

Written for this repository: py-consul's own root ``conftest.py`` starts a Consul container per
test. This one gives the same fixtures (``consul_instance``, ``acl_consul_instance``,
``consul_port``) from two emulators the runner script started (ACLs off, and ACLs on with the
management token as ``initial_management``), reset before each test so every test starts from a
fresh agent, as with a fresh container (an agent a test made leave starts again). The
emulators' addresses come from the environment. A guard refuses connections to non-loopback
addresses.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import socket

import httpx
import pytest

ConsulInstance = collections.namedtuple("ConsulInstance", ["container", "port", "version"])

CONSUL_PORT = int(os.environ["EMULATOR_CONSUL_PORT"])
ACL_CONSUL_PORT = int(os.environ["EMULATOR_ACL_CONSUL_PORT"])
#: each emulator's Nomad port, where its control API resets both sides
NOMAD_PORTS = {
    CONSUL_PORT: int(os.environ["EMULATOR_NOMAD_PORT"]),
    ACL_CONSUL_PORT: int(os.environ["EMULATOR_ACL_NOMAD_PORT"]),
}
ACL_TOKEN = os.environ["EMULATOR_ACL_TOKEN"]
CONSUL_VERSION = os.environ["EMULATOR_CONSUL_VERSION"]

_connect = socket.socket.connect


def _guarded_connect(self, address):
    if isinstance(address, tuple):
        try:
            loopback = ipaddress.ip_address(address[0].split("%")[0]).is_loopback
        except ValueError:
            loopback = address[0] == "localhost"
        if not loopback:
            raise ConnectionRefusedError(
                f"the emulator suite only talks to loopback, not {address[0]}"
            )
    return _connect(self, address)


socket.socket.connect = _guarded_connect


def _reset(port: int, token: str | None) -> None:
    # Through the Nomad port: after a test made the agent leave, its Consul port is closed and
    # the reset starts a fresh agent there, as the suite starts a fresh container.
    headers = {"X-Nomad-Token": token} if token else {}
    response = httpx.post(f"http://127.0.0.1:{NOMAD_PORTS[port]}/_emulator/reset", headers=headers)
    response.raise_for_status()


@pytest.fixture(scope="session", autouse=True)
def _unset_consul_token():
    os.environ.pop("CONSUL_HTTP_TOKEN", None)


@pytest.fixture(params=[CONSUL_VERSION])
def consul_instance(request):
    _reset(CONSUL_PORT, None)
    return ConsulInstance(None, CONSUL_PORT, request.param)


@pytest.fixture(params=[CONSUL_VERSION])
def acl_consul_instance(request):
    _reset(ACL_CONSUL_PORT, ACL_TOKEN)
    return ConsulInstance(None, ACL_CONSUL_PORT, request.param), ACL_TOKEN


@pytest.fixture
def consul_port(consul_instance):
    return consul_instance.port, consul_instance.version
