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
from typing import Any

import nbformat
import pandas as pd

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic
from dogbreeds.experiments.records import latest_records, load_records

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
  .report-section { break-before: page; }
  .title-page { break-after: page; }
  .title-page h1 { font-size: 2.2em; margin-top: 3em; }
  .toc ol { line-height: 1.6; }
  .toc a { text-decoration: none; color: inherit; }
  /* A figure taller than a page (the photo grid) is scaled to fit one instead of leaving a blank page. */
  img { max-width: 100%; max-height: 225mm; width: auto; height: auto; }
  /* Wide tables wrap inside the page instead of hiding columns behind a scroll bar: headings break
     between words only, a cell's long token (a loss name, a path) may break anywhere. */
  .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
  .jp-RenderedHTMLCommon table { table-layout: auto; width: 100%; font-size: 0.62em; border-collapse: collapse; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
    padding: 2px 3px; white-space: normal; overflow-wrap: normal; word-break: normal; hyphens: manual;
  }
  .jp-RenderedHTMLCommon td { overflow-wrap: anywhere; }
  /* Figures and table rows stay whole; text flows across pages (a whole cell kept together left
     pages blank); a heading stays with what follows it. */
  .jp-OutputArea-output img, .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  h1, h2, h3, h4 { break-after: avoid; }
  @page { size: A4; margin: 14mm 12mm 16mm;
          @bottom-center { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #666; } }
  @page :first { @bottom-center { content: none; } }
</style>
"""


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


_WORDS = {
    "val": "validation",
    "top1": "top-1",
    "top5": "top-5",
    "f1": "F1",
    "ece": "ECE",
    "mce": "MCE",
    "std": "(std)",
    "n": "number of",
    "num": "number of",
    "ms": "ms",
    "px": "px",
}
_NAMES = {
    "n_kept": "photos kept",
    "ms_per_image": "ms per photo",
    "time_ratio": "time ratio (Pillow = 1)",
    "val_top1": "validation top-1",
}
_CODE_NAME = re.compile(r"(<th[^>]*>)([a-z][a-z0-9]*(?:_[a-z0-9]+)+|val|ece)(</th>)")


def _readable_headers(html: str) -> str:
    """Table headings written as code names (``val_top1``, ``ms_per_image``) in words (validation top-1, ...)."""

    def words(match: re.Match) -> str:
        code = match.group(2)
        name = _NAMES.get(code) or " ".join(_WORDS.get(token, token) for token in code.split("_"))
        return f"{match.group(1)}{name}{match.group(3)}"

    return _CODE_NAME.sub(words, html)


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


def _headings(notebook: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """A notebook's title (its first level-1 heading) and its level-2 headings, for the contents."""
    title, sections = "", []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# ") and not title:
                title = line[2:].strip()
            elif line.startswith("## "):
                sections.append(line[3:].strip())
    return title, sections


def combine_notebooks(notebooks: list[Path], title: str, title_page: str) -> nbformat.NotebookNode:
    """One notebook: the title page, the contents, then each notebook's report cells as a section."""
    read = [nbformat.read(path, as_version=4) for path in notebooks]
    combined = nbformat.v4.new_notebook()
    combined.metadata = read[0].metadata if read else {}
    contents = ["## Contents", "", '<div class="toc">', "", "<ol>"]
    for number, notebook in enumerate(read, start=1):
        heading, sections = _headings(notebook)
        items = "".join(f"<li>{section}</li>" for section in sections)
        contents.append(
            f'<li><a href="#section-{number}">{heading or notebooks[number - 1].stem}</a>'
            + (f"<ul>{items}</ul>" if items else "")
            + "</li>"
        )
    contents += ["</ol>", "", "</div>"]
    combined.cells.append(
        nbformat.v4.new_markdown_cell(f'{PRINT_CSS}\n<div class="title-page">\n\n# {title}\n\n{title_page}\n\n</div>')
    )
    combined.cells.append(nbformat.v4.new_markdown_cell("\n".join(contents)))
    for number, (path, notebook) in enumerate(zip(notebooks, read), start=1):
        anchor = f'<div class="report-section" id="section-{number}"></div>'
        combined.cells.append(nbformat.v4.new_markdown_cell(anchor))
        for position, cell in enumerate(_report_cells(notebook)):
            cell["id"] = f"{path.stem}-{position}"  # cell ids are unique per notebook only
            combined.cells.append(cell)
    return combined


def build_combined_html(notebooks: list[Path], out_html: Path, title: str, title_page: str) -> Path:
    """The combined report as one self-contained HTML file (code hidden)."""
    if not notebooks:
        raise ReportError("no executed notebooks to build a report from")
    return _export(combine_notebooks(notebooks, title, title_page), out_html, title, hide_code=True)


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


STUDY_SCOPE = (
    "Identifying a dog's breed from a photo, on the Stanford Dogs data set (Khosla et al., FGVC 2011; "
    "120 breeds, 20,580 photos taken from ImageNet). The five notebooks of the study follow in order: "
    "exploration of the data, image preprocessing with Pillow and OpenCV, convolutional networks trained "
    "from scratch (ablations with several seeds, a Keras Tuner search), transfer learning from ImageNet "
    "backbones (heads on cached features, flip test-time augmentation, fine-tuning), and the comparison of "
    "the models with a recommendation for an animal shelter. Every number comes from the run described at "
    "the end of this page; the code is in the `dogbreeds` library and in the executed notebooks."
)


def title_page_for_run(run_dir: Path) -> str:
    """Markdown of the title page: date, scope, results at a glance and the run (from run.json and the records)."""
    manifest = json.loads((run_dir / "run.json").read_text())
    params, notebooks = manifest.get("parameters", {}), manifest.get("notebooks", {})
    minutes = sum(entry.get("seconds", 0) for entry in notebooks.values()) / 60
    folders = manifest.get("data_folders", {})
    hashes = manifest.get("data_folder_hash", {})
    lines = [
        f"**{str(manifest.get('updated', ''))[:10]}** · profile *{params.get('profile', 'quick')}* · "
        f"{manifest.get('device', 'unknown device')} · notebooks ran in {minutes:.0f} min · "
        f"seed {manifest.get('seed', '')}",
        "",
        STUDY_SCOPE,
        "",
        "### Results at a glance",
        "",
    ]
    records = load_records(run_dir / "results") if (run_dir / "results").is_dir() else pd.DataFrame()
    lines += results_at_a_glance(records) or ["No results were recorded."]
    lines += ["", "### The run", "", "| notebook | status | minutes |", "|---|---|---|"]
    lines += [
        f"| {name} | {entry.get('status')} | {entry.get('seconds', 0) / 60:.1f} |" for name, entry in notebooks.items()
    ]
    if isinstance(hashes, dict) and folders:
        lines += [
            "",
            "Data folders (content hash of every photo's name, size and bytes): "
            + "; ".join(f"{folders[key]} (`{str(hashes.get(key, ''))[:12]}`)" for key in folders)
            + ".",
        ]
    versions = manifest.get("versions", {})
    lines += ["", "Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()) + "."]
    return "\n".join(lines)


def results_at_a_glance(records: pd.DataFrame) -> list[str]:
    """Markdown bullets of the run's headline numbers, each with the data it was measured on."""
    if records.empty or not {"kind", "run_name"} <= set(records.columns):
        return []
    bullets = []

    def value(row: pd.Series, column: str, default: Any = None) -> Any:
        return row[column] if column in row and pd.notna(row[column]) else default

    models = records[records["kind"].isin(("scratch", "transfer"))]
    for kind in ("transfer", "scratch"):
        rows = latest_records(models[models["kind"] == kind])
        if rows.empty:
            continue
        by_validation = "metrics.val_top1" in rows and rows["metrics.val_top1"].notna().all()
        key = "metrics.val_top1" if by_validation else "metrics.top1"
        row = rows.sort_values([key, "params.parameters"], ascending=[False, True]).iloc[0]
        breeds = int(value(row, "data.num_classes", 0))
        what = "transfer learning from ImageNet" if kind == "transfer" else "a CNN trained from scratch"
        bullets.append(
            f"- **{value(row, 'metrics.top1'):.1%} test top-1** ({value(row, 'metrics.top5'):.1%} top-5) with "
            f"{what}: *{value(row, 'params.model', row['run_name'])}*, chosen on "
            f"{'validation' if key.endswith('val_top1') else 'test'} accuracy, on {breeds} breeds of "
            f"{value(row, 'params.dataset', 'the data')} ({int(value(row, 'data.counts.test', 0)):,} test photos; "
            f"chance {1 / max(breeds, 1):.1%})."
        )
    advice = records[records["run_name"] == "shelter_advice"]
    if not advice.empty and pd.notna(advice.iloc[-1].get("metrics.threshold")):
        row = advice.iloc[-1]
        bullets.append(
            f"- Automatic labelling above a confidence of {row['metrics.threshold']:.2f} (chosen on "
            f"{int(value(row, 'metrics.n_validation', 0)):,} validation photos): "
            f"{row['metrics.automatic_share']:.0%} of the test photos labelled without a person, "
            f"{value(row, 'metrics.automatic_accuracy', float('nan')):.1%} of them right."
        )
    shipped = records[records["run_name"] == "shelter_labeller"]
    if not shipped.empty:
        row = shipped.iloc[-1]
        bullets.append(
            f"- The model shipped to the shelter (EfficientNet-Lite2 features, 120 breeds): "
            f"{value(row, 'metrics.official_test.top1', float('nan')):.1%} top-1 on the official test list "
            f"({int(value(row, 'metrics.official_test.n', 0)):,} photos); "
            f"{value(row, 'metrics.official_test.at_threshold.coverage', float('nan')):.0%} of them labelled "
            f"without a person, {value(row, 'metrics.official_test.at_threshold.accuracy', float('nan')):.1%} "
            "of those right."
        )
    return bullets


def build_report(run_dir: Path, pdf: bool = True) -> dict[str, Path]:
    """Everything under <run_dir>/report: one HTML per executed notebook, report.html and report.pdf."""
    notebooks = sorted((run_dir / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise ReportError(f"no executed notebooks in {run_dir / 'notebooks'}")
    out = run_dir / "report"
    made = {path.stem: export_notebook_html(path, out / f"{path.stem}.html") for path in notebooks}
    title = "Dog breed identification: study report"
    made["report.html"] = build_combined_html(notebooks, out / "report.html", title, title_page_for_run(run_dir))
    if pdf:
        made["report.pdf"] = html_to_pdf(made["report.html"], out / "report.pdf", root=run_dir)
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
