"""Times KeywardAuth.verify_request on a cache hit, in process, with no server
and no FastAPI routing: the dependency's own work per request once its cache is
warm (headers read, client address, digest, cache lookup). Part of
bench/fastapi/run.sh; alone: PYTHONPATH=clients/python python3 bench/fastapi/hit.py
"""

import asyncio
import time

from starlette.requests import Request

import keyward
from keyward.fastapi import KeywardAuth, VerifiedKey

SECRET = "kw_AAAAAAAAAAAAAAAA_" + "B" * 43
SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/protected",
    "query_string": b"",
    "headers": [(b"authorization", b"Bearer " + SECRET.encode())],
    "client": ("127.0.0.1", 50000),
}


async def per_call(n: int) -> float:
    # Never contacted: the answer is put in the cache before timing.
    auth = KeywardAuth(keyward.AsyncClient("http://127.0.0.1:9", "unused"))
    v = VerifiedKey(id="k", name="n", owner="", scopes=[], metadata={}, key={"expires_at": None}, verification=None)  # type: ignore[arg-type]
    auth._cache.put(auth._digest(SECRET, "127.0.0.1"), v)
    t = time.perf_counter()
    for _ in range(n):
        got, refused, _ = await auth.verify_request(Request(SCOPE))
    total = time.perf_counter() - t
    assert got is v and refused is None, "not a cache hit"
    t = time.perf_counter()
    for _ in range(n):
        Request(SCOPE)
    return (total - (time.perf_counter() - t)) / n


def main() -> None:
    best = min(asyncio.run(per_call(50_000)) for _ in range(3))
    print(f"KeywardAuth.verify_request on a cache hit, in process: {best * 1e6:.1f} µs (best of 3 x 50,000)")


if __name__ == "__main__":
    main()
