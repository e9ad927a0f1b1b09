"""The asyncio client of keyward's HTTP API: :class:`AsyncClient`, the twin
of :class:`keyward.Client` with the same methods, awaited."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Optional, Sequence

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

__all__ = ["AsyncClient"]


class AsyncClient:
    """The asyncio twin of :class:`Client`: the same methods, awaited.

    ::

        async with keyward.AsyncClient(url, token) as kw:
            answer = await kw.verify(presented_key, scopes=["invoices:read"])
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = _h.DEFAULT_TIMEOUT,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.base_url = _h.base_url(base_url)
        self._headers = _h.auth_headers(token)
        self._own = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Closes the connections (unless the httpx client was given)."""
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"keyward.AsyncClient({self.base_url!r})"

    async def _send(self, call: Call[T]) -> T:
        try:
            resp = await self._http.request(
                call.method, self.base_url + call.path, params=call.params, json=call.json, headers=self._headers
            )
        except httpx.TransportError as exc:
            raise _h.unreachable(self.base_url, exc) from None
        return _h.result(call, resp)

    async def create_key(
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
        """See :meth:`Client.create_key`."""
        fields = _h.create_fields(
            name, description, owner, scopes, roles, metadata, prefix, expires_at, expires_in,
            rate_limit, rate_limits, remaining, refill, allowed_cidrs, enabled,
        )  # fmt: skip
        return await self._send(w.create_key(fields))

    async def get_key(self, key_id: str) -> Key:
        """See :meth:`Client.get_key`."""
        return await self._send(w.get_key(key_id))

    async def list_keys(
        self,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        owner: Optional[str] = None,
        status: Optional[str] = None,
        q: Optional[str] = None,
    ) -> KeyPage:
        """See :meth:`Client.list_keys`."""
        return await self._send(w.list_keys(limit=limit, cursor=cursor, owner=owner, status=status, q=q))

    async def iter_keys(
        self, *, owner: Optional[str] = None, status: Optional[str] = None, q: Optional[str] = None, page_size: int = 100
    ) -> AsyncIterator[Key]:
        """See :meth:`Client.iter_keys`; use with ``async for``."""
        cursor: Optional[str] = None
        while True:
            page = await self.list_keys(limit=page_size, cursor=cursor, owner=owner, status=status, q=q)
            for item in page.get("items") or []:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def update_key(
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
        """See :meth:`Client.update_key`."""
        fields = dict(
            name=name, description=description, owner=owner, scopes=scopes, roles=roles, metadata=metadata,
            enabled=enabled, expires_at=expires_at, expires_in=expires_in, rate_limit=rate_limit,
            rate_limits=rate_limits, remaining=remaining, refill=refill, allowed_cidrs=allowed_cidrs,
        )  # fmt: skip
        return await self._send(w.update_key(key_id, fields))

    async def revoke_key(self, key_id: str) -> Key:
        """See :meth:`Client.revoke_key`."""
        return await self._send(w.revoke_key(key_id))

    async def rotate_key(
        self,
        key_id: str,
        *,
        grace_period: Optional[Duration] = None,
        expires_at: Optional[Time] = None,
        expires_in: Optional[Duration] = None,
    ) -> IssuedKey:
        """See :meth:`Client.rotate_key`."""
        fields = dict(grace_period=grace_period, expires_at=expires_at, expires_in=expires_in)
        return await self._send(w.rotate_key(key_id, fields))

    async def delete_key(self, key_id: str) -> None:
        """See :meth:`Client.delete_key`."""
        await self._send(w.delete_key(key_id))

    async def key_usage(
        self, key_id: str, *, from_: Optional[Time] = None, to: Optional[Time] = None, bucket: Optional[str] = None
    ) -> Usage:
        """See :meth:`Client.key_usage`."""
        return await self._send(w.key_usage(key_id, from_=from_, to=to, bucket=bucket))

    async def audit(
        self, *, key_id: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> AuditPage:
        """See :meth:`Client.audit`."""
        return await self._send(w.audit(key_id=key_id, limit=limit, cursor=cursor))

    async def verify(
        self,
        key: str,
        scopes: Optional[Sequence[str]] = None,
        scope_query: Optional[str] = None,
        cost: Optional[int] = None,
        client_ip: Optional[str] = None,
    ) -> Verification:
        """See :meth:`Client.verify`."""
        return await self._send(w.verify(key, scopes, scope_query, cost, client_ip))

    async def put_owner(
        self,
        name: str,
        *,
        metadata: Optional[Dict[str, Any]] = None,
        rate_limits: Optional[Sequence[Dict[str, Any]]] = None,
        remaining: Optional[int] = None,
        refill: Optional[Refill] = None,
    ) -> Owner:
        """See :meth:`Client.put_owner`."""
        fields = dict(metadata=metadata, rate_limits=rate_limits, remaining=remaining, refill=refill)
        return await self._send(w.put_owner(name, fields))

    async def update_owner(
        self,
        name: str,
        *,
        metadata: Any = UNSET,
        rate_limits: Any = UNSET,
        remaining: Any = UNSET,
        refill: Any = UNSET,
    ) -> Owner:
        """See :meth:`Client.update_owner`."""
        fields = dict(metadata=metadata, rate_limits=rate_limits, remaining=remaining, refill=refill)
        return await self._send(w.update_owner(name, fields))

    async def get_owner(self, name: str) -> Owner:
        """See :meth:`Client.get_owner`."""
        return await self._send(w.get_owner(name))

    async def list_owners(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, q: Optional[str] = None
    ) -> OwnerPage:
        """See :meth:`Client.list_owners`."""
        return await self._send(w.list_owners(limit=limit, cursor=cursor, q=q))

    async def delete_owner(self, name: str) -> None:
        """See :meth:`Client.delete_owner`."""
        await self._send(w.delete_owner(name))

    async def owner_usage(
        self, name: str, *, from_: Optional[Time] = None, to: Optional[Time] = None, bucket: Optional[str] = None
    ) -> Usage:
        """See :meth:`Client.owner_usage`."""
        return await self._send(w.owner_usage(name, from_=from_, to=to, bucket=bucket))

    async def put_role(
        self, name: str, *, scopes: Optional[Sequence[str]] = None, description: Optional[str] = None
    ) -> Role:
        """See :meth:`Client.put_role`."""
        return await self._send(w.put_role(name, dict(scopes=scopes, description=description)))

    async def get_role(self, name: str) -> Role:
        """See :meth:`Client.get_role`."""
        return await self._send(w.get_role(name))

    async def list_roles(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, q: Optional[str] = None
    ) -> RolePage:
        """See :meth:`Client.list_roles`."""
        return await self._send(w.list_roles(limit=limit, cursor=cursor, q=q))

    async def delete_role(self, name: str) -> None:
        """See :meth:`Client.delete_role`."""
        await self._send(w.delete_role(name))
