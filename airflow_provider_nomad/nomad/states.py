"""Nomad's evaluation, allocation and task states, named once.

Every status the provider reads is checked against these sets: an unknown status raises
:class:`UnknownStatusError` instead of being mistaken for "still running", so a Nomad upgrade
that adds a status fails loudly rather than hanging a nightly batch.
"""

from __future__ import annotations


class UnknownStatusError(ValueError):
    """Nomad answered a status this provider does not know."""


class EvalStatus:
    PENDING = "pending"
    BLOCKED = "blocked"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"

    ALL = frozenset({PENDING, BLOCKED, COMPLETE, FAILED, CANCELED})
    TERMINAL = frozenset({COMPLETE, FAILED, CANCELED})


class EvalTrigger:
    """``TriggeredBy`` values the outcome rules look at (``structs.EvalTrigger*``)."""

    # Created with the failed allocation, when its reschedule policy allows another attempt.
    ALLOC_FAILURE = "alloc-failure"


class AllocClientStatus:
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    LOST = "lost"
    # The client stopped heartbeating but may come back (max_client_disconnect): not terminal.
    UNKNOWN = "unknown"

    ALL = frozenset({PENDING, RUNNING, COMPLETE, FAILED, LOST, UNKNOWN})
    TERMINAL = frozenset({COMPLETE, FAILED, LOST})


class AllocDesiredStatus:
    RUN = "run"
    STOP = "stop"
    EVICT = "evict"

    ALL = frozenset({RUN, STOP, EVICT})


class TaskStateName:
    PENDING = "pending"
    RUNNING = "running"
    DEAD = "dead"

    ALL = frozenset({PENDING, RUNNING, DEAD})


class JobStatus:
    PENDING = "pending"
    RUNNING = "running"
    DEAD = "dead"

    ALL = frozenset({PENDING, RUNNING, DEAD})
    LIVE = frozenset({PENDING, RUNNING})


class TaskEventType:
    """Task event types whose presence changes how an allocation is reported."""

    STARTED = "Started"
    TERMINATED = "Terminated"
    RESTARTING = "Restarting"
    NOT_RESTARTING = "Not Restarting"
    KILLING = "Killing"
    KILLED = "Killed"
    DRIVER_FAILURE = "Driver Failure"
    SETUP_FAILURE = "Setup Failure"
    SIBLING_FAILED = "Sibling Task Failed"


def checked(status: str | None, known: frozenset[str], what: str) -> str:
    """Return ``status`` if it is one of ``known``, else raise :class:`UnknownStatusError`."""
    if status not in known:
        raise UnknownStatusError(
            f"Nomad reported an unknown {what} status {status!r} (known: {sorted(known)}). "
            "This provider may be older than the Nomad cluster; please upgrade it."
        )
    return status
