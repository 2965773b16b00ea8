"""The report's closing chapters: limitations and future work, and related published results.

Every number comes from a record: the run's (``results/``), the repository's measurements
(``benchmarks/results/``: the ImageNet classifier used as it is, and the shelter model on
Oxford-IIIT Pet dogs) and the run's settings against the GPU profile's. The published results
are read from ``resources/related_results.csv``, each row with its source.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from dogbreeds.experiments.records import latest_records, load_records, most_breeds
from dogbreeds.study.profiles import PROFILES, RunSettings
from dogbreeds.study.runner import first_passes, pass_minutes

BUDGET_SETTINGS = {
    "image_size": "scratch CNN input (px)",
    "transfer_image_size": "backbone input (px; none: each backbone's own)",
    "epochs": "scratch CNN epochs at most",
    "ablation_seeds": "seeds per ablation arm",
    "tuner_trials": "Keras Tuner trials",
    "fine_tune_epochs": "fine-tuning epochs",
}


def related_results() -> pd.DataFrame:
    """The published Stanford Dogs results the study cites, one row per paper, with its source."""
    text = importlib.resources.files("dogbreeds").joinpath("resources/related_results.csv").read_text()
    return pd.read_csv(io.StringIO(text), dtype={"year": "Int64"})


def _benchmark_metric(records: pd.DataFrame, run_name: str, column: str) -> float | None:
    rows = records[records["run_name"] == run_name] if "run_name" in records else records.iloc[0:0]
    if rows.empty or column not in rows or pd.isna(rows.iloc[-1][column]):
        return None
    return float(rows.iloc[-1][column])


def _oxford_top1(benchmarks: pd.DataFrame, *, adapted: bool) -> tuple[float, float] | None:
    """(top-1, photos) on the Oxford reporting half of the newest ``bench oxford`` record of a model whose head did
    (``adapted``) or did not learn from the choosing half's pet photos; None without one.
    """
    top1, photos, learnt = (
        "metrics.reporting.dogs.top1_known",
        "metrics.reporting.dogs.known_breed_photos",
        "params.shelter_photos.weight",
    )
    if "run_name" not in benchmarks or top1 not in benchmarks:
        return None
    rows = benchmarks[(benchmarks["run_name"] == "shelter-oxford") & benchmarks[top1].notna()]
    is_adapted = rows[learnt].notna() if learnt in rows else pd.Series(False, index=rows.index)
    rows = rows[is_adapted == adapted]
    return None if rows.empty else (float(rows.iloc[-1][top1]), float(rows.iloc[-1].get(photos, 0) or 0))


def imagenet_overlap(benchmarks: pd.DataFrame, run_records: pd.DataFrame) -> list[str]:
    """Bullets measuring how much the backbones' ImageNet training already knows of Stanford Dogs."""
    lines = []
    for backbone, label in (("efficientnet_lite0", "EfficientNet-Lite0"), ("mobilenet_v2", "MobileNetV2")):
        zero = _benchmark_metric(benchmarks, f"transfer-{backbone}/imagenet-head+tta", "metrics.top1")
        trained = _benchmark_metric(benchmarks, f"transfer-{backbone}/keras+tta", "metrics.top1")
        photos = _benchmark_metric(benchmarks, f"transfer-{backbone}/keras+tta", "metrics.n")
        if zero is not None and trained is not None:
            lines.append(
                f"- {label}'s own ImageNet classifier, used as it is with no training on Stanford Dogs at all, "
                f"names {zero:.1%} of the {photos or 0:,.0f} test crops right; the head trained here on its "
                f"features, {trained:.1%}. The backbone learnt these breeds, and most likely these very "
                "photos, from ImageNet: the test photos are not new to it."
            )
            break
    shipped = _benchmark_metric(run_records, "shelter_labeller", "metrics.official_test.top1")
    crops_only, adapted = _oxford_top1(benchmarks, adapted=False), _oxford_top1(benchmarks, adapted=True)
    if crops_only is not None:
        top1, photos = crops_only
        stanford = _benchmark_metric(benchmarks, "shelter-model", "metrics.crops_only_top1") if adapted else shipped
        against = f", against {stanford:.1%} on the Stanford Dogs test list" if stanford is not None else ""
        model = "a head trained on the Stanford crops alone" if adapted else "the shipped model"
        lines.append(
            f"- On dog photos from another source, Oxford-IIIT Pet ({photos:,.0f} photos of breeds the "
            f"model knows), {model} names {top1:.1%} right"
            f"{against}. That gap is the best measure here of how optimistic the Stanford Dogs numbers are."
        )
    if adapted is not None:
        lines.append(
            f"- The shipped model, whose head also learnt from the whole photos of the other half of those pet dogs, "
            f"names {adapted[0]:.1%} of them right: a few hundred photos like a shelter's teach the head what the "
            "ImageNet photos do not."
        )
    return lines


def budget_table(settings: Mapping[str, Any]) -> list[str]:
    """Markdown rows: each setting the CPU budget cut, in this run and in the GPU run (the full profile)."""
    defaults = {field.name: field.default for field in dataclasses.fields(RunSettings)}
    full = {**defaults, **PROFILES["full"]}
    rows = ["| setting | this run | on a GPU |", "|---|---:|---:|"]

    def shown(value: Any) -> str:
        return "none" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    for key, words in BUDGET_SETTINGS.items():
        if key in settings or key in full:
            rows.append(f"| {words} | {shown(settings.get(key))} | {shown(full.get(key))} |")
    return rows


def limitations_markdown(run_dir: Path, benchmarks_dir: Path) -> str:
    """The chapter "Limitations and future work", from the run's records and settings and the benchmarks."""
    manifest = _json(run_dir / "run.json")
    settings = _json(run_dir / "settings.json")
    run_records = _records(run_dir / "results")
    minutes = sum(entry.get("seconds", 0) for entry in manifest.get("notebooks", {}).values()) / 60
    lines = ["# Limitations and future work", "", "## Stanford Dogs is part of ImageNet", ""]
    overlap = imagenet_overlap(_records(benchmarks_dir), run_records)
    lines += overlap or ["- No measurement of the overlap was found in the repository's benchmark records."]
    lines += [
        "",
        "Every transfer-learning number of this report is therefore an upper bound for photos taken at a "
        "shelter. A fair test needs dog photos that were never on the web, or at least never in ImageNet.",
        "",
        "## The computing budget",
        "",
        _run_time(manifest, minutes)
        + (
            "To fit, the settings below were cut from those the same notebooks use on a graphics card:"
            if settings
            else "The run's settings were not kept with it."
        ),
        "",
        *(budget_table(settings) if settings else []),
        "",
        "## What a GPU run changes",
        "",
        "- The scratch CNNs see larger photos for more epochs, and the tuner tries more configurations: "
        "the table's last column.",
        "- Fine-tuning can unfreeze more of the backbone and use every training photo.",
        "- The backbones read the photos at their own input size instead of a reduced one.",
        "- The same seeds per arm give intervals as wide as here: narrower ones need more seeds or more test "
        "photos, not a faster machine.",
    ]
    return "\n".join(lines)


def related_results_markdown(run_dir: Path) -> str:
    """The chapter "Related results": the cited papers, their protocol, and this run's best transfer top-1."""
    table = related_results().sort_values("year", kind="stable")
    lines = [
        "# Related results",
        "",
        "Published work on Stanford Dogs, each row checked against the source named in it. An accuracy is "
        "quoted only where that source states it (two of them are benchmark leaderboards, and say so); elsewhere the "
        "cell is a dash rather than a number from memory. Their protocols differ (training photos, pre-training), "
        "as the columns say.",
        "",
        "| authors (year) | title and venue | method | top-1 | training photos per breed | ImageNet "
        "pre-training | what the source says |",
        "|---|---|---|---:|---|---|---|",
    ]
    for row in table.itertuples():
        top1 = "—" if pd.isna(row.top1) else f"{row.top1:.1%}"
        lines.append(
            f"| {row.authors} ({row.year}) | *{row.title}*, {row.venue} | {row.method} | {top1} | "
            f"{row.train_per_breed} | {row.imagenet_pretraining} | {row.verified_from} ([source]({row.source_url})) |"
        )
    best = _best_transfer(_records(run_dir / "results"))
    if best:
        lines += ["", best]
    return "\n".join(lines)


def _best_transfer(records: pd.DataFrame) -> str:
    if records.empty or "kind" not in records:
        return ""
    rows = latest_records(records[records["kind"] == "transfer"])
    if rows.empty or "metrics.top1" not in rows:
        return ""
    rows = most_breeds(rows)  # the breeds benchmark, not the ten breeds' whole photos
    order = [column for column in ("metrics.val_top1", "metrics.top1") if column in rows]  # chosen on validation
    row = rows.sort_values(order, ascending=False, kind="stable").iloc[0]
    breeds = int(row.get("data.num_classes", 0) or 0)
    photos = row.get("data.counts.test", 0)
    return (
        f"For comparison, this study's best transfer model (chosen on its validation photos) reaches "
        f"{row['metrics.top1']:.1%} top-1 on "
        f"{breeds} breeds ({0 if pd.isna(photos) else photos:,.0f} test photos) with an ImageNet backbone "
        "and a small head trained on a CPU, with the same ImageNet overlap as the papers above."
    )


def _run_time(manifest: Mapping[str, Any], minutes: float) -> str:
    """How long the notebooks ran; for a run whose notebooks ran again, the first pass and the later one."""
    device = manifest.get("device", "not recorded")
    earlier = first_passes(manifest)
    if not earlier:
        return f"The notebooks ran in {minutes:.0f} minutes on this machine ({device}). "
    first, again = pass_minutes(manifest)
    chapters = sorted(int(name[:2]) for name in earlier if name[:2].isdigit())
    which = (
        f"chapters {chapters[0]} to {chapters[-1]}"
        if len(chapters) > 1 and chapters == list(range(chapters[0], chapters[-1] + 1))
        else "the chapters " + ", ".join(map(str, chapters))
    )
    return (
        f"The notebooks ran in {first:.0f} minutes on this machine ({device}), computing the backbones' features, "
        f"the scratch CNNs' runs and their pre-training as they went and keeping them in caches; {which} then ran "
        f"again from those caches in {again:.0f} minutes. "
    )


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _records(folder: Path) -> pd.DataFrame:
    return load_records(folder) if folder.is_dir() else pd.DataFrame()
