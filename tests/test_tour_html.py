"""The tour's HTML page, rendered in headless Chromium at a wide and a narrow window: no <pre> block or table
is wider than its box (long one-line error messages wrap; analysis tables are HTML tables whose formulas wrap),
and every plot panel that draws more than one line has a legend. Skipped where Chromium is not installed."""
import json
import os
import re
import shutil
import subprocess

import pytest

import glassnet as gn
from glassnet import layers
from glassnet.errors import ShapeError
from glassnet.tour.report import Chapter, write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

# Run after the page has laid itself out: every <pre> and table against its parent's box, every figure's panels.
PROBE = """<script>
(function () {
  var bad = [];
  document.querySelectorAll("pre, table").forEach(function (el) {
    var box = el.parentElement.getBoundingClientRect(), r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > box.right + 1)
      bad.push({tag: el.tagName, text: el.textContent.slice(0, 80), right: r.right, box: box.right,
                scroll: el.scrollWidth, client: el.clientWidth});
  });
  var figures = Array.prototype.map.call(document.querySelectorAll("figure"), function (f) {
    return {lines: +f.dataset.mostLines, unlabelled: +f.dataset.unlabelledPanels,
            caption: f.querySelector("figcaption").textContent.slice(0, 60)};
  });
  var out = document.createElement("script");
  out.type = "application/json"; out.id = "layout-probe";
  out.textContent = JSON.stringify({overflowing: bad, figures: figures, width: document.documentElement.clientWidth});
  document.body.appendChild(out);
})();
</script>"""


def layout(page_path: str, width: int, tmp_path) -> dict:
    """Render the page at ``width`` CSS pixels in headless Chromium; return what PROBE found."""
    probed = tmp_path / f"probed-{width}.html"
    probed.write_text(open(page_path, encoding="utf-8").read().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / f"profile-{width}"
    profile.mkdir()
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={width},2000",
                           "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=180)
    found = re.search(r'<script type="application/json" id="layout-probe">(.*?)</script>', done.stdout, re.S)
    assert found, f"Chromium gave no layout (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1))


def check_page(page_path: str, tmp_path) -> None:
    for width in (1400, 700):
        result = layout(page_path, width, tmp_path)
        assert abs(result["width"] - width) <= 20, result["width"]  # the window really was that wide
        assert result["overflowing"] == [], (width, result["overflowing"])
        assert result["figures"], "the page has plots"
        unlabelled = [f for f in result["figures"] if f["lines"] > 1 and f["unlabelled"]]
        assert unlabelled == [], unlabelled


def _page_with_the_hard_parts(folder) -> str:
    """A page holding what overflowed before: a long one-line error in <pre>, gn.analyze and gn.compare tables
    full of ⌊H/2⌋ formulas, a wide tour table, and a plot with two lines (and its legend)."""
    ch = Chapter(5, "Images of any size", "Why can't I Flatten variable-size images?", echo=lambda *_: None)
    try:
        gn.Sequential([gn.Input((None, None, 1)), layers.Conv2D(32, 3, name="conv1"), layers.Flatten(name="flatten"),
                       layers.Dense(10, name="classify")])
    except ShapeError as exc:
        ch.pre(str(exc), title="Flatten on variable-size images fails when it is built:")
    model = gn.Sequential([gn.Input((None, None, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(64, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
                           layers.GlobalAveragePooling2D(), layers.Dense(10)], name="any_size_with_a_long_name")
    ch.analysis(gn.analyze(model), title="gn.analyze(model)")
    a = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(64, 3), layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dense(10)], name="conv64_3x3")
    b = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(32, 7), layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dense(10)], name="conv32_7x7")
    ch.analysis(gn.compare(a, b), title="gn.compare(a, b)")
    ch.analysis(gn.explain(model), title="gn.explain(model)")
    report = gn.analyze(model)
    ch.table(["Layer", "Needs fixed", "Reads its input", "MACs per sample"],
             [[r.name, ", ".join(r.needs_fixed) or "nothing", r.reads, r.macs_formula] for r in report.rows[1:]],
             right=set())
    from glassnet.tour.common import plt
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6, 3))
    ax.plot([1, 2, 3], [1, 4, 9], label="multiply-adds")
    ax.plot([1, 2, 3], [2, 2, 2], label="parameters")
    ax.legend()
    ch.plot(fig, "two lines with a legend")
    ch.check("a check whose detail names every layer", True, "; ".join(f"{r.name}: {', '.join(r.needs_fixed) or 'nothing'}"
                                                                        for r in report.rows[1:]))
    ch.seconds = 1.5
    html_path, _ = write_report(str(folder), [ch], {"quick": True, "seconds": 1.5, "repeatability": "text"})
    return html_path


def test_the_page_says_what_each_number_is(tmp_path):
    page = open(_page_with_the_hard_parts(tmp_path), encoding="utf-8").read()
    assert "Chapter 5 ran in 1.5 s." in page
    assert "{'" not in page and "': (" not in page  # no Python dict or tuple repr in the text
    assert "<pre>" in page and "(GlobalAveragePooling2D)" in page and page.count("<table") >= 4
    assert re.search(r"<figure data-most-lines=\"2\" data-unlabelled-panels=\"0\">", page)


def test_a_plot_without_its_legend_is_flagged(tmp_path):
    from glassnet.tour.common import plt
    ch = Chapter(1, "t", "q", echo=lambda *_: None)
    fig, ax = plt().subplots()
    ax.plot([1, 2], [1, 2])
    ax.twinx().plot([1, 2], [2, 1])
    ch.plot(fig, "two lines on twin axes, no legend")
    assert ch.blocks[-1][1]["panels"] == [{"lines": 2, "legend": False}]


@needs_chromium
def test_hard_parts_fit_the_page_at_1400_and_700_pixels(tmp_path):
    check_page(_page_with_the_hard_parts(tmp_path / "page"), tmp_path)


@needs_chromium
def test_the_probe_sees_an_overflowing_block(tmp_path):
    """The check can fail: a <pre> that does not wrap, and a plot with two lines and no legend, are reported."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><body style='max-width:600px'><pre style='white-space:pre'>" + "x" * 400
                    + "</pre><figure data-most-lines='2' data-unlabelled-panels='1'><figcaption>c</figcaption></figure>"
                    "</body></html>", encoding="utf-8")
    result = layout(str(page), 700, tmp_path)
    assert [b["tag"] for b in result["overflowing"]] == ["PRE"]
    assert result["figures"] == [{"lines": 2, "unlabelled": 1, "caption": "c"}]


@needs_chromium
@pytest.mark.slow
def test_the_quick_tour_page_fits_at_1400_and_700_pixels(tmp_path):
    from glassnet.tour import run_tour
    result = run_tour(quick=True, out=str(tmp_path / "tour"), echo=lambda *_: None)
    assert result["failed"] == []
    check_page(result["html"], tmp_path)
