"""The shapes of keyward's JSON, for type checkers.

Keys, owners, roles, pages and usage reports are plain ``dict`` objects as the
server sends them (the ``TypedDict`` classes below only describe them), so
they work the same with any version of pydantic, or none. A verification
answer is a :class:`Verification`.

Times are RFC 3339 strings in UTC; durations are Go duration strings
(``"1m0s"``, ``"24h0m0s"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TypedDict

__all__ = [
    "RateLimit",
    "NamedRateLimit",
    "Refill",
    "Key",
    "IssuedKey",
    "KeyPage",
    "UsageBucket",
    "Usage",
    "AuditEntry",
    "AuditPage",
    "Owner",
    "OwnerPage",
    "Role",
    "RolePage",
    "RateLimitState",
    "LimitState",
    "Verification",
]


class RateLimit(TypedDict):
    """At most ``limit`` admitted in any window of ``period``."""

    limit: int
    period: str


class NamedRateLimit(TypedDict):
    """One of the named limits of a key or owner (``rate_limits``)."""

    name: str
    limit: int
    period: str


class Refill(TypedDict):
    """Resets ``remaining`` to ``amount`` at each UTC day or month."""

    interval: str
    amount: int


class Key(TypedDict, total=False):
    """A key as the server shows it; the secret is never part of it."""

    id: str
    prefix: str
    name: str
    description: str
    owner: str
    scopes: List[str]
    roles: List[str]
    metadata: Dict[str, Any]
    enabled: bool
    created_at: str
    updated_at: str
    expires_at: Optional[str]
    last_used_at: Optional[str]
    revoked_at: Optional[str]
    rate_limit: Optional[RateLimit]
    rate_limits: List[NamedRateLimit]
    remaining: Optional[int]
    refill: Optional[Refill]
    allowed_cidrs: List[str]
    replaced_by: Optional[str]
    replaces: Optional[str]
    status: str


class IssuedKey(TypedDict):
    """The answer of a create or a rotation: ``secret`` is the full key
    string, shown this once."""

    key: Key
    secret: str


class KeyPage(TypedDict, total=False):
    """A page of keys; ``next_cursor`` is absent on the last page."""

    items: List[Key]
    next_cursor: str


class UsageBucket(TypedDict):
    """Counts per outcome in one bucket of time."""

    start: str
    counts: Dict[str, int]


Usage = TypedDict(
    "Usage",
    {
        "key_id": str,
        "owner": str,
        "bucket": str,
        "from": str,
        "to": str,
        "totals": Dict[str, int],
        "series": List[UsageBucket],
    },
    total=False,
)
Usage.__doc__ = "Verifications per outcome of a key (or an owner's keys) over time."


class AuditEntry(TypedDict, total=False):
    """One admin action."""

    id: str
    at: str
    actor: str
    action: str
    key_id: str
    client_ip: str
    details: Dict[str, Any]


class AuditPage(TypedDict, total=False):
    """A page of the audit log."""

    items: List[AuditEntry]
    next_cursor: str


class Owner(TypedDict, total=False):
    """An owner record: settings shared by every key whose ``owner`` is its
    name."""

    name: str
    metadata: Dict[str, Any]
    rate_limits: List[NamedRateLimit]
    remaining: Optional[int]
    refill: Optional[Refill]
    key_count: int
    created_at: str
    updated_at: str


class OwnerPage(TypedDict, total=False):
    """A page of owner records."""

    items: List[Owner]
    next_cursor: str


class Role(TypedDict, total=False):
    """A named set of scopes that keys can hold."""

    name: str
    description: str
    scopes: List[str]
    created_at: str
    updated_at: str


class RolePage(TypedDict, total=False):
    """A page of roles."""

    items: List[Role]
    next_cursor: str


@dataclass(frozen=True)
class RateLimitState:
    """The state of one rate limit after a verification.

    Attributes:
        limit: units per period.
        remaining: units left in the current window.
        reset: seconds until a unit returns.
        name: the limit's name (``default`` for a key's ``rate_limit``).
        scope: ``key``, or ``owner`` for a limit shared by the owner's keys.
        period: the window in seconds, when known (from the answer, or
            from the key's settings); None otherwise.
    """

    limit: int
    remaining: int
    reset: int
    name: str = "default"
    scope: str = "key"
    period: Optional[int] = None

    @property
    def policy_name(self) -> str:
        """The name of the limit in the RateLimit-Policy header: ``key`` for
        a key's default limit, ``owner.<name>`` for an owner's limit, else
        its name."""
        if self.scope == "owner":
            return "owner." + self.name
        if self.name == "default":
            return "key"
        return self.name


#: LimitState is the name the contract gives each entry of ``ratelimits``.
LimitState = RateLimitState


@dataclass(frozen=True)
class Verification:
    """The answer of ``POST /v1/keys/verify``.

    Attributes:
        valid: True for ``VALID``.
        code: the outcome: ``VALID``, ``MALFORMED``, ``NOT_FOUND``,
            ``REVOKED``, ``EXPIRED``, ``DISABLED``, ``FORBIDDEN_ADDRESS``,
            ``INSUFFICIENT_SCOPE``, ``RATE_LIMITED``, ``USAGE_EXCEEDED``.
        key: the key, absent (None) for ``MALFORMED`` and ``NOT_FOUND``;
            its ``remaining`` is the count after this verification.
        ratelimit: the limit with the fewest units left, None when the key
            has no rate limit.
        ratelimits: every limit checked (key and owner), when the server
            reports them.
        missing_scope: for ``INSUFFICIENT_SCOPE``, the first scope not
            granted.
        retry_after: seconds to wait, for ``RATE_LIMITED`` (and for
            ``USAGE_EXCEEDED`` when a refill will restore credits); else 0.
        effective_scopes: the key's scopes plus its roles' scopes, when the
            server reports them; else None.
        owner: the owner record's ``{"name", "metadata", "remaining"}`` when
            the key's owner has one.
        raw: the whole answer as sent.
    """

    valid: bool
    code: str
    key: Optional[Key] = None
    ratelimit: Optional[RateLimitState] = None
    ratelimits: List[RateLimitState] = field(default_factory=list)
    missing_scope: str = ""
    retry_after: int = 0
    effective_scopes: Optional[List[str]] = None
    owner: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scopes(self) -> List[str]:
        """The scopes the key grants: the effective scopes when reported,
        else the key's own scopes; [] without a key."""
        if self.effective_scopes is not None:
            return list(self.effective_scopes)
        if self.key is not None:
            return list(self.key.get("scopes") or [])
        return []

    @property
    def limited(self) -> bool:
        """Whether the key (or its owner) has a rate limit or credits: such
        answers spend something on the server and must never be reused."""
        if self.ratelimit is not None or self.ratelimits:
            return True
        k = self.key or {}
        if k.get("rate_limit") or k.get("rate_limits") or k.get("remaining") is not None:
            return True
        o = self.owner or {}
        return o.get("remaining") is not None or bool(o.get("rate_limits"))
