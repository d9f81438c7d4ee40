"""Where a trigger got to in the task log, saved as it goes, so a restarted triggerer resumes there.

A triggerer rebuilds a trigger from the arguments it was deferred with; the log offsets in them
are those of the deferral. A triggerer that dies (SIGKILL, OOM, node loss) mid-batch would
therefore write again every line since the deferral. The trigger keeps its offsets in an XCom
of its task instance instead (Airflow 3 lets a trigger read and write XComs through the
triggerer's supervisor), updated after the lines are written: a successor starts from the
larger of the two, so nothing is lost. "Written" means in the task's log, not only logged: a
save first waits until the supervisor has taken the lines it counts
(:mod:`~airflow_provider_nomad.nomad.log_channel` says why the two differ). What is written
twice after a kill is therefore what was logged while one save was in flight, including the
lines the supervisor had not yet read.

One save is in flight at a time: lines written meanwhile are covered by the next save, which
reads the offsets afresh. A batch that prints continuously therefore costs one XCom write per
save round trip, not one per line or per chunk, and reading its log never waits for a save.
XComs of a task instance are cleared when its next try starts, so a checkpoint never outlives
its try.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from airflow_provider_nomad.nomad.log_channel import supervisor_took_logged_lines

__all__ = ["XCOM_KEY", "LogCheckpoint", "merge_offsets", "start_log_checkpoint"]

#: The XCom holding ``{str(LogStreamKey): bytes written}`` for the current try.
XCOM_KEY = "nomad_log_offsets"


def start_log_checkpoint(task_instance: Any) -> None:
    """Save an empty checkpoint as the task defers, so that its trigger finds one to load.

    Without it, every trigger's first load asks for an XCom that does not exist yet, and
    Airflow's client logs that as an ERROR ("XCom not found") in the triggerer's own log,
    once per deferred task. Called once per try: a task defers from ``execute`` only, and a
    new try starts with its XComs cleared.
    """
    try:
        task_instance.xcom_push(key=XCOM_KEY, value={})
    except Exception as exc:  # the checkpoint is an optimisation: never fail the deferral
        logging.getLogger(__name__).warning("Could not save an empty log checkpoint: %s", exc)


def merge_offsets(*sources: Mapping[str, int]) -> dict[str, int]:
    """Per log, the furthest offset any source reached: bytes written are never written again."""
    merged: dict[str, int] = {}
    for source in sources:
        for key, offset in source.items():
            merged[key] = max(merged.get(key, 0), offset)
    return merged


def _valid_offsets(value: Any) -> dict[str, int] | None:
    if not isinstance(value, Mapping):
        return None
    if not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in value.items()):
        return None
    return dict(value)


class LogCheckpoint:
    """The log offsets of one deferred task instance, kept in an XCom.

    :param task_instance: the trigger's task instance (``dag_id``, ``task_id``, ``run_id``,
        ``map_index``); ``None`` (a trigger run outside a triggerer) keeps nothing.
    :param read_offsets: the offsets written so far, read when a save starts.
    :param log: where a failed save is reported (once).
    :param lines_in_log: returns once the lines logged so far are in the task's log.
    """

    def __init__(
        self,
        task_instance: Any | None,
        read_offsets: Callable[[], dict[str, int]],
        log: logging.Logger,
        lines_in_log: Callable[[], Awaitable[None]] = supervisor_took_logged_lines,
    ) -> None:
        self._ti = task_instance
        self._read_offsets = read_offsets
        self._log = log
        self._lines_in_log = lines_in_log
        self._saved: dict[str, int] = {}
        self._dirty = False
        self._writer: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._ti is not None

    def _where(self) -> dict[str, Any]:
        ti = self._ti
        return {
            "key": XCOM_KEY,
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "map_index": ti.map_index,
        }

    async def load(self) -> dict[str, int]:
        """The offsets a predecessor saved for this try (``{}`` when none or unreadable)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if not self.enabled:
            return {}
        from airflow.sdk.execution_time.xcom import XCom

        try:
            value = await XCom.aget_one(**self._where())
        except Exception as exc:  # the checkpoint is an optimisation: never fail the wait
            self._log.warning(
                "Could not read the log checkpoint (%s); starting from the offsets of the deferral",
                exc,
            )
            return {}
        offsets = _valid_offsets(value) if value is not None else {}
        if offsets is None:
            self._log.warning("Ignoring a malformed log checkpoint: %r", value)
            return {}
        self._saved = offsets
        return offsets

    def changed(self) -> None:
        """Lines were written: save the offsets soon. Safe to call from any thread."""
        if not self.enabled or self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._poke()
        else:
            self._loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        if not self.enabled:  # closed since a thread asked
            return
        self._dirty = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_while_dirty())

    async def _write_while_dirty(self) -> None:
        from airflow.sdk.execution_time.xcom import XCom

        while self._dirty:
            self._dirty = False
            offsets = merge_offsets(self._saved, self._read_offsets())
            if offsets == self._saved:
                continue
            # Offsets first, then the wait: every line they count was logged before it.
            await self._lines_in_log()
            try:
                await XCom.aset(value=offsets, **self._where())
            except Exception as exc:  # the checkpoint is an optimisation: never fail the wait
                if not self._warned:
                    self._warned = True
                    self._log.warning(
                        "Could not save the log checkpoint (%s): after a triggerer restart, "
                        "lines written since the deferral may appear twice",
                        exc,
                    )
                continue
            self._saved = offsets

    async def flush(self) -> None:
        """Wait for the save in flight and for one covering everything written so far."""
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self.enabled and self._loop is not None:
            self._poke()
            if self._writer is not None:
                await asyncio.shield(self._writer)

    async def close(self) -> None:
        """Give up a save still waiting: the trigger's event carries the final offsets.

        A save waits for the supervisor to take the lines it counts, which a busy triggerer
        may take long to do; one landing after the task moved on could reach a later try's
        XComs, which that try's trigger would then resume from. Once this returns, no save
        of this checkpoint is in flight or to come.
        """
        self._ti = None  # ``enabled`` is now false: nothing more is saved
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            # Waits for its end without raising its cancellation (ours still propagates).
            await asyncio.wait({writer})
