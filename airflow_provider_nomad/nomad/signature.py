"""Signed dispatches: which children a task instance may adopt (pure).

A later try finds the children of its task instance by a prefix anyone can compute (a hash of
``dag_id, task_id, run_id, map_index``; :mod:`~airflow_provider_nomad.nomad.identity`). Whoever
may dispatch the same parameterized job could therefore plant a child under that prefix, with
inputs of their choosing, and a later try would adopt it: follow it instead of dispatching,
or read its result file into XCom. Nomad's idempotency token cannot tell either, if it is
predictable: a dispatch carrying a planted child's token is answered with that child.

So when the connection has an ACL token, the idempotency token of every dispatch carries a
signature: an HMAC, keyed by the ACL token, over the task instance, the try, the namespace and
parent job, and what the child receives (the meta a dispatcher can set, and the payload)::

    af-<key>-try<N>-<20 hex>

Nobody without the ACL token can sign. A try adopts a child only when the child's token is
exactly the one this task instance would send for the child's own meta and payload (Nomad
keeps all three on the child: ``DispatchIdempotencyToken``, ``Meta``, ``Payload``). So a token
copied onto other inputs does not verify, and one copied unchanged (the try number written
``01`` is another string, so no way around it) is one Nomad answers with the original child
for as long as it exists: a copy can only re-create, after Nomad has garbage-collected it, a
child with the very inputs this task instance dispatched.

The meta signed is the child's value of each key the parent lets a dispatch set
(``meta_required`` and ``meta_optional``): the dispatch's value, or else the parent's default.
The parent's other meta comes from its jobspec, which a dispatcher cannot change.

Without an ACL token (a cluster with ACLs off) there is nothing to key a signature with, and
nothing to keep anyone from dispatching or stopping any job either: tokens stay unsigned and
children are adopted by their prefix, as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_nomad.nomad import snappy
from airflow_provider_nomad.nomad.identity import TaskIdentity

__all__ = ["SIGNATURE_LENGTH", "dispatch_token", "signed_meta", "unverified_reason"]

#: Hex digits of the signature: 80 bits, too many to guess, short enough to read in the UI.
SIGNATURE_LENGTH = 20
_SIGNED_TRY = re.compile(rf"-try([1-9][0-9]*)(-cleared)?-[0-9a-f]{{{SIGNATURE_LENGTH}}}", re.ASCII)
_CONTEXT = b"airflow-provider-nomad dispatch v1\x00"


def signed_meta(job: Mapping[str, Any], dispatch_meta: Mapping[str, str]) -> dict[str, str]:
    """The child's meta that a dispatcher chooses, for a dispatch of ``dispatch_meta``.

    :param job: the parameterized parent (before a dispatch), or a child (with no
        ``dispatch_meta``: its meta already holds the dispatch's).
    """
    parameterized = job.get("ParameterizedJob") or {}
    settable = set(parameterized.get("MetaRequired") or ()) | set(
        parameterized.get("MetaOptional") or ()
    )
    merged = {**(job.get("Meta") or {}), **dispatch_meta}
    return {key: value for key, value in merged.items() if key in settable}


def dispatch_token(
    identity: TaskIdentity,
    try_number: int,
    secret: str | None,
    *,
    namespace: str,
    parent_id: str,
    meta: Mapping[str, str],
    payload: bytes | None,
    cleared: bool = False,
) -> str:
    """The idempotency token of a try's dispatch, signed when there is a ``secret``.

    :param secret: the connection's ACL token, or None when it has none.
    :param meta: the child's dispatcher-set meta (:func:`signed_meta` of the parent).
    :param cleared: the try started from a clear (marked in the token, and signed).
    """
    token = identity.idempotency_token(try_number, cleared=cleared)
    if not secret:
        return token
    signed = {
        "task_instance": [identity.dag_id, identity.task_id, identity.run_id],
        "map_index": identity.map_index,
        "try": try_number,
        "cleared": cleared,
        "namespace": namespace,
        "parent": parent_id,
        "meta": dict(meta),
        "payload_sha256": hashlib.sha256(payload or b"").hexdigest(),
    }
    text = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), _CONTEXT + text, hashlib.sha256).hexdigest()
    return f"{token}-{digest[:SIGNATURE_LENGTH]}"


def unverified_reason(
    child: Mapping[str, Any],
    identity: TaskIdentity,
    secret: str | None,
    *,
    namespace: str,
    parent_id: str,
) -> str | None:
    """Why ``child`` (a full job) is not one this task instance dispatched; None if it is.

    Always None without a ``secret``: nothing can be verified then.
    """
    if not secret:
        return None
    if child.get("Dispatched") is not True or child.get("ParentID") != parent_id:
        return f"it was not dispatched from {parent_id!r}"
    token = child.get("DispatchIdempotencyToken") or ""
    found = _SIGNED_TRY.fullmatch(token.removeprefix(identity.id_prefix_template))
    if not token.startswith(identity.id_prefix_template) or found is None:
        return "its dispatch carries no signature of this task instance"
    try:
        payload = snappy.decompress(base64.b64decode(child.get("Payload") or "", validate=True))
    except (binascii.Error, snappy.SnappyError) as exc:
        return f"its payload cannot be read ({exc})"
    expected = dispatch_token(
        identity,
        int(found.group(1)),
        secret,
        namespace=namespace,
        parent_id=parent_id,
        meta=signed_meta(child, {}),
        payload=payload,
        cleared=found.group(2) is not None,
    )
    # The whole token, not the signature alone: its other parts must be the very text signed.
    if not hmac.compare_digest(expected.encode(), token.encode()):
        return "its signature does not match its meta and payload under this connection's ACL token"
    return None
