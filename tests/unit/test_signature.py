"""Signed dispatch tokens: only what this task instance dispatched under this ACL token verifies."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_nomad.nomad.handover import dispatching_try
from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.signature import (
    SIGNATURE_LENGTH,
    dispatch_token,
    signed_meta,
    unverified_reason,
)
from airflow_provider_nomad.testing.nomad.golang import snappy_encode

SECRET = "4d1c3e2a-0b7f-4c55-9a61-2f0e8d9b6c10"
IDENTITY = TaskIdentity("nightly_settlement", "settle", "scheduled__2026-12-07T00:00:00+00:00")
PARENT = {
    "ID": "settlement",
    "Meta": {"team": "ops", "desk": "rates"},
    "ParameterizedJob": {"MetaRequired": ["business_date"], "MetaOptional": ["desk"]},
}
META = {"business_date": "2026-12-07"}
PAYLOAD = b'{"accounts": 1200}'


def child_of(token: str, meta=META, payload=PAYLOAD, **fields) -> dict:
    """The child Nomad makes of PARENT for this dispatch (meta merged, payload compressed)."""
    return {
        **PARENT,
        "ID": f"settlement/dispatch-{IDENTITY.id_prefix_template}-1765065600-0a1b2c3d",
        "ParentID": "settlement",
        "Dispatched": True,
        "DispatchIdempotencyToken": token,
        "Meta": {**PARENT["Meta"], **meta},
        "Payload": base64.b64encode(snappy_encode(payload)).decode(),
        **fields,
    }


def signed_token(try_number=1, secret=SECRET, meta=META, payload=PAYLOAD, cleared=False) -> str:
    return dispatch_token(
        IDENTITY,
        try_number,
        secret,
        cleared=cleared,
        namespace="default",
        parent_id="settlement",
        meta=signed_meta(PARENT, meta),
        payload=payload,
    )


def verdict(child: dict, secret: str | None = SECRET, namespace: str = "default") -> str | None:
    return unverified_reason(child, IDENTITY, secret, namespace=namespace, parent_id="settlement")


def test_the_meta_signed_is_what_a_dispatcher_chooses_with_the_parents_defaults():
    # "desk" is optional and not dispatched: the child keeps the parent's "rates", which a
    # dispatch could have changed. "team" is no dispatch's to set.
    assert signed_meta(PARENT, META) == {"business_date": "2026-12-07", "desk": "rates"}
    assert signed_meta(child_of("t"), {}) == signed_meta(PARENT, META)


def test_a_child_this_task_instance_dispatched_verifies():
    token = signed_token()
    assert token.startswith(f"{IDENTITY.idempotency_token(1)}-")
    assert len(token.rsplit("-", 1)[1]) == SIGNATURE_LENGTH
    assert SECRET not in token
    assert verdict(child_of(token)) is None
    assert dispatching_try(child_of(signed_token(try_number=3)), IDENTITY) == 3


def test_a_cleared_try_s_dispatch_is_marked_and_verifies():
    token = signed_token(try_number=2, cleared=True)
    assert token.startswith(f"{IDENTITY.idempotency_token(2)}-cleared-")
    assert verdict(child_of(token)) is None


def test_the_token_is_the_same_for_the_same_try_and_inputs():
    # A retried request carries the same token, so Nomad answers it with the same child.
    assert signed_token() == signed_token()
    assert signed_token() != signed_token(try_number=2)


@pytest.mark.parametrize(
    ("child", "says"),
    [
        pytest.param(
            child_of(IDENTITY.idempotency_token(1)), "carries no signature", id="predictable token"
        ),
        pytest.param(
            child_of(IDENTITY.idempotency_token(1) + "-" + "0" * SIGNATURE_LENGTH),
            "does not match",
            id="made-up signature",
        ),
        pytest.param(
            child_of(signed_token(), meta={"business_date": "1999-01-01"}),
            "does not match",
            id="token copied onto other meta",
        ),
        pytest.param(
            child_of(signed_token(), meta={**META, "desk": "fx"}),
            "does not match",
            id="token copied onto another optional meta value",
        ),
        pytest.param(
            child_of(signed_token(), payload=b'{"accounts": 1}'),
            "does not match",
            id="token copied onto another payload",
        ),
        pytest.param(
            child_of(signed_token().replace("-try1-", "-try2-")),
            "does not match",
            id="try number changed",
        ),
        pytest.param(
            child_of(signed_token(secret="another-acl-token")),
            "does not match",
            id="signed under another ACL token",
        ),
        pytest.param(
            child_of(signed_token().replace("-try1-", "-try01-")),
            "carries no signature",
            id="try number written another way",
        ),
        pytest.param(
            child_of(signed_token().replace("-try1-", "-try\u0661-")),
            "carries no signature",
            id="try number in other digits",
        ),
        pytest.param(
            child_of(signed_token().replace("-try1-", "-try1-cleared-")),
            "does not match",
            id="a clear mark added",
        ),
        pytest.param(
            child_of(signed_token(cleared=True).replace("-cleared-", "-")),
            "does not match",
            id="a clear mark removed",
        ),
        pytest.param(
            child_of(signed_token(), ParentID="other"), "not dispatched from", id="other parent"
        ),
        pytest.param(
            child_of(signed_token(), Dispatched=False), "not dispatched from", id="registered"
        ),
        pytest.param(
            child_of(signed_token(), Payload="not base64!"),
            "payload cannot be read",
            id="unreadable payload",
        ),
    ],
)
def test_what_this_task_instance_did_not_dispatch_does_not_verify(child, says):
    reason = verdict(child)
    assert reason is not None and says in reason
    assert SECRET not in reason


def test_a_child_signed_for_another_namespace_does_not_verify():
    assert "does not match" in verdict(child_of(signed_token()), namespace="risk")


def test_another_task_instance_s_signed_child_does_not_verify():
    other = TaskIdentity("nightly_settlement", "settle", "scheduled__2026-12-06T00:00:00+00:00")
    token = dispatch_token(
        other,
        1,
        SECRET,
        namespace="default",
        parent_id="settlement",
        meta=signed_meta(PARENT, META),
        payload=PAYLOAD,
    )
    assert "carries no signature" in verdict(child_of(token))


def test_without_an_acl_token_nothing_is_signed_or_verified():
    assert signed_token(secret=None) == IDENTITY.idempotency_token(1)
    assert verdict(child_of("anything"), secret=None) is None
