"""A stand-in for the ``nomad`` CLI: the two commands airflow-nomad 0.2.1 runs, as processes.

airflow-nomad (through nomad-pydantic's ``NomadClient``) starts the Nomad binary for every
status read and every log read. No Nomad binary can be installed here, so this script is
installed as an executable named ``nomad`` (:func:`install`) and sends the same HTTP requests
the Go CLI sends, printing what it prints:

- ``nomad job status -json [-namespace=NS] JOB``: ``JobIDByPrefix`` (``GET /v1/jobs?prefix=``),
  ``Jobs().Info``, then ``createJsonJobsOutput``: summary, allocations, latest deployment and
  evaluations; prints ``[{"Summary", "Allocations", "LatestDeployment", "Evaluations"}]``.
- ``nomad operator api PATH``: one GET, the body printed as it came.

How it differs from the Go binary: it is a Python interpreter started with ``-IS`` (no site
packages, standard library only), whose start costs tens of milliseconds; the Go binary is a
~100 MB static executable that also reads its configuration and environment and sets up a TLS
capable client. Only plain HTTP and ``NOMAD_ADDR``/``NOMAD_TOKEN`` are supported. The latest
deployment route is not served by the emulator (batch jobs have none; Nomad answers ``null``):
a 404 there reads as ``null``, the request still counted. For the benchmark's request count
it writes one ``@@request METHOD PATH`` line per request to stderr, which the peer reads only
when a command fails.

Standard library only: it must start as fast as a Python process can.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import urllib.parse
from pathlib import Path

USAGE = "usage: nomad job status -json [-namespace=NS] JOB | nomad operator api PATH"


class CliError(Exception):
    """The command failed; the message goes to stderr and the exit status is 1."""


class Api:
    def __init__(self, address: str, token: str | None, namespace: str | None) -> None:
        url = urllib.parse.urlsplit(address)
        if url.scheme != "http" or not url.hostname:
            raise CliError(f"NOMAD_ADDR must be an http:// address here, got {address!r}")
        self.conn = http.client.HTTPConnection(url.hostname, url.port or 4646, timeout=60)
        self.headers = {"X-Nomad-Token": token} if token else {}
        self.namespace = namespace

    def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, bytes]:
        query = dict(params or {})
        if self.namespace:
            query.setdefault("namespace", self.namespace)
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        self.conn.request("GET", target, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        sys.stderr.write(f"@@request GET {urllib.parse.urlsplit(target).path}\n")
        return response.status, body

    def json(self, path: str, params: dict[str, str] | None = None, *, null_404: bool = False):
        status, body = self.get(path, params)
        if status == 404 and null_404:
            return None
        if status >= 400:
            raise CliError(f"Error querying {path}: Unexpected response code: {status} ({body!r})")
        return json.loads(body)


def job_status(api: Api, prefix: str) -> str:
    jobs = api.json("/v1/jobs", {"prefix": prefix})
    exact = [j for j in jobs if j["ID"] == prefix]
    if not jobs:
        raise CliError(f'No job(s) with prefix or ID "{prefix}" found')
    if len(jobs) > 1 and not exact:
        raise CliError(f'Prefix matched multiple jobs: "{prefix}"')
    job_id = (exact or jobs)[0]["ID"]
    quoted = urllib.parse.quote(job_id, safe="")
    api.json(f"/v1/job/{quoted}")
    summary = api.json(f"/v1/job/{quoted}/summary")
    allocations = api.json(f"/v1/job/{quoted}/allocations")
    deployment = api.json(f"/v1/job/{quoted}/deployment", null_404=True)
    evaluations = api.json(f"/v1/job/{quoted}/evaluations")
    return json.dumps(
        [
            {
                "Summary": summary,
                "Allocations": allocations,
                "LatestDeployment": deployment,
                "Evaluations": evaluations,
            }
        ],
        indent=4,
    )


def main(argv: list[str]) -> int:
    namespace = next((a.split("=", 1)[1] for a in argv if a.startswith("-namespace=")), None)
    args = [a for a in argv if not a.startswith("-namespace=")]
    try:
        api = Api(
            os.environ.get("NOMAD_ADDR", "http://127.0.0.1:4646"),
            os.environ.get("NOMAD_TOKEN"),
            namespace,
        )
        if args[:3] == ["job", "status", "-json"] and len(args) == 4:
            sys.stdout.write(job_status(api, args[3]) + "\n")
        elif args[:2] == ["operator", "api"] and len(args) == 3:
            path, _, query = args[2].partition("?")
            status, body = api.get(path, dict(urllib.parse.parse_qsl(query)))
            if status >= 400:
                raise CliError(f"Error: {status} {body.decode(errors='replace')}")
            sys.stdout.buffer.write(body)
        else:
            raise CliError(USAGE)
    except (CliError, OSError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


def install(bin_dir: Path, python: str) -> Path:
    """Write this script as ``bin_dir/nomad``, run by ``python -IS``; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / "nomad"
    source = Path(__file__).read_text()
    target.write_text(f"#!{python} -IS\n{source}")  # one shebang argument
    target.chmod(0o755)
    return target


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
