"""The FastAPI app of bench/fastapi/run.sh: one trivial route bare (/open),
behind keyward's FastAPI dependency (/protected), and behind a stub
dependency with the same parameters that does nothing (/stub), so that
protected / open is the dependency's cost under load and stub / open the part
of it that is FastAPI resolving such a dependency.

Configuration, from the environment:
    KEYWARD_URL          keyward serve's base URL
    KEYWARD_VERIFY_KEY   a key with scope keyward:verify (the app's credential)
    KEYWARD_TTL          the dependency's cache TTL in seconds (default 10, its default)

Run with PYTHONPATH=clients/python (the package in place, nothing installed).
"""

import os
from typing import Optional

from fastapi import Depends, FastAPI, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

import keyward
from keyward.fastapi import KeywardAuth, VerifiedKey, install

app = FastAPI()
install(app)

kw = keyward.AsyncClient(os.environ["KEYWARD_URL"], os.environ["KEYWARD_VERIFY_KEY"])
auth = KeywardAuth(kw, ttl=float(os.environ.get("KEYWARD_TTL", "10")))


@app.get("/open")
async def open_route():
    return {"message": "hello"}


@app.get("/protected")
async def protected_route(key: VerifiedKey = Depends(auth)):
    return {"message": "hello"}


bearer = HTTPBearer(auto_error=False, scheme_name="StubBearer")
header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="StubApiKey")


async def stub(
    request: Request,
    response: Response,
    bearer: Optional[HTTPAuthorizationCredentials] = Security(bearer),
    x_api_key: Optional[str] = Security(header),
) -> None:
    """KeywardAuth's parameters, and no work."""


@app.get("/stub")
async def stub_route(nothing: None = Depends(stub)):
    return {"message": "hello"}
