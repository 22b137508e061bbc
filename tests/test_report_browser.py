"""The report of the tiny end-to-end run, opened in a real headless browser (Debian's chromium).

It must load without JavaScript errors, render its front page with the main results
table, whose numbers are those of results/tables/results.tsv, and list every section.
A screenshot is kept as a CI artifact in the repository's results/ci/report.png.

chromium is a system package (CI: see INSTALL below and the README); without it
this test fails, naming the install line, unless ARSEG_SKIP_BROWSER_TEST=1 is set.
"""
from __future__ import annotations

import base64
import html.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "results" / "ci"
SECTIONS = ["1. Data", "2. Training", "3. Results", "4. Breakdowns", "5. Examples", "6. Raw metrics", "7. Demo"]
REPORT_ITEMS = ["dataset.png", "training.png", "backbones.png", "psd_roc.png", "categories.png", "conditions.png",
                "yoho.png", "results.html", "per_category.html", "conditions.html", "comparison.html", "seed0.json",
                "summary.html"]
INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("ARSEG_SKIP_BROWSER_TEST") == "1":
        pytest.skip("no chromium and ARSEG_SKIP_BROWSER_TEST=1")
    pytest.fail(f"chromium is not installed; install it with: {INSTALL}")


def browse(report: Path, tmp_path: Path, *args: str, window: str = "1400,1600") -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"  # a fresh profile per run
    command = [chromium(), *FLAGS, f"--window-size={window}", f"--user-data-dir={profile}", *args,
               report.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def console_errors(stderr: str) -> list[str]:
    """Messages the page logged to its console at error level, and uncaught exceptions."""
    lines = [line for line in stderr.splitlines() if "CONSOLE" in line]
    return [line for line in lines if "Uncaught" in line or ":ERROR:CONSOLE" in line]


class Tables(html.parser.HTMLParser):
    """Every <table> as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def tables_of(markup: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(markup)
    return parser.tables


def rendered_app(dom: str) -> str:
    """The part of the DOM that React rendered (not the embedded data scripts)."""
    start = dom.index('<div id="app">')
    return dom[start:dom.index("<script", start)]


def expected_cell(value: float, digits: int = 3) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def check_main_table(rows: list[list[str]], tsv: pd.DataFrame) -> None:
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Backbone", "Seeds", "Event F1"], header
    assert [r[0] for r in body] == tsv["backbone"].tolist()
    columns = {"Event F1": "event_f1", "Segment F1": "segment_f1", "PSDS (TAG)": "psds_tag", "PSDS1": "psds1",
               "False-alarm rate": "false_alarm_rate"}
    for row, (_, expected) in zip(body, tsv.iterrows()):
        cells = dict(zip(header, row))
        for name, key in columns.items():
            text = cells[name].split(" ± ")[0]
            assert text == expected_cell(expected[key]), (name, text, expected[key])
        assert cells["False alarms (s/h)"].split(" ± ")[0] == expected_cell(expected["false_alarm_seconds_per_hour"], 1)


def test_report_loads_in_a_browser_and_shows_the_results_table(report_html, finished_run, tmp_path):
    tsv = pd.read_csv(finished_run / "results/tables/results.tsv", sep="\t")

    dumped = browse(report_html, tmp_path, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    assert not console_errors(dumped.stderr), console_errors(dumped.stderr)
    app = rendered_app(dumped.stdout)
    assert "Audio referring segmentation" in app and "Main results (test split)" in app
    for section in SECTIONS:
        assert f">{section}<" in app, section
    main = [t for t in tables_of(app) if t and t[0][:2] == ["Backbone", "Seeds"]]
    assert len(main) == 1, "the main results table is not on the report's front page"
    check_main_table(main[0], tsv)

    # every figure and table is in the report, each with a caption that names the config
    for item in REPORT_ITEMS:
        assert f'"name": "{item}"' in dumped.stdout or f'"name":"{item}"' in dumped.stdout, item
    assert dumped.stdout.count("Config: corpus") >= len(REPORT_ITEMS) - 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = browse(report_html, tmp_path, f"--screenshot={ARTIFACTS / 'report.png'}")
    assert shot.returncode == 0, shot.stderr[-3000:]
    assert not console_errors(shot.stderr), console_errors(shot.stderr)
    png = (ARTIFACTS / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


VISIT_EVERYTHING = """
<script>
window.addEventListener("error", function (event) { console.error("Uncaught " + event.message); });
setTimeout(function () {
  var steps = [];
  Object.keys(categories).forEach(function (cat) {
    steps.push(function () { app.showCategory(cat); });
    Object.keys(categories[cat]).forEach(function (sub) {
      steps.push(function () { app.setView({navbarMode: "subcategory", category: cat, subcategory: sub}); });
      categories[cat][sub].forEach(function (path) {
        steps.push(function () {
          var entry = results[path], mime = entry.mime_type;
          if (mime.indexOf("image/") === 0) { app.setView({content: "img", contentPath: entry.data_uri, resultPath: path}); }
          else if (mime === "text/html") { app.setView({content: "html", contentPath: entry.data_uri, resultPath: path}); }
          app.showResultInfo(path);
        });
      });
    });
  });
  var i = 0;
  (function next() {
    if (i < steps.length) { steps[i++](); setTimeout(next, 50); } else { document.title = "visited " + steps.length; }
  })();
}, 300);
</script>
"""


def test_every_section_and_item_of_the_report_opens(report_html, tmp_path):
    """Click through the report as a reader would: every category, subcategory and item."""
    walk = tmp_path / "walk.html"
    walk.write_text(report_html.read_text() + VISIT_EVERYTHING)
    dumped = browse(walk, tmp_path, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    assert not console_errors(dumped.stderr), console_errors(dumped.stderr)
    visited = re.search(r"<title>visited (\d+)</title>", dumped.stdout)
    assert visited and int(visited.group(1)) >= 2 * len(SECTIONS) + len(REPORT_ITEMS), "the walk did not finish"


def test_table_files_show_the_tsv_numbers(report_html, finished_run):
    """The HTML tables carry the numbers of the TSVs, and the report embeds those very files."""
    tsv = pd.read_csv(finished_run / "results/tables/results.tsv", sep="\t")
    markup = (finished_run / "results/tables/results.html").read_text()
    check_main_table(tables_of(markup)[0], tsv)
    per_category = pd.read_csv(finished_run / "results/tables/per_category.tsv", sep="\t")
    rows = tables_of((finished_run / "results/tables/per_category.html").read_text())[0]
    first = per_category[per_category["backbone"] == per_category["backbone"].iloc[0]].set_index("category")
    for row in rows[1:]:
        cells = dict(zip(rows[0], row))
        event_f1 = cells.get("Event F1") or cells[f"Event F1 ({first['backbone'].iloc[0]})"]
        assert event_f1.split(" ± ")[0] == expected_cell(first.loc[cells["Category"], "event_f1"]), cells
    markdown = (finished_run / "results/tables/results.md").read_text()
    assert all(expected_cell(v) in markdown for v in tsv["event_f1"])
    report = report_html.read_text()
    for name in ("results", "per_category", "conditions", "comparison"):
        uri = re.search(rf"data:text/html;charset=[^;]*;filename={name}\.html;base64,([A-Za-z0-9+/=]+)", report)
        assert uri, f"{name}.html is not embedded in the report"
        assert base64.b64decode(uri.group(1)).decode() == (finished_run / f"results/tables/{name}.html").read_text()


TOP_OF_A_FIGURE = """
<script>
setTimeout(function () {
  var path = "results/figures/examples/yoho.png";
  app.setView({content: "img", contentPath: results[path].data_uri, resultPath: path});
  setTimeout(function () {
    var box = document.querySelector('#app img[src^="data:image/png"]').getBoundingClientRect();
    document.title = "figure top " + Math.round(box.top) + " height " + Math.round(box.height);
  }, 500);
}, 300);
</script>
"""


def test_a_figure_taller_than_the_window_opens_at_its_top(report_html, tmp_path):
    """The report's viewer centres a figure in the window, which cuts off the top of a tall
    one where no scrolling reaches it; the stylesheet (report/style.css) starts it at the top."""
    page = tmp_path / "figure.html"
    page.write_text(report_html.read_text() + TOP_OF_A_FIGURE)
    dumped = browse(page, tmp_path, "--dump-dom", window="1400,200")
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    shown = re.search(r"<title>figure top (-?\d+) height (\d+)</title>", dumped.stdout)
    assert shown, "the figure did not open"
    top, height = map(int, shown.groups())
    assert height > 200 and top >= 0, (top, height)
