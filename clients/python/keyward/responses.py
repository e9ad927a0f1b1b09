"""The HTTP answers of keyward's middleware, for any Python web framework.

:func:`rejection` turns a :class:`keyward.Verification` into the status,
headers and problem document that keyward's own Go middleware (``httpauth``)
and ``/v1/auth`` answer for it; :func:`missing` and :func:`unavailable` cover
a request without a key and a key that cannot be checked. The FastAPI
dependency (:mod:`keyward.fastapi`) is built on them; a Flask or Django view
can use them the same way::

    answer = client.verify(key, scopes=["invoices:read"])
    r = keyward.responses.rejection(answer)
    if r is not None:
        return Response(r.body, status=r.status, headers=r.headers, content_type=r.content_type)

========================================  ======  ===============================================
code                                      status  headers
========================================  ======  ===============================================
MISSING                                   401     WWW-Authenticate: Bearer realm="keyward"
MALFORMED, NOT_FOUND, REVOKED, EXPIRED,   401     WWW-Authenticate: Bearer realm="keyward",
DISABLED                                          error="invalid_token"
FORBIDDEN_ADDRESS                         403
INSUFFICIENT_SCOPE                        403     WWW-Authenticate: ... error="insufficient_scope",
                                                  scope="<missing>"
RATE_LIMITED                              429     Retry-After (at least 1), RateLimit-Policy, RateLimit
USAGE_EXCEEDED                            429     Retry-After when a refill will restore credits
UNAVAILABLE                               503
========================================  ======  ===============================================

Every rejection carries ``X-Keyward-Code`` and an ``application/problem+json``
body with a ``code`` member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Dict, List, Optional

from .types import RateLimitState, Verification

__all__ = ["Rejection", "rejection", "missing", "unavailable", "ratelimit_headers", "PROBLEM_CONTENT_TYPE"]

#: PROBLEM_CONTENT_TYPE is the media type of rejection bodies (RFC 9457).
PROBLEM_CONTENT_TYPE = "application/problem+json"

_REALM = 'Bearer realm="keyward"'
_INVALID_TOKEN = _REALM + ', error="invalid_token"'

# code: (status, WWW-Authenticate or None, detail); the details are those of
# keyward's Go middleware, word for word.
_ANSWERS = {
    "MISSING": (401, _REALM, "the request carries no API key"),
    "MALFORMED": (401, _INVALID_TOKEN, "the key is malformed"),
    "NOT_FOUND": (401, _INVALID_TOKEN, "the key is not valid"),
    "REVOKED": (401, _INVALID_TOKEN, "the key has been revoked"),
    "EXPIRED": (401, _INVALID_TOKEN, "the key has expired"),
    "DISABLED": (401, _INVALID_TOKEN, "the key is disabled"),
    "FORBIDDEN_ADDRESS": (403, None, "the key may not be used from this address"),
    "INSUFFICIENT_SCOPE": (403, None, "the key does not grant a scope this request requires"),
    "RATE_LIMITED": (429, None, "the key's rate limit is spent for now"),
    "USAGE_EXCEEDED": (429, None, "the key has no credits left"),
    "UNAVAILABLE": (503, None, "the key cannot be checked right now; try again later"),
}


@dataclass(frozen=True)
class Rejection:
    """A refusal to answer: send ``body`` with ``status`` and ``headers``.

    Attributes:
        status: 401, 403, 429 or 503.
        code: the outcome (``REVOKED``, ...), ``MISSING`` or ``UNAVAILABLE``.
        headers: ``X-Keyward-Code``, and ``WWW-Authenticate``,
            ``Retry-After``, ``RateLimit-Policy`` and ``RateLimit`` where
            they apply (not Content-Type: see ``content_type``).
        problem: the RFC 9457 problem document.
    """

    status: int
    code: str
    headers: Dict[str, str] = field(default_factory=dict)
    problem: Dict[str, object] = field(default_factory=dict)

    content_type = PROBLEM_CONTENT_TYPE

    @property
    def body(self) -> bytes:
        """The problem document, encoded."""
        return json.dumps(self.problem, separators=(",", ":")).encode()


def _quote_scope(scope: str) -> str:
    """Escapes a scope for a quoted-string, dropping control characters."""
    out = []
    for c in scope:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) >= 0x20 and ord(c) != 0x7F:
            out.append(c)
    return "".join(out)


def _build(code: str, auth: Optional[str] = None, retry: int = 0, rl: Optional[Dict[str, str]] = None) -> Rejection:
    status, default_auth, detail = _ANSWERS[code]
    headers = {"X-Keyward-Code": code}
    auth = auth if auth is not None else default_auth
    if auth:
        headers["WWW-Authenticate"] = auth
    if retry > 0:
        headers["Retry-After"] = str(retry)
    if rl:
        headers.update(rl)
    problem = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return Rejection(status=status, code=code, headers=headers, problem=problem)


def missing() -> Rejection:
    """The 401 for a request that presents no key (code ``MISSING``)."""
    return _build("MISSING")


def unavailable() -> Rejection:
    """The 503 for a key that cannot be checked (keyward unreachable): never
    answer such a request with a success."""
    return _build("UNAVAILABLE")


def _limits(v: Verification) -> List[RateLimitState]:
    if v.ratelimits:
        return list(v.ratelimits)
    if v.ratelimit is not None and v.ratelimit.limit > 0:
        return [v.ratelimit]
    return []


def _policy(s: RateLimitState) -> str:
    out = f'"{s.policy_name}";q={s.limit}'
    if s.period is not None:
        out += f";w={s.period}"
    return out


def ratelimit_headers(v: Verification) -> Dict[str, str]:
    """The ``RateLimit-Policy`` and ``RateLimit`` headers of a verification
    (the IETF httpapi draft's), empty when the key has no rate limit.

    RateLimit-Policy lists every limit checked (a key's ``default`` limit as
    ``"key"``, its other limits by name, its owner's as ``"owner.<name>"``);
    RateLimit gives the one with the fewest units left. Send them on 2xx and
    429 answers only.
    """
    limits = [s for s in _limits(v) if s.limit > 0]
    if not limits:
        return {}
    fewest = limits[0]
    for s in limits[1:]:
        if s.remaining < fewest.remaining:
            fewest = s
    return {
        "RateLimit-Policy": ", ".join(_policy(s) for s in limits),
        "RateLimit": f'"{fewest.policy_name}";r={max(fewest.remaining, 0)};t={max(fewest.reset, 0)}',
    }


def rejection(v: Verification) -> Optional[Rejection]:
    """The answer to send for a verification, or None for ``VALID`` (then
    send :func:`ratelimit_headers` with your own answer). An outcome this
    package does not know is answered like :func:`unavailable`."""
    code = v.code
    if code == "VALID":
        return None
    if code == "INSUFFICIENT_SCOPE":
        auth = _REALM + ', error="insufficient_scope"'
        if v.missing_scope:
            auth += f', scope="{_quote_scope(v.missing_scope)}"'
        return _build(code, auth=auth)
    if code == "RATE_LIMITED":
        return _build(code, retry=max(v.retry_after, 1), rl=ratelimit_headers(v))
    if code == "USAGE_EXCEEDED":
        return _build(code, retry=v.retry_after, rl=ratelimit_headers(v))
    if code in _ANSWERS and code not in ("MISSING", "UNAVAILABLE"):
        return _build(code)
    return unavailable()
