"""The report page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, which .ci/run installs) driven by selenium. The page must render with no
console error, draw something (a screenshot that is not blank), show in its tables the
stored results' numbers, and sort a column when its header is clicked.

Skipped where Chromium or its driver is not installed (a developer's laptop).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from tests.test_reportpage import write_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromedriver not installed"),
    pytest.mark.slow,
]

CELLS = """
return Array.from(document.querySelectorAll('table[data-table=board] td[data-col]')).map(
  td => ({section: td.closest('section').id, column: td.dataset.col,
          v: td.dataset.v === undefined ? null : td.dataset.v, text: td.innerText,
          label: Array.from(td.parentNode.cells).slice(0, 2).map(c => c.innerText).join(' ')}));
"""


def open_browser() -> Any:
    """A headless Chromium that keeps the page's console messages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1340,2000", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = open_browser()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def store_and_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("browser")
    write_store(folder / "results")
    page = folder / "report.html"
    assert main(["report", str(folder / "results"), "-o", str(page), "--permutations", "500"]) == 0
    return folder / "results", page


def test_the_page_renders_without_console_errors_and_is_not_blank(browser, store_and_page):
    from PIL import Image

    _, page = store_and_page
    browser.get(page.as_uri())
    assert browser.title.startswith("harness report")
    messages = browser.get_log("browser")
    assert [m for m in messages if m["level"] in ("SEVERE", "WARNING")] == []
    # every figure was laid out with a size
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg')).map(s => s.getBBox().width)"
    )
    assert len(sizes) >= 10 and min(sizes) > 0
    pixels = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L"))
    assert pixels.shape[0] > 500 and pixels.std() > 20  # not one flat colour
    assert (pixels < 128).mean() > 0.01  # text, bars and lines: dark pixels in numbers


def test_the_tables_show_the_stored_numbers(browser, store_and_page):
    store, page = store_and_page
    browser.get(page.as_uri())
    shown = {(c["section"], c["label"], c["column"]): c for c in browser.execute_script(CELLS)}
    checked = 0
    for path in sorted(store.rglob("*.json")):
        stored = json.loads(path.read_text())
        if stored["seed"] != 0 or stored["task"] != "rc":
            continue  # the t2c rows are means over seeds: test_reportpage checks those
        metric = stored["metrics"][stored["main_score"]]
        key = ("rc-local", f"{stored['model']} {stored['strategy']}", stored["partition"])
        cell = shown[key]
        assert float(cell["v"]) == metric["value"]
        half = (metric["ci_high"] - metric["ci_low"]) / 2
        assert cell["text"].startswith(f"{100 * metric['value']:.2f} ± {100 * half:.2f}")
        checked += 1
    assert checked == 8


def test_a_click_sorts_a_column_and_keeps_controls_beneath_their_system(browser, store_and_page):
    from selenium.webdriver.common.by import By

    _, page = store_and_page
    browser.get(page.as_uri())
    table = browser.find_element(By.CSS_SELECTOR, "#rc-local table[data-table=board]")
    header = next(th for th in table.find_elements(By.TAG_NAME, "th") if th.text.strip() == "a")
    order = """return Array.from(arguments[0].tBodies).map(b => [b.rows[0].cells[1].innerText,
        parseFloat(b.rows[0].querySelector('td[data-col=a]').dataset.v), b.rows.length])"""
    for direction in ("descending", "ascending"):
        header.click()
        rows = browser.execute_script(order, table)
        values = [v for _, v, _ in rows]
        assert values == sorted(values, reverse=direction == "descending")
        assert header.get_attribute("aria-sort") == direction
        # a hypernetwork's two controls (shuffled, first_snapshot) still follow it
        sizes = {name: size for name, _, size in rows}
        assert sizes["hypernet-evo"] == 3 and sizes["none"] == 1
