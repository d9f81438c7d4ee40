"""ACL tokens: one management token plus namespace/capability tokens made by the control API.

Nomad answers differently depending on where the token is resolved (``nomad/auth/auth.go``):
server RPCs authenticate first and turn any failure, an unknown token included, into
``Permission denied``; the client's filesystem endpoints resolve the token themselves and say
``ACL token not found``. :meth:`Acl.check` returns which of the two applies.
"""

from __future__ import annotations

import fnmatch
import hmac
import uuid
from dataclasses import dataclass, field

from . import errors

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
    }
)


@dataclass
class Token:
    """An ACL token. ``repr`` never shows the secret."""

    accessor_id: str
    secret_id: str = field(repr=False)
    name: str = ""
    management: bool = False
    namespaces: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()

    def allows(self, namespace: str, capability: str) -> bool:
        if self.management:
            return True
        if "deny" in self.capabilities:
            return False
        if not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.namespaces):
            return False
        return capability in self.capabilities


class Acl:
    """Token store and checks.

    :param enabled: whether ACLs are enforced at all.
    :param management_secret: the management token's secret (kept across resets).
    """

    def __init__(self, enabled: bool, management_secret: str | None = None) -> None:
        self.enabled = enabled
        self.management = Token(
            accessor_id=str(uuid.uuid4()),
            secret_id=management_secret or str(uuid.uuid4()),
            name="Bootstrap Token",
            management=True,
        )
        self._tokens: dict[str, Token] = {}
        self.reset()

    def reset(self) -> None:
        self._tokens = {self.management.secret_id: self.management}

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
        self._tokens[token.secret_id] = token
        return token

    def resolve(self, secret: str) -> Token | None:
        return self._tokens.get(secret)

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
        if token is None or not any(token.allows(namespace, cap) for cap in capabilities):
            raise _denied(client, errors.PERMISSION_DENIED)

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
        return [n for n in names if token.allows(n, capability)]


def _denied(client_status: int | None, message: str) -> errors.NomadError:
    # Server RPCs: 403 "Permission denied" for any authentication failure.
    if client_status is not None:
        return errors.NomadError(client_status, message)
    return errors.forbidden(errors.PERMISSION_DENIED)
