"""``python -m airflow_provider_nomad.testing serve``: run the emulator until SIGTERM/SIGINT.

Prints one line once both ports answer, e.g.
``nomad=http://127.0.0.1:4646 consul=http://127.0.0.1:8500 token=<secret>`` (token only with
``--acl``), then serves until signalled; on exit every task process it started is killed.
With ``--acl`` the token is a management token, and the control API (``/_emulator/``) takes
nothing else: ``EmulatorControl(nomad_addr, token=token)``.

``--substitute`` (repeatable) declares driver substitutions, as ``POST
/_emulator/substitutions`` takes them: a JSON object or list inline, or the path of a file
holding one, e.g. ``--substitute '{"driver": "docker", "command": ["./run.sh"]}'``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from .nomad.substitutes import Substitution
from .server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_nomad.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Nomad and Consul emulators")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--nomad-port", type=int, default=4646, help="0 picks a free port")
    serve.add_argument("--consul-port", type=int, default=8500, help="0 picks a free port")
    serve.add_argument(
        "--acl",
        action="store_true",
        help="enforce ACL tokens; the control API then needs the printed management token",
    )
    serve.add_argument("--state-dir", default=None, help="where allocation directories go")
    serve.add_argument("--tls-cert", default=None)
    serve.add_argument("--tls-key", default=None)
    serve.add_argument("--tls-ca", default=None, help="require client certificates (mTLS)")
    serve.add_argument(
        "--consul-enable-script-checks",
        action="store_true",
        help="the Consul agent runs script checks (Args) as local processes",
    )
    serve.add_argument(
        "--substitute",
        action="append",
        default=[],
        metavar="JSON_OR_FILE",
        help="a driver substitution (JSON object or list, inline or in a file); repeatable",
    )
    return parser


def substitutions(values: list[str]) -> list[dict]:
    """The declarations of every ``--substitute``: inline JSON, or a JSON file's content."""
    specs: list[dict] = []
    for value in values:
        text = value if value.lstrip().startswith(("{", "[")) else _read(value)
        data = json.loads(text)
        specs.extend(data if isinstance(data, list) else [data])
    for spec in specs:
        Substitution.from_dict(spec)  # refuse a bad declaration before serving
    return specs


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


#: How often the main thread wakes to run a signal handler another thread received.
SIGNAL_CHECK_SECONDS = 0.2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        declared = substitutions(args.substitute)
    except (OSError, ValueError) as exc:
        print(f"--substitute: {exc}", file=sys.stderr)
        return 2
    # The emulator's warnings (a task no driver can run, and how to declare a substitution)
    # go to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    emulator = Emulator(
        host=args.host,
        nomad_port=args.nomad_port,
        consul_port=args.consul_port,
        acl=args.acl,
        state_dir=args.state_dir,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_ca=args.tls_ca,
        substitutions=declared,
        consul_script_checks=args.consul_enable_script_checks,
    )
    emulator.start()
    try:
        line = f"nomad={emulator.nomad_addr} consul={emulator.consul_addr}"
        if emulator.token:
            line += f" token={emulator.token}"
        print(line, flush=True)
        # The kernel may hand SIGTERM to any thread (the emulator's, one starting a check's
        # process), and Python runs the handler only once the main thread runs again: an
        # untimed wait would then never return. Wake up to let a pending handler run.
        while not stop.wait(SIGNAL_CHECK_SECONDS):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
