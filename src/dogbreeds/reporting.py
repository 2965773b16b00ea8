"""The report for the jury: HTML of each executed notebook, one combined report, and its PDF.

The combined report keeps every Markdown cell and every figure and table, and
hides code, progress logs and parameter cells: the story, not the plumbing.
The PDF is printed by a headless Chromium (Debian package `chromium`), which
works offline; `find_chromium` says what to install when it is missing.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat

from dogbreeds.errors import DogbreedsError
from dogbreeds.fileio import write_bytes_atomic

HIDDEN_TAGS = {"parameters", "injected-parameters", "hide-in-report"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "DOGBREEDS_CHROMIUM"

PRINT_CSS = """
<style>
  body { font-family: "DejaVu Sans", Arial, sans-serif; }
  .jp-Notebook { padding: 0 1.5em; }
  .report-section { break-before: page; }
  img { max-width: 100%; height: auto; }
  /* Wide tables wrap inside the page instead of hiding columns behind a scroll bar. */
  .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
  .jp-RenderedHTMLCommon table { table-layout: auto; width: 100%; font-size: 0.68em; border-collapse: collapse; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
    padding: 2px 3px; white-space: normal; overflow-wrap: anywhere; max-width: 20em;
  }
  .jp-Cell, .jp-OutputArea-output { break-inside: avoid; }
  @page { size: A4; margin: 14mm 12mm; }
</style>
"""


class ReportError(DogbreedsError, RuntimeError):
    """The report could not be built; the message says why and what to do."""


def _html_exporter(hide_code: bool):
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab", exclude_input=hide_code,
        exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
    )


def export_notebook_html(notebook: Path, out_html: Path) -> Path:
    """HTML of one executed notebook, code included, images embedded."""
    body, _ = _html_exporter(hide_code=False).from_notebook_node(nbformat.read(notebook, as_version=4))
    write_bytes_atomic(out_html, body.encode())
    return out_html


def _report_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells of one notebook that belong in the combined report."""
    kept = []
    for cell in notebook.cells:
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
            if not cell.outputs:
                continue
        kept.append(cell)
    return kept


def combine_notebooks(notebooks: list[Path], title: str, preface_markdown: str) -> nbformat.NotebookNode:
    """One notebook holding the title page, then each notebook's report cells as a section."""
    combined = nbformat.v4.new_notebook()
    combined.metadata = nbformat.read(notebooks[0], as_version=4).metadata if notebooks else {}
    combined.cells.append(nbformat.v4.new_markdown_cell(f"{PRINT_CSS}\n# {title}\n\n{preface_markdown}"))
    for path in notebooks:
        combined.cells.append(nbformat.v4.new_markdown_cell('<div class="report-section"></div>'))
        for number, cell in enumerate(_report_cells(nbformat.read(path, as_version=4))):
            cell["id"] = f"{path.stem}-{number}"  # cell ids are unique per notebook only
            combined.cells.append(cell)
    return combined


def build_combined_html(notebooks: list[Path], out_html: Path, title: str, preface_markdown: str) -> Path:
    """The combined report as one self-contained HTML file (code hidden)."""
    if not notebooks:
        raise ReportError("no executed notebooks to build a report from")
    node = combine_notebooks(notebooks, title, preface_markdown)
    body, _ = _html_exporter(hide_code=True).from_notebook_node(node)
    write_bytes_atomic(out_html, body.encode())
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


def html_to_pdf(html: Path, out_pdf: Path, timeout: float = 180) -> Path:
    """Print an HTML file to PDF with headless Chromium, offline."""
    chromium = find_chromium()
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        tmp_pdf = Path(profile) / "out.pdf"
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-pdf-header-footer", f"--user-data-dir={profile}/user",
            f"--print-to-pdf={tmp_pdf}", html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not tmp_pdf.exists() or tmp_pdf.stat().st_size == 0:
            raise ReportError(f"Chromium could not print {html} (exit {done.returncode}): {done.stderr[-800:]}")
        write_bytes_atomic(out_pdf, tmp_pdf.read_bytes())
    return out_pdf


def preface_for_run(run_dir: Path) -> str:
    """Markdown describing the run (profile, data, versions, notebook timings) from its run.json."""
    manifest = json.loads((run_dir / "run.json").read_text())
    params = manifest.get("parameters", {})
    lines = [
        "Identifying a dog's breed from a photo, on the Stanford Dogs data set "
        "(Khosla et al., FGVC 2011; 120 breeds, 20,580 photos taken from ImageNet). "
        "This report gathers, in order, the five notebooks of the study: exploration of the data, "
        "image preprocessing, convolutional networks trained from scratch, transfer learning from "
        "ImageNet, and the comparison of all models with a recommendation for an animal shelter. "
        "Every number comes from the run described below; the code is in the per-notebook HTML files "
        "and in the `dogbreeds` library.",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | `{value}` |" for key, value in params.items()]
    lines += [f"| {name} | {version} |" for name, version in manifest.get("versions", {}).items()]
    lines += ["", "| notebook | status | seconds |", "|---|---|---|"]
    lines += [
        f"| {name} | {entry.get('status')} | {entry.get('seconds', '')} |"
        for name, entry in manifest.get("notebooks", {}).items()
    ]
    return "\n".join(lines)


def build_report(run_dir: Path, pdf: bool = True) -> dict[str, Path]:
    """Everything under <run_dir>/report: one HTML per executed notebook, report.html and report.pdf."""
    notebooks = sorted((run_dir / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise ReportError(f"no executed notebooks in {run_dir / 'notebooks'}")
    out = run_dir / "report"
    made = {path.stem: export_notebook_html(path, out / f"{path.stem}.html") for path in notebooks}
    title = "Dog breed identification — study report"
    made["report.html"] = build_combined_html(notebooks, out / "report.html", title, preface_for_run(run_dir))
    if pdf:
        made["report.pdf"] = html_to_pdf(made["report.html"], out / "report.pdf")
    return made


KEEP_IN_TARGET = ("README.md",)


def publish(made: dict[str, Path], target: Path) -> Path:
    """Copy a built report into `target` (the repository's report/ folder), replacing the previous one whole.

    Every file of the previous report is removed first (only `KEEP_IN_TARGET` stays), so
    the folder never mixes two runs, e.g. after a run stopped with --until.
    """
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.is_file() and old.name not in KEEP_IN_TARGET:
            old.unlink()
    for path in made.values():
        write_bytes_atomic(target / path.name, path.read_bytes())
    return target
