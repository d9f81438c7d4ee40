"""What a resolved ACL token may do, and the 403 texts a real agent answers when it may not.

A token's rules come from its policies, roles, service/node identities and templated policies
(see :mod:`.acl_store`), merged as Consul merges them, or, for tokens minted by the emulator's
control API, from the rules given there. The default policy is ``deny``, as in any production
cluster; the management token (the emulator's ``acl_token``) is allowed everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl_rules import DENY, LIST, READ, WRITE, Rules

__all__ = ["ALLOW_ALL", "DENY", "LIST", "READ", "WRITE", "Authorizer", "Identity"]

#: Which granted levels satisfy a requested one (``list`` lets a key prefix be listed only).
_SATISFIES = {READ: {READ, WRITE}, LIST: {LIST, READ, WRITE}, WRITE: {WRITE}}


@dataclass(frozen=True)
class Identity:
    """Who a request is: the token's accessor (its secret is never kept here)."""

    accessor_id: str
    management: bool = False


class Authorizer:
    """What one resolved token may do. ``identity=None`` means ACLs are off: all allowed."""

    def __init__(self, identity: Identity | None, rules: Rules | None = None) -> None:
        self.token = identity
        self.rules = rules or Rules()

    @property
    def is_anonymous(self) -> bool:
        return (
            self.token is not None and self.token.accessor_id == errors.ANONYMOUS_TOKEN_ACCESSOR_ID
        )

    def policy(self, resource: str, name: str) -> str:
        if self.token is None or self.token.management:
            return WRITE
        return self.rules.access(resource, name)

    def allowed(self, resource: str, name: str, access: str) -> bool:
        return self.policy(resource, name) in _SATISFIES[access]

    def require(self, resource: str, name: str, access: str) -> None:
        """Raise Consul's 403 ``Permission denied: ...`` unless ``resource:access`` on ``name``."""
        if not self.allowed(resource, name, access):
            accessor = self.token.accessor_id if self.token else ""
            raise errors.ConsulHTTPError(
                403, errors.permission_denied(accessor, resource, access, name or None)
            )


ALLOW_ALL = Authorizer(None)
