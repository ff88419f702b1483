"""The compiled lift kernel keeps its speed only while LLVM turns its landmark loops into SIMD code (22_lift.kernel: reading a
view's camera inside a loop that also stores stopped the Gauss-Newton loop from vectorising, 3x slower). This checks
that property itself, not a time: LLVM's loop-vectorizer remarks from a fresh, uncached compile of the kernel."""

import inspect
import re
import subprocess
import sys
import textwrap

import pytest

import facelift.lift.kernel as L

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process

# the remark options are process-wide and must be set before the first compile: a subprocess, its stderr read
PROBE = textwrap.dedent("""
    import llvmlite.binding as llvm
    llvm.set_option("", "-pass-remarks=loop-vectorize")
    import numba
    import numpy as np
    import facelift.lift.kernel as L
    # the same options as the library's kernel, without its on-disk cache (cached code is not recompiled: no remarks);
    # debug=True only adds line numbers to the remarks
    kernel = numba.njit(parallel=True, fastmath=True, debug=True)(L.lift_kernel.py_func)
    f4, B, V, N = np.float32, 2, 3, 8
    cams = np.tile(np.eye(3, dtype=f4), (V, 1, 1))
    t = np.zeros((V, 3), f4); t[:, 2] = 2.7
    kernel(np.random.default_rng(0).random((B, V, N, 2), f4), np.ones((1, V, N), bool), np.zeros((0, 0, 0), f4),
           np.ones(N, bool), cams, t, cams, np.zeros((V, 3), f4), 2, f4(3.0), f4(1e-4), f4(np.nan),
           np.empty((B, N, 3), f4), np.empty((B, V, N), f4), np.empty((B, N), f4), np.empty((B, N), np.int64),
           np.empty((B, N), f4))
""")


def landmark_loops(fn) -> list[int]:
    "Line numbers (in its module) of the loops over landmarks, `for n in range(...)`, of a compiled function's source."
    src, first = inspect.getsourcelines(fn.py_func)
    return [first + i for i, line in enumerate(src) if re.match(r"\s*for n in range\(", line)]


def test_lift_kernel_landmark_loops_are_vectorised():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    vectorised = {int(line) for line in re.findall(r":(\d+):\d+: vectorized loop", out.stderr)}
    assert vectorised, f"LLVM printed no vectorisation remark at all:\n{out.stderr[-3000:]}"
    kernel_loops = landmark_loops(L.lift_kernel)
    # every landmark loop but the kernel's last, which writes the outputs X [B,N,3] (strided stores: left scalar)
    loops = landmark_loops(L._seed_votes) + kernel_loops[:-1]
    assert len(loops) >= 7, (
        f"expected the kernel's landmark loops (votes, init, solve, Gauss-Newton, residuals, rays), found {loops}"
    )
    scalar = [n for n in loops if n not in vectorised]
    assert not scalar, (
        f"landmark loops at facelift/lift/kernel.py lines {scalar} no longer vectorise (vectorised: {sorted(vectorised)})"
    )
