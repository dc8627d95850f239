"""Print a saved report (``impact.html``, ``technical.html``) to an A4 PDF with headless Chromium.

``evalkit run PLAN --pdf`` (or ``report: {pdf: true}`` in the plan) writes ``impact.pdf`` and
``technical.pdf`` beside the HTML pages, in the same report folder and manifest. The layout is the
print style sheet of the reports (``templates/_style.html.j2``): A4 with "page N of M" in the
footer, figures, cards, call-outs and short tables never split across pages, headings kept with
what follows them.

Why Chromium (driven by Playwright) and not WeasyPrint:

* the reports are tested in Chromium (``tests/report``), so the PDF is exactly what that engine
  lays out and the tests check: one CSS engine, not a second one with its own gaps (WeasyPrint has
  no flexbox fragmentation, no ``:has()``, and breaks tables differently);
* no extra system libraries (WeasyPrint needs Pango, HarfBuzz and their fonts stack);
* the browser is needed anyway for the browser tests, and Playwright is a plain wheel that drives
  the system Chromium (Debian: ``apt-get install chromium``): it downloads no browser of its own.

A missing Playwright or Chromium is an :class:`~evalkit.errors.SpecificationError` whose one-line
message says what to install. Chromium is looked up as ``EVALKIT_CHROMIUM`` (a path or a command
name), then ``chromium``, then ``chromium-browser`` on the ``PATH``.

The PDF's creation and modification dates are fixed (1 January 2000), so the same report gives the
same PDF bytes on every run, and the PDF publishes no date the report folder does not. Links to the
report's own files (``tables/reach.csv``) are printed as text with the file's path in the folder:
Chromium would make them ``file://`` links with the absolute path of the folder printed from (the
analyst's user name, a temporary folder), which are broken once the report moves and would make
the bytes depend on where the report was written.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import SpecificationError

__all__ = ["write_pdf", "write_pdfs", "find_chromium", "check_printer", "prepare_page"]

#: Flags that let the system Chromium run headless as root in a container, without reaching out.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")

_INSTALL_CHROMIUM = ("install Chromium (Debian/Ubuntu: apt-get install chromium) or set "
                     "EVALKIT_CHROMIUM to its executable")

# every image decoded (or failed) and the fonts ready: then the layout is final
_WAIT_FOR_IMAGES = """async () => {
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  await Promise.all(Array.from(document.images).map(img => img.decode ? img.decode().catch(() => null) : null));
  if (document.fonts) await document.fonts.ready;
  return Array.from(document.images).filter(img => !(img.naturalWidth > 0)).map(img => img.alt || img.src.slice(0, 40));
}"""

# links to the report's own files (relative, or file:) become text naming the file; in-page (#...)
# and web links stay links
_LOCAL_LINKS = r"""() => {
  let n = 0;
  for (const a of Array.from(document.querySelectorAll('a[href]'))) {
    const href = a.getAttribute('href').trim();
    const file = /^file:/i.test(href);
    if (!file && (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('//')))
      continue;                                   // a web or in-page link
    let name = file ? href.replace(/[?#].*$/, '').split('/').pop() : href;
    try { name = decodeURI(name); } catch (e) { /* keep it encoded */ }
    const span = document.createElement('span');
    span.className = a.className;
    span.append(...a.childNodes, ': ' + name);
    a.replaceWith(span);
    n += 1;
  }
  return n;
}"""


def find_chromium(chromium: str | os.PathLike | None = None) -> str:
    """The Chromium executable to print with: ``chromium`` if given, else ``EVALKIT_CHROMIUM``,
    else ``chromium`` or ``chromium-browser`` on the ``PATH``.

    Raises
    ------
    SpecificationError
        None of them is an executable (the message says what to install).
    """
    given = chromium if chromium is not None else os.environ.get("EVALKIT_CHROMIUM") or None
    if given is not None:
        found = shutil.which(str(given))
        if found is None:
            source = "chromium=" if chromium is not None else "EVALKIT_CHROMIUM="
            raise SpecificationError(f"cannot write the PDF report: {source}{str(given)!r} is not an "
                                     f"executable; {_INSTALL_CHROMIUM}")
        return found
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SpecificationError(f"cannot write the PDF report: no Chromium found; {_INSTALL_CHROMIUM}")
    return found


def check_printer(chromium: str | os.PathLike | None = None) -> str:
    """Check that PDFs can be printed here (Playwright installed, Chromium found) before a long run.

    Returns
    -------
    str
        The Chromium executable (:func:`find_chromium`).

    Raises
    ------
    SpecificationError
        Playwright or Chromium is missing (the message says what to install).
    """
    executable = find_chromium(chromium)
    _playwright()
    return executable


def _playwright():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise SpecificationError("cannot write the PDF report: the Python package playwright is not "
                                 "installed; pip install playwright (it uses the system Chromium, "
                                 "no browser download)") from None
    return Error, sync_playwright


def write_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike, *,
              chromium: str | os.PathLike | None = None) -> Path:
    """Render a saved HTML report to an A4 PDF with the system Chromium.

    Parameters
    ----------
    html_path : str or Path
        The HTML file (self-contained: its figures are embedded).
    pdf_path : str or Path
        Where to write the PDF (its folder must exist).
    chromium : str or Path, optional
        The Chromium executable; default :func:`find_chromium`.

    Returns
    -------
    Path
        ``pdf_path``.

    Raises
    ------
    SpecificationError
        Playwright or Chromium is missing or cannot start, the HTML file cannot be read, or an
        image in it does not load.
    """
    return write_pdfs([(html_path, pdf_path)], chromium=chromium)[0]


def write_pdfs(pairs, *, chromium: str | os.PathLike | None = None) -> list[Path]:
    """:func:`write_pdf` for several ``(html_path, pdf_path)`` pairs, with one browser."""
    pairs = [(Path(h), Path(p)) for h, p in pairs]
    for html, _ in pairs:
        if not html.is_file():
            raise SpecificationError(f"cannot write the PDF report: {str(html)!r} is not a file; "
                                     "give a saved HTML report")
    executable = find_chromium(chromium)
    _playwright()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _print(pairs, executable)
    # Playwright's synchronous API refuses to run inside an event loop (Jupyter, or another
    # Playwright session): print from a thread of its own
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit-pdf") as pool:
        return pool.submit(_print, pairs, executable).result()


def _print(pairs: list[tuple[Path, Path]], executable: str) -> list[Path]:
    PlaywrightError, sync_playwright = _playwright()
    written = []
    try:
        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
            except PlaywrightError as exc:
                raise SpecificationError(f"cannot write the PDF report: Chromium at {executable} did "
                                         f"not start ({_first_line(exc)}); {_INSTALL_CHROMIUM}") from None
            try:
                for html, pdf in pairs:
                    page = browser.new_page()
                    try:
                        prepare_page(page, html)
                        data = page.pdf(format="A4", print_background=True,
                                        prefer_css_page_size=True)
                    finally:
                        page.close()
                    pdf.write_bytes(_fixed_dates(data))
                    written.append(pdf)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise SpecificationError(f"cannot write the PDF report: Chromium failed "
                                 f"({_first_line(exc)})") from None
    return written


def prepare_page(page, html_path: str | os.PathLike) -> None:
    """Load a saved report into a Playwright page as it is printed: print media, every image
    decoded, links to the report's own files turned into text.

    :func:`write_pdfs` prints the page after this; the print tests lay the same page out in
    columns of the page's size to find where it breaks.

    Raises
    ------
    SpecificationError
        An image of the report does not load.
    """
    html = Path(html_path)
    page.emulate_media(media="print")
    page.goto(html.resolve().as_uri(), wait_until="load")
    broken = page.evaluate(_WAIT_FOR_IMAGES)
    if broken:
        raise SpecificationError(f"cannot write the PDF of {html.name}: {len(broken)} image(s) did "
                                 f"not load (first: {broken[0]!r}); regenerate the report")
    page.evaluate(_LOCAL_LINKS)


def _first_line(exc: BaseException) -> str:
    lines = [s.strip() for s in str(exc).splitlines() if s.strip() and not set(s.strip()) <= set("=")]
    return lines[0] if lines else type(exc).__name__


_DATE = re.compile(rb"/(CreationDate|ModDate) ?\(D:([0-9+\-Z']+)\)")


def _fixed_dates(data: bytes) -> bytes:
    """The PDF with its dates set to 2000-01-01 00:00 UTC in place (same length: offsets stay valid)."""

    def fixed(m: re.Match) -> bytes:
        stamp = m.group(2)
        new = b"20000101000000+00'00'" if len(stamp) == 21 else b"20000101000000"[:len(stamp)] + stamp[14:]
        return m.group(0).replace(b"(D:" + stamp + b")", b"(D:" + new + b")")

    return _DATE.sub(fixed, data)
