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
hard limit is the administrator's, and is left as it is. Processes the triggerer starts
afterwards inherit the raised limit; one that still uses ``select()`` would meet a descriptor
above 1,023 only where it used to get ``EMFILE``.
"""

from __future__ import annotations

import logging
import threading

try:
    import resource
except ImportError:  # not on POSIX: no such limit to raise
    resource = None  # type: ignore[assignment]

#: What the soft limit is raised to under an unlimited hard limit (Linux caps the hard limit
#: itself, at ``fs.nr_open``; macOS reports it unlimited): a million, else macOS's ``OPEN_MAX``,
#: the most its kernel takes.
UNLIMITED_TARGETS = (1 << 20, 10240)

_log = logging.getLogger(__name__)

_lock = threading.Lock()
_tried = False


def raise_open_file_limit(log: logging.Logger) -> tuple[int, int] | None:
    """Raise this process's soft limit of open files to its hard limit, once per process.

    :param log: told once, when the limit changed (or could not), besides this module's own
        logger (the triggerer's log): the first trigger's task log.
    :return: ``(before, after)`` when this call raised it; ``None`` when an earlier call
        already tried, or there was nothing to raise.
    """
    global _tried
    with _lock:
        if _tried or resource is None:
            return None
        _tried = True
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        targets = UNLIMITED_TARGETS if hard == resource.RLIM_INFINITY else (hard,)
        if soft == resource.RLIM_INFINITY or soft >= targets[0]:
            return None
        problem: Exception | None = None
        for target in targets:
            if target <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError) as exc:
                problem = exc
                continue
            _say(
                log,
                logging.INFO,
                "Raised this triggerer's limit of open files from %d to %d: each followed "
                "Nomad log holds a socket while its task runs, two per batch",
                soft,
                target,
            )
            return soft, target
        _say(
            log,
            logging.WARNING,
            "Could not raise this triggerer's limit of open files from %d (%s): each followed "
            "Nomad log holds a socket while its task runs, two per batch",
            soft,
            problem,
        )
        return None


def _say(log: logging.Logger, level: int, message: str, *args: object) -> None:
    log.log(level, message, *args)
    if log is not _log:
        _log.log(level, message, *args)
