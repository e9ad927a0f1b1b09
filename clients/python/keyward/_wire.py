"""What the clients send and how they read the answers, shared by the sync and
async clients: each operation is a function that returns a Call, which the
client sends and whose ``parse`` turns the JSON answer into the result."""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import quote

from .types import (
    AuditPage,
    IssuedKey,
    Key,
    KeyPage,
    Owner,
    OwnerPage,
    RateLimitState,
    Role,
    RolePage,
    Usage,
    Verification,
)

T = TypeVar("T")


class _Unset:
    """The type of :data:`UNSET`."""

    _instance: Optional["_Unset"] = None

    def __new__(cls) -> "_Unset":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: UNSET marks an argument of an update that was not given: the field is left
#: as it is. None, where a field may be null, clears it.
UNSET: Any = _Unset()

Duration = Union[str, int, float, _dt.timedelta]
Time = Union[str, _dt.datetime]


def _same(doc: Any) -> Any:
    return doc


def _none(doc: Any) -> None:
    return None


class Call(Generic[T]):
    """One HTTP request of the API, and how to read its answer (a T)."""

    __slots__ = ("method", "path", "params", "json", "parse")

    def __init__(
        self,
        method: str,
        path: str,
        params: Optional[Dict[str, str]] = None,
        json: Any = None,
        parse: Callable[[Any], T] = _same,
    ) -> None:
        self.method, self.path, self.params, self.json, self.parse = method, path, params, json, parse


def seg(s: str) -> str:
    """Escapes an id or a name as one path segment."""
    if not isinstance(s, str) or s == "":
        raise ValueError("keyward: an id or name must be a non-empty string")
    return quote(s, safe="")


def go_duration(v: Duration) -> str:
    """Formats a duration for the API: a string is sent as is (``"24h"``),
    a timedelta or a number of seconds is written as a Go duration."""
    if isinstance(v, str):
        return v
    if isinstance(v, _dt.timedelta):
        us = v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(v):
            raise ValueError(f"keyward: {v!r} is not a duration")
        us = round(v * 1_000_000)
    else:
        raise TypeError(f"keyward: a duration is a str, timedelta or number of seconds, not {type(v).__name__}")
    if us < 0:
        raise ValueError("keyward: a duration cannot be negative")
    if us % 1_000_000 == 0:
        return f"{us // 1_000_000}s"
    return f"{us}us"


_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(s: str) -> float:
    """Returns the seconds of a Go duration string such as ``"1m30s"``."""
    if s in ("0", "+0", "-0"):
        return 0.0
    body, sign = s, 1.0
    if body[:1] in "+-" and body:
        sign, body = (-1.0 if body[0] == "-" else 1.0), body[1:]
    pos, total = 0, 0.0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m:
            raise ValueError(f"keyward: {s!r} is not a Go duration")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"keyward: {s!r} is not a Go duration")
    return sign * total


def rfc3339(v: Time) -> str:
    """Formats a time for the API: a string is sent as is; a datetime
    without a time zone is taken as UTC."""
    if isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return v.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    raise TypeError(f"keyward: a time is a str or datetime, not {type(v).__name__}")


def _limit(v: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    if v is None:
        return None
    out = dict(v)
    if "period" in out:
        out["period"] = go_duration(out["period"])
    return out


def _limits(v: Optional[Sequence[Mapping[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    if v is None:
        return None
    return [_limit(x) or {} for x in v]


_CONVERT: Dict[str, Callable[[Any], Any]] = {
    "expires_at": rfc3339,
    "expires_in": go_duration,
    "grace_period": go_duration,
    "rate_limit": _limit,
    "rate_limits": _limits,
    "scopes": list,
    "roles": list,
    "allowed_cidrs": list,
}


def body(fields: Mapping[str, Any], *, keep_none: bool) -> Dict[str, Any]:
    """Builds a JSON body: UNSET fields are left out, and so are None ones
    unless keep_none (an update, where null clears a field). Times,
    durations and limits are converted."""
    out: Dict[str, Any] = {}
    for name, v in fields.items():
        if v is UNSET or (v is None and not keep_none):
            continue
        if v is not None and name in _CONVERT:
            v = _CONVERT[name](v)
        out[name] = v
    return out


def query(**params: Any) -> Dict[str, str]:
    """Builds query parameters, leaving out None ones."""
    out: Dict[str, str] = {}
    for name, v in params.items():
        if v is None:
            continue
        if name == "from_":
            name = "from"
        if isinstance(v, _dt.datetime):
            v = rfc3339(v)
        out[name] = str(v)
    return out


def _int(v: Any, default: int = 0) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def _periods(answer: Mapping[str, Any]) -> Dict[Tuple[str, str], int]:
    """Periods in seconds of the limits the answer's key and owner show."""
    out: Dict[Tuple[str, str], int] = {}
    for scope, holder in (("key", answer.get("key")), ("owner", answer.get("owner"))):
        if not isinstance(holder, dict):
            continue
        rl = holder.get("rate_limit")
        if isinstance(rl, dict) and isinstance(rl.get("period"), str) and scope == "key":
            out[(scope, "default")] = math.ceil(parse_go_duration(rl["period"]))
        for nl in holder.get("rate_limits") or []:
            if isinstance(nl, dict) and isinstance(nl.get("period"), str):
                out[(scope, nl.get("name", "default"))] = math.ceil(parse_go_duration(nl["period"]))
    return out


def _state(d: Mapping[str, Any], periods: Dict[Tuple[str, str], int]) -> RateLimitState:
    name = str(d["name"]) if isinstance(d.get("name"), str) else "default"
    scope = str(d["scope"]) if d.get("scope") in ("key", "owner") else "key"
    period: Optional[int] = None
    p = d.get("period", d.get("window"))
    if isinstance(p, str):
        period = math.ceil(parse_go_duration(p))
    elif isinstance(p, (int, float)) and not isinstance(p, bool):
        period = math.ceil(p)
    else:
        period = periods.get((scope, name))
    return RateLimitState(
        limit=_int(d.get("limit")),
        remaining=_int(d.get("remaining")),
        reset=_int(d.get("reset")),
        name=name,
        scope=scope,
        period=period,
    )


def verification(answer: Any) -> Verification:
    """Reads the answer of POST /v1/keys/verify."""
    if not isinstance(answer, dict) or not isinstance(answer.get("code"), str):
        raise ValueError("keyward: the verify answer has no code")
    periods = _periods(answer)
    rl = answer.get("ratelimit")
    states = [_state(x, periods) for x in answer.get("ratelimits") or [] if isinstance(x, dict)]
    single = _state(rl, periods) if isinstance(rl, dict) else None
    if single is not None and isinstance(rl, dict) and "name" not in rl and states:
        # the summary is the entry with the fewest units left: take its name
        fewest = min(states, key=lambda s: s.remaining)
        if (fewest.limit, fewest.remaining) == (single.limit, single.remaining):
            single = fewest
    key: Optional[Key] = answer["key"] if isinstance(answer.get("key"), dict) else None
    owner = answer.get("owner") if isinstance(answer.get("owner"), dict) else None
    eff = answer.get("effective_scopes")
    return Verification(
        valid=answer.get("valid") is True,
        code=answer["code"],
        key=key,
        ratelimit=single,
        ratelimits=states,
        missing_scope=answer.get("missing_scope") or "",
        retry_after=_int(answer.get("retry_after")),
        effective_scopes=list(eff) if isinstance(eff, list) else None,
        owner=owner,
        raw=dict(answer),
    )


# The operations. Argument checking and conversion happen here, once for both
# clients.


def create_key(fields: Mapping[str, Any]) -> "Call[IssuedKey]":
    if not fields.get("name"):
        raise ValueError("keyward: a key needs a name")
    return Call("POST", "/v1/keys", json=body(fields, keep_none=False))


def list_keys(**params: Any) -> "Call[KeyPage]":
    return Call("GET", "/v1/keys", params=query(**params))


def get_key(key_id: str) -> "Call[Key]":
    return Call("GET", f"/v1/keys/{seg(key_id)}")


def update_key(key_id: str, fields: Mapping[str, Any]) -> "Call[Key]":
    return Call("PATCH", f"/v1/keys/{seg(key_id)}", json=body(fields, keep_none=True))


def revoke_key(key_id: str) -> "Call[Key]":
    return Call("POST", f"/v1/keys/{seg(key_id)}/revoke")


def rotate_key(key_id: str, fields: Mapping[str, Any]) -> "Call[IssuedKey]":
    return Call("POST", f"/v1/keys/{seg(key_id)}/rotate", json=body(fields, keep_none=False))


def delete_key(key_id: str) -> "Call[None]":
    return Call("DELETE", f"/v1/keys/{seg(key_id)}", parse=_none)


def key_usage(key_id: str, **params: Any) -> "Call[Usage]":
    return Call("GET", f"/v1/keys/{seg(key_id)}/usage", params=query(**params))


def audit(**params: Any) -> "Call[AuditPage]":
    return Call("GET", "/v1/audit", params=query(**params))


def verify(
    key: str,
    scopes: Optional[Sequence[str]],
    scope_query: Optional[str],
    cost: Optional[int],
    client_ip: Optional[str],
) -> "Call[Verification]":
    if not isinstance(key, str):
        raise TypeError("keyward: the key to verify must be a str")
    if isinstance(scopes, str):
        raise TypeError("keyward: scopes is a list of scopes, not a str")
    b: Dict[str, Any] = {"key": key}
    if scopes:
        b["scopes"] = list(scopes)
    if scope_query:
        b["scope_query"] = scope_query
    if cost is not None:
        b["cost"] = cost
    if client_ip:
        b["client_ip"] = str(client_ip)
    return Call("POST", "/v1/keys/verify", json=b, parse=verification)


def put_owner(name: str, fields: Mapping[str, Any]) -> "Call[Owner]":
    return Call("PUT", f"/v1/owners/{seg(name)}", json=body(fields, keep_none=False))


def update_owner(name: str, fields: Mapping[str, Any]) -> "Call[Owner]":
    return Call("PATCH", f"/v1/owners/{seg(name)}", json=body(fields, keep_none=True))


def get_owner(name: str) -> "Call[Owner]":
    return Call("GET", f"/v1/owners/{seg(name)}")


def list_owners(**params: Any) -> "Call[OwnerPage]":
    return Call("GET", "/v1/owners", params=query(**params))


def delete_owner(name: str) -> "Call[None]":
    return Call("DELETE", f"/v1/owners/{seg(name)}", parse=_none)


def owner_usage(name: str, **params: Any) -> "Call[Usage]":
    return Call("GET", f"/v1/owners/{seg(name)}/usage", params=query(**params))


def put_role(name: str, fields: Mapping[str, Any]) -> "Call[Role]":
    return Call("PUT", f"/v1/roles/{seg(name)}", json=body(fields, keep_none=False))


def get_role(name: str) -> "Call[Role]":
    return Call("GET", f"/v1/roles/{seg(name)}")


def list_roles(**params: Any) -> "Call[RolePage]":
    return Call("GET", "/v1/roles", params=query(**params))


def delete_role(name: str) -> "Call[None]":
    return Call("DELETE", f"/v1/roles/{seg(name)}", parse=_none)
