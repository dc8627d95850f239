"""Print and PDF (issue 13): A4 pages, no figure, card, call-out or short table split across pages,
headings kept with what follows, the same bytes on every print, and ``evalkit run --pdf``.

Where the page breaks fall is read from Chromium's own layout boxes: the report is loaded as it is
printed (:func:`evalkit.report.pdf.prepare_page`) and its body laid out in columns exactly one page
box in size (the PDF's page size less the ``@page`` margins of the report's style sheet). Chromium
fragments columns with the engine it prints with (``break-inside``, ``break-after``, orphans), and
``getClientRects()`` returns one box per fragment, so an element split across two columns has boxes
in both. The column model is tied to the printed PDF: the same number of pages, every figure's image
drawn (pypdf, from the page content streams) on the page the model puts it on and wholly inside the
page's content area, and every short table's caption and last row on the page the model says.
``test_the_split_check_finds_a_split`` shows the check failing on a table and a figure that do
split.

The first page and two pages with figures are rendered to PNG (pypdfium2) into
``reports/screenshots/pdf/`` for a person to look at.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from evalkit.report.pdf import CHROMIUM_ARGS, prepare_page, write_pdf, write_pdfs

from .conftest import light_plan

pypdf = pytest.importorskip("pypdf", reason="pip install -e '.[test]' installs pypdf")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots" / "pdf"
A4 = (595.28, 841.89)              # points
FIXED_DATE = "D:20000101000000+00'00'"
LONG_TABLE = 25                    # tables with this many body rows may break (the print CSS)
PX = 96 / 72                       # CSS px per point


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _need_chromium() -> str:
    """The convention of test_render.py: no Chromium fails unless EVALKIT_SKIP_BROWSER=1."""
    if _chromium() is None:
        if os.environ.get("EVALKIT_SKIP_BROWSER") == "1":
            pytest.skip("no chromium on this machine: install it (Debian: apt-get install chromium; "
                        "`make test` does so when run as root) to run the PDF checks")
        pytest.fail("Debian chromium is not installed: `make test` installs it when run as root "
                    "(apt-get install chromium); set EVALKIT_SKIP_BROWSER=1 to skip this check")
    return _chromium()


# ------------------------------------------------------------------ the browser's page model

# Lays the prepared page out in columns of one page box each and returns every element's boxes.
_PAGINATE = r"""([pageW, pageH]) => {
  const probe = document.createElement('div');
  document.body.appendChild(probe);
  const px = len => { probe.style.cssText = `position:absolute;visibility:hidden;width:0;height:${len}`;
                      return probe.getBoundingClientRect().height; };
  let margins = null;                         // the style sheet's own @page margins
  for (const sheet of document.styleSheets)
    for (const rule of sheet.cssRules)
      if (rule instanceof CSSPageRule && !rule.selectorText)
        margins = ['Top', 'Right', 'Bottom', 'Left'].map(s => px(rule.style['margin' + s] || '0'));
  probe.remove();
  if (margins === null) return {error: 'the report has no @page rule'};
  const w = pageW - margins[1] - margins[3], h = pageH - margins[0] - margins[2];
  const style = document.createElement('style');
  style.textContent = `html { margin: 0 !important; padding: 0 !important; }
    body { margin: 0 !important; padding: 0 !important; max-width: none !important;
           width: ${w}px !important; height: ${h}px !important; columns: ${w}px auto !important;
           column-gap: 0 !important; column-fill: auto !important; }`;
  document.head.appendChild(style);
  const x0 = document.body.getBoundingClientRect().left, y0 = document.body.getBoundingClientRect().top;
  const boxes = el => Array.from(el.getClientRects()).filter(r => r.width > 0 || r.height > 0)
    .map(r => { const page = Math.floor((r.left - x0 + 0.5) / w);
                return {page, top: r.top - y0, bottom: r.bottom - y0,
                        left: r.left - x0 - page * w, right: r.right - x0 - page * w}; });
  const text = el => (el ? el.textContent : '').replace(/\s+/g, ' ').trim();
  const items = [];
  for (const el of document.querySelectorAll('figure, table, .card, .callout')) {
    const kind = el.matches('figure') ? 'figure' : el.matches('table') ? 'table'
               : el.matches('.card') ? 'card' : 'callout';
    const rows = el.matches('table') ? el.querySelectorAll(':scope > tbody > tr') : [];
    const last = rows.length ? rows[rows.length - 1] : null;
    items.push({kind, id: el.id || '',
                label: text(el.querySelector('caption, figcaption') || el).slice(0, 80),
                caption: text(el.querySelector(':scope > caption')),
                last_row: last ? Array.from(last.cells).map(c => text(c)) : [],
                rows: rows.length, boxes: boxes(el),
                row_boxes: Array.from(rows).map(boxes),
                images: Array.from(el.querySelectorAll('img')).map(boxes)});
  }
  const headings = [];
  for (const el of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const next = el.nextElementSibling;
    headings.push({text: text(el), boxes: boxes(el), next: next ? boxes(next) : []});
  }
  const images = Array.from(document.images).map(boxes);
  return {width: w, height: h, margins, pages: Math.ceil((document.body.scrollWidth - 0.5) / w),
          items, headings, images};
}"""


def paginate(browser, html: Path, page_size_pt: tuple[float, float]) -> dict:
    """Chromium's page model of a report: page count, and every element's box on each page."""
    page = browser.new_page()
    try:
        prepare_page(page, html)
        model = page.evaluate(_PAGINATE, [page_size_pt[0] * PX, page_size_pt[1] * PX])
    finally:
        page.close()
    assert "error" not in model, model
    return model


def splits(model: dict) -> list[str]:
    """Elements the model puts on more than one page (tables of LONG_TABLE rows may break, but
    not inside a row), and elements that run past the bottom of their page."""
    found = []
    for it in model["items"]:
        pages = sorted({b["page"] for b in it["boxes"]})
        where = f"{it['kind']} {it['id'] or it['label']!r} on pages {[p + 1 for p in pages]}"
        if it["kind"] == "table" and it["rows"] >= LONG_TABLE:
            for i, rb in enumerate(it["row_boxes"]):
                if len({b["page"] for b in rb}) > 1:
                    found.append(f"row {i + 1} of {where}")
        elif len(pages) > 1:
            found.append(where)
        if any(b["bottom"] > model["height"] + 1 for b in it["boxes"]):
            found.append(f"{where} runs past the bottom of the page")
    return found


def stranded_headings(model: dict) -> list[str]:
    """Headings on a page before the one their next element starts on."""
    return [f"{h['text']!r} (page {h['boxes'][-1]['page'] + 1})" for h in model["headings"]
            if h["next"] and h["boxes"] and h["boxes"][-1]["page"] != h["next"][0]["page"]]


# ------------------------------------------------------------------ what the PDF holds


def drawn_images(reader) -> list[tuple[int, tuple[float, float, float, float]]]:
    """(page index, (x0, y0, x1, y1) in points) of every image drawn, in page and drawing order."""
    out = []
    for i, page in enumerate(reader.pages):
        xobjects = page.get("/Resources", {}).get("/XObject", {})

        def visit(op, args, cm, tm, i=i, xobjects=xobjects):
            if op == b"Do" and args and args[0] in xobjects:
                if xobjects[args[0]].get_object().get("/Subtype") == "/Image":
                    a, b, c, d, e, f = (float(v) for v in cm)
                    xs, ys = (e, e + a, e + c, e + a + c), (f, f + b, f + d, f + b + d)
                    out.append((i, (min(xs), min(ys), max(xs), max(ys))))

        page.extract_text(visitor_operand_before=visit)
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def page_texts(reader) -> list[str]:
    return [_squash(p.extract_text() or "") for p in reader.pages]


def image_problems(reader, model: dict) -> list[str]:
    """Where the printed images disagree with the model, or are not wholly inside a page's
    content area (an image split across pages is drawn, clipped, on both)."""
    drawn = drawn_images(reader)
    problems = []
    expected = [b[0]["page"] for b in model["images"] if b]
    if [p for p, _ in drawn] != expected:
        problems.append(f"images drawn on pages {[p + 1 for p, _ in drawn]}, the layout model has "
                        f"{[p + 1 for p in expected]}")
    top, right, bottom, left = (m / PX for m in model["margins"])
    for i, (x0, y0, x1, y1) in drawn:
        box = reader.pages[i].mediabox
        inside = (x0 >= float(box.left) + left - 2 and x1 <= float(box.right) - right + 2
                  and y0 >= float(box.bottom) + bottom - 2 and y1 <= float(box.top) - top + 2)
        if not inside:
            problems.append(f"an image on page {i + 1} at {[round(v) for v in (x0, y0, x1, y1)]} "
                            "is not inside the page's content area")
    return problems


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def printed(small_run, tmp_path_factory):
    """impact.pdf and technical.pdf of the shared small run, printed once for the module."""
    _need_chromium()
    _, result = small_run
    folder = tmp_path_factory.mktemp("pdf")
    names = ("impact", "technical")
    write_pdfs([(result.out / f"{n}.html", folder / f"{n}.pdf") for n in names])
    return {n: folder / f"{n}.pdf" for n in names}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _need_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def models(printed, small_run, browser):
    _, result = small_run
    out = {}
    for name, pdf in printed.items():
        box = pypdf.PdfReader(pdf).pages[0].mediabox
        out[name] = paginate(browser, result.out / f"{name}.html", (float(box.width),
                                                                     float(box.height)))
    return out


# ------------------------------------------------------------------ the printed reports


@pytest.mark.parametrize("name, sane", [("impact", (4, 30)), ("technical", (10, 80))])
def test_pdf_is_a4_with_the_pages_chromium_laid_out(printed, models, name, sane):
    reader = pypdf.PdfReader(printed[name])
    n = len(reader.pages)
    assert sane[0] <= n <= sane[1], n
    for i, page in enumerate(reader.pages):
        size = (float(page.mediabox.width), float(page.mediabox.height))
        assert abs(size[0] - A4[0]) <= 1 and abs(size[1] - A4[1]) <= 1, (i + 1, size)
    assert models[name]["pages"] == n, (models[name]["pages"], n)
    # the footer counts the pages as Chromium printed them
    texts = [p.extract_text() or "" for p in reader.pages]
    assert re.search(rf"\b1 of {n}\b", texts[0]) and re.search(rf"\b{n} of {n}\b", texts[-1])


@pytest.mark.parametrize("name", ["impact", "technical"])
def test_no_figure_table_card_or_callout_is_split(printed, models, name):
    model = models[name]
    kinds = {it["kind"] for it in model["items"]}
    assert {"figure", "table"} <= kinds and model["images"], kinds
    assert splits(model) == []
    assert stranded_headings(model) == []
    reader = pypdf.PdfReader(printed[name])
    assert image_problems(reader, model) == []
    # the model's page of every short table holds its caption and its last row
    texts = page_texts(reader)
    for it in model["items"]:
        if it["kind"] == "table" and it["rows"] < LONG_TABLE and it["boxes"]:
            page = it["boxes"][0]["page"]
            for part in (it["caption"], *it["last_row"]):
                assert _squash(part) in texts[page], (it["label"], part, page + 1)


def test_pdf_is_the_same_bytes_on_every_print_with_a_fixed_date(printed, small_run, tmp_path):
    _, result = small_run
    again = write_pdf(result.out / "impact.html", tmp_path / "impact.pdf")
    assert again.read_bytes() == printed["impact"].read_bytes()
    for pdf in printed.values():
        data = pdf.read_bytes()
        reader = pypdf.PdfReader(pdf)
        assert reader.metadata["/CreationDate"] == FIXED_DATE
        assert reader.metadata["/ModDate"] == FIXED_DATE
        dates = re.findall(rb"/(?:CreationDate|ModDate) ?\(([^)]*)\)", data)
        assert dates and set(dates) == {FIXED_DATE.encode()}, dates
        assert b"<x:xmpmeta" not in data and b"file:" not in data
        # links to the report's own files are printed as text naming the file, not as file://
        # links to the folder the report was printed from
        uris = [a.get_object().get("/A", {}).get("/URI") for page in reader.pages
                for a in page.get("/Annots", [])]
        assert not [u for u in uris if u and not str(u).startswith(("http:", "https:"))], uris
        assert re.search(r"figures/\w+\.csv", "".join(page_texts(reader)))


def test_first_page_and_two_figure_pages_render_to_png(printed):
    """Page images for a person to look at (reports/screenshots/pdf/): the first page, with the
    report's title, and the first two other pages with a figure; none of them blank."""
    import pypdfium2

    SHOTS.mkdir(parents=True, exist_ok=True)
    reader = pypdf.PdfReader(printed["impact"])
    figure_pages = sorted({i for i, _ in drawn_images(reader)} - {0})[:2]
    assert len(figure_pages) == 2, figure_pages
    assert "impactreport" in page_texts(reader)[0]
    doc = pypdfium2.PdfDocument(str(printed["impact"]))
    try:
        for i in (0, *figure_pages):
            image = doc[i].render(scale=100 / 72).to_pil()
            w, h = image.size
            assert abs(h / w - A4[1] / A4[0]) < 0.01, image.size
            inked = sum(image.convert("L").histogram()[:200])     # not a blank page
            assert inked > 0.02 * w * h, (i + 1, inked / (w * h))
            image.save(SHOTS / f"impact-page-{i + 1:02d}.png")
    finally:
        doc.close()


# ------------------------------------------------------------------ the check can fail


def test_the_split_check_finds_a_split(small_run, browser, tmp_path):
    """A table of 20 tall rows and a figure taller than a page, both allowed to break: the layout
    model reports both split, and in the PDF the figure's image is drawn, clipped, on two pages."""
    _need_chromium()
    _, result = small_run
    html = (result.out / "impact.html").read_text(encoding="utf-8")
    png = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(png)[:4] == b"\x89PNG"
    rows = "".join(f"<tr><td>tall row {i}</td><td style='height:70px'>x</td></tr>"
                   for i in range(20))
    tall = (f"<table id='tall-table' style='break-inside:auto'><caption>A tall table</caption>"
            f"<tbody>{rows}</tbody></table>"
            f"<figure id='tall-figure' style='break-inside:auto'><img alt='a tall figure' "
            f"style='height:1300px;max-height:none;width:60%;object-fit:fill' "
            f"src='data:image/png;base64,{png}'><figcaption>A tall figure</figcaption></figure>")
    bad = tmp_path / "impact.html"       # both are taller than a page: they split wherever they go
    bad.write_text(html.replace("</body>", tall + "</body>", 1), encoding="utf-8")
    pdf = write_pdf(bad, tmp_path / "impact.pdf")
    reader = pypdf.PdfReader(pdf)
    box = reader.pages[0].mediabox
    model = paginate(browser, bad, (float(box.width), float(box.height)))
    found = splits(model)
    assert any("'tall-table'" in f for f in found), found
    assert any("'tall-figure'" in f for f in found), found
    assert model["pages"] == len(reader.pages)
    problems = image_problems(reader, model)
    assert sum("not inside the page's content area" in p for p in problems) == 2, problems
    assert any(p.startswith("images drawn on pages") for p in problems), problems
    # and the untouched report passes the same checks
    clean = paginate(browser, result.out / "impact.html", (float(box.width), float(box.height)))
    assert splits(clean) == []


# ------------------------------------------------------------------ evalkit run --pdf


def test_run_pdf_writes_both_pdfs_into_the_audited_folder(tmp_path):
    _need_chromium()
    plan = light_plan(tmp_path)
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(plan), "--no-progress",
                           "--pdf", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert str(out / "impact.pdf") in proc.stdout and "not done: PDF" not in proc.stderr, proc.stdout
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"impact.pdf", "technical.pdf"} <= set(manifest["files"])
    assert manifest["audit"]["findings"] == 0
    from evalkit.pipeline.write import verify_report
    from evalkit.report.disclosure.audit import audit_folder

    assert verify_report(out) == []
    assert audit_folder(out).empty
    for name in ("impact", "technical"):
        reader = pypdf.PdfReader(out / f"{name}.pdf")
        assert len(reader.pages) >= 2
        assert abs(float(reader.pages[0].mediabox.width) - A4[0]) <= 1


def test_run_pdf_without_chromium_stops_before_the_run(tmp_path):
    plan = light_plan(tmp_path)
    env = {**os.environ, "EVALKIT_CHROMIUM": str(tmp_path / "no-such-chromium")}
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(plan), "--no-progress",
                           "--pdf", "--out", str(tmp_path / "report")], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "EVALKIT_CHROMIUM" in proc.stderr and "apt-get install chromium" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "report").exists()


def test_a_pdf_that_cannot_be_printed_is_listed_as_not_done(tmp_path, monkeypatch):
    """report.pdf in the plan, no Chromium: the HTML report is kept, the PDF step is not done."""
    from evalkit.pipeline.context import RunContext
    from evalkit.pipeline.run import _write_pdfs
    from evalkit.pipeline.write import ReportWriter

    monkeypatch.setenv("EVALKIT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    ctx = types.SimpleNamespace(failure_rows=[], warning_rows=[], timings={})
    ctx.step = lambda name, **kw: RunContext.step(ctx, name, **kw)
    with ReportWriter(tmp_path / "report") as writer:
        writer.write_text("impact.html", "<!DOCTYPE html><title>t</title><p>report</p>\n")
        _write_pdfs(ctx, writer, ["impact"])
        files = [p.name for p in writer.commit()]
    assert "impact.html" in files and "impact.pdf" not in files
    assert [(s, k) for s, _, k in ctx.failure_rows] == [("PDF reports", "SpecificationError")]
    assert "no-such-chromium" in ctx.failure_rows[0][1]
