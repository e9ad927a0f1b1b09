"""What both clients share: the URL and credential checks, reading an
answer, building a create body."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import httpx

from ._wire import Call, Duration, T, Time
from .errors import KeywardError, Unavailable, error_from_response
from .types import Refill

DEFAULT_TIMEOUT = 10.0


def base_url(base_url: str) -> str:
    u = httpx.URL(base_url)
    if u.scheme not in ("http", "https") or not u.host:
        raise ValueError(f"keyward: {base_url!r} is not an http:// or https:// URL")
    return str(base_url).rstrip("/")


def auth_headers(token: str) -> Dict[str, str]:
    if not isinstance(token, str) or not token:
        raise ValueError("keyward: the client needs a token (an admin credential or a keyward:verify key)")
    return {"Authorization": "Bearer " + token, "Accept": "application/json"}


def result(call: Call[T], resp: httpx.Response) -> T:
    if resp.status_code >= 400:
        raise error_from_response(resp.status_code, resp.content, resp.headers.get("retry-after"))
    if resp.status_code == 204 or not resp.content:
        return call.parse(None)
    try:
        doc = resp.json()
    except ValueError:
        raise KeywardError(resp.status_code, "INTERNAL", "the server's answer is not JSON") from None
    return call.parse(doc)


def unreachable(base: str, exc: Exception) -> Unavailable:
    return Unavailable(None, "UNAVAILABLE", f"cannot reach keyward at {base}: {type(exc).__name__}")


def create_fields(
    name: str,
    description: Optional[str],
    owner: Optional[str],
    scopes: Optional[Sequence[str]],
    roles: Optional[Sequence[str]],
    metadata: Optional[Dict[str, Any]],
    prefix: Optional[str],
    expires_at: Optional[Time],
    expires_in: Optional[Duration],
    rate_limit: Optional[Dict[str, Any]],
    rate_limits: Optional[Sequence[Dict[str, Any]]],
    remaining: Optional[int],
    refill: Optional[Refill],
    allowed_cidrs: Optional[Sequence[str]],
    enabled: Optional[bool],
) -> Dict[str, Any]:
    return dict(
        name=name,
        description=description,
        owner=owner,
        scopes=scopes,
        roles=roles,
        metadata=metadata,
        prefix=prefix,
        expires_at=expires_at,
        expires_in=expires_in,
        rate_limit=rate_limit,
        rate_limits=rate_limits,
        remaining=remaining,
        refill=refill,
        allowed_cidrs=allowed_cidrs,
        enabled=enabled,
    )
