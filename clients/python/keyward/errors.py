"""Errors raised by :class:`keyward.Client` and :class:`keyward.AsyncClient`.

Every error the server answers is a problem document (RFC 9457) with a
``code`` member; :class:`KeywardError` carries it, and its subclasses let a
caller catch one kind of failure::

    try:
        client.get_key("32pl2YI89o7WJi3Z")
    except keyward.NotFound:
        ...
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Type

__all__ = [
    "KeywardError",
    "InvalidRequest",
    "ValidationFailed",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "RateLimited",
    "Unavailable",
    "error_from_response",
]


class KeywardError(Exception):
    """An error answered by keyward, or the failure to reach it.

    Attributes:
        status: the HTTP status, or None when no answer came (network error).
        code: the problem's ``code`` member: ``NOT_FOUND``, ``CONFLICT``,
            ``VALIDATION_FAILED``, ``UNAUTHORIZED``, ``UNAVAILABLE``, ...
        detail: a sentence for people.
        errors: for ``VALIDATION_FAILED``, each broken rule as
            ``{"location": "body.name", "message": "..."}``.
        problem: the whole problem document as answered (empty when the
            answer was not one).
    """

    def __init__(
        self,
        status: Optional[int],
        code: str,
        detail: str = "",
        errors: Optional[List[Dict[str, str]]] = None,
        problem: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.errors: List[Dict[str, str]] = list(errors or [])
        self.problem: Dict[str, Any] = dict(problem or {})
        super().__init__(self._message())

    def _message(self) -> str:
        head = "keyward: "
        if self.status is not None:
            head += f"{self.status} "
        msg = f"{head}{self.code}: {self.detail}" if self.detail else f"{head}{self.code}"
        for e in self.errors:
            msg += f"; {e.get('location', '')}: {e.get('message', '')}"
        return msg


class InvalidRequest(KeywardError):
    """400 ``INVALID_REQUEST``: the request body was not JSON."""


class ValidationFailed(InvalidRequest):
    """422 ``VALIDATION_FAILED``: the request breaks a rule; see ``errors``."""


class Unauthorized(KeywardError):
    """401 ``UNAUTHORIZED``: the client's credential is missing or not valid."""


class Forbidden(KeywardError):
    """403 ``FORBIDDEN``: the credential may not use this endpoint (a
    keyward:verify key calling an admin endpoint, for example)."""


class NotFound(KeywardError):
    """404 ``NOT_FOUND``: no such key, owner or role."""


class Conflict(KeywardError):
    """409 ``CONFLICT``: the request conflicts with the state (a revoked or
    already rotated key, a role still held by keys)."""


class PayloadTooLarge(KeywardError):
    """413 ``PAYLOAD_TOO_LARGE``: a body over 1 MiB."""


class RateLimited(KeywardError):
    """429: the client's own credential is rate limited or out of credits.

    Attributes:
        retry_after: seconds to wait (the Retry-After header), or None.
    """

    def __init__(self, *args: Any, retry_after: Optional[int] = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class Unavailable(KeywardError):
    """503 ``UNAVAILABLE``, a gateway error, or no answer at all (connection
    refused, timeout): try again later."""


_BY_STATUS: Dict[int, Type[KeywardError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}

_CODE_BY_STATUS = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "UNAVAILABLE",
}


def error_from_response(status: int, body: bytes, retry_after: Optional[str] = None) -> KeywardError:
    """Builds the error of an answer with a status of 400 or more.

    The body is read as a problem document; an answer that is not one (a
    proxy's HTML page) still gives an error with a code derived from the
    status.
    """
    problem: Dict[str, Any] = {}
    try:
        doc = json.loads(body) if body else None
        if isinstance(doc, dict):
            problem = doc
    except ValueError:
        pass
    code = problem.get("code") if isinstance(problem.get("code"), str) else ""
    code = str(code) or _CODE_BY_STATUS.get(status, "INTERNAL")
    detail = str(problem["detail"]) if isinstance(problem.get("detail"), str) else ""
    if not detail and not problem:
        detail = f"the server answered {status} without a problem document"
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    cls = _BY_STATUS.get(status, KeywardError)
    if cls is RateLimited:
        seconds: Optional[int] = None
        if retry_after and retry_after.strip().isdigit():
            seconds = int(retry_after.strip())
        return RateLimited(status, code, detail, errors, problem, retry_after=seconds)
    return cls(status, code, detail, errors, problem)
