import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args, cwd=REPO, timeout=600, **kw) -> subprocess.CompletedProcess:
    "Run a command of the project's environment and capture its output."
    exe = BIN / args[0] if (BIN / args[0]).exists() else args[0]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([str(exe), *map(str, args[1:])], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.fixture
def repo() -> Path:
    return REPO
