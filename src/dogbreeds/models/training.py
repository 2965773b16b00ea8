"""Training: one seed function, one ``fit`` (early stopping or a fixed schedule, progress, checkpoints)
and the warm-up + cosine learning-rate schedule of fixed-length runs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm.keras import TqdmCallback

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_json_atomic

BEST_WEIGHTS_NAME = "best.weights.h5"
BEST_INFO_NAME = "best.json"


class TrainingError(DogbreedsError, ValueError):
    """Training was asked for with settings that cannot work."""


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` did: per-epoch history, the best epoch and the timings."""

    history: dict[str, list[float]]
    monitor: str
    best_epoch: int
    best_value: float
    epochs_run: int
    stopped_early: bool
    wall_time_s: float
    checkpoint: Path | None = None

    @property
    def timings(self) -> dict[str, float | int]:
        """Wall time, epochs run, best epoch (1-based) and seconds per epoch, for a results record."""
        return {
            "wall_time_s": self.wall_time_s,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "seconds_per_epoch": self.wall_time_s / max(self.epochs_run, 1),
        }


def set_seed(seed: int = DEFAULT_SEED, deterministic: bool = True) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras; with ``deterministic``, also makes TF ops deterministic.

    Op determinism makes two CPU runs bit-identical (a little slower). On a GPU some ops
    have no deterministic kernel and raise an error under it: pass ``deterministic=False``.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)  # Python's random, NumPy's global generator and TensorFlow
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | None = None,
    epochs: int = 30,
    patience: int | None = 5,
    *,
    monitor: str | None = None,
    reduce_lr_patience: int | None = None,
    reduce_lr_factor: float = 0.2,
    min_lr: float = 1e-6,
    checkpoint_dir: str | os.PathLike | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    progress: bool = True,
    verbose: int = 0,
    class_weight: Mapping[int, float] | None = None,
    initial_epoch: int = 0,
) -> FitResult:
    """Trains ``model`` with early stopping (best weights restored) and LR reduction on plateau.

    ``patience=None`` trains for exactly ``epochs`` and keeps the last weights, with no
    plateau reduction: the run of a model whose optimizer follows a schedule
    (:func:`cosine_schedule`); ``best_epoch`` then still reports the best ``monitor``.
    ``monitor`` defaults to "val_loss" (or "loss" without ``val_ds``). ``reduce_lr_patience``
    defaults to half of ``patience``. With ``checkpoint_dir`` the best weights so far are
    written there after each improving epoch (atomically), so an interrupted run keeps them.
    ``progress`` shows a tqdm bar over epochs; ``verbose`` is passed to Keras (2 = one line per epoch).
    ``initial_epoch``: epochs already trained (a resumed run); the history holds only the epochs run here.
    """
    if epochs < 1 or (patience is not None and patience < 1) or not 0 <= initial_epoch < epochs:
        raise TrainingError(
            f"epochs and patience must be >= 1 and initial_epoch in [0, epochs), got epochs={epochs}, "
            f"patience={patience}, initial_epoch={initial_epoch}."
        )
    monitor = monitor or ("val_loss" if val_ds is not None else "loss")
    if monitor.startswith("val_") and val_ds is None:
        raise TrainingError(f"monitor={monitor!r} needs validation data: pass val_ds or monitor a training metric.")
    mode = _mode_for(monitor)
    all_callbacks = _plateau_callbacks(monitor, mode, patience, reduce_lr_patience, reduce_lr_factor, min_lr)
    all_callbacks.append(LearningRateLog())
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = BestWeightsCheckpoint(checkpoint_dir, monitor=monitor, mode=mode)
        all_callbacks.append(checkpoint)
    if progress:
        # a bar over epochs, latest metrics
        all_callbacks.append(TqdmCallback(epochs - initial_epoch, verbose=0, desc="training"))
    all_callbacks.extend(callbacks)

    start = time.perf_counter()
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=all_callbacks,
        verbose=verbose,
        shuffle=False,  # shuffling is the data set's job; Keras ignores it for tf.data and warns
        class_weight=dict(class_weight) if class_weight is not None else None,
    )
    wall_time = time.perf_counter() - start
    saved = checkpoint.weights_path if checkpoint is not None and checkpoint.weights_path.exists() else None
    return _fit_result(history.history, monitor, mode, epochs - initial_epoch, wall_time, saved)


def _plateau_callbacks(
    monitor: str,
    mode: str,
    patience: int | None,
    reduce_lr_patience: int | None,
    reduce_lr_factor: float,
    min_lr: float,
) -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored) and learning-rate reduction on a plateau; none without ``patience``."""
    if patience is None:
        return []
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=reduce_lr_factor,
            patience=reduce_lr_patience if reduce_lr_patience is not None else max(1, patience // 2),
            min_lr=min_lr,
        ),
    ]


def _fit_result(
    logs: Mapping[str, Iterable[float]],
    monitor: str,
    mode: str,
    epochs: int,
    wall_time: float,
    checkpoint: Path | None,
) -> FitResult:
    """The :class:`FitResult` of a run that logged ``logs`` (Keras' ``History.history``)."""
    values = {name: [float(v) for v in series] for name, series in logs.items()}
    if monitor not in values:
        raise TrainingError(f"Keras logged no {monitor!r}; logged metrics are {sorted(values)}.")
    scores = values[monitor]
    best_index = _best_index(scores, mode)
    return FitResult(
        history=values,
        monitor=monitor,
        best_epoch=best_index + 1,
        best_value=scores[best_index],
        epochs_run=len(scores),
        stopped_early=len(scores) < epochs,
        wall_time_s=wall_time,
        checkpoint=checkpoint,
    )


def cosine_schedule(
    peak: float, total_steps: int, warmup_steps: int = 0, final_fraction: float = 0.01
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Learning rate rising linearly from 0 to ``peak`` over ``warmup_steps``, then down a cosine.

    It ends at ``final_fraction * peak`` after ``total_steps`` optimizer steps (epochs
    times batches per epoch) and stays there.
    """
    if peak <= 0 or total_steps < 1 or not 0 <= warmup_steps < total_steps or not 0 <= final_fraction <= 1:
        raise TrainingError(
            f"cosine_schedule needs peak > 0, 0 <= warmup_steps < total_steps and final_fraction "
            f"in [0, 1]; got peak={peak}, total_steps={total_steps}, warmup_steps={warmup_steps}, "
            f"final_fraction={final_fraction}."
        )
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else peak,
        total_steps - warmup_steps,
        alpha=final_fraction,
        warmup_target=peak if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


class LearningRateLog(keras.callbacks.Callback):
    """Adds the optimizer's learning rate at the end of each epoch to the logs (and so to the history)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class BestWeightsCheckpoint(keras.callbacks.Callback):
    """Writes the best weights so far (``best.weights.h5``) and their epoch (``best.json``) atomically."""

    def __init__(self, directory: str | os.PathLike, monitor: str = "val_loss", mode: str = "min") -> None:
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf

    @property
    def weights_path(self) -> Path:
        return self.directory / BEST_WEIGHTS_NAME

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        if not (value < self.best if self.mode == "min" else value > self.best):
            return
        self.best = value
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".partial-{os.getpid()}.weights.h5"
        self.model.save_weights(partial)
        os.replace(partial, self.weights_path)
        write_json_atomic(
            self.directory / BEST_INFO_NAME, {"epoch": epoch + 1, "monitor": self.monitor, "value": value}
        )


def _mode_for(monitor: str) -> str:
    return "max" if "acc" in monitor or "auc" in monitor or "f1" in monitor else "min"


def _best_index(scores: list[float], mode: str) -> int:
    finite = [(v if math.isfinite(v) else (math.inf if mode == "min" else -math.inf)) for v in scores]
    return int(np.argmin(finite) if mode == "min" else np.argmax(finite))
