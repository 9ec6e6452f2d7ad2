"""The exported page in a real browser (headless Chromium): every panel draws its data, the
numbers drawn equal the exact rows it was given, and the console stays clean."""
from __future__ import annotations

import pytest

from dashboards.definition import load_all
from dashboards.render import PageContext, PanelData, render_page
from tests.integration.dashboard_browser import assert_panel_matches, chromium, read_page
from tests.unit.test_dashboard_render import SAMPLE

pytestmark = pytest.mark.browser


def test_exported_page_draws_every_panel_offline(tmp_path):
    boards = load_all()
    data = {k: PanelData(c, r) for k, (c, r) in SAMPLE.items()}
    out = tmp_path / "dashboard.html"
    out.write_text(render_page(boards, data, PageContext(generated_at="test", engine="redshift")))
    driver = chromium()
    try:
        panels, errors = read_page(driver, out.as_uri(), "dashboard-export.png")
    finally:
        driver.quit()
    assert errors == []
    specs = {p.id: p.spec for b in boards for p in b.panels}
    assert sorted(p["id"] for p in panels) == sorted(specs)
    for p in panels:
        assert_panel_matches(specs[p["id"]], p)
        want = [[str(v) if not isinstance(v, int) else v for v in r] for r in SAMPLE[p["id"]][1]]
        assert p["rows"]["rows"] == want
