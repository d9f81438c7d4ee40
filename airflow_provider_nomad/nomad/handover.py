"""How a new try of a task instance treats the children an earlier try left behind (pure).

A later try finds the children of its task instance by their identity prefix. What it should do
with a live one depends on why the earlier try ended:

- it failed, or its worker died, while the child ran: the child is adopted, never dispatched a
  second time (a settlement must not run twice because a worker died);
- someone cleared the task instance while it was deferred: the user wants the batch run again,
  and the earlier try's trigger stops its child (``on_kill``), but asynchronously, from the
  triggerer. The new try may list the children before that stop lands, so it must not adopt the
  child: it stops it itself, waits for it to end and dispatches a new one. The order of the two
  stops no longer matters, and two copies never run at once.

Airflow does not tell a try why it exists, but clearing leaves a mark a retry cannot: it sets
``max_tries`` to the cleared try's number plus the task's ``retries``, while a retry leaves
``max_tries`` as it was (``retries``, plus what earlier clears added).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_nomad.nomad.identity import TaskIdentity

__all__ = [
    "cleared_before_this_try",
    "dispatched_after_a_clear",
    "dispatching_try",
]

# af-<key>-try<N>, then -cleared for a try that started from a clear, then a signature if signed
_TRY = re.compile(r"-try([1-9][0-9]*)(-cleared)?(?:-[0-9a-f]+)?$", re.ASCII)


def cleared_before_this_try(ti: Any, retries: int) -> bool:
    """Whether this try of ``ti`` started because the task instance was cleared.

    :param ti: the running task instance (``try_number``, ``max_tries``).
    :param retries: the task's ``retries``.
    """
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if not isinstance(try_number, int) or not isinstance(max_tries, int):
        return False
    return try_number > 1 and max_tries == try_number - 1 + retries


def dispatching_try(child: dict[str, Any], identity: TaskIdentity) -> int | None:
    """The try that dispatched ``child`` (a full job), read off its idempotency token
    (:mod:`~airflow_provider_nomad.nomad.signature`)."""
    token = child.get("DispatchIdempotencyToken") or ""
    if not token.startswith(identity.id_prefix_template):
        return None
    found = _TRY.search(token)
    return int(found.group(1)) if found else None


def dispatched_after_a_clear(child: dict[str, Any], identity: TaskIdentity) -> bool:
    """Whether ``child`` (a full job) was dispatched by a try that started from a clear."""
    token = child.get("DispatchIdempotencyToken") or ""
    found = _TRY.search(token) if token.startswith(identity.id_prefix_template) else None
    return bool(found and found.group(2))
