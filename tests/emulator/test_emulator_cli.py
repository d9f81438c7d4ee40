"""``python -m airflow_provider_nomad.testing serve`` as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from emulator_testlib import Nomad, batch_job, sh_task

from airflow_provider_nomad.testing import EmulatorControl

LINE = re.compile(
    r"^nomad=(http://127\.0\.0\.1:\d+) consul=(http://127\.0\.0\.1:\d+)( token=(\S+))?$"
)


def serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_nomad.testing", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen) -> re.Match:
    line = process.stdout.readline().rstrip("\n")
    match = LINE.match(line)
    assert match, f"unexpected first line {line!r}; stderr: {process.stderr.read()}"
    return match


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_serve_prints_one_line_serves_and_ends_its_tasks_on_sigterm(tmp_path):
    process = serve("--nomad-port", "0", "--consul-port", "0", "--state-dir", str(tmp_path))
    try:
        match = first_line(process)
        nomad_addr, consul_addr = match.group(1), match.group(2)
        assert match.group(3) is None
        assert httpx.get(f"{nomad_addr}/v1/status/leader").status_code == 200
        assert httpx.get(f"{consul_addr}/v1/status/leader").status_code in (200, 404)
        api = Nomad(nomad_addr)
        task = sh_task("t", "echo $$; exec sleep 300")
        api.register(batch_job("sleeper", [task]))
        [alloc] = api.wait_allocs("sleeper", lambda a: a and a[0]["ClientStatus"] == "running")
        params = {"task": "t", "type": "stdout", "follow": "true", "plain": "true"}
        with api.http.stream("GET", f"/v1/client/fs/logs/{alloc['ID']}", params=params) as response:
            seen = b""
            for chunk in response.iter_raw():
                seen += chunk
                if b"\n" in seen:
                    break
        pid = int(seen.split(b"\n")[0])
        assert alive(pid)
        api.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not alive(pid), "the task process outlived the emulator"
        assert (tmp_path / "allocs" / alloc["ID"]).is_dir()  # a given state dir is kept
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_serve_with_acl_prints_the_management_token():
    process = serve("--nomad-port", "0", "--consul-port", "0", "--acl")
    try:
        match = first_line(process)
        nomad_addr, token = match.group(1), match.group(4)
        assert token
        assert httpx.get(f"{nomad_addr}/v1/jobs").status_code == 403
        assert (
            httpx.get(f"{nomad_addr}/v1/jobs", headers={"X-Nomad-Token": token}).status_code == 200
        )
        # The control API takes the printed management token, and nothing else.
        refused = httpx.post(f"{nomad_addr}/_emulator/tokens", json={})
        assert (refused.status_code, refused.text) == (403, "Permission denied")
        control = EmulatorControl(nomad_addr, token=token)
        assert control.create_token(capabilities=("read-job",))
        control.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_serve_runs_consul_script_checks_only_when_enabled():
    body = {"Name": "ledger", "Check": {"Args": [sys.executable, "-c", "0"], "Interval": "10s"}}
    for flags, status in (((), 500), (("--consul-enable-script-checks",), 200)):
        process = serve("--nomad-port", "0", "--consul-port", "0", *flags)
        try:
            consul_addr = first_line(process).group(2)
            answer = httpx.put(f"{consul_addr}/v1/agent/service/register", json=body)
            assert answer.status_code == status, answer.text
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
