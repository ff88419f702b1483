"""Real browser checks in headless Chromium (Debian's package, installed here if missing), offline: the demo report and an
executed notebook's web page draw every plot without a console error or a network request, and the camera explorer
works in JupyterLab the way people use it (a slider dragged with the mouse changes the figure)."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request

import cv2
import nbformat
import numpy as np
import pytest

from conftest import BIN, REPO

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process

# as root in a sandbox; no GPU (SwiftShader draws WebGL); no background traffic to Google (the network is closed)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    "Debian's Chromium, installed with apt-get when the machine lacks it."
    if shutil.which("chromium") is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, env=env)
    path = shutil.which("chromium")
    assert path, "Debian's chromium could not be installed"
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=FLAGS)
        yield b
        b.close()


def _open(browser, url: str, local: str = "file:"):
    "A page at `url` with its console errors and its requests leaving `local` recorded."
    page = browser.new_page(viewport=dict(width=1300, height=900))
    errors, external = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith((local, "data:", "blob:")) else None)
    page.goto(url)
    return page, errors, external


def _ink(png: bytes) -> float:
    "Fraction of a screenshot's pixels that are not (near) white."
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return float((img < 235).any(-1).mean())


def _check_plots(page, selector: str) -> int:
    "Wait until every Plotly plot under `selector` is drawn, then check each one's pixels (and its WebGL canvas, if 3D)."
    n = page.evaluate(f"document.querySelectorAll('{selector}').length")
    page.wait_for_function(f"document.querySelectorAll('{selector} .main-svg').length >= {n}", timeout=120_000)
    page.wait_for_timeout(500)
    for i, el in enumerate(page.query_selector_all(selector)):
        el.scroll_into_view_if_needed()
        assert _ink(el.screenshot()) > 0.02, f"plot {i} is blank"
        canvas = el.query_selector(".gl-container canvas")
        if canvas is not None:
            assert _ink(canvas.screenshot()) > 0.005, f"the 3D canvas of plot {i} is blank"
    return n


def test_report_opens_offline_with_every_plot_drawn(quick_demo, browser):
    out, r = quick_demo
    assert r.returncode == 0, r.stderr[-3000:]
    page, errors, external = _open(browser, (out / "report.html").as_uri())
    real = (
        REPO / "data" / "real" / "james.obj"
    ).exists()  # fetched assets: the demo adds its real-faces stage (3 plots)
    assert _check_plots(page, "div.plot") == 3 + 5 + 1 + 3 + 3 + 5 + 1 + 3 * real  # ... video: 1
    assert not errors and not external
    links = set(page.eval_on_selector_all("p.meta a", "els => els.map(e => e.getAttribute('href'))"))
    assert {
        "camera_space.html",
        "views.html",
        "frames.html",
        "pseudo_labels.html",
        "train.html",
        "evaluate.html",
    } <= links
    page.close()


def test_executed_notebook_page_opens_offline(quick_demo, browser):
    out, r = quick_demo
    assert r.returncode == 0, r.stderr[-3000:]
    page, errors, external = _open(browser, (out / "pseudo_labels.html").as_uri())
    assert _check_plots(page, ".js-plotly-plot") == 3  # the view grid, the 3D pseudo-labels, the residual heatmap
    assert "Quality against the truth" in page.inner_text("body")
    assert not errors and not external
    page.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kernel_idle(base: str, token: str, timeout: float = 120) -> None:
    "Wait until the notebook's kernel, as the server reports it, is started and idle."
    deadline = time.time() + timeout
    while time.time() < deadline:
        sessions = json.loads(urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5).read())
        if any((s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions):
            return
        time.sleep(0.5)
    raise AssertionError(f"the kernel did not become idle within {timeout:.0f} s: {sessions}")


def _diagnosis(page, tmp_path) -> str:
    "What the page and the server show when the explorer did not appear (a screenshot is kept beside the log)."
    page.screenshot(path=str(tmp_path / "lab.png"))
    return (
        f"page text:\n{page.inner_text('body')[-2000:]}\n\nlab.log:\n{(tmp_path / 'lab.log').read_text()[-3000:]}\n"
        f"screenshot: {tmp_path / 'lab.png'}"
    )


def _run_first_cell(page, base: str, token: str, tmp_path, tries: int = 3) -> None:
    """Run the notebook's first cell as a user does (click into it, Shift+Enter) once its kernel is idle; press again if the
    keystroke was lost (the cell's prompt never showed `[*]` or a number), as a user would."""
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
    _kernel_idle(base, token)
    started = "() => /\\[[*0-9]+\\]/.test(document.querySelector('.jp-Notebook .jp-Cell .jp-InputPrompt').textContent)"
    for _ in range(tries):
        page.click(".jp-Notebook .jp-Cell .cm-content")
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(started, timeout=30_000)
            return
        except Exception:
            continue
    raise AssertionError(f"the cell did not start after {tries} Shift+Enter\n" + _diagnosis(page, tmp_path))


def test_camera_explorer_in_jupyterlab(tmp_path, browser):
    "JupyterLab on a loopback port; the camera explorer notebook run from the UI; the azimuth slider dragged: the figure follows."
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from facelift.camera import CameraSpace\nfrom facelift.workbench.widgets import camera_explorer\n"
            "camera_explorer(space=CameraSpace(image_size=96))"
        )
    ]
    nbformat.write(nb, tmp_path / "explore.ipynb")
    port, token = _free_port(), secrets.token_hex(12)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    lab = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=open(tmp_path / "lab.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and lab.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        page, _, external = _open(browser, f"{base}/lab/tree/explore.ipynb?token={token}", local=base)
        _run_first_cell(page, base, token, tmp_path)
        slider = page.locator(".widget-hslider", has_text="α azimuth")
        try:
            slider.wait_for(timeout=180_000)
        except Exception as e:
            raise AssertionError(_diagnosis(page, tmp_path)) from e
        title = page.locator(".js-plotly-plot .gtitle").first
        title.wait_for(timeout=120_000)
        before = title.text_content()
        assert before.startswith("seed 0: α=0° β=0°"), before
        image = page.locator(".js-plotly-plot image").first.get_attribute("href")
        handle = slider.locator(".noUi-handle").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 60, y, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "b => document.querySelector('.js-plotly-plot .gtitle').textContent !== b", arg=before, timeout=120_000
        )
        after = title.text_content()
        azimuth = float(after.split("α=")[1].split("°")[0])
        assert 20 <= azimuth <= 110, after  # dragged right: the camera moved to the subject's left
        assert page.locator(".js-plotly-plot image").first.get_attribute("href") != image  # a new render
        assert not external  # the lab works offline
        page.close()
    finally:
        lab.terminate()
        lab.wait(30)
