"""docs/migrate-from-fastapi.md followed as a reader would, on the databases
keyshield and fastapi_simple_security made (cmd/keyward/testdata/import).

Every ``sh`` block of the guide runs command by command in a fresh folder, as
written, with ``keyward`` (built from the tree) and ``python`` (this
interpreter, with the package on PYTHONPATH instead of ``pip install``) on
PATH, and the ``python`` block saved as ``main.py``. What a reader supplies is
supplied: the pepper and a key of the keyshield fixture ($KEYSHIELD_PEPPER,
$MY_KEY), the secret ``keys create`` printed for ``kw_...``. Two things change
so that the test can run beside others on one machine: keyward serve listens
on a free port (KEYWARD_ADDR, which the app reads as KEYWARD_URL) and the app
on a free port instead of 8000. A comment line under a command is its output,
and must appear in what the command printed; a background command (``&``)
must answer before the next one runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
GUIDE = REPO / "docs" / "migrate-from-fastapi.md"
FIXTURES = REPO / "cmd" / "keyward" / "testdata" / "import"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reader_shell(tmp_path: Path, **extra: str) -> Tuple[Path, Dict[str, str], int, int]:
    """A reader's shell for a guide: a folder of commands first on PATH
    (``python`` is this interpreter), the package on PYTHONPATH instead of
    ``pip install``, no KEYWARD_ variables of ours, and keyward serve on a free
    port (KEYWARD_ADDR, which the app reads as KEYWARD_URL), plus extra.
    Returns the folder, the environment, keyward's port and a free port for
    the app."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    kw_port, app_port = _free_port(), _free_port()
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO / "clients" / "python"),
        KEYWARD_ADDR=f"127.0.0.1:{kw_port}",
        KEYWARD_URL=f"http://127.0.0.1:{kw_port}",
        **extra,
    )
    return bindir, env, kw_port, app_port


def _blocks(text: str) -> List[Tuple[str, str]]:
    """The fenced blocks of the guide, in order: (language, body)."""
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def _commands(body: str) -> List[Tuple[str, List[str]]]:
    """The commands of a shell block (continuation lines joined), each with
    the comment lines under it: the output the guide promises."""
    out: List[Tuple[str, List[str]]] = []
    pending = ""
    for line in body.splitlines():
        if pending:
            pending += "\n" + line
        elif line.startswith("# "):
            assert out, f"a comment before any command: {line}"
            out[-1][1].append(line[2:])
            continue
        elif line.strip():
            pending = line
        else:
            continue
        if not pending.endswith("\\"):
            out.append((pending, []))
            pending = ""
    return out


def _strip_comment(cmd: str) -> str:
    """cmd without its trailing comment (a # after a blank, outside quotes)."""
    quote = ""
    for i, c in enumerate(cmd):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or cmd[i - 1] in " \t"):
            return cmd[:i].strip()
    return cmd.strip()


def _promised(line: str, output: str) -> bool:
    """Whether output holds the promised line ("..." stands for anything)."""
    pattern = ".*?".join(re.escape(part) for part in line.split("..."))
    return re.search(pattern, output) is not None


def _wait_http(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"{url} does not answer:\n{log.read_text()[-3000:]}")


def _stop(background: List[subprocess.Popen]) -> None:
    """Stops the background commands (each in its own session), newest first."""
    for proc in reversed(background):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_migration_guide_word_by_word(keyward_binary: Path, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the guide uses curl, which is not installed (apt-get install curl)")
    text = GUIDE.read_text()
    blocks = _blocks(text)
    assert [lang for lang, _ in blocks].count("python") == 1, "the guide has one app, main.py"

    work = tmp_path / "app"
    work.mkdir()
    shutil.copy(FIXTURES / "keyshield-argon2" / "keyshield.sqlite3", work / "keys.db")
    shutil.copy(FIXTURES / "simple-security" / "simple_security.sqlite3", work / "sqlite.db")
    ks = json.loads((FIXTURES / "keyshield-argon2" / "keys.json").read_text())
    ss = json.loads((FIXTURES / "simple-security" / "keys.json").read_text())

    bindir, env, kw_port, app_port = _reader_shell(tmp_path, KEYSHIELD_PEPPER=ks["pepper"], MY_KEY=ks["keys"]["alpha"]["key"])
    (bindir / "keyward").symlink_to(keyward_binary)
    secrets: Dict[str, str] = {}
    background: List[subprocess.Popen] = []
    outputs: Dict[str, str] = {}
    try:
        for lang, body in blocks:
            if lang == "python":
                (work / "main.py").write_text(body)
                continue
            assert lang == "sh", f"a {lang} block: the test runs sh and python blocks only"
            for cmd, promised in _commands(body):
                cmd = cmd.replace("8000", str(app_port))
                bare = _strip_comment(cmd)
                if bare.startswith("export "):
                    name, _, value = bare[len("export ") :].partition("=")
                    if value == "kw_...":  # the secret of "my api", printed by keys create
                        value = secrets["my api"]
                    env[name] = value
                    continue
                if bare.endswith("&"):
                    log = tmp_path / f"background-{len(background)}.log"
                    with open(log, "wb") as f:
                        proc = subprocess.Popen(
                            ["bash", "-c", bare[:-1]], cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                        )
                    background.append(proc)
                    port = kw_port if "keyward serve" in bare else app_port
                    _wait_http(f"http://127.0.0.1:{port}/readyz" if port == kw_port else f"http://127.0.0.1:{port}/docs", proc, log)
                    continue
                res = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=300)
                output = res.stdout + res.stderr
                assert res.returncode == 0, f"{cmd}\nexit {res.returncode}:\n{output}"
                for line in promised:
                    assert _promised(line, output), f"{cmd}\nprints:\n{output}\nwhere the guide promises: {line}"
                m = re.search(r'keys create "([^"]+)"', bare)
                if m:
                    secrets[m.group(1)] = re.search(r"^secret:\s+(\S+)", res.stdout, re.M).group(1)
                outputs[bare] = res.stdout

        verified = [out for cmd, out in outputs.items() if cmd.startswith('keyward keys verify "$MY_KEY"')]
        assert verified and verified[0].startswith("VALID (key 02664fa94dc64da3, alpha)"), verified
        called = [out for cmd, out in outputs.items() if cmd.startswith("curl")]
        assert called and json.loads(called[0]) == {"key_id": "02664fa94dc64da3", "name": "alpha"}, called

        # The app now answers every old key of both libraries as the fixtures say.
        url = f"http://127.0.0.1:{app_port}/secure"
        for fixture in (ks, ss):
            for label, k in fixture["keys"].items():
                r = httpx.get(url, headers={"X-API-Key": k["key"]}, timeout=30)
                want = 200 if k["expect"] == "VALID" else 401
                assert r.status_code == want, f"{label}: {r.status_code} {r.text}"
                if want == 401:
                    assert r.headers["X-Keyward-Code"] == k["expect"], f"{label}: {r.headers}"
    finally:
        _stop(background)
