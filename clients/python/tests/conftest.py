"""Fixtures: a real ``keyward serve`` built from this repository, started once
per session on a free loopback port with a temporary SQLite database, and
clients for it.

Set KEYWARD_BIN to test a keyward binary built elsewhere instead of building
one with ``go build``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import httpx
import pytest

import keyward

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Server:
    """A running keyward serve."""

    url: str
    admin_token: str
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(tmp: Path) -> Path:
    given = os.environ.get("KEYWARD_BIN")
    if given:
        return Path(given)
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        pytest.fail("the Python tests run against keyward serve built from the tree, and go is not on PATH (or set KEYWARD_BIN)")
    out = tmp / "keyward"
    subprocess.run([go, "build", "-o", str(out), "./cmd/keyward"], cwd=REPO, check=True)
    return out


def _start(binary: Path, tmp: Path, token: str) -> Tuple[subprocess.Popen, str, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    env["KEYWARD_ADMIN_TOKEN"] = token
    env["KEYWARD_PEPPER"] = secrets.token_hex(32)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / f"serve-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "serve", "--addr", f"127.0.0.1:{port}", "--database-url", f"sqlite:{tmp / 'keyward.db'}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    raise RuntimeError(f"keyward serve did not become ready on {url}:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def keyward_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The keyward binary built from the tree (or KEYWARD_BIN)."""
    return _build(tmp_path_factory.mktemp("bin"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, keyward_binary: Path) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("keyward")
    binary = keyward_binary
    token = secrets.token_urlsafe(36)
    err: Exception = RuntimeError("not started")
    for _ in range(3):  # another process may take the free port first
        try:
            proc, url, log = _start(binary, tmp, token)
            break
        except RuntimeError as e:
            err = e
    else:
        raise err
    try:
        yield Server(url=url, admin_token=token, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[keyward.Client]:
    with keyward.Client(server.url, server.admin_token) as c:
        yield c


@pytest.fixture(scope="session")
def verify_token(admin: keyward.Client) -> str:
    """A key with scope keyward:verify: what a FastAPI service holds."""
    return admin.create_key("fastapi service", scopes=["keyward:verify"])["secret"]


@pytest.fixture
def new_key(admin: keyward.Client) -> Callable[..., Tuple[Dict[str, Any], str]]:
    """Creates a key; returns (key, secret)."""

    def make(**fields: Any) -> Tuple[Dict[str, Any], str]:
        fields.setdefault("name", "test key")
        name = fields.pop("name")
        issued = admin.create_key(name, **fields)
        return dict(issued["key"]), issued["secret"]

    return make


@pytest.fixture(scope="session")
def closed_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{_free_port()}"
