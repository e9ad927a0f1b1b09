"""keyward: the Python client of keyward, API key management.

- :class:`Client` and :class:`AsyncClient` call a ``keyward serve``: keys,
  owners, roles, usage, audit, and :meth:`Client.verify`.
- :mod:`keyward.fastapi` guards FastAPI routes (``KeywardAuth``), answering
  refused requests as keyward's own middleware does.
- :mod:`keyward.responses` builds those answers for any other framework.

Errors are :class:`KeywardError` subclasses carrying the problem's ``code``.
Keys and other records are plain dicts (see :mod:`keyward.types`); nothing
here depends on pydantic.
"""

from ._wire import UNSET
from .async_client import AsyncClient
from .client import Client
from .errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    KeywardError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from .types import RateLimitState, Verification

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "Verification",
    "RateLimitState",
    "UNSET",
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
    "__version__",
]
