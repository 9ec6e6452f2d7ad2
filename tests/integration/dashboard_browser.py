"""Headless Chromium (Debian's package) driven by Selenium, for the dashboard tests: open a page,
read every panel's plotly figure and exact rows, the console log, and keep a screenshot."""
from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PANELS_JS = """
return Array.from(document.querySelectorAll('.panel')).map(p => {
  const fig = p.querySelector('.js-plotly-plot');
  const arr = v => v == null ? null : Array.from(v);
  return {id: p.dataset.panel, state: p.dataset.state, rows: JSON.parse(p.dataset.rows),
          error: (p.querySelector('.panel-error') || {}).textContent || null,
          traces: fig && fig.data ? fig.data.map(t => ({type: t.type, x: arr(t.x), y: arr(t.y),
                  cells: t.cells ? t.cells.values.map(arr) : null})) : null,
          drawn: fig ? fig.querySelectorAll('.trace, .bars, .funnel, .table').length : 0};
});
"""


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1440,2400", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def read_page(driver: Any, url: str, screenshot: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.querySelectorAll("
        "'.js-plotly-plot')).every(g => g._fullLayout)"))
    panels = driver.execute_script(PANELS_JS)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / screenshot))
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    return panels, errors


def numbers(panel_spec: dict[str, Any], rows: dict[str, Any]) -> list[float]:
    """The numbers a panel should draw, from its exact rows and its definition."""
    cols = rows["columns"]
    bound = [y["column"] for y in panel_spec.get("y", [])] + [s["column"] for s in panel_spec.get("stages", [])]
    if panel_spec["chart"] in ("funnel", "columns"):
        return sorted(float(Decimal(str(rows["rows"][0][cols.index(c)]))) for c in bound) if rows["rows"] else []
    return sorted(float(Decimal(str(r[cols.index(c)]))) for r in rows["rows"] for c in bound)


def drawn_numbers(panel: dict[str, Any]) -> list[float]:
    out: list[float] = []
    for t in panel["traces"]:
        vals = t["x"] if t["type"] == "funnel" or (t["type"] == "bar" and _horizontal(t)) else t["y"]
        out += [float(v) for v in vals or []]
    return sorted(out)


def _horizontal(t: dict[str, Any]) -> bool:
    return bool(t["x"]) and all(isinstance(v, (int, float)) for v in t["x"]) and \
        not all(isinstance(v, (int, float)) for v in (t["y"] or []))


def assert_panel_matches(spec: dict[str, Any], panel: dict[str, Any]) -> None:
    assert panel["state"] == "ok", f"{panel['id']}: {panel['state']} {panel['error']}"
    assert panel["traces"], f"{panel['id']}: no plotly traces"
    if spec["chart"] == "table":
        cells = panel["traces"][0]["cells"]
        assert cells and len(cells[0]) == len(panel["rows"]["rows"]) > 0, panel["id"]
        cols = panel["rows"]["columns"]
        for j, c in enumerate(spec["columns"]):
            assert [str(v) for v in cells[j]] == [_shown(r[cols.index(c["column"])]) for r in panel["rows"]["rows"]]
        return
    got, want = drawn_numbers(panel), numbers(spec, panel["rows"])
    assert want and len(got) == len(want), f"{panel['id']}: drew {got}, rows say {want}"
    assert all(abs(a - b) < 1e-9 for a, b in zip(got, want)), f"{panel['id']}: drew {got}, rows say {want}"


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)


def _shown(v: Any) -> str:
    return "(none)" if v is None or v == "" else str(v)  # how a table cell shows a missing value
