import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args, cwd=REPO, timeout=600, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    "Run a command of the project's environment (with the variables `env` added) and capture its output."
    exe = BIN / args[0] if (BIN / args[0]).exists() else args[0]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [str(exe), *map(str, args[1:])], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw
    )


@pytest.fixture
def repo() -> Path:
    return REPO


def kill_after_first_entry(args: list, manifest: Path, key: str, timeout: float = 300) -> int:
    """Start a `facelift` command, SIGKILL it as soon as `manifest` lists one entry under `key`, return its exit code.
    (Simulates a crash mid-run: what was recorded must survive, the rest must resume.)"""
    proc = subprocess.Popen(
        [str(BIN / "facelift"), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists() and len(json.loads(manifest.read_text())[key]) >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    return proc.wait()


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    "One `facelift demo --quick` run shared by the tests that read its outputs: (run directory, the finished process)."
    out = tmp_path_factory.mktemp("demo") / "run"
    return out, run("facelift", "demo", "--quick", "--no-progress", "--out", out)
