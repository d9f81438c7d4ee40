"""Reading the rest of a big, finished log in a worker thread.

An event loop's HTTP stack (httpx over anyio) pays a few tens of microseconds on every read;
on a log of gigabytes that, not the network, bounds the follower, at about a third of what a
blocking read gets from the same endpoint. So once a read of a finished task's log has proved
big, :class:`JobFollower` hands the rest to a blocking read (the sync hook, python-nomad's
``requests`` session) in a small pool of threads of its own, which also keeps the bulk work
off the event loop that the triggerer shares with every other trigger.

The thread assembles lines and hands them out itself, under the follower's delivery lock, so
callbacks are never called concurrently; once the awaiting coroutine is cancelled, nothing
more is handed out, and the offsets stay those of the lines delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_provider_nomad.nomad.log_lines import LineAssembler, LogChunk

#: Past this many bytes in one read of a finished log, the rest is read in a thread.
BULK_READ_THRESHOLD = 8 * 1024 * 1024
#: Bulk reads at once per process; more wait their turn (the machine has few cores anyway).
BULK_READERS = 4


@functools.cache
def _reader_pool() -> ThreadPoolExecutor:
    # Not the loop's default executor: a bulk read lasts seconds, and the default executor
    # also serves connection lookups that a trigger must not wait behind.
    return ThreadPoolExecutor(max_workers=BULK_READERS, thread_name_prefix="nomad-log-read")


async def read_rest_in_thread(
    sync_hook: Any,
    assembler: LineAssembler,
    deliver: Callable[[list[LogChunk]], None],
    lock: threading.Lock,
) -> None:
    """Read a finished log from ``assembler.received_offset`` to its end, in a worker thread.

    :param sync_hook: a :class:`~airflow_provider_nomad.hooks.nomad.NomadHook`.
    :param assembler: the log's assembler; fed in the thread.
    :param deliver: hands chunks out; called in the thread with ``lock`` held.
    :param lock: the follower's delivery lock.
    :raises: what ``sync_hook.read_log`` raises (already the provider's errors).
    """
    key = assembler.key
    stopped = False

    def read() -> None:
        chunks = sync_hook.read_log(
            key.alloc_id, key.task, key.stream, offset=assembler.received_offset
        )
        with contextlib.closing(chunks):
            for data in chunks:
                with lock:
                    if stopped:
                        return
                    deliver(assembler.feed(data))

    try:
        # In the caller's context: a triggerer routes a line to its task's log by context
        # variables (the trigger's id), which a pool thread would otherwise lack, sending the
        # lines to the triggerer's own output instead.
        context = contextvars.copy_context()
        await asyncio.get_running_loop().run_in_executor(_reader_pool(), context.run, read)
    except asyncio.CancelledError:
        # The thread cannot be interrupted, only told: under the lock, so that it hands out
        # nothing once the caller has moved on, and the offsets stay those delivered.
        with lock:
            stopped = True
        raise
