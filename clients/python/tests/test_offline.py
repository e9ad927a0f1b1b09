"""Parts that need no server: answers built from verify answers (including
the owners contract's several limits), key extraction, durations, errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import keyward
from keyward._wire import UNSET, body, go_duration, parse_go_duration, rfc3339, verification
from keyward.errors import error_from_response
from keyward.fastapi import key_from_headers
from keyward.responses import missing, ratelimit_headers, rejection, unavailable


def test_single_limit_headers_from_todays_answer() -> None:
    v = verification(
        {
            "valid": True,
            "code": "VALID",
            "key": {"id": "a", "rate_limit": {"limit": 100, "period": "1m0s"}, "remaining": None},
            "ratelimit": {"limit": 100, "remaining": 99, "reset": 1},
        }
    )
    assert ratelimit_headers(v) == {"RateLimit-Policy": '"key";q=100;w=60', "RateLimit": '"key";r=99;t=1'}
    assert rejection(v) is None and v.limited


def test_every_limit_in_the_headers() -> None:
    # The owners contract's answer: the same headers as keyward's middleware
    # (httpauth TestEveryLimitInTheHeaders).
    answer = {
        "valid": True,
        "code": "VALID",
        "key": {
            "id": "a",
            "owner": "acme",
            "rate_limit": {"limit": 50, "period": "1m0s"},
            "rate_limits": [
                {"name": "default", "limit": 50, "period": "1m0s"},
                {"name": "burst", "limit": 2, "period": "1s"},
            ],
        },
        "owner": {"name": "acme", "metadata": {}, "remaining": None},
        "ratelimit": {"limit": 2, "remaining": 1, "reset": 1},
        "ratelimits": [
            {"name": "default", "scope": "key", "limit": 50, "remaining": 49, "reset": 2},
            {"name": "burst", "scope": "key", "limit": 2, "remaining": 1, "reset": 1},
            {"name": "daily", "scope": "owner", "limit": 100, "remaining": 99, "reset": 864, "period": "24h0m0s"},
        ],
        "effective_scopes": ["a", "b"],
    }
    v = verification(answer)
    assert ratelimit_headers(v) == {
        "RateLimit-Policy": '"key";q=50;w=60, "burst";q=2;w=1, "owner.daily";q=100;w=86400',
        "RateLimit": '"burst";r=1;t=1',
    }
    assert v.ratelimit is not None and v.ratelimit.name == "burst"
    assert v.scopes == ["a", "b"]

    refused = verification(dict(answer, valid=False, code="RATE_LIMITED", retry_after=1))
    r = rejection(refused)
    assert r is not None and r.status == 429 and r.headers["Retry-After"] == "1"
    assert r.headers["RateLimit-Policy"].startswith('"key";q=50;w=60, ')

    # An owner limit whose period the answer does not give: the policy omits w.
    del answer["ratelimits"][2]["period"]
    assert '"owner.daily";q=100,' not in ratelimit_headers(verification(answer))["RateLimit-Policy"]
    assert ratelimit_headers(verification(answer))["RateLimit-Policy"].endswith('"owner.daily";q=100')


@pytest.mark.parametrize(
    "code,status,auth",
    [
        ("MALFORMED", 401, 'Bearer realm="keyward", error="invalid_token"'),
        ("NOT_FOUND", 401, 'Bearer realm="keyward", error="invalid_token"'),
        ("REVOKED", 401, 'Bearer realm="keyward", error="invalid_token"'),
        ("EXPIRED", 401, 'Bearer realm="keyward", error="invalid_token"'),
        ("DISABLED", 401, 'Bearer realm="keyward", error="invalid_token"'),
        ("FORBIDDEN_ADDRESS", 403, None),
        ("INSUFFICIENT_SCOPE", 403, 'Bearer realm="keyward", error="insufficient_scope", scope="a:\\"b\\""'),
        ("RATE_LIMITED", 429, None),
        ("USAGE_EXCEEDED", 429, None),
        ("SOMETHING_NEW", 503, None),
    ],
)
def test_rejections(code: str, status: int, auth: str) -> None:
    r = rejection(verification({"valid": False, "code": code, "missing_scope": 'a:"b"\x01'}))
    assert r is not None
    assert r.status == status
    assert r.headers.get("WWW-Authenticate") == auth
    want_code = "UNAVAILABLE" if status == 503 else code
    assert r.headers["X-Keyward-Code"] == want_code
    doc = json.loads(r.body)
    assert doc["code"] == want_code and doc["status"] == status and doc["type"] == "about:blank"
    assert list(doc) == ["type", "title", "status", "detail", "code"]
    # RATE_LIMITED waits at least a second; nothing else waits unless told
    assert ("Retry-After" in r.headers) == (code == "RATE_LIMITED")


def test_missing_and_unavailable() -> None:
    assert (missing().status, missing().headers["WWW-Authenticate"]) == (401, 'Bearer realm="keyward"')
    assert unavailable().status == 503 and "WWW-Authenticate" not in unavailable().headers
    assert json.loads(unavailable().body)["title"] == "Service Unavailable"


@pytest.mark.parametrize(
    "authorization,x_api_key,want",
    [
        ("Bearer kw_a", None, "kw_a"),
        ("bearer \t kw_a \t", None, "kw_a"),
        ("BEARER kw_a", "kw_b", "kw_a"),  # Authorization wins
        ("Basic dXNlcg==", "kw_b", "kw_b"),  # another scheme carries no key
        ("Bearer ", "kw_b", "kw_b"),  # nor an empty Bearer
        ("Bearerkw_a", None, ""),
        ("Bearer", None, ""),
        (None, "  kw_b ", "kw_b"),
        (None, None, ""),
    ],
)
def test_key_from_headers(authorization: str, x_api_key: str, want: str) -> None:
    assert key_from_headers(authorization, x_api_key) == want


def test_durations_and_times() -> None:
    assert go_duration(dt.timedelta(days=30)) == "2592000s"
    assert go_duration(90) == "90s"
    assert go_duration(0.25) == "250000us"
    assert go_duration("720h") == "720h"
    with pytest.raises(ValueError):
        go_duration(-1)
    with pytest.raises(TypeError):
        go_duration(True)
    for s, secs in [("1m0s", 60), ("24h0m0s", 86400), ("1.5s", 1.5), ("500ms", 0.5), ("1h2m3s", 3723), ("0s", 0)]:
        assert parse_go_duration(s) == pytest.approx(secs)
    with pytest.raises(ValueError):
        parse_go_duration("1 hour")
    assert rfc3339(dt.datetime(2030, 1, 2, 3, 4, 5)) == "2030-01-02T03:04:05Z"
    cet = dt.timezone(dt.timedelta(hours=1))
    assert rfc3339(dt.datetime(2030, 1, 2, 4, 4, 5, tzinfo=cet)) == "2030-01-02T03:04:05Z"


def test_update_bodies_keep_null_and_drop_unset() -> None:
    got = body({"name": "n", "rate_limit": None, "expires_in": dt.timedelta(hours=1), "owner": UNSET}, keep_none=True)
    assert got == {"name": "n", "rate_limit": None, "expires_in": "3600s"}
    assert body({"name": "n", "owner": None}, keep_none=False) == {"name": "n"}


def test_error_without_a_problem_document() -> None:
    e = error_from_response(502, b"<html>bad gateway</html>")
    assert isinstance(e, keyward.Unavailable) and e.code == "UNAVAILABLE" and e.status == 502
    e = error_from_response(429, b'{"code":"RATE_LIMITED","detail":"slow down"}', "7")
    assert isinstance(e, keyward.RateLimited) and e.retry_after == 7
    e = error_from_response(418, b"")
    assert type(e) is keyward.KeywardError and e.code == "INTERNAL"


def test_no_pydantic_in_the_api() -> None:
    import keyward.fastapi as kf
    import keyward.types as kt

    for mod in (keyward, kt, kf):
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            assert "pydantic" not in getattr(type(obj), "__module__", ""), name
            if isinstance(obj, type):
                assert not any(c.__module__.startswith("pydantic") for c in obj.__mro__), name


def test_client_needs_a_url_and_token() -> None:
    with pytest.raises(ValueError):
        keyward.Client("127.0.0.1:8080", "t")
    with pytest.raises(ValueError):
        keyward.Client("http://127.0.0.1:8080", "")
    assert "secret-token" not in repr(keyward.Client("http://127.0.0.1:8080", "secret-token"))
