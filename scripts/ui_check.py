"""``make ui-check``: use the example DAGs and the provider through Airflow's own UI.

Starts the bundled Nomad + Consul emulator and ``airflow standalone`` (api-server, scheduler,
dag-processor, triggerer) on loopback with a private Airflow home, then drives headless
Chromium (Debian's, through Playwright; no browser is downloaded):

1. signs in with the simple auth manager's generated admin password;
2. opens the nightly_settlement trigger form, fills its parameters and triggers the run;
3. follows the run to its end and opens the reconciliation task's log;
4. opens the new-connection form for the ``nomad`` connection type and checks its fields.

Screenshots go to ``docs/``; the script exits non-zero when a step fails.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import demo
import httpx
from playwright.sync_api import Locator, Page, expect, sync_playwright

ROOT = demo.ROOT
DOCS = ROOT / "docs"
DAG_ID = demo.DAG_ID
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER = "admin"
VIEWPORT = {"width": 1400, "height": 1000}
#: What the check types into the trigger form, and expects back as the run's conf.
TRIGGER_PARAMS = {
    "business_date": "2026-11-24",
    "first_account": 1000,
    "last_account": 1049,
    "dry_run": True,
    "inject_break": False,
}
#: The nomad connection type's extra fields, from get_provider_info's conn-fields.
NOMAD_FIELDS = [
    "Namespace",
    "Region",
    "CA certificate",
    "Client certificate",
    "Client key",
    "TLS server name",
    "Skip TLS verification",
]
#: The standard fields, relabelled by the provider's ui-field-behaviour.
NOMAD_STANDARD_FIELDS = ["Address", "ACL token", "Port", "Scheme (http or https)"]
STARTUP_TIMEOUT = 240.0
RUN_TIMEOUT = 300.0


class UiCheckError(Exception):
    """A step of the UI check failed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Return ``condition()``'s first truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise UiCheckError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def airflow_standalone(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``airflow standalone`` until it says it is ready; yields the UI's base URL."""
    port = free_port()
    env = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Workers report to the api-server's execution API: on this port, not the default.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
    }
    # standalone starts its components as `airflow ...` from PATH: this interpreter's.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if "Airflow is ready" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(STARTUP_TIMEOUT) or proc.poll() is not None:
            raise UiCheckError(f"airflow standalone did not become ready (log: {log_path})")
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{base}/api/v2/monitor/health") == 200, 60, "the api-server")
        print(f"ui-check: Airflow is up at {base}")
        yield base
    finally:
        # standalone shuts its components down on SIGINT; TERM/KILL if it does not.
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        demo.stop_process_group(proc, "airflow standalone")
        log.close()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


class Api:
    """The few REST calls the check needs: to wait for parsing and for the run to end."""

    def __init__(self, base: str, password: str) -> None:
        response = httpx.post(
            f"{base}/auth/token", json={"username": USER, "password": password}, timeout=10
        )
        response.raise_for_status()
        self.client = httpx.Client(
            base_url=f"{base}/api/v2",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
            timeout=10,
        )

    def dag_parsed(self) -> bool:
        return self.client.get(f"/dags/{DAG_ID}").status_code == 200

    def manual_runs(self) -> dict[str, dict[str, Any]]:
        runs = self.client.get(
            f"/dags/{DAG_ID}/dagRuns", params={"run_type": "manual", "limit": 100}
        ).json()["dag_runs"]
        return {run["dag_run_id"]: run for run in runs}

    def run(self, run_id: str) -> dict[str, Any]:
        return self.client.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()


def screenshot(page: Page, name: str) -> Path:
    path = DOCS / name
    page.screenshot(path=str(path))
    print(f"ui-check: screenshot {path.relative_to(ROOT)}")
    return path


def sign_in(page: Page, base: str, password: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def form_field(scope: Locator, key: str) -> Locator:
    """The input of a parameter or connection extra field, by its key.

    The UI's labels do not point at their inputs (``for`` and ``id`` differ), so a field is
    found by the input's name, which the UI derives from the key.
    """
    return scope.locator(f"[name='element_{key}']")


def trigger_with_params(page: Page, base: str, api: Api) -> str:
    """Fill the trigger form as a user would; return the new run's ID."""
    page.goto(f"{base}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Run Parameters")).to_be_visible()
    for title in ("Business date", "First account", "Last account", "Dry run", "Inject a break"):
        expect(dialog.get_by_text(title).first).to_be_visible()
    form_field(dialog, "business_date").fill(TRIGGER_PARAMS["business_date"])
    form_field(dialog, "first_account").fill(str(TRIGGER_PARAMS["first_account"]))
    form_field(dialog, "last_account").fill(str(TRIGGER_PARAMS["last_account"]))
    # A boolean param is a switch: click what a user sees, then check the input followed.
    dialog.locator("[id='switch:element_dry_run:control']").click()
    expect(form_field(dialog, "dry_run")).to_be_checked()
    # DAGs start paused; the form unpauses this one with the run. (The scheduler then also
    # runs the latest scheduled night, ahead of this run: max_active_runs=1.)
    expect(dialog.get_by_role("checkbox", name=f"Unpause {DAG_ID} on trigger")).to_be_checked()
    dialog.get_by_text("Business date", exact=True).scroll_into_view_if_needed()
    screenshot(page, "ui-trigger-form.png")
    before = api.manual_runs()
    dialog.get_by_role("button", name="Trigger").click()
    new_runs = wait_until(
        lambda: [run for run_id, run in api.manual_runs().items() if run_id not in before],
        30,
        "the triggered run to appear",
    )
    (run,) = new_runs
    if run["conf"] != TRIGGER_PARAMS:
        raise UiCheckError(f"the run's conf {run['conf']} is not what the form said")
    print(f"ui-check: triggered {run['dag_run_id']} with {json.dumps(run['conf'])}")
    return run["dag_run_id"]


def follow_run(page: Page, base: str, api: Api, run_id: str) -> None:
    state = wait_until(
        lambda: api.run(run_id)["state"] in ("success", "failed") and api.run(run_id)["state"],
        RUN_TIMEOUT,
        f"run {run_id} to end",
        every=2,
    )
    page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}")
    expect(page.get_by_text("reconcile", exact=True).first).to_be_visible()
    screenshot(page, "ui-run.png")
    if state != "success":
        raise UiCheckError(f"run {run_id} ended {state}")
    page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}/tasks/reconcile")
    expect(page.get_by_text("BALANCED: all 5 checks passed").first).to_be_visible(timeout=30_000)
    screenshot(page, "ui-reconcile-log.png")


def connection_form(page: Page, base: str) -> None:
    page.goto(f"{base}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill("nomad_prod")
    dialog.get_by_role("combobox").fill("nomad")
    page.get_by_role("option", name="Nomad", exact=True).click()
    for label in NOMAD_STANDARD_FIELDS:
        expect(dialog.get_by_text(label, exact=True)).to_be_visible()
    screenshot(page, "ui-connection-nomad.png")
    # The extra fields come from get_provider_info's conn-fields.
    dialog.get_by_text("Extra Fields", exact=True).click()
    for label in NOMAD_FIELDS:
        expect(dialog.get_by_text(label, exact=True)).to_be_visible()
    form_field(dialog, "namespace").fill("settlement")
    form_field(dialog, "region").fill("tokyo")
    page.set_viewport_size({"width": 1400, "height": 1800})
    screenshot(page, "ui-connection-nomad-extra.png")
    page.set_viewport_size(VIEWPORT)


def check_ui(base: str, password: str, profile: Path) -> None:
    api = Api(base, password)
    wait_until(api.dag_parsed, 120, f"the dag-processor to parse {DAG_ID}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            sign_in(page, base, password)
            run_id = trigger_with_params(page, base, api)
            follow_run(page, base, api, run_id)
            connection_form(page, base)
        finally:
            browser.close()


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"ui-check: {CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    demo.raise_on_termination()
    home = ROOT / ".demo" / "ui-check"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    DOCS.mkdir(exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            cluster = stack.enter_context(demo.emulator(home / "emulator.log"))
            stack.enter_context(demo.consul_services(cluster))
            env = demo.airflow_environment(home / "airflow", cluster)
            base = stack.enter_context(airflow_standalone(env, home / "standalone.log"))
            password_file = home / "airflow" / "simple_auth_manager_passwords.json.generated"
            password = json.loads(password_file.read_text())[USER]
            profile = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chromium-")))
            check_ui(base, password, profile)
    except (UiCheckError, demo.DemoError) as exc:
        print(f"ui-check: FAILED: {exc} (logs under {home})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print("ui-check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
