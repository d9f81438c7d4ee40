"""Helpers of the reliability suite: reading task logs per batch, counting children, and a
proxy that loses answers after Nomad processed the request.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import nomad
from cryptography import x509
from nomad_testlib import HANG_BOUND
from pki_testlib import CLIENT_AUTH, LOOPBACK, SERVER_AUTH, CertificateAuthority, write_pem

from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.retry import RetryPolicy

#: The shared policy's attempts and time bound, with shorter back-offs so twenty faulty DAG
#: runs fit in CI's time. Only the pause between attempts differs from the default policy;
#: how many attempts a request gets, and which errors are retried, do not.
FAST_BACKOFF_POLICY = RetryPolicy(max_attempts=6, max_delay=60.0, initial_wait=0.05, max_wait=0.4)

#: A batch line as a follower writes it to the task log (structlog console format):
#: ``... [info     ] [main 1a2b3c4d stdout] <text> [logger] loc=...``. The stderr tail quoted in
#: a failure message has no ``[info`` prefix, so it is not counted as a streamed line.
_STREAMED_LINE = re.compile(
    r"\[info\s*\] \[(?P<task>\S+) (?P<alloc>[0-9a-f]{8}) (?P<stream>stdout|stderr)\] "
    r"(?P<text>.*?)\s+\[airflow"
)


@dataclass
class StreamedLines:
    """Batch lines found in a task log, per allocation prefix and stream, in log order."""

    by_alloc: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def of(self, stream: str, prefix: str = "") -> list[str]:
        """Lines of one stream (of every allocation) whose text starts with ``prefix``."""
        return [
            line
            for streams in self.by_alloc.values()
            for line in streams.get(stream, [])
            if line.startswith(prefix)
        ]

    def allocs_with(self, prefix: str) -> set[str]:
        """Short IDs of the allocations that logged a line starting with ``prefix``."""
        return {
            alloc
            for alloc, streams in self.by_alloc.items()
            if any(line.startswith(prefix) for lines in streams.values() for line in lines)
        }


def streamed_lines(output: str) -> StreamedLines:
    """Parse the batch lines that followers wrote into captured task-log output."""
    found = StreamedLines()
    for match in _STREAMED_LINE.finditer(output):
        streams = found.by_alloc.setdefault(match["alloc"], {"stdout": [], "stderr": []})
        streams[match["stream"]].append(match["text"])
    return found


def children_of_task(
    client: nomad.Nomad, parent: str, dag_id: str, task_id: str, run_id: str, map_index: int = -1
) -> list[dict]:
    """Every child that one task instance ever dispatched from ``parent`` (by its identity)."""
    identity = TaskIdentity(dag_id, task_id, run_id, map_index)
    return client.jobs.get_jobs(prefix=identity.children_prefix(parent))


def executions(ledger_dir, label: str) -> int:
    """How many times the batch labelled ``label`` actually started (one ledger line each)."""
    path = ledger_dir / label
    if not path.exists():
        return 0
    return len(path.read_text().splitlines())


def retry_warnings(output: str) -> list[str]:
    """The retry warnings in captured output, to explain a run that ran out of attempts."""
    return [line[:300] for line in output.splitlines() if "retrying in" in line]


# -- a proxy that loses answers ---------------------------------------------------------------

_DISPATCH_LINE = re.compile(rb"POST (/v1/job/\S+/dispatch\S*) HTTP/1\.[01]\r\n")


class AnswerLosingProxy:
    """A loopback TCP proxy in front of Nomad that loses chosen dispatch answers.

    The request reaches Nomad, which creates the child; the proxy then closes the client's
    connection instead of relaying the answer. This is the dangerous drop for a dispatch (the
    work is done but the caller cannot know), which an injected fault that drops the request
    before it is handled does not produce.

    :param upstream: ``host:port`` of Nomad.
    :param lose: decides, from a dispatch request's target (path and query), whether its
        answer is lost.
    """

    def __init__(self, upstream: str, lose: Callable[[str], bool]) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._lose = lose
        self.lost: list[str] = []
        self.address = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="answer-losing-proxy", daemon=True)

    def __enter__(self) -> AnswerLosingProxy:
        self._thread.start()
        if not self._ready.wait(timeout=HANG_BOUND):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(HANG_BOUND)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            handlers = asyncio.all_tasks(loop)
            for task in handlers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*handlers, return_exceptions=True))
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        # Requests on one keep-alive connection are serial: after a dispatch went upstream, the
        # next bytes coming back are its answer.
        dispatches: list[str] = []

        async def client_to_upstream() -> None:
            tail = b""
            while data := await reader.read(65536):
                window = tail + data
                for match in _DISPATCH_LINE.finditer(window):
                    if match.end() > len(tail):  # not already seen in the previous chunk
                        dispatches.append(match[1].decode())
                tail = window[-512:]
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def upstream_to_client() -> None:
            head = b""
            while data := await up_reader.read(65536):
                if dispatches:
                    head += data
                    if b"\r\n" not in head:
                        continue  # wait for the whole status line
                    target = dispatches.pop()
                    # Only an answer saying the child was created is worth losing.
                    if head.startswith(b"HTTP/1.1 200") and self._lose(target):
                        self.lost.append(target)
                        writer.transport.abort()
                        up_writer.transport.abort()
                        return
                    data, head = head, b""
                writer.write(data)
                await writer.drain()
            writer.close()

        pipes = [
            asyncio.ensure_future(client_to_upstream()),
            asyncio.ensure_future(upstream_to_client()),
        ]
        try:
            await asyncio.gather(*pipes)
        except (OSError, asyncio.IncompleteReadError):
            pass  # either side went away: the other is closed below
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            writer.transport.abort()
            up_writer.transport.abort()


def lose_first_answer_for(seed: int, share: float) -> Callable[[str], bool]:
    """Lose the first dispatch answer of a ``share`` of the idempotency tokens, chosen by seed.

    Only the first successful answer per token can be lost, so the retries that follow never
    run out because of the proxy.
    """
    seen: set[str] = set()

    def lose(target: str) -> bool:
        match = re.search(r"idempotency_token=([^&\s]+)", target)
        if match is None:
            return False
        token = match[1]
        if token in seen:
            return False
        seen.add(token)
        return random.Random(f"{seed}:{token}").random() < share

    return lose


def iter_pem_body_lines(pem: str) -> Iterator[str]:
    """The base64 lines of a PEM block (its secret body), without the BEGIN/END armour."""
    for line in pem.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("-----"):
            yield line


# -- DAG runs ------------------------------------------------------------------------------------


def retry_task_instance(dag, run_id: str, task_id: str) -> tuple[str, int]:
    """Run the next try of one task instance of an existing DAG run.

    Returns the task instance's final state and the try number it ran as.

    What the scheduler does once a task's worker has vanished (its heartbeat stopped): the try
    counts as failed and, retries permitting, the task instance runs again with the next try
    number in the same DAG run. ``dag.test()`` cannot do that (it deletes the run and starts
    again at try 1), so this runs the task the way ``dag.test()`` runs each task, in process,
    deferrals included.

    :param dag: the DAG, as defined in the test.
    :param run_id: the DAG run the killed try belonged to.
    :param task_id: the task to retry.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    session = settings.Session()
    try:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)
        )
        ti = run.get_task_instance(task_id, session=session)
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        _run_task(ti=ti, task=dag.task_dict[task_id], run_triggerer=True)
        session.expire_all()
        final = run.get_task_instance(task_id, session=session)
        return str(final.state), final.try_number
    finally:
        session.close()


def latest_run_id(dag_id: str) -> str:
    """The run ID of a DAG's most recent run (e.g. one a killed worker started)."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    session = settings.Session()
    try:
        return session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc())
        ).first()
    finally:
        session.close()


class OutputTrigger:
    """Watches captured output (pytest's ``capfd``) and acts once a text shows up.

    Captured output is only readable by draining it, so the watcher keeps what it read;
    :meth:`output` returns everything captured, in order.

    :param capfd: pytest's ``capfd`` fixture.
    :param needle: the text to wait for.
    :param action: what to do once it appeared (e.g. release a gated batch).
    :param timeout: give up (and never act) after this many seconds.
    """

    def __init__(self, capfd, needle: str, action: Callable[[], None], timeout: float = HANG_BOUND):
        self._capfd = capfd
        self._needle = needle
        self._action = action
        self._timeout = timeout
        self._chunks: list[str] = []
        self._stop = threading.Event()
        self.fired = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> OutputTrigger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(HANG_BOUND)

    def _watch(self) -> None:
        deadline = threading.Event()
        timer = threading.Timer(self._timeout, deadline.set)
        timer.start()
        try:
            # capfd offers no notification: read it in short steps until the text is there.
            while not (self._stop.is_set() or deadline.is_set() or self.fired.is_set()):
                self._chunks.append(self._capfd.readouterr().out)
                if self._needle in self.output_so_far():
                    self._action()
                    self.fired.set()
                else:
                    self._stop.wait(0.05)
        finally:
            timer.cancel()

    def output_so_far(self) -> str:
        return "".join(self._chunks)

    def output(self) -> str:
        """Everything captured so far (call after leaving the ``with`` block)."""
        self._chunks.append(self._capfd.readouterr().out)
        return self.output_so_far()


# -- TLS material ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""

    ca_path: str
    ca_pem: str
    server_cert_path: str
    server_key_path: str
    client_cert_path: str
    client_key_path: str
    client_cert_pem: str
    client_key_pem: str
    other_ca_pem: str


def make_pki(directory) -> Pki:
    """Generate the material (see :mod:`pki_testlib`); key files are private to the owner."""
    ca = CertificateAuthority("settlement test CA")
    other_ca = CertificateAuthority("some other CA")
    server = ca.issue("localhost", SERVER_AUTH, LOOPBACK)
    client = ca.issue("airflow", CLIENT_AUTH, [x509.DNSName("airflow")])

    def write(file_name: str, text: str) -> str:
        return write_pem(directory, file_name, text, mode=0o600)

    return Pki(
        ca_path=write("ca.pem", ca.cert_pem),
        ca_pem=ca.cert_pem,
        server_cert_path=write("server.pem", server[0]),
        server_key_path=write("server-key.pem", server[1]),
        client_cert_path=write("client.pem", client[0]),
        client_key_path=write("client-key.pem", client[1]),
        client_cert_pem=client[0],
        client_key_pem=client[1],
        other_ca_pem=other_ca.cert_pem,
    )


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Which secrets appear in ``text``, each with a little context."""
    found = []
    for label, secret in secrets.items():
        at = text.find(secret)
        if at >= 0:
            found.append(f"{label}: ...{text[max(0, at - 60) : at + len(secret) + 20]!r}...")
    return found
