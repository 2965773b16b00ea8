"""What every notebook does first: resolve its settings, seed, folders, data split, figure and record saving.

study = Study.start("03_scratch_cnn", profile, run_dir=run_dir, **overrides)  # run_dir: the run's settings.json
data = study.data()                 # the same seeded split in every notebook
study.show(fig, "learning_curves")  # saved under <output_dir>/figures/03_scratch_cnn/, returned for display
study.record("baseline", "scratch", metrics=..., history=...)  # <output_dir>/results/*.json
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from matplotlib.figure import Figure

from dogbreeds.core.fileio import write_json_atomic
from dogbreeds.core.recordfile import make_record, write_record
from dogbreeds.data.folder import DataIndex, ImageRecord, discover, select_breeds
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import Split, split_records
from dogbreeds.experiments.records import check_model_record, load_records
from dogbreeds.judge.plots import save_figure
from dogbreeds.study.profiles import RunSettings, load_settings, settings_for

Dataset = Literal["data", "photos"]
DATASETS = ("data", "photos")


@dataclass(frozen=True)
class StudyData:
    """The data every notebook shares: the index, the chosen breeds' records, the split, the label map."""

    index: DataIndex
    records: tuple[ImageRecord, ...]
    split: Split
    label_map: LabelMap

    def counts(self) -> dict[str, int]:
        """Images per split."""
        return self.split.counts()


@dataclass
class Study:
    """One notebook's run: settings, output folders and helpers to save figures and results records."""

    notebook: str
    settings: RunSettings
    dataset: Dataset = "data"
    started: float = field(default_factory=time.perf_counter)
    _data: dict[Path, StudyData] = field(default_factory=dict, repr=False)
    _data_hash: dict[Path, str] = field(default_factory=dict, repr=False)

    @classmethod
    def start(
        cls,
        notebook: str,
        profile: str = "quick",
        *,
        run_dir: str | Path | None = None,
        seeded: bool = True,
        dataset: Dataset = "data",
        **overrides: Any,
    ) -> Study:
        """The run's settings, everything seeded, the output folders made.

        In a run (``run_dir``, set by ``dogbreeds run``) the settings are the run's ``settings.json``,
        resolved once for every notebook; opened by hand, the notebook resolves ``profile`` and
        ``overrides`` (any :class:`RunSettings` field; None means the profile's default).
        ``dataset`` is the folder this notebook studies and records: "data" (the breeds benchmark,
        ``settings.data_dir``) or "photos" (whole photos, ``settings.photos_dir``).
        """
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
        if run_dir is not None and overrides:
            raise ValueError(f"{sorted(overrides)}: a run's settings come from its settings.json, not from overrides")
        settings = load_settings(run_dir) if run_dir is not None else settings_for(profile, **overrides)
        study = cls(notebook, settings, dataset)
        for folder in (study.figures_dir, study.results_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(settings.output_dir / "settings" / f"{notebook}.json", settings.to_dict())
        if seeded:
            from dogbreeds.models.training import set_seed

            set_seed(settings.seed, deterministic=settings.deterministic)
        return study

    @property
    def figures_dir(self) -> Path:
        return self.settings.output_dir / "figures" / self.notebook

    @property
    def results_dir(self) -> Path:
        return self.settings.output_dir / "results"

    @property
    def models_dir(self) -> Path:
        return self.settings.output_dir / "models"

    @property
    def source(self) -> str:
        """How the records of this notebook were produced, for the results records."""
        s = self.settings
        return f"notebooks/{self.notebook}.ipynb (profile={s.profile}, data: {self.folder().name}, seed={s.seed})"

    def folder(self, dataset: Dataset | None = None) -> Path:
        """The data folder of ``dataset`` (default: this notebook's)."""
        return self.settings.photos_dir if (dataset or self.dataset) == "photos" else self.settings.data_dir

    def breed_selection(self, index: DataIndex) -> int | list[str] | None:
        """The ``breeds`` setting as ``select_breeds`` takes it (an N larger than the data holds means all)."""
        breeds = self.settings.breeds
        if breeds in (None, "all"):
            return None
        if isinstance(breeds, int):
            return None if breeds >= len(index.label_ids) else breeds
        return list(breeds)

    def data(self, dataset: Dataset | None = None) -> StudyData:
        """A data folder (default: this notebook's), read once; the chosen breeds and the seeded split
        (the same in every notebook that studies that folder).
        """
        folder = self.folder(dataset)
        if folder not in self._data:
            index = discover(folder)
            records = tuple(select_breeds(index.records, self.breed_selection(index)))
            split = split_records(records, val_fraction=self.settings.val_fraction, seed=self.settings.seed)
            self._data[folder] = StudyData(index, records, split, LabelMap.from_records(records))
        return self._data[folder]

    def show(self, fig: Figure, name: str) -> Figure:
        """Save the figure as <figures_dir>/<name>.png and return it, so the notebook displays it."""
        save_figure(fig, self.figures_dir / f"{name}.png")
        return fig

    def record(self, run_name: str, kind: str, *, params: dict[str, Any] | None = None, **fields: Any) -> Path:
        """Write a results record for this notebook (settings merged into params); returns its path."""
        data = self.data()
        record = make_record(
            run_name,
            kind,
            params={
                "notebook": self.notebook,
                **self.settings.to_dict(),
                "dataset": self.folder().name,
                **(params or {}),
            },
            data_counts=fields.pop("data_counts", data.counts()),
            data_hash=fields.pop("data_hash", self.data_hash()),
            num_classes=fields.pop("num_classes", len(data.label_map.label_ids)),
            seed=self.settings.seed,
            source=self.source,
            **fields,
        )
        return write_record(check_model_record(record), self.results_dir)

    def data_hash(self, dataset: Dataset | None = None) -> str:
        """The content hash of the photos (train, validation and test) of a data folder, computed once."""
        folder = self.folder(dataset)
        if folder not in self._data_hash:
            from dogbreeds.core.provenance import data_hash

            data = self.data(dataset)
            files = [record.path for part in (data.split.train, data.split.val, data.split.test) for record in part]
            self._data_hash[folder] = data_hash(files, folder)
        return self._data_hash[folder]

    def results(self) -> pd.DataFrame:
        """Every results record of the run so far, one row each."""
        return load_records(self.results_dir)

    def elapsed(self) -> float:
        """Seconds since the study started."""
        return time.perf_counter() - self.started
