"""keyward.AsyncClient against a real keyward serve."""

from __future__ import annotations

import asyncio

import pytest

import keyward


def test_async_crud_and_verify(server) -> None:
    async def run() -> None:
        async with keyward.AsyncClient(server.url, server.admin_token) as kw:
            issued = await kw.create_key("async", owner="async-owner", scopes=["s:*"], rate_limit={"limit": 5, "period": 60})
            kid = issued["key"]["id"]
            assert issued["key"]["rate_limit"] == {"limit": 5, "period": "1m0s"}
            assert (await kw.get_key(kid))["name"] == "async"
            assert [k["id"] async for k in kw.iter_keys(owner="async-owner")] == [kid]
            page = await kw.list_keys(owner="async-owner")
            assert [k["id"] for k in page["items"]] == [kid]

            ok = await kw.verify(issued["secret"], scopes=["s:read"])
            assert ok.valid and ok.ratelimit is not None and ok.ratelimit.remaining == 4
            no = await kw.verify(issued["secret"], scopes=["t"])
            assert no.code == "INSUFFICIENT_SCOPE" and no.missing_scope == "t"

            assert (await kw.update_key(kid, description="d"))["description"] == "d"
            rotated = await kw.rotate_key(kid, grace_period="0s")
            assert rotated["key"]["replaces"] == kid
            assert (await kw.verify(issued["secret"])).code == "EXPIRED"
            assert (await kw.revoke_key(rotated["key"]["id"]))["status"] == "revoked"
            audit = await kw.audit(key_id=kid)
            assert [e["action"] for e in audit["items"]][-1] == "key.create"
            await kw.delete_key(kid)
            with pytest.raises(keyward.NotFound):
                await kw.get_key(kid)
            with pytest.raises(keyward.ValidationFailed) as e:
                await kw.create_key("bad", prefix="NOT A PREFIX")
            assert e.value.code == "VALIDATION_FAILED" and e.value.errors
            usage = await kw.key_usage(rotated["key"]["id"])
            assert usage["key_id"] == rotated["key"]["id"]

    asyncio.run(run())


def test_async_errors(server, closed_url: str) -> None:
    async def run() -> None:
        async with keyward.AsyncClient(server.url, "x" * 40) as kw:
            with pytest.raises(keyward.Unauthorized):
                await kw.list_keys()
        async with keyward.AsyncClient(closed_url, "x" * 40, timeout=2) as kw:
            with pytest.raises(keyward.Unavailable):
                await kw.verify("kw_x")

    asyncio.run(run())
