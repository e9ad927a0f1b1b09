"""The blocking client of keyward's HTTP API, :class:`Client`; :class:`keyward.AsyncClient`
has the same methods, awaited.

The token is an admin credential (a key with scope ``keyward:admin``, or the
server's ``KEYWARD_ADMIN_TOKEN``) for the admin methods; for :meth:`verify`
alone, a key with scope ``keyward:verify`` is enough and safer to hand to a
service.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence

import httpx

from . import _http as _h
from . import _wire as w
from ._wire import UNSET, Call, Duration, T, Time
from .types import (
    AuditPage,
    IssuedKey,
    Key,
    KeyPage,
    Owner,
    OwnerPage,
    Refill,
    Role,
    RolePage,
    Usage,
    Verification,
)

__all__ = ["Client", "UNSET"]


class Client:
    """A blocking client of one keyward server, with one credential.

    ::

        with keyward.Client("http://127.0.0.1:8080", os.environ["KEYWARD_TOKEN"]) as kw:
            issued = kw.create_key("billing", scopes=["invoices:read"])
            print(issued["secret"])  # shown once

    Every method raises a :class:`keyward.KeywardError` subclass when the
    server refuses (``NotFound``, ``Conflict``, ``ValidationFailed``, ...)
    and :class:`keyward.Unavailable` when it cannot be reached. Safe to use
    from several threads.

    Args:
        base_url: the server, ``http://`` or ``https://``.
        token: an admin credential, or a ``keyward:verify`` key for
            :meth:`verify` alone.
        timeout: seconds for each request.
        http_client: an ``httpx.Client`` of your own (proxies, TLS, event
            hooks); the client's token is sent on each request, and the
            ``httpx.Client`` is not closed by :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = _h.DEFAULT_TIMEOUT,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self.base_url = _h.base_url(base_url)
        self._headers = _h.auth_headers(token)
        self._own = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Closes the connections (unless the httpx client was given)."""
        if self._own:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"keyward.Client({self.base_url!r})"  # never the token

    def _send(self, call: Call[T]) -> T:
        try:
            resp = self._http.request(
                call.method, self.base_url + call.path, params=call.params, json=call.json, headers=self._headers
            )
        except httpx.TransportError as exc:
            raise _h.unreachable(self.base_url, exc) from None
        return _h.result(call, resp)

    # Keys.

    def create_key(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        owner: Optional[str] = None,
        scopes: Optional[Sequence[str]] = None,
        roles: Optional[Sequence[str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        prefix: Optional[str] = None,
        expires_at: Optional[Time] = None,
        expires_in: Optional[Duration] = None,
        rate_limit: Optional[Dict[str, Any]] = None,
        rate_limits: Optional[Sequence[Dict[str, Any]]] = None,
        remaining: Optional[int] = None,
        refill: Optional[Refill] = None,
        allowed_cidrs: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> IssuedKey:
        """Creates a key (``POST /v1/keys``) and returns
        ``{"key": {...}, "secret": "<the full key, shown once>"}``.

        Durations (``expires_in``, a rate limit's ``period``) are Go duration
        strings (``"720h"``), ``timedelta`` objects or seconds; times are
        RFC 3339 strings or ``datetime`` objects. Arguments left at None are
        not sent (the server's defaults apply).
        """
        fields = _h.create_fields(
            name, description, owner, scopes, roles, metadata, prefix, expires_at, expires_in,
            rate_limit, rate_limits, remaining, refill, allowed_cidrs, enabled,
        )  # fmt: skip
        return self._send(w.create_key(fields))

    def get_key(self, key_id: str) -> Key:
        """Returns the key with this id (``GET /v1/keys/{id}``)."""
        return self._send(w.get_key(key_id))

    def list_keys(
        self,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        owner: Optional[str] = None,
        status: Optional[str] = None,
        q: Optional[str] = None,
    ) -> KeyPage:
        """Returns one page of keys, newest first (``GET /v1/keys``):
        ``{"items": [...], "next_cursor": "..."}``, ``next_cursor`` absent on
        the last page. ``status`` is ``active``, ``disabled``, ``revoked`` or
        ``expired``; ``q`` a case-insensitive name substring."""
        return self._send(w.list_keys(limit=limit, cursor=cursor, owner=owner, status=status, q=q))

    def iter_keys(
        self, *, owner: Optional[str] = None, status: Optional[str] = None, q: Optional[str] = None, page_size: int = 100
    ) -> Iterator[Key]:
        """Yields every key that matches, page after page."""
        cursor: Optional[str] = None
        while True:
            page = self.list_keys(limit=page_size, cursor=cursor, owner=owner, status=status, q=q)
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def update_key(
        self,
        key_id: str,
        *,
        name: Any = UNSET,
        description: Any = UNSET,
        owner: Any = UNSET,
        scopes: Any = UNSET,
        roles: Any = UNSET,
        metadata: Any = UNSET,
        enabled: Any = UNSET,
        expires_at: Any = UNSET,
        expires_in: Any = UNSET,
        rate_limit: Any = UNSET,
        rate_limits: Any = UNSET,
        remaining: Any = UNSET,
        refill: Any = UNSET,
        allowed_cidrs: Any = UNSET,
    ) -> Key:
        """Changes the fields given (``PATCH /v1/keys/{id}``) and returns the
        key. None clears a field that may be null (``expires_at``,
        ``rate_limit``, ``remaining``, ``refill``). A revoked key cannot be
        changed (:class:`keyward.Conflict`)."""
        fields = dict(
            name=name, description=description, owner=owner, scopes=scopes, roles=roles, metadata=metadata,
            enabled=enabled, expires_at=expires_at, expires_in=expires_in, rate_limit=rate_limit,
            rate_limits=rate_limits, remaining=remaining, refill=refill, allowed_cidrs=allowed_cidrs,
        )  # fmt: skip
        return self._send(w.update_key(key_id, fields))

    def revoke_key(self, key_id: str) -> Key:
        """Revokes the key (final; revoking again changes nothing) and
        returns it."""
        return self._send(w.revoke_key(key_id))

    def rotate_key(
        self,
        key_id: str,
        *,
        grace_period: Optional[Duration] = None,
        expires_at: Optional[Time] = None,
        expires_in: Optional[Duration] = None,
    ) -> IssuedKey:
        """Issues a successor with every setting copied and returns it with
        its secret. The old key keeps working for ``grace_period`` (server
        default 1h; ``"0s"`` ends it now)."""
        fields = dict(grace_period=grace_period, expires_at=expires_at, expires_in=expires_in)
        return self._send(w.rotate_key(key_id, fields))

    def delete_key(self, key_id: str) -> None:
        """Deletes the key; its usage and audit entries are kept."""
        self._send(w.delete_key(key_id))

    def key_usage(
        self, key_id: str, *, from_: Optional[Time] = None, to: Optional[Time] = None, bucket: Optional[str] = None
    ) -> Usage:
        """Returns the key's verifications per outcome over time (``GET
        /v1/keys/{id}/usage``); default the last 24 hours by ``hour``
        (``minute``, ``hour`` or ``day``)."""
        return self._send(w.key_usage(key_id, from_=from_, to=to, bucket=bucket))

    def audit(
        self, *, key_id: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> AuditPage:
        """Returns a page of admin actions, newest first (``GET /v1/audit``)."""
        return self._send(w.audit(key_id=key_id, limit=limit, cursor=cursor))

    # Verification.

    def verify(
        self,
        key: str,
        scopes: Optional[Sequence[str]] = None,
        scope_query: Optional[str] = None,
        cost: Optional[int] = None,
        client_ip: Optional[str] = None,
    ) -> Verification:
        """Verifies a key your caller presented (``POST /v1/keys/verify``)
        and spends its cost (default 1; 0 checks without spending).

        Every outcome is an answer (read ``valid`` and ``code``); an error is
        raised only when the server cannot answer or refuses this client's
        credential. ``scopes`` are all required; ``scope_query`` is an
        expression such as ``"invoices:read and (invoices:write or
        billing:admin)"``; ``client_ip`` is your caller's address, for keys
        limited to address ranges.
        """
        return self._send(w.verify(key, scopes, scope_query, cost, client_ip))

    # Owners.

    def put_owner(
        self,
        name: str,
        *,
        metadata: Optional[Dict[str, Any]] = None,
        rate_limits: Optional[Sequence[Dict[str, Any]]] = None,
        remaining: Optional[int] = None,
        refill: Optional[Refill] = None,
    ) -> Owner:
        """Creates or replaces the owner record ``name`` (``PUT
        /v1/owners/{name}``): its limits and credits are shared by every key
        whose ``owner`` is ``name``. Arguments left out take their
        defaults."""
        fields = dict(metadata=metadata, rate_limits=rate_limits, remaining=remaining, refill=refill)
        return self._send(w.put_owner(name, fields))

    def update_owner(
        self,
        name: str,
        *,
        metadata: Any = UNSET,
        rate_limits: Any = UNSET,
        remaining: Any = UNSET,
        refill: Any = UNSET,
    ) -> Owner:
        """Changes some fields of an owner record (``PATCH``), e.g. tops up
        ``remaining``; None clears a nullable field."""
        fields = dict(metadata=metadata, rate_limits=rate_limits, remaining=remaining, refill=refill)
        return self._send(w.update_owner(name, fields))

    def get_owner(self, name: str) -> Owner:
        """Returns the owner record ``name``."""
        return self._send(w.get_owner(name))

    def list_owners(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, q: Optional[str] = None
    ) -> OwnerPage:
        """Returns a page of owner records, by name."""
        return self._send(w.list_owners(limit=limit, cursor=cursor, q=q))

    def delete_owner(self, name: str) -> None:
        """Deletes the owner record; keys keep their ``owner`` string."""
        self._send(w.delete_owner(name))

    def owner_usage(
        self, name: str, *, from_: Optional[Time] = None, to: Optional[Time] = None, bucket: Optional[str] = None
    ) -> Usage:
        """Returns the usage summed over the owner's keys."""
        return self._send(w.owner_usage(name, from_=from_, to=to, bucket=bucket))

    # Roles.

    def put_role(
        self, name: str, *, scopes: Optional[Sequence[str]] = None, description: Optional[str] = None
    ) -> Role:
        """Creates or replaces the role ``name``, a named set of scopes."""
        return self._send(w.put_role(name, dict(scopes=scopes, description=description)))

    def get_role(self, name: str) -> Role:
        """Returns the role ``name``."""
        return self._send(w.get_role(name))

    def list_roles(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, q: Optional[str] = None
    ) -> RolePage:
        """Returns a page of roles."""
        return self._send(w.list_roles(limit=limit, cursor=cursor, q=q))

    def delete_role(self, name: str) -> None:
        """Deletes the role (:class:`keyward.Conflict` while a key has it)."""
        self._send(w.delete_role(name))
