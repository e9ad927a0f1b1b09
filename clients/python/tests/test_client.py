"""keyward.Client against a real keyward serve: keys, errors, verify."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import keyward


def test_create_get_list_update(admin: keyward.Client) -> None:
    issued = admin.create_key(
        "billing",
        description="the billing service",
        owner="team-billing",
        scopes=["invoices:read"],
        metadata={"plan": "pro"},
        expires_in=dt.timedelta(days=30),
        rate_limit={"limit": 100, "period": dt.timedelta(minutes=1)},
    )
    key, secret = issued["key"], issued["secret"]
    assert secret.startswith("kw_" + key["id"] + "_")
    assert key["status"] == "active"
    assert key["rate_limit"] == {"limit": 100, "period": "1m0s"}
    assert key["expires_at"] is not None

    got = admin.get_key(key["id"])
    assert got["name"] == "billing" and got["owner"] == "team-billing" and got["metadata"] == {"plan": "pro"}
    assert "secret" not in got

    page = admin.list_keys(owner="team-billing", limit=10)
    assert [k["id"] for k in page["items"]] == [key["id"]]
    assert "next_cursor" not in page

    updated = admin.update_key(key["id"], name="billing v2", rate_limit=None, expires_at=None, enabled=False)
    assert updated["name"] == "billing v2"
    assert updated["rate_limit"] is None and updated["expires_at"] is None
    assert updated["status"] == "disabled"
    # fields not given are left alone
    assert updated["scopes"] == ["invoices:read"] and updated["owner"] == "team-billing"


def test_iter_keys_follows_cursors(admin: keyward.Client) -> None:
    owner = f"pager-{time.monotonic_ns()}"
    ids = {admin.create_key(f"k{i}", owner=owner)["key"]["id"] for i in range(5)}
    first = admin.list_keys(owner=owner, limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert {k["id"] for k in admin.iter_keys(owner=owner, page_size=2)} == ids


def test_revoke_rotate_delete(admin: keyward.Client) -> None:
    key = admin.create_key("to rotate", scopes=["a"])["key"]
    rotated = admin.rotate_key(key["id"], grace_period="1h")
    new = rotated["key"]
    assert new["id"] != key["id"] and new["replaces"] == key["id"] and new["scopes"] == ["a"]
    assert admin.get_key(key["id"])["replaced_by"] == new["id"]
    with pytest.raises(keyward.Conflict) as e:
        admin.rotate_key(key["id"])
    assert e.value.status == 409 and e.value.code == "CONFLICT"

    revoked = admin.revoke_key(new["id"])
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    assert admin.revoke_key(new["id"])["revoked_at"] == revoked["revoked_at"]  # idempotent
    with pytest.raises(keyward.Conflict):
        admin.update_key(new["id"], name="no")

    assert admin.delete_key(new["id"]) is None
    with pytest.raises(keyward.NotFound) as nf:
        admin.get_key(new["id"])
    assert nf.value.status == 404 and nf.value.code == "NOT_FOUND" and nf.value.detail


def test_errors_carry_the_problem(admin: keyward.Client, server) -> None:
    with pytest.raises(keyward.ValidationFailed) as e:
        admin.create_key("x", expires_in="1h", expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    err = e.value
    assert isinstance(err, keyward.KeywardError) and isinstance(err, keyward.InvalidRequest)
    assert err.status == 422 and err.code == "VALIDATION_FAILED"
    assert err.errors and all("location" in x and "message" in x for x in err.errors)
    assert err.problem["code"] == "VALIDATION_FAILED"
    assert "422 VALIDATION_FAILED" in str(err)

    with pytest.raises(keyward.ValidationFailed) as e:
        admin.create_key("x", rate_limit={"limit": 0, "period": "1m"})
    assert any("rate_limit" in x["location"] for x in e.value.errors)

    with pytest.raises(keyward.Unauthorized) as u:
        keyward.Client(server.url, "kw_not_a_real_token").list_keys()
    assert u.value.status == 401 and u.value.code == "UNAUTHORIZED"


def test_ids_are_escaped(admin: keyward.Client) -> None:
    # "a/revoke" must stay one path segment, not become another operation.
    with pytest.raises(keyward.NotFound):
        admin.get_key("a/revoke")
    with pytest.raises(keyward.NotFound):
        admin.get_key("../keys")


def test_verify_key_cannot_administer(admin: keyward.Client, server, verify_token: str) -> None:
    svc = keyward.Client(server.url, verify_token)
    with pytest.raises(keyward.Forbidden) as e:
        svc.list_keys()
    assert e.value.status == 403 and e.value.code == "FORBIDDEN"
    # but it may verify
    assert svc.verify("kw_garbage").code == "MALFORMED"


def test_unreachable_server_is_unavailable(closed_url: str) -> None:
    with pytest.raises(keyward.Unavailable) as e:
        keyward.Client(closed_url, "t" * 40, timeout=2).get_key("x")
    assert e.value.status is None and e.value.code == "UNAVAILABLE"
    assert "t" * 40 not in str(e.value)


def test_verify_outcomes(admin: keyward.Client, server, verify_token: str) -> None:
    svc = keyward.Client(server.url, verify_token)
    issued = admin.create_key("v", owner="acme", scopes=["invoices:read"], metadata={"tier": 1})
    secret = issued["secret"]

    ok = svc.verify(secret, scopes=["invoices:read"], client_ip="127.0.0.1")
    assert ok.valid and ok.code == "VALID"
    assert ok.key is not None and ok.key["id"] == issued["key"]["id"] and ok.key["owner"] == "acme"
    assert ok.ratelimit is None and not ok.limited
    assert ok.scopes == ["invoices:read"]

    no = svc.verify(secret, scopes=["invoices:write"])
    assert not no.valid and no.code == "INSUFFICIENT_SCOPE" and no.missing_scope == "invoices:write"

    assert svc.verify("kw_garbage").code == "MALFORMED"
    assert svc.verify("kw_garbage").key is None

    with pytest.raises(keyward.ValidationFailed):
        svc.verify(secret, client_ip="not an address")
    with pytest.raises(TypeError):
        svc.verify(secret, scopes="invoices:read")  # type: ignore[arg-type]

    admin.revoke_key(issued["key"]["id"])
    assert svc.verify(secret).code == "REVOKED"


def test_verify_rate_limited_and_credits(admin: keyward.Client) -> None:
    secret = admin.create_key("limited", rate_limit={"limit": 2, "period": "1h"})["secret"]
    first = admin.verify(secret)
    assert first.valid and first.limited
    assert first.ratelimit is not None
    assert (first.ratelimit.limit, first.ratelimit.remaining, first.ratelimit.period) == (2, 1, 3600)
    assert first.ratelimit.policy_name == "key"
    assert admin.verify(secret, cost=0).ratelimit is not None  # cost 0 spends nothing
    assert admin.verify(secret).valid
    limited = admin.verify(secret)
    assert limited.code == "RATE_LIMITED" and limited.retry_after >= 1
    assert limited.ratelimit is not None and limited.ratelimit.remaining == 0

    credits = admin.create_key("credits", remaining=1)["secret"]
    once = admin.verify(credits)
    assert once.valid and once.limited and once.key is not None and once.key["remaining"] == 0
    assert admin.verify(credits).code == "USAGE_EXCEEDED"


def test_usage_and_audit(admin: keyward.Client) -> None:
    issued = admin.create_key("metered")
    kid = issued["key"]["id"]
    admin.verify(issued["secret"])
    admin.verify(issued["secret"], scopes=["nope"])
    # usage is written in batches, visible within 2 s
    deadline = time.monotonic() + 5
    while True:
        usage = admin.key_usage(kid, bucket="minute", from_=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
        if usage["totals"].get("VALID") == 1 and usage["totals"].get("INSUFFICIENT_SCOPE") == 1:
            break
        assert time.monotonic() < deadline, f"usage not visible: {usage}"
        time.sleep(0.1)
    assert usage["key_id"] == kid and usage["bucket"] == "minute" and usage["series"]

    admin.update_key(kid, name="metered 2")
    entries = admin.audit(key_id=kid)["items"]
    assert [e["action"] for e in entries] == ["key.update", "key.create"]
    assert entries[0]["actor"] == "admin-token"
