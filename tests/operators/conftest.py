"""Fixtures of the operator tests."""

from __future__ import annotations

import pytest
from nomad_testlib import client_of, point_connection_at


@pytest.fixture(params=["acls off", "acl token"])
def nomad_side(request, monkeypatch):
    """``(emulator, python-nomad client)`` with ``nomad_default`` pointing at it: ACLs off
    (nothing signed), or on with a token on the connection (every dispatch signed, and each
    child verified before it is adopted)."""
    acl = request.param == "acl token"
    emulator = request.getfixturevalue("nomad_emulator_acl" if acl else "nomad_emulator")
    point_connection_at(emulator, monkeypatch, emulator.token)
    return emulator, client_of(emulator, emulator.token)
