"""Controlled ablations of the scratch CNN: train each variant of :mod:`dogbreeds.experiments.ablation_variants`.

Every variant trains on the same in-memory images (:mod:`dogbreeds.inputs.arrays`), for
several seeds, with the same procedure (:func:`train_and_evaluate`: seeded, early
stopping on the validation loss, best weights kept), and is summarised as one tidy
row: validation and test accuracy (mean and std over seeds), epochs and training time.
With a resume folder, each seed's result is saved as soon as it is known and read back
by a rerun.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dogbreeds.core.fileio import json_digest, safe_name, write_json_atomic
from dogbreeds.core.provenance import code_fingerprint
from dogbreeds.experiments.ablation_variants import AblationError, Variant, VariantInputs, describe_change
from dogbreeds.inputs.arrays import SplitArrays, predict_timed
from dogbreeds.inputs.augmentation import make_augmentation, resolve_config
from dogbreeds.judge.evaluation import evaluate
from dogbreeds.models.builders import CNNConfig, build_scratch_cnn, count_params
from dogbreeds.models.training import FitResult, fit, set_seed

if TYPE_CHECKING:
    import keras

DEFAULT_PATIENCE = 5
"""Epochs without a better validation loss before training stops."""

EVALUATION_KEYS = ("top1", "top5", "macro_f1", "kappa", "ece", "mce")
"""The ``evaluate()`` metrics averaged over seeds in a variant's record."""

TABLE_COLUMNS = (
    "variant",
    "change",
    "control",
    "val_accuracy",
    "val_accuracy_std",
    "test_accuracy",
    "test_accuracy_std",
    "test_delta",
    "seeds",
    "epochs",
    "train_seconds",
    "image_size",
    "parameters",
    "test_images",
)


@dataclass(frozen=True)
class TrainedModel:
    """A model trained by :func:`train_and_evaluate`, with its validation and test results."""

    model: keras.Model
    config: CNNConfig
    seed: int
    fit: FitResult
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    test_probabilities: np.ndarray
    inference_ms_per_image: float

    @property
    def parameters(self) -> int:
        """Number of parameters of the model (trainable and not)."""
        return count_params(self.model).total


def train_and_evaluate(
    config: CNNConfig,
    data: SplitArrays,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    patience: int = DEFAULT_PATIENCE,
    monitor: str = "val_loss",
    augmentation: str = "none",
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainedModel:
    """Build the scratch CNN for ``config``, train it on ``data`` (seeded) and evaluate it.

    Training stops early when ``monitor`` (a validation metric; the ablations use the
    loss, a tuned model its search's objective) has not improved for ``patience``
    epochs, and keeps the best weights. Validation and test metrics are those of
    :func:`dogbreeds.judge.evaluation.evaluate`; inference time is measured on the test split.
    """
    import keras

    keras.backend.clear_session()  # many models in one process: start each from a blank Keras state
    set_seed(seed)
    preset = None if resolve_config(augmentation).is_identity else make_augmentation(augmentation, seed=seed)
    model = build_scratch_cnn(config, data.num_classes, data.input_shape, augmentation=preset)
    result = fit(
        model,
        data.train.dataset(batch_size, shuffle_seed=seed),
        data.val.dataset(batch_size),
        epochs=epochs,
        patience=patience,
        monitor=monitor,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
    )
    val = predict_timed(model, data.val.images, batch_size)
    test = predict_timed(model, data.test.images, batch_size)
    return TrainedModel(
        model=model,
        config=config,
        seed=seed,
        fit=result,
        val_metrics=evaluate(data.val.labels, val.probabilities, data.class_names),
        test_metrics=evaluate(data.test.labels, test.probabilities, data.class_names),
        test_probabilities=test.probabilities,
        inference_ms_per_image=test.ms_per_image,
    )


@dataclass(frozen=True)
class SeedRun:
    """What one seed of a variant gave (the model itself is not kept)."""

    seed: int
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    train_seconds: float
    inference_ms_per_image: float

    @classmethod
    def from_trained(cls, trained: TrainedModel) -> SeedRun:
        return cls(
            seed=trained.seed,
            val_metrics=trained.val_metrics,
            test_metrics=trained.test_metrics,
            history=trained.fit.history,
            epochs_run=trained.fit.epochs_run,
            best_epoch=trained.fit.best_epoch,
            train_seconds=trained.fit.wall_time_s,
            inference_ms_per_image=trained.inference_ms_per_image,
        )


@dataclass(frozen=True)
class VariantResult:
    """All seeds of one variant, its settings and how they differ from its control."""

    variant: Variant
    settings: dict[str, Any]
    change: str
    parameters: int
    runs: tuple[SeedRun, ...]

    def _values(self, split: str, key: str) -> list[float | None]:
        return [getattr(run, f"{split}_metrics").get(key) for run in self.runs]

    def metrics(self) -> dict[str, Any]:
        """Test metrics of ``evaluate()`` averaged over seeds, plus ``top1_std``, ``val_top1``, ``val_top1_std``."""
        first = self.runs[0].test_metrics
        metrics: dict[str, Any] = {"n": first["n"], "num_classes": first["num_classes"]}
        metrics.update({key: _mean(self._values("test", key)) for key in EVALUATION_KEYS})
        metrics["top1_std"] = _std(self._values("test", "top1"))
        metrics["val_top1"] = _mean(self._values("val", "top1"))
        metrics["val_top1_std"] = _std(self._values("val", "top1"))
        return metrics

    def row(self) -> dict[str, Any]:
        """The variant's line in the ablation table (std is NaN with a single seed)."""
        metrics = self.metrics()
        return {
            "variant": self.variant.name,
            "change": self.change,
            "control": self.variant.control,
            "val_accuracy": metrics["val_top1"],
            "val_accuracy_std": metrics["val_top1_std"],
            "test_accuracy": metrics["top1"],
            "test_accuracy_std": metrics["top1_std"],
            "seeds": len(self.runs),
            "epochs": _mean([run.epochs_run for run in self.runs]),
            "train_seconds": _mean([run.train_seconds for run in self.runs]),
            "image_size": self.settings["image_size"],
            "parameters": self.parameters,
            "test_images": metrics["n"],
        }

    def record_fields(self) -> dict[str, Any]:
        """``metrics``, ``history`` (first seed), ``timings`` and ``params`` for a results record."""
        return {
            "metrics": self.metrics(),
            "history": self.runs[0].history,
            "timings": {
                "train_seconds": _mean([run.train_seconds for run in self.runs]),
                "epochs_run": _mean([run.epochs_run for run in self.runs]),
                "inference_ms_per_image": _mean([run.inference_ms_per_image for run in self.runs]),
            },
            "params": {
                "variant": self.variant.name,
                "change": self.change,
                "control": self.variant.control,
                "settings": self.settings,
                "parameters": self.parameters,
                "seeds": [run.seed for run in self.runs],
                "per_seed": [
                    {
                        "seed": run.seed,
                        "val_top1": run.val_metrics["top1"],
                        "test_top1": run.test_metrics["top1"],
                        "epochs_run": run.epochs_run,
                        "best_epoch": run.best_epoch,
                    }
                    for run in self.runs
                ],
            },
        }


RESUME_FORMAT = 1
_TRAINING_CODE_MODULES = (
    "dogbreeds.experiments.ablation",
    "dogbreeds.experiments.ablation_variants",
    "dogbreeds.inputs.arrays",
    "dogbreeds.inputs.augmentation",
    "dogbreeds.judge.evaluation",
    "dogbreeds.models.builders",
    "dogbreeds.models.compiling",
    "dogbreeds.models.training",
)
"""The code that turns a variant's pixels into a seed's result: a change to it is a new result."""


@functools.cache
def _training_code() -> dict[str, Any]:
    """The training code's fingerprint and the numerical libraries' versions, read once per process."""
    import keras
    import tensorflow as tf

    return {
        "code": code_fingerprint(_TRAINING_CODE_MODULES),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
    }


def _data_digest(data: SplitArrays) -> str:
    """SHA-256 over every split's pixels (with shape and type), labels, and the class names."""
    digest = hashlib.sha256(json.dumps(list(data.class_names)).encode())
    for split in (data.train, data.val, data.test):
        images = np.ascontiguousarray(split.images)
        digest.update(f"{images.shape} {images.dtype}".encode())
        digest.update(images)  # the buffer itself: no copy of the pixels
        digest.update(np.asarray(split.labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _seed_run_key(config: CNNConfig, augmentation: str, data_digest: str, **training: Any) -> str:
    """What a seed's result depends on: the CNN, the augmentation, the training settings, the pixels and code."""
    settings = {
        "format": RESUME_FORMAT,
        **_training_code(),
        "config": config.to_dict(),
        "augmentation": augmentation,
        "data": data_digest,
        **training,
    }
    return json_digest(settings)


def _load_seed_run(path: Path, key: str) -> tuple[SeedRun, int] | None:
    """The saved result at ``path`` if it was made under ``key``; None when absent, stale or unreadable.

    Saved as strict JSON, a NaN (a diverged loss in the history) comes back as None, as
    results records write it.
    """
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if saved.get("key") != key:
            return None
        return SeedRun(**saved["run"]), int(saved["parameters"])
    except (OSError, ValueError, TypeError, KeyError) as error:
        warnings.warn(f"Ignoring unreadable ablation result {path} ({error}); training it again.", stacklevel=3)
        return None


def run_variant(
    variant: Variant,
    inputs: VariantInputs,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    control: Variant | None = None,
    base: CNNConfig | None = None,
    patience: int = DEFAULT_PATIENCE,
    resume_dir: str | Path | None = None,
    progress: bool = True,
) -> VariantResult:
    """Train ``variant`` once per seed on its inputs and gather the results (compared with ``control``).

    With ``resume_dir``, each seed's result is saved there as soon as it is known, and a
    result saved under the same CNN, augmentation, training settings and pixels is read
    back instead of trained again: an interrupted study resumes where it stopped.
    """
    if not seeds:
        raise AblationError("Give at least one seed.")
    if (control is None) != (variant.control is None) or (control and control.name != variant.control):
        raise AblationError(
            f"Variant {variant.name!r} is compared with {variant.control!r}; pass that variant "
            f"as control, got {control.name if control else None!r}."
        )
    data = inputs.for_variant(variant)
    config = variant.cnn_config(base)
    runs, parameters = [], 0
    data_digest = _data_digest(data) if resume_dir is not None else ""
    for seed in seeds:
        saved, path, key = None, None, ""
        if resume_dir is not None:
            path = Path(resume_dir) / f"{safe_name(variant.name)}-seed{seed}.json"
            training = dict(seed=seed, epochs=epochs, batch_size=batch_size, patience=patience)
            key = _seed_run_key(config, variant.augmentation, data_digest, **training)
            saved = _load_seed_run(path, key)
        if saved is None:
            trained = train_and_evaluate(
                config,
                data,
                seed=seed,
                epochs=epochs,
                batch_size=batch_size,
                patience=patience,
                augmentation=variant.augmentation,
                progress=progress,
            )
            saved = SeedRun.from_trained(trained), trained.parameters
            if path is not None:
                write_json_atomic(path, {"key": key, "run": dataclasses.asdict(saved[0]), "parameters": saved[1]})
        run, parameters = saved
        runs.append(run)
    settings = variant.settings(inputs.image_size(variant), base)
    control_settings = control.settings(inputs.image_size(control), base) if control else None
    return VariantResult(variant, settings, describe_change(settings, control_settings), parameters, tuple(runs))


def run_ablation(
    variants: Sequence[Variant],
    inputs: VariantInputs,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    base: CNNConfig | None = None,
    patience: int = DEFAULT_PATIENCE,
    on_result: Callable[[VariantResult], Any] | None = None,
    resume_dir: str | Path | None = None,
    progress: bool = True,
) -> list[VariantResult]:
    """Run every variant in order; ``on_result`` gets each result as soon as it is ready (e.g. to record it).

    With ``resume_dir``, seeds already trained there under the same settings are read back
    (see :func:`run_variant`), so a rerun after an interruption trains only what is missing.
    """
    by_name = {variant.name: variant for variant in variants}
    if len(by_name) != len(variants):
        raise AblationError("Variant names must be unique.")
    missing = sorted({v.control for v in variants if v.control is not None} - set(by_name))
    if missing:
        raise AblationError(f"Control variant(s) {missing} are not in the study; add them or change the controls.")
    results = []
    bar = tqdm(variants, desc="ablation", unit="variant", disable=not progress)
    for variant in bar:
        bar.set_postfix_str(variant.name)
        control = by_name[variant.control] if variant.control is not None else None
        result = run_variant(
            variant,
            inputs,
            seeds=seeds,
            epochs=epochs,
            batch_size=batch_size,
            control=control,
            base=base,
            patience=patience,
            resume_dir=resume_dir,
            progress=False,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def ablation_table(results: Sequence[VariantResult]) -> pd.DataFrame:
    """One row per variant, in study order; ``test_delta`` is the test accuracy minus the control's."""
    if not results:
        raise AblationError("No results to tabulate; run the ablation first.")
    table = pd.DataFrame([result.row() for result in results])
    test_accuracy = dict(zip(table["variant"], table["test_accuracy"]))
    table["test_delta"] = [
        accuracy - test_accuracy.get(control, math.nan) if control is not None else math.nan
        for control, accuracy in zip(table["control"], table["test_accuracy"])
    ]
    return table[list(TABLE_COLUMNS)]


def _mean(values: Sequence[float | int | None]) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


def _std(values: Sequence[float | int | None]) -> float:
    """Sample standard deviation (n - 1); NaN with fewer than two values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.std(finite, ddof=1)) if len(finite) >= 2 else math.nan
