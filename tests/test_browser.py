"""The classroom app served for real and driven in Debian's chromium by Playwright.

The tests start the server themselves (a free port, polled until it answers, stopped by its
process id). Without chromium they are skipped, saying how to get it; in CI (`CI=true`) a
missing browser fails the run instead.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tokenmarket.runs import app

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's chromium on a closed network: without the background-networking flags it floods
the network with connection attempts (ECOSYSTEM.md)."""

SERVER_START_S = 90.0
UPDATE_S = 60.0
SCREENSHOTS = Path(__file__).resolve().parent / "output" / "browser"
"""Where the layout tests leave their screenshots for a person to look at (not committed;
`make clean` removes them)."""


def chromium_path() -> str:
    """Debian's chromium, or skip (fail in CI) with how to get it."""
    path = shutil.which("chromium")
    if path:
        return path
    message = (
        "chromium not found: to run the browser tests, install Debian's: "
        "`apt-get install chromium` (not `playwright install`)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing browser fails the run)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@contextlib.contextmanager
def serving(command: list[str], port: int, log_path: Path):
    """Run a server command in its own process group until it answers on `port`; stop it."""
    url = f"http://127.0.0.1:{port}/"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            env=app.server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert process.poll() is None, f"server exited: {log_path.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"no answer from {url}"
                time.sleep(0.3)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """The app served on a free port; its log is kept with the tests' other outputs."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "solara.log"
    with serving(app.server_command("127.0.0.1", port), port, log_path):
        yield f"http://127.0.0.1:{port}/"


def test_serve_runs_in_the_foreground_until_ctrl_c(tmp_path):
    """What `tokenmarket app` calls: Ctrl-C (SIGINT to the terminal's group) stops it all."""
    port = free_port()
    command = [sys.executable, "-c", f"from {app.__name__} import serve; exit(serve(port={port}))"]
    with serving(command, port, tmp_path / "serve.log") as process:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 130
    assert not answers(port)
    assert f"http://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text()


class Visit:
    """One browser session on the app, recording failed requests and console errors."""

    def __init__(self, browser, url: str, width: int = 1920, height: int = 1080) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.page.on("requestfailed", lambda r: self.failures.append(f"failed {r.url}"))
        self.page.on(
            "response",
            lambda r: self.failures.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.get_by_role("button", name="Step", exact=True).wait_for(timeout=UPDATE_S * 1000)
        self.wait_for_month(0)

    def wait_for_month(self, month: int) -> None:
        heading = self.page.get_by_text(f"Providers in month {month}", exact=True)
        heading.wait_for(timeout=UPDATE_S * 1000)

    def step(self, month_after: int) -> None:
        self.page.get_by_role("button", name="Step", exact=True).click()
        self.wait_for_month(month_after)

    def chart(self, selector: str) -> str:
        """SHA-256 of the bytes of the first chart image matching `selector` (a blob URL)."""
        return self.page.locator(selector).first.evaluate(
            """async img => {
                const bytes = await (await fetch(img.src)).arrayBuffer();
                const digest = await crypto.subtle.digest("SHA-256", bytes);
                return Array.from(new Uint8Array(digest), b => b.toString(16)).join("");
            }"""
        )

    def share_chart(self) -> str:
        """The share chart's digest (the first panel's <img>)."""
        return self.chart(".tm-panel img")

    def share_chart_changes_from(self, before: str) -> str:
        """Wait for the share chart to be redrawn; its new digest."""
        deadline = time.monotonic() + UPDATE_S
        while (after := self.share_chart()) == before:
            assert time.monotonic() < deadline, "the share chart was not redrawn"
            time.sleep(0.2)
        return after

    def choose(self, label: str, option: str) -> None:
        """Pick `option` in the select labelled `label`."""
        self.page.locator(".v-select", has=self.page.get_by_text(label, exact=True)).click()
        self.page.get_by_role("option", name=option, exact=True).click()

    def provider_row(self, provider: str) -> str:
        return self.page.locator(".tm-providers tr", has_text=provider).inner_text()

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser, server):
    opened = Visit(browser, server)
    yield opened
    opened.close()


def test_page_loads_offline_cleanly_and_step_redraws_the_share_chart(visit, tmp_path: Path):
    assert visit.failures == []
    assert visit.errors == []
    assert visit.page.get_by_text("Time: 0").count() == 1  # Mesa's own step counter
    visit.step(1)
    first = visit.share_chart()
    visit.step(2)
    visit.share_chart_changes_from(first)
    assert visit.page.get_by_text("Time: 2").count() == 1
    assert visit.failures == []
    assert visit.errors == []
    screenshot = tmp_path / "classroom_app.png"
    visit.page.screenshot(path=screenshot)
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")


def test_switching_the_preset_changes_the_chart_and_survives_reset(visit):
    visit.step(1)
    classroom_chart = visit.share_chart()
    visit.choose("Preset", "Going global")
    visit.wait_for_month(0)
    # the new controls come a render after the new charts: a click before would hit the old
    control = visit.page.get_by_text("Strategy of cn_green_hub_open (CN)", exact=True)
    control.wait_for(timeout=UPDATE_S * 1000)
    visit.step(1)
    visit.share_chart_changes_from(classroom_chart)
    visit.page.get_by_role("button", name="Reset", exact=True).click()
    visit.wait_for_month(0)
    assert "cn_green_hub_open" in visit.provider_row("cn_green_hub_open")
    assert visit.errors == []


def test_a_moved_control_changes_the_model_on_reset(visit):
    assert "low_price" in visit.provider_row("cn_lowcost")
    visit.choose("Strategy of cn_lowcost (CN)", "differentiation")
    assert "low_price" in visit.provider_row("cn_lowcost")  # the model changes on Reset only
    visit.page.get_by_role("button", name="Reset", exact=True).click()
    visit.page.locator(".tm-providers tr", has_text="cn_lowcost").filter(
        has_text="differentiation"
    ).wait_for(timeout=UPDATE_S * 1000)
    visit.step(1)
    assert "differentiation" in visit.provider_row("cn_lowcost")
    assert visit.errors == []


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080)])
def test_layout_shows_every_table_column_and_whole_charts(browser, server, width, height):
    """On a projector and on a full-HD screen: no column of the table and no chart is cut."""
    visit = Visit(browser, server, width, height)
    try:
        waiting = visit.share_chart()
        visit.step(1)
        visit.share_chart_changes_from(waiting)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=SCREENSHOTS / f"market_{width}x{height}.png", full_page=True)
        headers = visit.page.locator(".tm-providers th")
        assert headers.count() == 8
        for i in range(headers.count()):
            header = headers.nth(i)
            header.scroll_into_view_if_needed()
            box = header.bounding_box()
            assert box is not None and box["width"] > 0, header.inner_text()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, header.inner_text()
        panels = visit.page.locator(".tm-panel").filter(has=visit.page.locator("img"))
        assert panels.count() == 3
        for i in range(panels.count()):
            chart = panels.nth(i).locator("img")
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            panel = panels.nth(i).bounding_box()
            assert box is not None and panel is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= width  # not cut by the screen
            assert box["x"] + box["width"] <= panel["x"] + panel["width"] + 1  # nor by its panel
            assert box["y"] + box["height"] <= panel["y"] + panel["height"] + 1
            natural = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            shown = box["width"] / box["height"]
            assert shown == pytest.approx(natural[0] / natural[1], rel=0.02)  # whole, unstretched
        assert visit.errors == []
    finally:
        visit.close()


def test_quick_step_clicks_each_advance_one_month(visit):
    """Clicks faster than the charts redraw are all counted: N clicks, N months."""
    clicks = 12
    button = visit.page.get_by_role("button", name="Step", exact=True)
    for _ in range(clicks):
        button.click()
    visit.wait_for_month(clicks)
    time.sleep(2.0)  # and no more than N
    assert visit.page.get_by_text(f"Providers in month {clicks}", exact=True).count() == 1
    assert visit.errors == []


# ---------------------------------------------------------------------------- side by side
def open_side_by_side(visit: Visit) -> None:
    """Switch the page to side by side and wait for its controls and its empty scorecard."""
    visit.page.get_by_role("button", name="Side by side").click()
    visit.page.get_by_text("Control to change").wait_for(timeout=UPDATE_S * 1000)
    visit.page.get_by_text("The scorecard for cn_lowcost fills in", exact=False).wait_for(
        timeout=UPDATE_S * 1000
    )


def assert_in_viewport(visit: Visit, selector: str, width: int, height: int) -> None:
    """The element is wholly on screen without scrolling."""
    box = visit.page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)


def pair_chart(visit: Visit) -> str:
    """The side-by-side chart's digest."""
    return visit.chart(".tm-pair img")


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080)])
def test_side_by_side_shows_both_runs_and_the_scorecard_on_screen(browser, server, width, height):
    """Both runs' chart and the scorecard fit the screen; Step advances both runs at once."""
    visit = Visit(browser, server, width, height)
    try:
        open_side_by_side(visit)
        waiting = pair_chart(visit)
        visit.page.get_by_role("button", name="Step", exact=True).click()
        visit.page.get_by_text("cn_lowcost: month 1 of 60", exact=False).wait_for(
            timeout=UPDATE_S * 1000
        )
        deadline = time.monotonic() + UPDATE_S
        while pair_chart(visit) == waiting:  # the months are drawn, not "press Step"
            assert time.monotonic() < deadline, "the side-by-side chart was not redrawn"
            time.sleep(0.2)
        headers = visit.page.locator(".tm-score thead th")
        assert [headers.nth(i).inner_text() for i in range(headers.count())] == [
            "",
            "A: low_price",
            "B: differentiation",
            "won",
        ]
        assert visit.page.locator(".tm-score tbody tr").count() == 3  # share, profit, NPV
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=SCREENSHOTS / f"side_by_side_{width}x{height}.png")
        assert_in_viewport(visit, ".tm-pair img", width, height)
        assert_in_viewport(visit, ".tm-scorecard", width, height)
        chart = visit.page.locator(".tm-pair img").first
        natural = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] / box["height"] == pytest.approx(natural[0] / natural[1], rel=0.02)
        assert natural[1] > natural[0]  # the two runs one above the other
        assert visit.errors == []
    finally:
        visit.close()


def test_a_teacher_presses_play_and_reads_the_final_scorecard(browser, server):
    """Pick side by side, press ▶, read the scorecard at the end: all on a projector."""
    width, height = 1280, 720
    visit = Visit(browser, server, width, height)
    try:
        open_side_by_side(visit)
        visit.page.get_by_role("button", name="▶", exact=True).click()
        final = visit.page.get_by_text("cn_lowcost: end of run, month 60", exact=False)
        final.wait_for(timeout=6 * UPDATE_S * 1000)
        why = visit.page.locator(".tm-why").inner_text()
        assert re.match(r"cn_lowcost (exited|made)", why), why
        won = visit.page.locator(".tm-score tbody td:last-child")
        assert all(won.nth(i).inner_text() in ("A", "B", "draw") for i in range(3))
        drawn = ""
        while (latest := pair_chart(visit)) != drawn:  # the last month's chart, for the eye
            drawn = latest
            time.sleep(1.5)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=SCREENSHOTS / f"side_by_side_end_{width}x{height}.png")
        assert_in_viewport(visit, ".tm-scorecard", width, height)
        assert_in_viewport(visit, ".tm-pair img", width, height)
        assert visit.errors == []
    finally:
        visit.close()
