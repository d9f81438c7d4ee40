"""ACL tokens of the emulated Consul: resolution, rules, and the errors a real agent answers.

Tokens carry rules written in Consul's JSON policy syntax, e.g.::

    {"service_prefix": {"": {"policy": "read"}}, "node_prefix": {"": {"policy": "read"}}}

The ``service``, ``node``, ``key``, ``session`` and ``agent`` resources (each with its
``_prefix`` form) are modelled: they are all the endpoints served here look at. The default
policy is ``deny``, as in any production cluster; the management token (the emulator's
``acl_token``) is allowed everything.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul import errors

READ = "read"
WRITE = "write"
DENY = "deny"
_RANK = {DENY: 0, READ: 1, WRITE: 2}
RESOURCES = ("service", "node", "key", "session", "agent")


@dataclass(frozen=True)
class Token:
    """An ACL token. Its ``secret_id`` is what clients send; never printed."""

    accessor_id: str
    secret_id: str = field(repr=False)
    description: str = ""
    rules: dict[str, Any] = field(default_factory=dict)
    management: bool = False


ANONYMOUS = Token(accessor_id=errors.ANONYMOUS_TOKEN_ACCESSOR_ID, secret_id="anonymous")


def _policy_of(value: Any) -> str:
    """Rules accept ``{"policy": "read"}`` (Consul's JSON form) or the bare ``"read"``."""
    policy = value.get("policy") if isinstance(value, dict) else value
    if policy not in _RANK:
        raise ValueError(f"invalid ACL policy {policy!r}: use read, write or deny")
    return policy


def _validate_rules(rules: dict[str, Any]) -> None:
    allowed = {kind for resource in RESOURCES for kind in (resource, f"{resource}_prefix")}
    for kind, entries in rules.items():
        if kind not in allowed:
            raise ValueError(f"unsupported ACL rule {kind!r}: use one of {sorted(allowed)}")
        for value in dict(entries).values():
            _policy_of(value)


class Authorizer:
    """What one resolved token may do. ``None`` rules mean ACLs are off: everything allowed."""

    def __init__(self, token: Token | None) -> None:
        self.token = token

    @property
    def is_anonymous(self) -> bool:
        return self.token is ANONYMOUS

    def policy(self, resource: str, name: str) -> str:
        token = self.token
        if token is None or token.management:
            return WRITE
        rules = token.rules
        exact = rules.get(resource, {})
        if name in exact:
            return _policy_of(exact[name])
        # The longest matching prefix wins, as in Consul's radix-tree lookup.
        best: tuple[int, str] | None = None
        for prefix, value in rules.get(f"{resource}_prefix", {}).items():
            if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), _policy_of(value))
        return best[1] if best else DENY

    def allowed(self, resource: str, name: str, access: str) -> bool:
        return _RANK[self.policy(resource, name)] >= _RANK[access]

    def require(self, resource: str, name: str, access: str) -> None:
        """Raise Consul's 403 ``Permission denied: ...`` unless ``resource:access`` on ``name``."""
        if not self.allowed(resource, name, access):
            accessor = self.token.accessor_id if self.token else ""
            raise errors.ConsulHTTPError(
                403, errors.permission_denied(accessor, resource, access, name)
            )


ALLOW_ALL = Authorizer(None)


class AclStore:
    """The tokens known to the emulated cluster.

    :param management_token: secret of the management token; ``None`` turns ACLs off.
    """

    def __init__(self, management_token: str | None) -> None:
        self.management_token = management_token
        self._tokens: dict[str, Token] = {}
        self.reset()

    @property
    def enabled(self) -> bool:
        return self.management_token is not None

    def is_management_secret(self, secret: str) -> bool:
        """Whether ``secret`` is the management token's (constant time); False without ACLs."""
        if self.management_token is None:
            return False
        return hmac.compare_digest(secret.encode(), self.management_token.encode())

    def reset(self) -> None:
        """Forget every token but the management one."""
        self._tokens = {}
        if self.management_token is not None:
            self._tokens[self.management_token] = Token(
                accessor_id=str(uuid.uuid4()),
                secret_id=self.management_token,
                description="Initial Management Token",
                management=True,
            )

    def create_token(self, rules: dict[str, Any], description: str = "") -> Token:
        """Create a token with ``rules`` (Consul's JSON policy syntax) and return it."""
        _validate_rules(rules)
        token = Token(
            accessor_id=str(uuid.uuid4()),
            secret_id=str(uuid.UUID(bytes=secrets.token_bytes(16))),
            description=description,
            rules={kind: dict(entries) for kind, entries in rules.items()},
        )
        self._tokens[token.secret_id] = token
        return token

    def delete_token(self, secret_id: str) -> None:
        self._tokens.pop(secret_id, None)

    def resolve(self, secret_id: str) -> Authorizer:
        """The authorizer for a request's token; 403 ``ACL not found`` for an unknown one.

        An empty secret is the anonymous token, which has no rules (default deny).
        """
        if not self.enabled:
            return ALLOW_ALL
        if not secret_id:
            return Authorizer(ANONYMOUS)
        token = self._tokens.get(secret_id)
        if token is None:
            raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
        return Authorizer(token)
