"""ACL tokens: one management token plus namespace/capability tokens made by the control API.

Nomad answers differently depending on where the token is resolved (``nomad/auth/auth.go``):
server RPCs authenticate first and turn any failure, an unknown token included, into
``Permission denied``; the client's filesystem endpoints resolve the token themselves and say
``ACL token not found``. :meth:`Acl.check` returns which of the two applies.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .acl_policy import Grants, PolicyError, parse_rules
from .golang import format_time

CAPABILITIES = frozenset(
    {
        "deny",
        "list-jobs",
        "parse-job",
        "read-job",
        "submit-job",
        "dispatch-job",
        "read-logs",
        "read-fs",
        "alloc-exec",
        "alloc-lifecycle",
        "scale-job",
        "read-job-scaling",
        "csi-register-plugin",
        "submit-recommendation",
        "variables-read",
        "variables-list",
        "variables-write",
        "variables-destroy",
    }
)


@dataclass
class Token:
    """An ACL token. ``repr`` never shows the secret.

    Tokens made by the control API carry their grants inline (``namespaces`` x
    ``capabilities``); tokens made through ``/v1/acl/token`` name policies instead.
    """

    accessor_id: str
    secret_id: str = field(repr=False)
    name: str = ""
    management: bool = False
    namespaces: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    policies: tuple[str, ...] = ()
    global_: bool = False
    create_time_ns: int = 0
    create_index: int = 0
    modify_index: int = 0

    @property
    def type(self) -> str:
        return "management" if self.management else "client"

    def inline_allows(self, namespace: str, capability: str) -> bool:
        if "deny" in self.capabilities:
            return False
        if not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.namespaces):
            return False
        return capability in self.capabilities

    def hash(self) -> str:
        """``ACLToken.SetHash``: blake2b-256 of the user-set fields, base64 as Go encodes []byte."""
        digest = hashlib.blake2b(digest_size=32)
        for part in (self.name, self.type, *self.policies):
            digest.update(part.encode())
        digest.update(b"global" if self.global_ else b"local")
        return base64.b64encode(digest.digest()).decode()

    def stub(self) -> dict[str, Any]:
        """``ACLTokenListStub``."""
        return {
            "AccessorID": self.accessor_id,
            "Name": self.name,
            "Type": self.type,
            "Policies": list(self.policies) if self.policies or not self.management else None,
            "Roles": None,
            "Global": self.global_,
            "Hash": self.hash(),
            "CreateTime": format_time(self.create_time_ns),
            "ExpirationTime": None,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def to_dict(self, *, with_secret: bool = True) -> dict[str, Any]:
        """``ACLToken`` as its ``MarshalJSON`` writes it (``ExpirationTTL`` as a string)."""
        out = {"ExpirationTTL": "", "AccessorID": self.accessor_id}
        out["SecretID"] = self.secret_id if with_secret else ""
        out.update(self.stub())
        out["Policies"] = list(self.policies) if self.policies else None
        return out


@dataclass
class Policy:
    """An ``ACLPolicy``: its rules and what they grant."""

    name: str
    description: str
    rules: str
    grants: Grants
    create_index: int = 0
    modify_index: int = 0

    def hash(self) -> str:
        digest = hashlib.blake2b(digest_size=32)
        for part in (self.name, self.description, self.rules):
            digest.update(part.encode())
        return base64.b64encode(digest.digest()).decode()

    def stub(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Description": self.description,
            "JobACL": None,
            "Hash": self.hash(),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def to_dict(self) -> dict[str, Any]:
        out = {"Name": self.name, "Description": self.description, "Rules": self.rules}
        out.update(RulesJSON=None, JobACL=None, Hash=self.hash())
        out.update(CreateIndex=self.create_index, ModifyIndex=self.modify_index)
        return out


class Acl:
    """Token and policy store, and the checks.

    :param enabled: whether ACLs are enforced at all.
    :param management_secret: the management token's secret (kept across resets).
    :param bootstrapped: False leaves the ACL system as a fresh ``-acl-enabled`` agent has it:
        no token at all until ``POST /v1/acl/bootstrap`` creates the management token (whose
        secret is then ``management_secret``, so the control API can be reached before).
    """

    def __init__(
        self,
        enabled: bool,
        management_secret: str | None = None,
        *,
        bootstrapped: bool = True,
    ) -> None:
        self.enabled = enabled
        self.management = Token(
            accessor_id=str(uuid.uuid4()),
            secret_id=management_secret or str(uuid.uuid4()),
            name="Bootstrap Token",
            management=True,
            global_=True,
        )
        self._start_bootstrapped = bootstrapped
        self._tokens: dict[str, Token] = {}
        self._by_accessor: dict[str, Token] = {}
        self.policies: dict[str, Policy] = {}
        self.bootstrap_index = 0
        self.reset()

    def reset(self) -> None:
        self._tokens = {}
        self._by_accessor = {}
        self.policies = {}
        self.bootstrap_index = 0
        if self._start_bootstrapped:
            self._add(self.management)
            self.bootstrap_index = 1

    def _add(self, token: Token) -> None:
        self._tokens[token.secret_id] = token
        self._by_accessor[token.accessor_id] = token

    def create(
        self, namespaces: tuple[str, ...], capabilities: tuple[str, ...], name: str = ""
    ) -> Token:
        unknown = set(capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"unknown capabilities: {sorted(unknown)}")
        token = Token(
            accessor_id=str(uuid.uuid4()),
            secret_id=str(uuid.uuid4()),
            name=name,
            namespaces=tuple(namespaces),
            capabilities=frozenset(capabilities),
        )
        self._add(token)
        return token

    # -- the /v1/acl/ write paths (the handlers hold the state write for the index) ---------

    def bootstrap(self, index: int, now_ns: int) -> Token:
        """``ACL.Bootstrap``: the management token, once."""
        if not self.enabled:
            raise errors.bad_request(errors.ACL_DISABLED)
        if self.bootstrap_index:
            raise errors.bad_request(errors.acl_bootstrap_done(self.bootstrap_index))
        self.management.create_time_ns = now_ns
        self.management.create_index = self.management.modify_index = index
        self._add(self.management)
        self.bootstrap_index = index
        return self.management

    def upsert_token(self, spec: dict[str, Any], index: int, now_ns: int) -> Token:
        """``ACL.UpsertTokens`` for one token: create (no accessor) or update."""
        accessor = str(spec.get("AccessorID") or "")
        existing = self._by_accessor.get(accessor) if accessor else None
        if accessor and existing is None:
            raise errors.bad_request(f"cannot find token {accessor}")
        kind = str(spec.get("Type") or "client")
        policies = tuple(str(p) for p in spec.get("Policies") or ())
        problems = []
        if len(str(spec.get("Name") or "")) > 256:
            problems.append("token name too long")
        if kind == "client" and not policies:
            problems.append("client token missing policies or roles")
        elif kind == "management" and policies:
            problems.append("management token cannot be associated with policies or roles")
        elif kind not in ("client", "management"):
            problems.append("token type must be client or management")
        if existing is not None and existing.type != kind:
            problems.append("cannot change token type")
        if problems:
            raise errors.bad_request(f"token 0 invalid: {errors.multierror(problems)}")
        token = existing or Token(
            accessor_id=str(uuid.uuid4()),
            secret_id=str(uuid.uuid4()),
            create_time_ns=now_ns,
            create_index=index,
            global_=bool(spec.get("Global")),
        )
        token.name = str(spec.get("Name") or "")
        token.management = kind == "management"
        token.policies = policies
        token.modify_index = index
        self._add(token)
        return token

    def delete_token(self, accessor: str) -> None:
        token = self._by_accessor.get(accessor)
        if token is None:
            raise errors.bad_request(f"Cannot delete nonexistent tokens: {accessor}")
        del self._by_accessor[accessor]
        self._tokens.pop(token.secret_id, None)

    def token_by_accessor(self, accessor: str) -> Token | None:
        return self._by_accessor.get(accessor)

    def tokens(self) -> list[Token]:
        """Every token, in accessor ID order as the state store iterates them."""
        return sorted(self._by_accessor.values(), key=lambda t: t.accessor_id)

    def upsert_policy(self, spec: dict[str, Any], index: int) -> Policy:
        name = str(spec.get("Name") or "")
        rules = str(spec.get("Rules") or "")
        if not _POLICY_NAME.match(name):
            raise errors.bad_request(f"policy 0 invalid: invalid name '{name}'")
        try:
            grants = parse_rules(rules)
        except PolicyError as exc:
            raise errors.bad_request(f"policy 0 invalid: {exc}") from exc
        existing = self.policies.get(name)
        policy = Policy(name, str(spec.get("Description") or ""), rules, grants)
        policy.create_index = existing.create_index if existing else index
        policy.modify_index = index
        self.policies[name] = policy
        return policy

    def delete_policy(self, name: str) -> None:
        self.policies.pop(name, None)

    # -- checks ---------------------------------------------------------------------------

    def resolve(self, secret: str) -> Token | None:
        return self._tokens.get(secret)

    def allows(self, token: Token, namespace: str, capability: str) -> bool:
        if token.management:
            return True
        if token.inline_allows(namespace, capability):
            return True
        granted: set[str] = set()
        for name in token.policies:
            policy = self.policies.get(name)
            if policy is None:
                continue
            for pattern, caps in policy.grants.namespaces.items():
                if fnmatch.fnmatchcase(namespace, pattern):
                    granted |= caps
        return "deny" not in granted and capability in granted

    def allows_node_read(self, secret: str) -> bool:
        if not self.enabled:
            return True
        token = self.resolve(secret)
        if token is None:
            return False
        if token.management:
            return True
        levels = {self.policies[p].grants.node for p in token.policies if p in self.policies}
        return "deny" not in levels and bool(levels & {"read", "write"})

    def check(
        self, secret: str, namespace: str, *capabilities: str, client_status: int | None = None
    ) -> None:
        """Raise :class:`~.errors.NomadError` unless the token has one of ``capabilities``.

        :param client_status: resolve as the client's filesystem endpoints do: an unknown
            token says ``ACL token not found`` (not ``Permission denied``) and both errors come
            with this status (500 for logs, whose stream error carries no code; 403 for cat).
        """
        client = client_status
        if not self.enabled:
            return
        if secret:
            token = self.resolve(secret)
            if token is None:
                raise _denied(client, errors.TOKEN_NOT_FOUND)
            if token.management:
                return
        else:
            token = None
        if token is None or not any(self.allows(token, namespace, cap) for cap in capabilities):
            raise _denied(client, errors.PERMISSION_DENIED)

    def check_management(self, secret: str) -> None:
        """Endpoints only a management token may use (ACL writes, operator, system GC)."""
        if self.enabled and not self.is_management(secret):
            raise errors.forbidden(errors.PERMISSION_DENIED)

    def authenticate(self, secret: str) -> None:
        """A server RPC's first step: an unknown token fails before any lookup."""
        if self.enabled and secret and self.resolve(secret) is None:
            raise errors.forbidden(errors.PERMISSION_DENIED)

    def is_management_secret(self, secret: str) -> bool:
        """Whether ``secret`` is the management token's, compared in constant time."""
        return hmac.compare_digest(secret.encode(), self.management.secret_id.encode())

    def is_management(self, secret: str) -> bool:
        return not self.enabled or (self.resolve(secret) or Token("", "")).management

    def allowed_namespaces(self, secret: str, capability: str, names: list[str]) -> list[str]:
        """Of ``names``, those the token may use ``capability`` in."""
        if not self.enabled:
            return names
        token = self.resolve(secret)
        if token is None:
            return []
        return [n for n in names if self.allows(token, n, capability)]


_POLICY_NAME = re.compile(r"^[a-zA-Z0-9-]{1,128}$")


def _denied(client_status: int | None, message: str) -> errors.NomadError:
    # Server RPCs: 403 "Permission denied" for any authentication failure.
    if client_status is not None:
        return errors.NomadError(client_status, message)
    return errors.forbidden(errors.PERMISSION_DENIED)
