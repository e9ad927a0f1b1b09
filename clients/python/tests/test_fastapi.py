"""keyward.fastapi.KeywardAuth against a real keyward serve.

The dependency's answers are compared with those of keyward's own middleware
(``/v1/auth``, which is httpauth) for the same kinds of keys: same status,
WWW-Authenticate, Retry-After, RateLimit-Policy, X-Keyward-Code and problem
code. The FastAPI app runs under uvicorn on loopback, so its peer address is
127.0.0.1 as keyward's is.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

import keyward
from keyward.fastapi import KeywardAuth, VerifiedKey, install


NewKey = Callable[..., Tuple[Dict[str, Any], str]]


class ServedApp:
    """An ASGI app served by uvicorn in a thread on a free loopback port, so
    that requests reach it over real HTTP from 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_app(client: Any, **auth_options: Any) -> Tuple[FastAPI, KeywardAuth]:
    app = FastAPI()
    install(app)
    auth = KeywardAuth(client, **auth_options)
    read = auth.with_scopes(["invoices:read"])

    @app.get("/open")
    async def open_route(key: VerifiedKey = Depends(auth)) -> Dict[str, Any]:
        return {"id": key.id, "owner": key.owner, "scopes": key.scopes}

    @app.get("/invoices")
    def invoices(key: VerifiedKey = Depends(read)) -> Dict[str, Any]:  # a sync route works too
        return {"id": key.id, "owner": key.owner, "scopes": key.scopes}

    @app.get("/ping", dependencies=[Depends(auth)])
    async def ping() -> Dict[str, str]:
        return {"pong": "yes"}

    return app, auth


@pytest.fixture(scope="module")
def served(server, verify_token: str) -> Iterator[ServedApp]:
    """The app with an AsyncClient, under uvicorn."""
    kw = keyward.AsyncClient(server.url, verify_token)
    app, _ = make_app(kw)
    s = ServedApp(app)
    try:
        yield s
    finally:
        s.stop()


def _ratelimit_r(v: Optional[str]) -> Optional[str]:
    """The policy name and remaining units of a RateLimit value (t may
    differ by a second)."""
    return v.rsplit(";t=", 1)[0] if v else v


def answer(resp: httpx.Response) -> Dict[str, Any]:
    """What must match between keyward's middleware and the dependency."""
    h = resp.headers
    out = {
        "status": resp.status_code,
        "www-authenticate": h.get("www-authenticate"),
        "retry-after": h.get("retry-after") is not None,
        "x-keyward-code": h.get("x-keyward-code"),
        "ratelimit-policy": h.get("ratelimit-policy"),
        "ratelimit": _ratelimit_r(h.get("ratelimit")),
    }
    if resp.status_code >= 400:
        out["content-type"] = h.get("content-type")
        out["code"] = resp.json().get("code")
    return out


def keyward_auth(server, headers: Dict[str, str], scopes: Optional[List[str]] = None) -> httpx.Response:
    params = {"scopes": ",".join(scopes)} if scopes else None
    return httpx.get(server.url + "/v1/auth", headers=headers, params=params, timeout=5)


def fastapi_get(served: ServedApp, headers: Dict[str, str], scopes: Optional[List[str]] = None) -> httpx.Response:
    path = "/invoices" if scopes == ["invoices:read"] else "/open"
    return httpx.get(served.url + path, headers=headers, timeout=5)


def bearer(secret: str) -> Dict[str, str]:
    return {"Authorization": "Bearer " + secret}


# Each case: key settings (None: no key), how to present it, route scopes,
# what to do to the key first, and the code both must answer.
CASES: Dict[str, Tuple[Optional[Dict[str, Any]], str, Optional[List[str]], Optional[str], str]] = {
    "valid": ({}, "bearer", None, None, "VALID"),
    "valid x-api-key": ({}, "x-api-key", None, None, "VALID"),
    "valid lower-case bearer": ({}, "bearer-lower", None, None, "VALID"),
    "valid with scope": ({"scopes": ["invoices:*"]}, "bearer", ["invoices:read"], None, "VALID"),
    "valid rate-limited key": ({"rate_limit": {"limit": 5, "period": "1h"}}, "bearer", None, None, "VALID"),
    "valid allowed address": ({"allowed_cidrs": ["127.0.0.0/8"]}, "bearer", None, None, "VALID"),
    "missing": (None, "none", None, None, "MISSING"),
    "basic auth is no key": (None, "basic", None, None, "MISSING"),
    "malformed": (None, "garbage", None, None, "MALFORMED"),
    "not found": ({}, "bearer", None, "delete", "NOT_FOUND"),
    "revoked": ({}, "bearer", None, "revoke", "REVOKED"),
    "expired": ({}, "bearer", None, "expire", "EXPIRED"),
    "disabled": ({"enabled": False}, "bearer", None, None, "DISABLED"),
    "forbidden address": ({"allowed_cidrs": ["192.0.2.0/24"]}, "bearer", None, None, "FORBIDDEN_ADDRESS"),
    "insufficient scope": ({"scopes": ["other"]}, "bearer", ["invoices:read"], None, "INSUFFICIENT_SCOPE"),
    "rate limited": ({"rate_limit": {"limit": 1, "period": "1h"}}, "bearer", None, "spend", "RATE_LIMITED"),
    "no credits": ({"remaining": 0}, "bearer", None, None, "USAGE_EXCEEDED"),
    "no credits, rate-limited key": ({"remaining": 0, "rate_limit": {"limit": 5, "period": "1m"}}, "bearer", None, None, "USAGE_EXCEEDED"),
    "no credits until refill": (
        {"remaining": 1, "refill": {"interval": "daily", "amount": 5}},
        "bearer",
        None,
        "spend",
        "USAGE_EXCEEDED",
    ),
}


def _prepare(
    admin: keyward.Client,
    new_key: NewKey,
    settings: Optional[Dict[str, Any]],
    action: Optional[str],
    via: Callable[[str], httpx.Response],
) -> Tuple[Dict[str, Any], str]:
    key, secret = new_key(**(settings or {}))
    if action == "delete":
        admin.delete_key(key["id"])
    elif action == "revoke":
        admin.revoke_key(key["id"])
    elif action == "expire":
        admin.rotate_key(key["id"], grace_period="0s")
    elif action == "spend":
        assert via(secret).status_code == 200
    return key, secret


def _headers(how: str, secret: str) -> Dict[str, str]:
    return {
        "bearer": {"Authorization": "Bearer " + secret},
        "bearer-lower": {"Authorization": "bearer  " + secret},
        "x-api-key": {"X-API-Key": secret},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer kw_not_a_key"},
        "none": {},
    }[how]


@pytest.mark.parametrize("case", list(CASES))
def test_same_answers_as_keyward_middleware(case: str, server, admin: keyward.Client, new_key: NewKey, served: ServedApp) -> None:
    settings, how, scopes, action, code = CASES[case]
    # Two keys with the same settings: each path spends its own.
    our_key, ours = _prepare(admin, new_key, settings, action, lambda s: fastapi_get(served, bearer(s), scopes))
    their_key, theirs = _prepare(admin, new_key, settings, action, lambda s: keyward_auth(server, bearer(s), scopes))
    got = fastapi_get(served, _headers(how, ours), scopes)
    want = keyward_auth(server, _headers(how, theirs), scopes)

    assert answer(got) == answer(want)
    assert want.headers.get("x-keyward-code", "VALID") == code
    if code == "VALID":
        body = got.json()
        assert body["id"] == our_key["id"] and want.headers["x-keyward-key-id"] == their_key["id"]
        assert body["owner"] == want.headers["x-keyward-owner"]
        assert " ".join(body["scopes"]) == want.headers["x-keyward-scopes"]
    else:
        problem = got.json()
        assert problem == want.json()  # the same problem document, word for word
        assert got.headers["content-type"] == "application/problem+json"
    if "retry-after" in want.headers:
        assert abs(int(got.headers["retry-after"]) - int(want.headers["retry-after"])) <= 1


def test_rate_limited_details(server, admin: keyward.Client, new_key: NewKey, served: ServedApp) -> None:
    _, secret = new_key(rate_limit={"limit": 2, "period": "1m"})
    first = fastapi_get(served, bearer(secret))
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"key";q=2;w=60'
    assert first.headers["ratelimit"].startswith('"key";r=1;t=')
    assert fastapi_get(served, bearer(secret)).status_code == 200  # never cached: counted each time
    refused = fastapi_get(served, bearer(secret))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit"].startswith('"key";r=0;t=')
    assert "www-authenticate" not in refused.headers


def test_unavailable_is_never_a_success(closed_url: str, server, new_key: NewKey, verify_token: str) -> None:
    app, _ = make_app(keyward.Client(closed_url, verify_token, timeout=2))
    _, secret = new_key()
    with TestClient(app) as c:
        r = c.get("/open", headers=bearer(secret))
    assert r.status_code == 503
    assert r.headers["x-keyward-code"] == "UNAVAILABLE"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "UNAVAILABLE"
    assert secret not in r.text


def test_refused_credential_is_unavailable(server, new_key: NewKey) -> None:
    # The service's own token is not a keyward:verify key: keys cannot be checked.
    _, not_a_verifier = new_key(scopes=["invoices:read"])
    _, secret = new_key()
    app, _ = make_app(keyward.Client(server.url, not_a_verifier))
    with TestClient(app) as c:
        r = c.get("/open", headers=bearer(secret))
    assert r.status_code == 503 and r.headers["x-keyward-code"] == "UNAVAILABLE"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting(httpx.Client):
    """An httpx.Client that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__(timeout=5, event_hooks={"request": [self._count]})
        self.sent = 0

    def _count(self, request: httpx.Request) -> None:
        self.sent += 1


def test_revoked_key_refused_after_ttl(server, admin: keyward.Client, new_key: NewKey, verify_token: str) -> None:
    clock, http = FakeClock(), Counting()
    app, _ = make_app(keyward.Client(server.url, verify_token, http_client=http), ttl=10, clock=clock)
    key, secret = new_key()
    with TestClient(app) as c:
        assert c.get("/open", headers=bearer(secret)).status_code == 200
        assert http.sent == 1
        assert c.get("/ping", headers=bearer(secret)).status_code == 200
        assert http.sent == 1  # a cache hit makes no round trip

        admin.revoke_key(key["id"])
        clock.now += 9.9
        assert c.get("/open", headers=bearer(secret)).status_code == 200  # still cached
        assert http.sent == 1
        clock.now += 0.1  # the answer is now ttl old
        r = c.get("/open", headers=bearer(secret))
        assert r.status_code == 401 and r.headers["x-keyward-code"] == "REVOKED"
        assert http.sent == 2
        # a rejection is never cached
        assert c.get("/open", headers=bearer(secret)).status_code == 401
        assert http.sent == 3


def test_cache_never_outlives_the_key(server, new_key: NewKey, verify_token: str) -> None:
    clock, http = FakeClock(), Counting()
    app, _ = make_app(keyward.Client(server.url, verify_token, http_client=http), ttl=1e9, clock=clock)
    _, secret = new_key(expires_in="1h")
    with TestClient(app) as c:
        assert c.get("/open", headers=bearer(secret)).status_code == 200
        clock.now += 3500
        assert c.get("/open", headers=bearer(secret)).status_code == 200
        assert http.sent == 1  # cached, though ttl is far off
        clock.now += 101  # past the key's expiry: asked again
        c.get("/open", headers=bearer(secret))
        assert http.sent == 2


def test_cache_is_per_requirement(server, new_key: NewKey, verify_token: str) -> None:
    clock, http = FakeClock(), Counting()
    app, _ = make_app(keyward.Client(server.url, verify_token, http_client=http), clock=clock)
    _, secret = new_key(scopes=["other"])
    with TestClient(app) as c:
        assert c.get("/open", headers=bearer(secret)).status_code == 200
        # the same key on a route that needs a scope it lacks: asked, refused
        r = c.get("/invoices", headers=bearer(secret))
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == 'Bearer realm="keyward", error="insufficient_scope", scope="invoices:read"'
        assert http.sent == 2


def test_limited_keys_are_never_cached(server, new_key: NewKey, verify_token: str) -> None:
    clock, http = FakeClock(), Counting()
    app, _ = make_app(keyward.Client(server.url, verify_token, http_client=http), clock=clock)
    _, credits = new_key(remaining=2)
    with TestClient(app) as c:
        assert [c.get("/open", headers=bearer(credits)).status_code for _ in range(3)] == [200, 200, 429]
    assert http.sent == 3


def test_ttl_zero_turns_the_cache_off(server, new_key: NewKey, verify_token: str) -> None:
    http = Counting()
    app, auth = make_app(keyward.Client(server.url, verify_token, http_client=http), ttl=0)
    _, secret = new_key()
    with TestClient(app) as c:
        for _ in range(3):
            assert c.get("/open", headers=bearer(secret)).status_code == 200
    assert http.sent == 3


def test_without_install_status_and_headers_hold(server, new_key: NewKey, verify_token: str) -> None:
    app = FastAPI()  # no install(app): FastAPI's own HTTPException handler
    auth = KeywardAuth(keyward.Client(server.url, verify_token))

    @app.get("/x")
    def x(key: VerifiedKey = Depends(auth)) -> str:
        return key.id

    with TestClient(app) as c:
        r = c.get("/x")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="keyward"'
    assert r.headers["x-keyward-code"] == "MISSING"
    assert r.json()["detail"]["code"] == "MISSING"


def test_query_key_only_when_allowed(server, new_key: NewKey, verify_token: str) -> None:
    _, secret = new_key()
    off, _ = make_app(keyward.Client(server.url, verify_token))
    on, _ = make_app(keyward.Client(server.url, verify_token), allow_query_key=True)
    with TestClient(off) as c:
        assert c.get("/open", params={"api_key": secret}).headers["x-keyward-code"] == "MISSING"
    with TestClient(on) as c:
        assert c.get("/open", params={"api_key": secret}).status_code == 200


def test_openapi_lists_the_security_schemes(server, verify_token: str) -> None:
    app, _ = make_app(keyward.Client(server.url, verify_token))
    doc = app.openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["KeywardBearer"]["type"] == "http" and schemes["KeywardBearer"]["scheme"].lower() == "bearer"
    assert schemes["KeywardApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A keyward API key in the X-API-Key header.",
    }
    for path in ("/open", "/invoices", "/ping"):
        assert doc["paths"][path]["get"]["security"] == [{"KeywardBearer": []}, {"KeywardApiKey": []}]
    # The dependency's own parameters are not request parameters.
    assert "parameters" not in doc["paths"]["/open"]["get"] or all(
        p["name"] not in ("request", "response", "bearer") for p in doc["paths"]["/open"]["get"]["parameters"]
    )
    with TestClient(app) as c:
        assert c.get("/docs").status_code == 200


def test_async_client_in_the_dependency(server, new_key: NewKey, verify_token: str) -> None:
    async def run() -> None:
        kw = keyward.AsyncClient(server.url, verify_token)
        app, _ = make_app(kw)
        _, secret = new_key(scopes=["invoices:read"], owner="async-team")
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            r = await c.get("/invoices", headers={"X-API-Key": secret})
            assert r.status_code == 200 and r.json()["owner"] == "async-team"
            r = await c.get("/invoices", headers={"X-API-Key": "kw_nope"})
            assert r.status_code == 401 and r.headers["x-keyward-code"] == "MALFORMED"
        await kw.aclose()

    asyncio.run(run())


def test_named_and_owner_limits_match(server, admin: keyward.Client, new_key: NewKey, served: ServedApp) -> None:
    try:
        admin.list_owners(limit=1)
    except keyward.NotFound:
        pytest.skip("this keyward serve has no owners API yet (GET /v1/owners answered 404): no named or owner limits")
    limits = [{"name": "burst", "limit": 3, "period": "1s"}, {"name": "daily", "limit": 10, "period": "24h"}]
    for spent in (0, 10):
        owners = []
        for _ in range(2):
            owner = f"limits-{time.monotonic_ns()}"
            admin.put_owner(owner, rate_limits=[{"name": "daily", "limit": 100, "period": "24h"}])
            owners.append(owner)
        _, ours = new_key(owner=owners[0], rate_limit={"limit": 50, "period": "1h"}, rate_limits=limits)
        _, theirs = new_key(owner=owners[1], rate_limit={"limit": 50, "period": "1h"}, rate_limits=limits)
        for _ in range(spent):  # spend the daily limit of both keys with cost 1 each
            admin.verify(ours)
            admin.verify(theirs)
        got, want = fastapi_get(served, bearer(ours)), keyward_auth(server, bearer(theirs))
        assert answer(got) == answer(want)
        assert "owner.daily" in got.headers["ratelimit-policy"] and '"burst"' in got.headers["ratelimit-policy"]
