"""The report's title page: course, author, date, scope, data, hardware and the results at a glance.

Everything but the course and the scope is read from the run: its run.json (date, device,
data folders, notebook times, versions) and its records (photo counts, headline numbers).
The author is a setting: ``build_report(author=...)``, else $DOGBREEDS_REPORT_AUTHOR
(``./run_all.sh --author NAME`` sets it), else :data:`DEFAULT_AUTHOR`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from dogbreeds.experiments.head_to_head import central_table
from dogbreeds.experiments.records import latest_records, load_records, most_breeds
from dogbreeds.study.runner import first_passes, pass_minutes

COURSE = "OpenClassrooms course project: classify images with deep learning"
AUTHOR_ENV = "DOGBREEDS_REPORT_AUTHOR"
DEFAULT_AUTHOR = "dogbreeds contributors"
STUDY_SCOPE = (
    "Identifying a dog's breed from a photo, on the Stanford Dogs data set (Khosla et al., FGVC 2011; "
    "120 breeds, 20,580 photos taken from ImageNet). The five notebooks of the study follow in order: "
    "exploration of the data, image preprocessing with Pillow and OpenCV, convolutional networks trained "
    "from scratch (ablations with several seeds, a Keras Tuner search), transfer learning from ImageNet "
    "backbones (heads on cached features, flip test-time augmentation, fine-tuning), and the comparison of "
    "the models with a recommendation for an animal shelter. Two chapters close the report: the limits of "
    "the study and published results on the same data. Every number comes from the run described on this "
    "page; the code is in the dogbreeds library and in the executed notebooks."
)


def report_author(author: str | None = None) -> str:
    """The author printed on the title page: ``author``, else $DOGBREEDS_REPORT_AUTHOR, else the default."""
    return (author or os.environ.get(AUTHOR_ENV, "")).strip() or DEFAULT_AUTHOR


def title_page_for_run(run_dir: Path, author: str | None = None) -> str:
    """Markdown of the title page (from run.json and the records)."""
    manifest = json.loads((run_dir / "run.json").read_text())
    notebooks = manifest.get("notebooks", {})
    first = first_passes(manifest)
    minutes, again = pass_minutes(manifest)
    records = load_records(run_dir / "results") if (run_dir / "results").is_dir() else pd.DataFrame()
    lines = [
        f"**{COURSE}**",
        "",
        f"Author: {report_author(author)} · {str(manifest.get('updated', ''))[:10]}",
        "",
        STUDY_SCOPE,
        "",
        "### Results at a glance",
        "",
        *(results_at_a_glance(records) or ["No results were recorded."]),
        "",
        *central_lines(run_dir),
        "### Data and hardware",
        "",
        *data_lines(manifest, records),
        f"- Hardware: {manifest.get('device', 'not recorded')}; the notebooks ran in {minutes:.0f} min"
        + (f", then {again:.0f} min for those run again from the caches" if first else "")
        + f" (seed {manifest.get('seed', 'not recorded')}).",
        "- Software: " + ", ".join(f"{name} {version}" for name, version in manifest.get("versions", {}).items()) + ".",
        "",
        "| notebook | status | minutes |" + (" run again from the caches (minutes) |" if first else ""),
        "|---|---|---:|" + ("---:|" if first else ""),
        *(
            f"| {name.replace('_', ' ')} | {entry.get('status')} | "
            f"{first.get(name, entry).get('seconds', 0) / 60:.1f} |"
            + (f" {entry.get('seconds', 0) / 60:.1f} |" if name in first else " — |" if first else "")
            for name, entry in notebooks.items()
        ),
    ]
    return "\n".join(lines)


def central_lines(run_dir: Path) -> list[str]:
    """The study's central result, scratch against transfer on the same photos, as a Markdown table."""
    if not (run_dir / "results").is_dir():
        return []
    table = central_table(run_dir)
    if table.empty:
        return []
    return [
        "### Scratch against transfer, on the same photos",
        "",
        *markdown_table(table),
        "",
    ]


def markdown_table(table: pd.DataFrame) -> list[str]:
    """The rows of a Markdown table (header, rule, one line a row; cells as text, "|" escaped)."""

    def line(cells: Any) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return [
        line(table.columns),
        "|" + "---|" * len(table.columns),
        *(line(row) for row in table.itertuples(index=False)),
    ]


def data_lines(manifest: dict, records: pd.DataFrame) -> list[str]:
    """One bullet per data folder: its name, the photo counts its records give, and its content hash."""
    folders, hashes = manifest.get("data_folders", {}), manifest.get("data_folder_hash", {})
    kinds = {"data_dir": ("transfer", "breeds benchmark"), "photos_dir": ("scratch", "whole photos")}
    lines, seen = [], set()
    for key, folder in folders.items():
        if folder in seen:
            continue  # one folder for both roles (the bundled sample)
        seen.add(folder)
        kind, role = kinds.get(key, ("", "data"))
        counts = _split_counts(records, kind)
        digest = str(hashes.get(key, ""))[:12] if isinstance(hashes, dict) else ""
        lines.append(
            f"- Data, {role}: {folder}"
            + (f", {counts}" if counts else "")
            + (f" (content hash {digest})" if digest else "")
        )
    return lines


def _split_counts(records: pd.DataFrame, kind: str) -> str:
    """The breeds and photos per split of a record of that kind (120 breeds; 10,800 training, ...)."""
    if records.empty or "kind" not in records:
        return ""
    rows = most_breeds(records[records["kind"] == kind])
    columns = [f"data.counts.{split}" for split in ("train", "val", "test")]
    if rows.empty or not set(columns) <= set(rows):
        return ""
    row = rows.iloc[-1]
    if any(pd.isna(row[column]) for column in columns):
        return ""
    breeds = row.get("data.num_classes")
    return (
        f"{int(breeds)} breeds; " if pd.notna(breeds) else ""
    ) + f"{int(row[columns[0]]):,} training, {int(row[columns[1]]):,} validation, {int(row[columns[2]]):,} test photos"


def results_at_a_glance(records: pd.DataFrame) -> list[str]:
    """Markdown bullets of the run's headline numbers, each with the data it was measured on."""
    if records.empty or not {"kind", "run_name"} <= set(records.columns):
        return []
    bullets = []

    def value(row: pd.Series, column: str, default: Any = None) -> Any:
        return row[column] if column in row and pd.notna(row[column]) else default

    models = records[records["kind"].isin(("scratch", "transfer"))]
    for kind in ("transfer", "scratch"):
        rows = most_breeds(latest_records(models[models["kind"] == kind]))
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
    oxford = records[records["run_name"] == "shelter_oxford"]
    if not oxford.empty and pd.notna(oxford.iloc[-1].get("metrics.dogs.per_1000.labelled")):
        row = oxford.iloc[-1]
        top1 = value(row, "metrics.dogs.top1_known", float("nan"))
        first = "" if pd.isna(top1) else f"the right breed first for {top1:.1%} of the dogs of known breeds; "
        bullets.append(
            "- For the shelter, on dog photos that are not from ImageNet (Oxford-IIIT Pet, the reporting half): "
            f"{first}out of 1,000 such photos, {int(row['metrics.dogs.per_1000.labelled'])} are labelled automatically "
            f"with {int(row['metrics.dogs.per_1000.labelled_wrong'])} mistakes and "
            f"{int(row['metrics.dogs.per_1000.to_a_person'])} go to a person."
        )
    shipped = records[records["run_name"] == "shelter_labeller"]
    if not shipped.empty:
        row = shipped.iloc[-1]
        adapted = "--choose-on" in str(value(row, "params.trained_by", ""))
        also = "; its head also learnt from the whole photos of the other half of those pet dogs" if adapted else ""
        bullets.append(
            f"- The model shipped to the shelter (EfficientNet-Lite2 features, 120 breeds{also}): "
            f"{value(row, 'metrics.official_test.top1', float('nan')):.1%} top-1 on the official test list "
            f"({int(value(row, 'metrics.official_test.n', 0)):,} photos); "
            f"{value(row, 'metrics.official_test.at_threshold.coverage', float('nan')):.0%} of them labelled "
            f"without a person, {value(row, 'metrics.official_test.at_threshold.accuracy', float('nan')):.1%} "
            "of those right."
        )
    return bullets
