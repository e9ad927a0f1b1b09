"""Owners and roles (DESIGN section 9) through the client. They skip, saying
so, against a keyward serve without /v1/owners and /v1/roles."""

from __future__ import annotations

import asyncio
import time

import pytest

import keyward


@pytest.fixture(scope="module")
def owners_api(admin: keyward.Client) -> None:
    try:
        admin.list_owners(limit=1)
        admin.list_roles(limit=1)
    except (keyward.NotFound, keyward.InvalidRequest) as e:
        pytest.skip(f"this keyward serve has no owners and roles API yet (GET /v1/owners answered {e.status})")


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def test_owner_crud(admin: keyward.Client, owners_api: None) -> None:
    name = _unique("acme corp/eu")  # a space and a slash: escaped in the path
    created = admin.put_owner(name, metadata={"plan": "pro"}, remaining=100, refill={"interval": "monthly", "amount": 100})
    assert created["name"] == name and created["remaining"] == 100 and created["key_count"] == 0
    admin.create_key("acme key", owner=name)
    got = admin.get_owner(name)
    assert got["metadata"] == {"plan": "pro"} and got["key_count"] == 1

    topped = admin.update_owner(name, remaining=500)
    assert topped["remaining"] == 500 and topped["metadata"] == {"plan": "pro"}
    cleared = admin.update_owner(name, refill=None, remaining=None)
    assert cleared["refill"] is None and cleared["remaining"] is None

    replaced = admin.put_owner(name, rate_limits=[{"name": "daily", "limit": 1000, "period": "24h"}])
    assert replaced["metadata"] == {} and replaced["rate_limits"][0]["name"] == "daily"

    assert name in [o["name"] for o in admin.list_owners(q=name)["items"]]
    assert admin.owner_usage(name)["totals"] is not None
    admin.delete_owner(name)
    with pytest.raises(keyward.NotFound):
        admin.get_owner(name)
    with pytest.raises(keyward.NotFound):
        admin.update_owner(name, remaining=1)


def test_owner_credits_are_shared(admin: keyward.Client, owners_api: None) -> None:
    name = _unique("shared")
    admin.put_owner(name, remaining=1)
    a = admin.create_key("a", owner=name)["secret"]
    b = admin.create_key("b", owner=name)["secret"]
    first = admin.verify(a)
    assert first.valid and first.owner is not None and first.owner["name"] == name
    assert first.limited  # owner credits: never cached by the FastAPI dependency
    assert admin.verify(b).code == "USAGE_EXCEEDED"


def test_roles(admin: keyward.Client, owners_api: None) -> None:
    role = _unique("billing.reader")
    created = admin.put_role(role, scopes=["invoices:read"], description="reads invoices")
    assert created["name"] == role and created["scopes"] == ["invoices:read"]
    assert admin.get_role(role)["description"] == "reads invoices"
    assert role in [r["name"] for r in admin.list_roles()["items"]]

    issued = admin.create_key("with role", roles=[role])
    ok = admin.verify(issued["secret"], scopes=["invoices:read"])
    assert ok.valid and "invoices:read" in ok.scopes
    with pytest.raises(keyward.Conflict):
        admin.delete_role(role)
    admin.update_key(issued["key"]["id"], roles=[])
    admin.delete_role(role)
    with pytest.raises(keyward.NotFound):
        admin.get_role(role)
    with pytest.raises(keyward.ValidationFailed):
        admin.create_key("unknown role", roles=[role])


def test_scope_query(admin: keyward.Client, owners_api: None) -> None:
    secret = admin.create_key("q", scopes=["invoices:read", "billing:*"])["secret"]
    assert admin.verify(secret, scope_query="invoices:read and (invoices:write or billing:admin)").valid
    no = admin.verify(secret, scope_query="invoices:write or refunds:write")
    assert no.code == "INSUFFICIENT_SCOPE" and no.missing_scope == "invoices:write"
    with pytest.raises(keyward.ValidationFailed):
        admin.verify(secret, scope_query="invoices:read and (")


def test_async_owners_and_roles(server, owners_api: None) -> None:
    async def run() -> None:
        async with keyward.AsyncClient(server.url, server.admin_token) as kw:
            name, role = _unique("async-owner"), _unique("async.role")
            assert (await kw.put_owner(name, remaining=3))["remaining"] == 3
            assert (await kw.update_owner(name, remaining=4))["remaining"] == 4
            assert (await kw.get_owner(name))["name"] == name
            assert (await kw.list_owners(q=name))["items"][0]["name"] == name
            await kw.owner_usage(name)
            await kw.delete_owner(name)
            await kw.put_role(role, scopes=["x"])
            assert (await kw.get_role(role))["scopes"] == ["x"]
            assert role in [r["name"] for r in (await kw.list_roles())["items"]]
            await kw.delete_role(role)

    asyncio.run(run())
