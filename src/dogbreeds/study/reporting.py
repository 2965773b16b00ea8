"""The report for the jury: HTML of each executed notebook, one combined report, and its PDF.

The combined report keeps every Markdown cell and every figure and table, and
hides code, progress logs and parameter cells: the story, not the plumbing.
The PDF is printed by a headless Chromium (Debian package ``chromium``), which
works offline; ``find_chromium`` says what to install when it is missing.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic
from dogbreeds.experiments.records import latest_records, load_records
from dogbreeds.judge.tables import words

HIDDEN_TAGS = {"parameters", "injected-parameters", "hide-in-report"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "DOGBREEDS_CHROMIUM"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--generate-pdf-document-outline",
)
"""No --allow-file-access-from-files: the page may not read files through scripts (it has none anyway)."""

PRINT_CSS = """
<style>
  body { font-family: "DejaVu Sans", Arial, sans-serif; }
  .jp-Notebook { padding: 0 1.5em; }
  /* Each chapter starts a page: the break sits on the marker's whole cell, which takes no room, so that a
     chapter ending at the very bottom of a page never pushes an empty cell onto a blank page. */
  .jp-Cell:has(.report-section) { break-before: page; margin: 0 !important; padding: 0 !important; }
  .jp-Cell:has(.report-section) * { margin: 0 !important; padding: 0 !important; }
  .title-page, .toc-page { break-after: page; }
  .title-page h1 { font-size: 2.1em; margin-top: 1.5em; }
  h1.chapter { font-size: 1.75em; font-weight: 600; }
  /* The contents: one line per chapter or section, its page number on the right. */
  .toc-list { list-style: none; padding: 0; margin: 0; }
  .toc-list li { display: flex; align-items: baseline; gap: 0.5em; line-height: 1.3; }
  .toc-list li a { text-decoration: none; color: #111 !important; flex: 1; }
  .toc-list li.toc-level-1 { font-weight: 600; margin-top: 0.35em; }
  .toc-list li.toc-level-2 { padding-left: 1.6em; font-size: 0.92em; }
  .toc-number { display: inline-block; min-width: 2.5em; text-align: right; }
  /* Figures at most two thirds of a page, so that one never leaves the page before it less than a third
     full; a figure stays whole, with its number under it. */
  img { max-width: 100%; max-height: 165mm; width: auto; height: auto; }
  .numbered-figure { break-inside: avoid; }
  /* nbconvert keeps every output whole in print: a long table or text output then jumps to the next page
     and leaves the page before it nearly empty. Outputs flow; only figures and table rows stay whole. */
  .jp-OutputArea-child, .jp-Cell, .jp-Cell-outputWrapper { break-inside: auto !important; }
  .figure-number, .table-number { font-size: 8.5pt; font-weight: 600; color: #333; }
  .figure-number { text-align: center; margin: 0.2em 0 0.6em; }
  a.reference { color: inherit !important; text-decoration: none; font-weight: 600; }
  .nowrap { white-space: nowrap; }
  /* Tables fit the page and wrap between words only; a wide one gets smaller type instead. */
  .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
  .jp-RenderedHTMLCommon table { table-layout: auto; max-width: 100%; font-size: 8pt; border-collapse: collapse;
                                 margin: 0.4em 0 0.8em; }
  .jp-RenderedHTMLCommon table.table-full { width: 100%; }
  .jp-RenderedHTMLCommon table.table-small { font-size: 7pt; }
  .jp-RenderedHTMLCommon table.table-smaller { font-size: 6pt; }
  .jp-RenderedHTMLCommon table.table-smallest { font-size: 5pt; }
  .jp-RenderedHTMLCommon caption { caption-side: top; text-align: left; font-size: 8.5pt; padding-bottom: 2px; }
  .jp-RenderedHTMLCommon caption, .jp-RenderedHTMLCommon thead { break-after: avoid-page; break-inside: avoid; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
    padding: 2px 4px; white-space: normal; overflow-wrap: normal; word-break: normal; hyphens: none;
  }
  /* Table rows stay whole; text flows across pages; a heading stays with what follows it. */
  .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  h1, h2, h3, h4 { break-after: avoid; }
  @page { size: A4; margin: 14mm 12mm 16mm;
          @bottom-center { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #666;
                           font-family: "DejaVu Sans", Arial, sans-serif; } }
  @page :first { @bottom-center { content: none; } }
</style>
"""

REPORT_TITLE = "Dog breed identification: study report"


class ReportError(DogbreedsError, RuntimeError):
    """The report could not be built; the message says why and what to do."""


def _html_exporter(hide_code: bool):
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        exclude_input=hide_code,
        exclude_input_prompt=hide_code,
        exclude_output_prompt=hide_code,
    )


def _export(node: nbformat.NotebookNode, out_html: Path, title: str, hide_code: bool) -> Path:
    """``node`` as one HTML file whose <title> (the PDF's title too) is ``title``."""
    body, _ = _html_exporter(hide_code).from_notebook_node(node, resources={"metadata": {"name": title}})
    write_bytes_atomic(out_html, body.encode())
    return out_html


def export_notebook_html(notebook: Path, out_html: Path) -> Path:
    """HTML of one executed notebook, code included, images embedded."""
    return _export(nbformat.read(notebook, as_version=4), out_html, notebook.stem, hide_code=False)


def _report_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells of one notebook that belong in the combined report (logs dropped, photos as JPEG)."""
    kept = []
    for cell in notebook.cells:
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") not in ("stream", "error")]
            if not cell.outputs:
                continue
            for output in cell.outputs:
                _compress_image(output.get("data", {}))
                if "text/html" in output.get("data", {}):
                    output["data"]["text/html"] = _readable_headers(output["data"]["text/html"])
        kept.append(cell)
    return kept


_CODE_NAME = re.compile(r"(<th[^>]*>)([a-z][a-z0-9]*(?:_[a-z0-9]+)+|val|ece)(</th>)")


def _readable_headers(html: str) -> str:
    """Table headings written as code names (``val_top1``, ``ms_per_image``) in words (validation top-1, ...)."""

    def in_words(match: re.Match) -> str:
        return f"{match.group(1)}{words(match.group(2))}{match.group(3)}"

    return _CODE_NAME.sub(in_words, html)


def _compress_image(data: dict) -> None:
    """Replace an embedded PNG by a JPEG when that is less than half its size (photos; line art stays PNG)."""
    png = data.get("image/png")
    if not png:
        return
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(png)))
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=80, optimize=True)
    jpeg = base64.b64encode(buffer.getvalue()).decode()
    if len(jpeg) < len(png) / 2:
        del data["image/png"]
        data["image/jpeg"] = jpeg


def combine_notebooks(
    notebooks: list[Path], title: str, title_page: str, closing: list[str] = ()
) -> nbformat.NotebookNode:
    """One notebook: the title page, the contents, each notebook's report cells, then the ``closing`` chapters.

    Each notebook and each closing chapter (Markdown whose first line is a level-1 heading) starts
    a new page; :func:`dogbreeds.study.document.finish_html` numbers them and fills the contents.
    """
    read = [nbformat.read(path, as_version=4) for path in notebooks]
    combined = nbformat.v4.new_notebook()
    combined.metadata = read[0].metadata if read else {}
    combined.cells.append(
        nbformat.v4.new_markdown_cell(f'{PRINT_CSS}\n<div class="title-page">\n\n# {title}\n\n{title_page}\n\n</div>')
    )
    combined.cells.append(
        nbformat.v4.new_markdown_cell('<div class="toc-page">\n<h2>Contents</h2>\n<div class="toc"></div>\n</div>')
    )
    sections = [(path.stem, _report_cells(notebook)) for path, notebook in zip(notebooks, read)]
    sections += [(f"closing-{number}", [nbformat.v4.new_markdown_cell(text)]) for number, text in enumerate(closing)]
    for number, (name, cells) in enumerate(sections, start=1):
        combined.cells.append(
            nbformat.v4.new_markdown_cell(f'<div class="report-section" id="section-{number}"></div>')
        )
        for position, cell in enumerate(cells):
            cell["id"] = f"{name}-{position}"  # cell ids are unique per notebook only
            combined.cells.append(cell)
    return combined


def build_combined_html(
    notebooks: list[Path], out_html: Path, title: str, title_page: str, closing: list[str] = ()
) -> Path:
    """The combined report as one self-contained HTML file (code hidden), its contents without page numbers."""
    from dogbreeds.study.document import finish_html

    if not notebooks:
        raise ReportError("no executed notebooks to build a report from")
    _export(combine_notebooks(notebooks, title, title_page, closing), out_html, title, hide_code=True)
    write_bytes_atomic(out_html, finish_html(out_html.read_text(encoding="utf-8")).encode())
    return out_html


def find_chromium() -> str:
    """Path of a Chromium/Chrome binary ($DOGBREEDS_CHROMIUM first), or ReportError saying how to get one."""
    candidates = [os.environ.get(CHROMIUM_ENV)] + [shutil.which(n) for n in CHROMIUM_NAMES]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise ReportError(
        "the PDF is printed with a headless Chromium, and none was found. Install it "
        "(Debian/Ubuntu: `sudo apt-get install chromium`) or set DOGBREEDS_CHROMIUM=/path/to/chrome."
    )


def html_to_pdf(html: Path, out_pdf: Path, timeout: float = 180, root: Path | None = None) -> Path:
    """Print an HTML file to PDF with headless Chromium, offline.

    Chromium prints a safe copy beside it (:func:`dogbreeds.study.safe_html.printable_html`): no script,
    frame or object, no file outside ``root`` (default: the HTML's folder), so a crafted notebook
    output cannot print this computer's files.
    """
    from dogbreeds.study.safe_html import printable_html

    chromium = find_chromium()
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    html = html.resolve()
    page = html.with_name(f".{html.stem}.printing.html")  # beside the original: its relative links hold
    write_bytes_atomic(
        page, printable_html(html.read_text(encoding="utf-8"), html.parent, root or html.parent).encode()
    )
    try:
        with tempfile.TemporaryDirectory() as profile:
            tmp_pdf = Path(profile) / "out.pdf"
            done = subprocess.run(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}/user",
                    f"--print-to-pdf={tmp_pdf}",
                    page.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if done.returncode != 0 or not tmp_pdf.exists() or tmp_pdf.stat().st_size == 0:
                raise ReportError(f"Chromium could not print {html} (exit {done.returncode}): {done.stderr[-800:]}")
            write_bytes_atomic(out_pdf, tmp_pdf.read_bytes())
    finally:
        page.unlink(missing_ok=True)
    return out_pdf


def build_report(run_dir: Path, pdf: bool = True, author: str | None = None) -> dict[str, Path]:
    """Everything under <run_dir>/report: one HTML per executed notebook, report.html and report.pdf.

    The PDF is printed twice: the first print gives the page of every heading, the second
    prints the contents with those pages. ``author`` goes on the title page
    (:func:`dogbreeds.study.title_page.report_author`).
    """
    from dogbreeds.core.config import REPO_ROOT
    from dogbreeds.study.closing import limitations_markdown, related_results_markdown
    from dogbreeds.study.document import finish_html, heading_pages
    from dogbreeds.study.title_page import title_page_for_run

    notebooks = sorted((run_dir / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise ReportError(f"no executed notebooks in {run_dir / 'notebooks'}")
    out = run_dir / "report"
    made = {path.stem: export_notebook_html(path, out / f"{path.stem}.html") for path in notebooks}
    closing = [limitations_markdown(run_dir, REPO_ROOT / "benchmarks" / "results"), related_results_markdown(run_dir)]
    html = build_combined_html(
        notebooks, out / "report.html", REPORT_TITLE, title_page_for_run(run_dir, author), closing
    )
    made["report.html"] = html
    if pdf:
        first = html_to_pdf(html, out / "report.pdf", root=run_dir)
        write_bytes_atomic(html, finish_html(html.read_text(encoding="utf-8"), heading_pages(first)).encode())
        made["report.pdf"] = html_to_pdf(html, out / "report.pdf", root=run_dir)
    return made


KEEP_IN_TARGET = ("README.md",)
PUBLISHED = ("report.html", "report.pdf")


def publish(run_dir: Path, made: dict[str, Path], target: Path) -> Path:
    """Make ``target`` (the repository's report/ folder) the reference report of ``run_dir``.

    It gets the combined report (HTML, PDF), the run's run.json and every results record
    behind its numbers (``results/``: the newest of each, when a notebook was run again), with
    this machine's folders written relative to the repository. Every file of the previous
    report is removed first (only ``KEEP_IN_TARGET`` stays), so the folder never mixes two runs.
    """
    from dogbreeds.core.config import REPO_ROOT

    target.mkdir(parents=True, exist_ok=True)
    for old in sorted(target.rglob("*"), reverse=True):
        if old.is_file() and old.relative_to(target).as_posix() not in KEEP_IN_TARGET:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    for name in PUBLISHED:
        if name in made:
            write_bytes_atomic(target / name, made[name].read_bytes())
    current = latest_records(load_records(run_dir / "results"))["path"] if (run_dir / "results").is_dir() else []
    sources = [run_dir / "run.json", *sorted(Path(path) for path in current)]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for folder, shown in ((REPO_ROOT, "."), (REPO_ROOT.parent, "..")):
            text = text.replace(json.dumps(str(folder))[1:-1], shown)
        write_bytes_atomic(target / source.relative_to(run_dir), text.encode())
    return target
