"""The emulated agent runs its script and HTTP checks; what the checks see reaches health
reads and wakes blocking queries. Waits are blocking queries on the check's service, bounded
only against a hang."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_nomad.testing import Emulator

HANG_BOUND = 30.0


@pytest.fixture(scope="module")
def scripted() -> Iterator[Emulator]:
    with Emulator(consul_script_checks=True) as emulator:
        yield emulator


@pytest.fixture
def consul(scripted: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=scripted.consul_addr, timeout=HANG_BOUND + 10) as http:
        http.post("/_emulator/consul/reset").raise_for_status()
        yield http


def _register(http: httpx.Client, check: dict) -> None:
    body = {"Name": "ledger", "ID": "ledger-1", "Check": check}
    answer = http.put("/v1/agent/service/register", json=body)
    assert answer.status_code == 200, answer.text


def _await_status(http: httpx.Client, status: str) -> dict:
    """The service check once it reaches ``status``, through blocking queries."""
    index = "0"
    for _ in range(20):  # each query returns when the check changed; 20 is a hang bound
        answer = http.get("/v1/health/checks/ledger", params={"index": index, "wait": "30s"})
        check = answer.json()[0]
        if check["Status"] == status:
            return check
        index = answer.headers["X-Consul-Index"]
    raise AssertionError(f"the check never became {status}: {check}")


def _script(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_script_check_exit_codes_map_to_statuses_with_the_output(consul):
    _register(consul, {"Args": _script("print('ledger ok')"), "Interval": "10s"})
    check = _await_status(consul, "passing")
    assert (check["Output"], check["Type"]) == ("ledger ok\n", "script")
    _register(
        consul,
        {"Args": _script("import sys; print('lagging'); sys.exit(1)"), "Interval": "10s"},
    )
    assert _await_status(consul, "warning")["Output"] == "lagging\n"
    failing = _script("import sys; sys.stderr.write('down\\n'); sys.exit(2)")
    _register(consul, {"Args": failing, "Interval": "10s"})
    assert _await_status(consul, "critical")["Output"] == "down\n"


def test_a_script_check_that_outlives_its_timeout_is_killed_and_critical(consul):
    _register(
        consul,
        {
            "Args": _script("import time; time.sleep(60)"),
            "Interval": "10s",
            "Timeout": "200ms",
            "Status": "passing",
        },
    )
    check = _await_status(consul, "critical")
    assert check["Output"] == "Timed out (200ms) running check"


def test_a_script_check_runs_again_every_interval(consul, tmp_path):
    marker = tmp_path / "runs"
    code = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); "
        "sys.exit(0 if len(p.read_text()) >= 3 else 1)"
    )
    _register(consul, {"Args": [*_script(code), str(marker)], "Interval": "100ms"})
    _await_status(consul, "passing")  # the third run passes: it ran on its own schedule
    assert len(marker.read_text()) >= 3


def test_deregistering_stops_the_check(consul, tmp_path):
    marker = tmp_path / "runs"
    code = "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"
    _register(consul, {"Args": [*_script(code), str(marker)], "Interval": "100ms"})
    _await_status(consul, "passing")
    assert consul.put("/v1/agent/service/deregister/ledger-1").status_code == 200
    assert consul.get("/v1/agent/checks").json() == {}


def test_http_check_polls_the_url(consul, scripted):
    _register(consul, {"HTTP": f"{scripted.consul_addr}/v1/status/leader", "Interval": "1s"})
    check = _await_status(consul, "passing")
    assert check["Type"] == "http"
    assert check["Output"].startswith(
        f"HTTP GET {scripted.consul_addr}/v1/status/leader: 200 OK Output: "
    )
    _register(consul, {"HTTP": f"{scripted.consul_addr}/nowhere", "Interval": "1s"})
    check = _await_status(consul, "critical")
    assert "404 Not Found" in check["Output"]


def test_script_checks_are_refused_unless_enabled(consul_emulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        body = {"Name": "ledger", "Check": {"Args": ["/bin/true"], "Interval": "10s"}}
        answer = http.put("/v1/agent/service/register", json=body)
    assert answer.status_code == 500
    assert answer.text.startswith("Scripts are disabled on this agent")
