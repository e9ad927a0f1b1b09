"""A FastAPI dependency that guards routes with keyward API keys.

::

    from fastapi import Depends, FastAPI
    import keyward
    from keyward.fastapi import KeywardAuth, VerifiedKey, install

    app = FastAPI()
    install(app)  # rejections as application/problem+json, like keyward's own
    kw = keyward.AsyncClient("http://127.0.0.1:8080", os.environ["KEYWARD_VERIFY_KEY"])
    read_invoices = KeywardAuth(kw, scopes=["invoices:read"])

    @app.get("/invoices")
    async def invoices(key: VerifiedKey = Depends(read_invoices)):
        return {"owner": key.owner}

The key is read from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``
(the Authorization header wins), verified with ``POST /v1/keys/verify`` and
either handed to the route as a :class:`VerifiedKey` or refused with the
status and headers of keyward's own middleware (see :mod:`keyward.responses`).
Both headers are declared as security schemes, so ``/docs`` gets an
Authorize button.

VALID answers for keys without rate limits or credits (and whose owner has
none) are kept for ``ttl`` seconds (default 10), so most requests make no
round trip to keyward; a key revoked meanwhile is refused once its answer is
older than ``ttl``. Answers of limited keys are never reused: the server
must count each request. When keyward cannot be reached, a key that is not
cached is answered 503 (code ``UNAVAILABLE``), never let through.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import ipaddress
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from fastapi import FastAPI, Request, Response, Security
from fastapi.exceptions import HTTPException
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from .async_client import AsyncClient
from .client import Client
from .errors import KeywardError, Unavailable
from .responses import Rejection, missing, ratelimit_headers, rejection, unavailable
from .types import Key, Verification

__all__ = ["KeywardAuth", "VerifiedKey", "KeywardRejection", "rejection_handler", "install"]

log = logging.getLogger("keyward.fastapi")


@dataclass(frozen=True)
class VerifiedKey:
    """The key a request presented, as keyward verified it. Cached answers
    share one VerifiedKey between requests: treat it as read-only.

    Attributes:
        id: the key's public id (safe to log).
        name: its name.
        owner: who it belongs to ("" for none).
        scopes: the scopes it grants (effective scopes, roles included,
            when the server reports them).
        metadata: its metadata object.
        key: the whole key object, as ``GET /v1/keys/{id}`` shows it.
        verification: the whole answer of the verification.
    """

    id: str
    name: str
    owner: str
    scopes: List[str]
    metadata: Dict[str, Any]
    key: Key = field(repr=False)
    verification: Verification = field(repr=False)

    @classmethod
    def from_verification(cls, v: Verification) -> "VerifiedKey":
        """Builds the VerifiedKey of a VALID answer."""
        k: Any = v.key or {}
        return cls(
            id=k.get("id", ""),
            name=k.get("name", ""),
            owner=k.get("owner", "") or "",
            scopes=v.scopes,
            metadata=dict(k.get("metadata") or {}),
            key=k,
            verification=v,
        )


class KeywardRejection(HTTPException):
    """Raised by :class:`KeywardAuth` to refuse a request. Its status and
    headers are those of keyward's middleware; :func:`install` makes its
    body the problem document. Without it FastAPI's default handler answers
    ``{"detail": <the problem document>}`` with the same status and headers.
    """

    def __init__(self, r: Rejection) -> None:
        super().__init__(status_code=r.status, detail=r.problem, headers=dict(r.headers))
        self.rejection = r


async def rejection_handler(request: Request, exc: Exception) -> Response:
    """Answers a :class:`KeywardRejection` with its problem document
    (``application/problem+json``)."""
    r: Rejection = exc.rejection  # type: ignore[attr-defined]
    return Response(content=r.body, status_code=r.status, headers=r.headers, media_type=r.content_type)


def install(app: FastAPI) -> None:
    """Registers :func:`rejection_handler` on the app, so that refused
    requests get keyward's problem+json bodies."""
    app.add_exception_handler(KeywardRejection, rejection_handler)


class _Cache:
    """A bounded map of request digests to verified keys and the clock time
    until which each may be reused: ttl after the answer, or the key's
    expiry if sooner. Thread-safe: sync clients verify in FastAPI's thread
    pool."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.ttl, self.max, self.clock = ttl, max_entries, clock
        self._d: "OrderedDict[bytes, Tuple[float, VerifiedKey]]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k: bytes) -> Optional[VerifiedKey]:
        now = self.clock()
        with self._lock:
            e = self._d.get(k)
            if e is None:
                return None
            if now >= e[0]:
                del self._d[k]
                return None
            return e[1]

    def put(self, k: bytes, v: VerifiedKey) -> None:
        life = min(self.ttl, _seconds_left(v.key.get("expires_at")))
        if life <= 0:
            return
        until = self.clock() + life
        with self._lock:
            self._d[k] = (until, v)
            self._d.move_to_end(k)
            while len(self._d) > self.max:
                self._d.popitem(last=False)

    def drop(self, k: bytes) -> None:
        with self._lock:
            self._d.pop(k, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)


def _parse_time(s: str) -> Optional[datetime]:
    s = s.replace("Z", "+00:00")
    # Python < 3.11 reads at most 6 digits of a fraction: drop the others.
    s = re.sub(r"(\.\d{6})\d+", r"\1", s)
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def _seconds_left(expires_at: Optional[str]) -> float:
    """Seconds until an RFC 3339 expiry (inf for none, 0 if unreadable)."""
    if not expires_at:
        return math.inf
    t = _parse_time(expires_at)
    if t is None:
        return 0.0
    return (t - datetime.now(timezone.utc)).total_seconds()


def _trim(s: str) -> str:
    return s.strip(" \t")


def key_from_headers(authorization: Optional[str], x_api_key: Optional[str]) -> str:
    """Returns the key of a request's headers as keyward's middleware reads
    it: ``Authorization: Bearer <key>`` (scheme in any case), else
    ``X-API-Key``; another scheme or an empty Bearer carries no key. "" for
    none."""
    if authorization is not None:
        v = _trim(authorization)
        if len(v) > 6 and v[:6].lower() == "bearer" and v[6] in " \t":
            k = _trim(v[7:])
            if k:
                return k
    if x_api_key is not None:
        return _trim(x_api_key)
    return ""


@functools.lru_cache(maxsize=4096)
def _as_ip(host: str) -> Optional[str]:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def peer_ip(request: Request) -> Optional[str]:
    """The request's peer address, or None when it is not an IP address
    (FastAPI's TestClient calls itself "testclient")."""
    client = request.scope.get("client")
    return _as_ip(client[0]) if client and client[0] else None


class KeywardAuth:
    """A FastAPI dependency that lets through requests with a valid keyward
    key and refuses the others exactly as keyward's middleware does.

    Args:
        client: a :class:`keyward.AsyncClient` (or a :class:`keyward.Client`,
            called in FastAPI's thread pool) whose token is a key with scope
            ``keyward:verify`` (or an admin credential).
        scopes: scopes the key must grant, all of them.
        scope_query: a scope expression the key must satisfy, e.g.
            ``"invoices:read and (invoices:write or billing:admin)"``.
        cost: units of rate limit and credits each request spends (server
            default 1).
        ttl: seconds a VALID answer of an unlimited key is reused; 0 turns
            the cache off.
        max_entries: bound of the cache.
        clock: the cache's clock, in seconds (tests pass a fake one).
        client_ip: a function of the request that returns the caller's
            address for keys limited to address ranges; default the peer
            address. Behind a proxy, run uvicorn with ``--proxy-headers``
            and ``--forwarded-allow-ips`` so that the peer is the caller.
        allow_query_key: also read the ``api_key`` query parameter when no
            header carries a key (off: URLs end up in logs).
        bearer_scheme_name, header_scheme_name: the names of the two
            security schemes in the OpenAPI document.
    """

    def __init__(
        self,
        client: Union[AsyncClient, Client],
        *,
        scopes: Optional[Sequence[str]] = None,
        scope_query: Optional[str] = None,
        cost: Optional[int] = None,
        ttl: float = 10.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        client_ip: Callable[[Request], Optional[str]] = peer_ip,
        allow_query_key: bool = False,
        bearer_scheme_name: str = "KeywardBearer",
        header_scheme_name: str = "KeywardApiKey",
        _cache: Optional[_Cache] = None,
    ) -> None:
        if isinstance(scopes, str):
            raise TypeError("keyward: scopes is a list of scopes, not a str")
        if ttl < 0:
            raise ValueError("keyward: ttl cannot be negative")
        self.client = client
        self.scopes: List[str] = list(scopes or [])
        self.scope_query = scope_query or None
        self.cost = cost
        self.client_ip = client_ip
        self.allow_query_key = allow_query_key
        self._async = inspect.iscoroutinefunction(getattr(client, "verify", None))
        self._cache = _cache or _Cache(ttl, max_entries, clock)
        self._names = (bearer_scheme_name, header_scheme_name)
        bearer = HTTPBearer(
            auto_error=False,
            scheme_name=bearer_scheme_name,
            description="A keyward API key: `Authorization: Bearer <key>`.",
        )
        header = APIKeyHeader(
            name="X-API-Key",
            auto_error=False,
            scheme_name=header_scheme_name,
            description="A keyward API key in the X-API-Key header.",
        )
        # FastAPI reads a dependency's parameters from its signature: the two
        # schemes are declared there so that the OpenAPI document lists them.
        P = inspect.Parameter
        self.__signature__ = inspect.Signature(
            [
                P("request", P.POSITIONAL_OR_KEYWORD, annotation=Request),
                P("response", P.POSITIONAL_OR_KEYWORD, annotation=Response),
                P("bearer", P.POSITIONAL_OR_KEYWORD, default=Security(bearer),
                  annotation=Optional[HTTPAuthorizationCredentials]),
                P("x_api_key", P.POSITIONAL_OR_KEYWORD, default=Security(header), annotation=Optional[str]),
            ],
            return_annotation=VerifiedKey,
        )  # fmt: skip

    def with_scopes(
        self, scopes: Optional[Sequence[str]] = None, scope_query: Optional[str] = None, cost: Optional[int] = None
    ) -> "KeywardAuth":
        """Returns a dependency with other requirements that shares this
        one's client, cache and options::

            auth = KeywardAuth(kw)
            write = auth.with_scopes(["invoices:write"])
        """
        return KeywardAuth(
            self.client,
            scopes=scopes,
            scope_query=scope_query,
            cost=cost,
            client_ip=self.client_ip,
            allow_query_key=self.allow_query_key,
            bearer_scheme_name=self._names[0],
            header_scheme_name=self._names[1],
            _cache=self._cache,
        )

    def __repr__(self) -> str:
        return f"KeywardAuth(scopes={self.scopes!r}, scope_query={self.scope_query!r})"

    def _digest(self, key: str, ip: Optional[str]) -> bytes:
        parts = [key, ",".join(self.scopes), self.scope_query or "", "" if self.cost is None else str(self.cost), ip or ""]
        return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).digest()

    async def _verify(self, key: str, ip: Optional[str]) -> Verification:
        args = (key, self.scopes or None, self.scope_query, self.cost, ip)
        if isinstance(self.client, AsyncClient) or self._async:
            return await self.client.verify(*args)  # type: ignore[no-any-return,misc]
        return await run_in_threadpool(self.client.verify, *args)

    async def verify_request(self, request: Request) -> Tuple[Optional[VerifiedKey], Optional[Rejection], Dict[str, str]]:
        """Verifies the key of a request without raising: returns the
        verified key, or the rejection to answer, and the rate-limit headers
        of a success. For middleware and code outside a dependency."""
        key = key_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if not key and self.allow_query_key:
            key = _trim(request.query_params.get("api_key") or "")
        if not key:
            return None, missing(), {}
        ip = self.client_ip(request)
        digest = self._digest(key, ip)
        cached = self._cache.get(digest) if self._cache.ttl > 0 else None
        if cached is not None:
            return cached, None, {}
        try:
            v = await self._verify(key, ip)
        except Unavailable as exc:
            log.warning("keyward: cannot verify a key: %s", exc)
            return None, unavailable(), {}
        except KeywardError as exc:
            # The server refused this service's own credential, or the scope
            # query: the key cannot be checked.
            log.error("keyward: the verify request was refused: %s", exc)
            return None, unavailable(), {}
        r = rejection(v)
        if r is not None:
            self._cache.drop(digest)
            return None, r, {}
        verified = VerifiedKey.from_verification(v)
        if self._cache.ttl > 0 and not v.limited:
            self._cache.put(digest, verified)
        return verified, None, ratelimit_headers(v)

    async def __call__(
        self,
        request: Request,
        response: Response,
        bearer: Optional[HTTPAuthorizationCredentials] = None,
        x_api_key: Optional[str] = None,
    ) -> VerifiedKey:
        verified, refused, headers = await self.verify_request(request)
        if refused is not None:
            raise KeywardRejection(refused)
        for name, value in headers.items():
            response.headers[name] = value
        assert verified is not None
        return verified
