"""The monitor's HTML page: its data (downsampling, exact alarms), its writing (atomic, refused
paths, refresh only while running), and how it renders in a real headless Chromium: no script
errors, no network request, score and traces drawn where they belong, the alarm table, the
group and channel selectors, and the reload of a running page until it is finished."""

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.errors import AmiError
from amiwm.monitoring.watch import Scored
from amiwm.report_monitor import MonitorPage, check_page_path, minmax

CHANNELS = ["XMEAS1", "XMEAS2", "XMEAS3", "XMEAS4", "XMEAS5"]
TOP = ["XMEAS3", "XMEAS1", "XMEAS5"]
EVIL = "</script><b>x"  # a group name that must stay text


def rows(group: str, n: int, alarm_from: list[tuple[int, int]], seed: int = 0) -> list[Scored]:
    """n healthy rows (score ~1, threshold 2) of `group`, in alarm (score ~5, XMEAS3 +4) on the
    half-open row ranges `alarm_from`."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        x = rng.normal(size=len(CHANNELS)).astype(np.float32)
        score, on = 1 + 0.2 * rng.random(), any(a <= t < b for a, b in alarm_from)
        if on:
            x[2] += 4
            score = 5 + rng.random()
        out.append(
            Scored(
                group, float(t), score, 0.0, score, on, TOP[0] if on else "", TOP if on else [], x
            )  # fmt: skip
        )
    return out


def page(tmp_path: Path, status: str = "finished", **kw) -> MonitorPage:
    p = MonitorPage(tmp_path / "run.html", CHANNELS, 2.0, title="test run", basis="given",
                    mean=[0.0] * 5, std=[1.0] * 5, **kw)  # fmt: skip
    for r in rows("A", 12_000, [(6000, 12_000)]) + rows(EVIL, 150, [(20, 30), (50, 60), (90, 95)]):
        p.add(r)
    p.write(status)
    return p


def embedded(path: Path) -> dict:
    text = path.read_text()
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_minmax_keeps_the_extremes_within_the_bound() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(12_345, 2))
    y[7777, 0], y[100, 1], y[200:300, 1] = 50.0, -40.0, np.nan
    t = np.arange(len(y), dtype=float)
    tt, yy, k = minmax(t, y, 5000)
    assert len(tt) <= 5000 and yy.shape == (len(tt), 2) and k == 5
    assert np.nanmax(yy[:, 0]) == 50.0 and np.nanmin(yy[:, 1]) == -40.0
    assert np.nanmin(yy[:, 0]) == y[:, 0].min() and np.all(np.diff(tt) >= 0)
    assert minmax(t[:100], y[:100], 5000)[2] == 1


def test_page_data_is_downsampled_but_alarms_are_exact(tmp_path) -> None:
    page(tmp_path)
    d = embedded(tmp_path / "run.html")
    a, b = d["groups"]
    assert (
        d["status"] == "finished" and d["rows"] == 12_150 and d["labels"][2].startswith("XMEAS3 (")
    )
    assert a["rows"] == 12_000 and a["step"] > 1 and len(a["t"]) <= 5000
    assert len(a["score"]) == len(a["t"])
    assert all(len(x) == len(a["t"]) for x in a["x"])
    assert [(e["start"], e["end"], e["rows"], e["open"]) for e in a["alarms"]] == [
        (6000, 11_999, 6000, True)
    ]
    assert [(e["start"], e["end"], e["rows"]) for e in b["alarms"]] == [
        (20, 29, 10), (50, 59, 10), (90, 94, 5)
    ]  # fmt: skip
    assert b["step"] == 1 and b["name"] == EVIL and a["suspects"] == [2, 0, 4]
    assert all(e["top"] == [2, 0, 4] and e["peak"] > 5 for e in a["alarms"] + b["alarms"])


def test_a_stuck_actuator_is_named_in_the_alarm_but_has_no_trace(tmp_path) -> None:
    p = MonitorPage(tmp_path / "run.html", CHANNELS, 2.0, title="t", basis="given")
    for r in rows("A", 40, [(10, 20)]):
        if r.alarm:
            r = Scored(r.group, r.time, r.surprise, r.residual, r.score, True, "XMV4",
                       ["XMV4", "XMEAS3", "XMEAS1"], r.sensors)  # fmt: skip
        p.add(r)
    p.write("finished")
    (alarm,) = embedded(tmp_path / "run.html")["groups"][0]["alarms"]
    assert alarm["top"] == [2, 0]  # the sensors, for the traces
    assert alarm["names"][0].startswith("XMV4 (") and alarm["names"][1].startswith("XMEAS3 (")


def test_page_fetches_nothing_and_refreshes_only_while_running(tmp_path) -> None:
    p = page(tmp_path, "running", refresh_s=3)
    text = p.path.read_text()
    d = embedded(p.path)
    assert d["status"] == "running" and d["refresh_s"] == 3
    assert "default-src 'none'" in text and EVIL not in text  # escaped inside the JSON
    for pattern in (
        r"https?://",
        r"\bsrc=",
        r"\bhref=",
        r"url\(",
        r"@import",
        r"fetch\(",
        "XMLHttp",
    ):
        assert not re.search(pattern, text), pattern
    p.finish()
    assert embedded(p.path)["status"] == "finished"
    assert sorted(os.listdir(tmp_path)) == ["run.html"]  # no temp file left over


def test_a_started_page_is_rewritten_while_rows_come_in(tmp_path) -> None:
    p = MonitorPage(tmp_path / "live.html", CHANNELS, 2.0, refresh_s=0.1)
    p.start()
    assert embedded(p.path)["rows"] == 0 and embedded(p.path)["status"] == "running"
    for r in rows("u1", 30, [(10, 20)]):
        p.add(r)
    deadline = time.monotonic() + 5
    while embedded(p.path)["rows"] < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    d = embedded(p.path)  # no write called: the page's thread did it
    assert d["status"] == "running" and d["rows"] == 30 and len(d["groups"][0]["alarms"]) == 1
    p.finish()
    assert not p.thread.is_alive() and embedded(p.path)["status"] == "finished"
    time.sleep(0.3)
    assert embedded(p.path)["status"] == "finished"


def test_page_paths_are_checked(tmp_path) -> None:
    with pytest.raises(AmiError, match="does not exist"):
        check_page_path(tmp_path / "nope" / "run.html")
    (tmp_path / "run.html").write_text("old")
    with pytest.raises(AmiError, match="--overwrite"):
        MonitorPage(tmp_path / "run.html", CHANNELS, 2.0)
    with pytest.raises(AmiError, match="folder"):
        check_page_path(tmp_path)
    assert (tmp_path / "run.html").read_text() == "old"


# --- a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through chromedriver, all traffic sent to a proxy that is not
    there. Skipped when Chromium is missing, except on CI (CI=true), where that fails."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if not (chrome and driver and webdriver):
        why = "needs chromium, chromium-driver (apt) and selenium (pip)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {why}")
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1200,1000", "--proxy-server=http://127.0.0.1:9",
              "--proxy-bypass-list=<-loopback>", "--force-device-scale-factor=1"):  # fmt: skip
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(driver))
    d.set_page_load_timeout(10)
    yield d
    d.quit()


PIXELS = """
const [id, r, g, b] = arguments, src = document.getElementById(id);
const c = document.createElement("canvas");  // a copy, so the page's own canvas is not read
c.width = src.width; c.height = src.height;
const ctx = c.getContext("2d", { willReadFrequently: true });
ctx.drawImage(src, 0, 0);
const px = ctx.getImageData(0, 0, c.width, c.height).data, out = [];
for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
  const i = 4 * (y * c.width + x);
  const d = Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b);
  if (d < 40) out.push([x, y]);
}
return [c.width, out];
"""


def pixels(d, canvas: str, rgb: tuple[int, int, int]) -> tuple[int, np.ndarray]:
    w, xy = d.execute_script(PIXELS, canvas, *rgb)
    return w, np.array(xy).reshape(-1, 2)


def clean(d) -> None:
    """No script error (shown or logged), no CSP violation, no resource fetched."""
    logs = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert logs == []
    assert d.execute_script("return document.getElementById('error').hidden") is True
    assert d.execute_script("return performance.getEntriesByType('resource').length") == 0


def table(d) -> list[list[str]]:
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#alarms tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent))"
    )


def test_the_page_renders_in_chromium(tmp_path, browser) -> None:
    from selenium.webdriver.support.ui import Select

    p = page(tmp_path)
    browser.get(p.path.as_uri())
    clean(browser)
    status = browser.execute_script("return document.getElementById('status').textContent")
    assert status.startswith("finished")
    # group A (the first in alarm): one alarm, to the end of the data, suspects by name
    rows_a = table(browser)
    assert len(rows_a) == 1 and rows_a[0][1] == "6000" and "end of data" in rows_a[0][2]
    assert rows_a[0][6].startswith("XMEAS3 (E feed") and "XMEAS5 (recycle flow" in rows_a[0][6]
    assert "min and max of every" in browser.find_element("id", "note").text
    # the score: below the dashed threshold before row 6000, above it after
    w, thr = pixels(browser, "score", (214, 39, 40))
    thr = thr[thr[:, 1] > 20]  # not the alarm markers on top
    line = np.bincount(thr[:, 1]).argmax()
    assert (thr[:, 1] == line).sum() > 0.3 * w
    _, s = pixels(browser, "score", (31, 95, 191))
    left, right = 64, w - 12
    cut = left + 0.5 * (right - left)  # row 6000 of 0..11999
    before, after = s[(s[:, 0] > left + 5) & (s[:, 0] < cut - 5)], s[s[:, 0] > cut + 5]
    assert len(before) > 100 and len(after) > 100
    assert (before[:, 1] > line).all() and (after[:, 1] < line).all()  # canvas y grows down
    # traces: XMEAS3 (purple) drawn by default; unticking it removes it
    purple = (148, 103, 189)
    assert len(pixels(browser, "sensors", purple)[1]) > 200
    browser.find_elements("css selector", "#channels input")[2].click()
    assert len(pixels(browser, "sensors", purple)[1]) == 0
    assert browser.execute_script("return location.hash") == "#g=0&c=0,4"
    # the other group: three alarms; its odd name stays text
    Select(browser.find_element("id", "group")).select_by_index(1)
    rows_b = table(browser)
    assert [r[1:4] for r in rows_b] == [["20", "29", "10"], ["50", "59", "10"], ["90", "94", "5"]]
    assert browser.find_element("id", "group").text.splitlines()[1].startswith(EVIL)
    assert browser.execute_script("return document.querySelectorAll('b').length") == 0
    assert len(pixels(browser, "sensors", purple)[1]) > 50  # its suspects are selected again
    clean(browser)


READ = "return arguments[0].map((i) => document.getElementById(i)?.innerText ?? '')"


def test_a_running_page_reloads_until_finished(tmp_path, browser) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def read(*ids: str) -> list[str]:  # one script call, so a reload cannot split the reads
        return browser.execute_script(READ, list(ids))

    def pick(d) -> bool:  # the page may reload between finding the menu and choosing in it
        Select(d.find_element("id", "group")).select_by_index(0)
        return d.find_element("id", "group").get_attribute("value") == "0"

    gone = (StaleElementReferenceException, NoSuchElementException)
    wait = WebDriverWait(browser, 6, poll_frequency=0.2, ignored_exceptions=gone)
    p = MonitorPage(tmp_path / "live.html", CHANNELS, 2.0, refresh_s=1)
    first = rows("u1", 50, []) + rows("u2", 50, [(40, 50)])
    for r in first:
        p.add(r)
    p.write("running")
    browser.get(p.path.as_uri())
    assert read("status")[0].startswith("running")
    wait.until(pick)  # u1, not the default u2
    for r in rows("u1", 80, [], seed=3)[50:]:
        p.add(r)
    p.write("running")
    wait.until(lambda d: "130 rows" in read("summary")[0])
    assert read("note")[0].startswith("80 rows")  # u1 kept over reload
    p.finish()
    wait.until(lambda d: read("status")[0].startswith("finished"))
    browser.execute_script("window.stayed = 1")
    time.sleep(2.5)  # more than two refresh periods: a finished page stays
    assert browser.execute_script("return window.stayed") == 1
    clean(browser)


# --- the CLI on a tiny TEP-layout plant ----------------------------------------------------


def test_cli_monitor_writes_the_page(tmp_path, browser, tep_run) -> None:
    fault = tep_run["dir"] / "d04.dat"
    mon = ["monitor", "--checkpoint", str(tep_run["run"]), "--data", f"tep:{fault}", "--quiet"]
    assert main([*mon, "--html", str(tmp_path / "no" / "p.html")]) == 1  # refused, one line
    assert not (tmp_path / "no").exists()
    out, html = tmp_path / "alarms.csv", tmp_path / "p.html"
    assert main([*mon, "--out", str(out), "--html", str(html)]) == 0
    alarm = np.array([int(line.split(",")[5]) for line in out.read_text().splitlines()[1:]])
    onsets = int(alarm[0] + (np.diff(alarm) == 1).sum())
    d = embedded(html)
    (g,) = d["groups"]
    assert g["name"] == "d04" and g["rows"] == 200 and len(g["alarms"]) == onsets >= 1
    assert sum(a["rows"] for a in g["alarms"]) == alarm.sum()
    browser.get(html.as_uri())
    clean(browser)
    got = table(browser)
    assert len(got) == onsets
    assert sum(r[6].startswith("XMEAS9 (reactor temperature)") for r in got) >= 0.5 * onsets
    assert main([*mon, "--html", str(html)]) == 1  # exists: needs --overwrite
