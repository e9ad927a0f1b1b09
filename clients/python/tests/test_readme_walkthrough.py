"""The README's "FastAPI in five minutes" followed as a reader would.

Its ``sh`` blocks run command by command in a fresh folder, and its
``python`` block is saved as ``main.py``. ``go run ./cmd/keyward`` is the
keyward binary built from the tree, which is what ``go run`` builds.
``python`` is this interpreter, with the package on PYTHONPATH instead of
``pip install``. The reader supplies the secrets that ``keys create``
printed (``kw_...``). So that the test can run beside others, keyward serve
listens on a free port (KEYWARD_ADDR, which the app reads as KEYWARD_URL),
and the app listens on a free port instead of 8000. A comment after a curl
command is what it answers; "..." stands for anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from test_migration_guide import _blocks, _commands, _promised, _reader_shell, _stop, _strip_comment, _wait_http

REPO = Path(__file__).resolve().parents[3]
README = REPO / "clients" / "python" / "README.md"


def _walkthrough() -> str:
    """The README's section "FastAPI in five minutes"."""
    text = README.read_text()
    start = text.index("## FastAPI in five minutes")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_fastapi_walkthrough(keyward_binary: Path, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the walk-through uses curl, which is not installed (apt-get install curl)")
    blocks = _blocks(_walkthrough())
    assert [lang for lang, _ in blocks] == ["sh", "python", "sh"], blocks

    work = tmp_path / "app"
    work.mkdir()
    _, env, kw_port, app_port = _reader_shell(tmp_path)
    secrets: Dict[str, str] = {}
    background: List[subprocess.Popen] = []
    answered: List[str] = []
    try:
        for lang, body in blocks:
            if lang == "python":
                (work / "main.py").write_text(body)
                continue
            for cmd, _ in _commands(body):
                cmd = cmd.replace("go run ./cmd/keyward", f'"{keyward_binary}"').replace("8000", str(app_port))
                bare = _strip_comment(cmd)
                m = re.fullmatch(r"(?:export )?(\w+)=kw_\.\.\.", bare)
                if m:  # the reader pastes a secret keys create printed
                    name = m.group(1)
                    env[name] = secrets["my api" if name == "KEYWARD_VERIFY_KEY" else "alice"]
                    continue
                if bare.endswith("&"):
                    log = tmp_path / f"background-{len(background)}.log"
                    with open(log, "wb") as f:
                        proc = subprocess.Popen(
                            ["bash", "-c", bare[:-1]], cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                        )
                    background.append(proc)
                    if " serve" in bare:
                        _wait_http(f"http://127.0.0.1:{kw_port}/readyz", proc, log)
                    else:
                        _wait_http(f"http://127.0.0.1:{app_port}/docs", proc, log)
                    continue
                res = subprocess.run(["bash", "-c", bare], cwd=work, env=env, capture_output=True, text=True, timeout=120)
                output = res.stdout + res.stderr
                assert res.returncode == 0, f"{bare}\nexit {res.returncode}:\n{output}"
                m = re.search(r'keys create "([^"]+)"', bare)
                if m:
                    secrets[m.group(1)] = re.search(r"^secret:\s+(\S+)", res.stdout, re.M).group(1)
                if bare.startswith("curl"):
                    promise = cmd[len(bare) :].strip().lstrip("#").strip()
                    answered.append(output)
                    for part in promise.split(", "):
                        if part == "the same":
                            assert output == answered[-2], f"{bare}: {output!r}, want {answered[-2]!r}"
                        else:
                            assert _promised(part.replace("X-Keyward-Code: ", "x-keyward-code: ").lower(), output.lower()), (
                                f"{bare}\nanswers:\n{output}\nwhere the README promises: {promise}"
                            )
        assert len(answered) == 3, answered
        assert '"owner":"alice"' in answered[0].replace(" ", ""), answered[0]
    finally:
        _stop(background)
