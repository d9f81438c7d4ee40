"""The triggerer's limit of open files, raised once to the most the system allows it.

A followed log holds a socket for as long as its task runs: a triggerer following the two logs
of 500 running batches holds 1,000 sockets, besides its own files and connections. Services
are often started with a soft limit of 1,024 (systemd's default), and past it every new
connection fails with ``EMFILE``: logs stall and reconnect, per-trigger waits cannot open their
blocking queries. Measured with 700 triggers following their batches' logs in one process
started at 1,024: the shared watch's triggers took 35 ms of CPU per batch instead of 22 (their
log streams failing and reconnecting), per-trigger waits took up to 15 s to see a batch end,
and the provider of before the shared watch saw none of the 700 end within 6 minutes.

Go programs (Nomad among them) raise their soft limit to the hard one when they start; Python
does not. The first :class:`~airflow_provider_nomad.triggers.nomad.NomadJobTrigger` of a
triggerer process does it (``[nomad_triggerer] raise_open_file_limit = False`` opts out). The
hard limit is the administrator's, and is left as it is.
"""

from __future__ import annotations

import logging
import threading

try:
    import resource
except ImportError:  # not on POSIX: no such limit to raise
    resource = None  # type: ignore[assignment]

#: What an unlimited hard limit is raised to: Linux's default ``fs.nr_open``, above which
#: ``setrlimit`` fails.
UNLIMITED_TARGET = 1 << 20

_lock = threading.Lock()
_tried = False


def raise_open_file_limit(log: logging.Logger) -> tuple[int, int] | None:
    """Raise this process's soft limit of open files to its hard limit, once per process.

    :param log: told once, when the limit changed (or could not).
    :return: ``(before, after)`` when this call raised it; ``None`` when an earlier call
        already tried, or there was nothing to raise.
    """
    global _tried
    with _lock:
        if _tried or resource is None:
            return None
        _tried = True
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
        if soft == resource.RLIM_INFINITY or soft >= target:
            return None
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning(
                "Could not raise this triggerer's limit of open files from %d to %d (%s): "
                "each followed Nomad log holds a socket while its task runs, two per batch",
                soft,
                target,
                exc,
            )
            return None
        log.info(
            "Raised this triggerer's limit of open files from %d to %d: each followed Nomad "
            "log holds a socket while its task runs, two per batch",
            soft,
            target,
        )
        return soft, target
