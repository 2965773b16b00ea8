"""Keras Tuner search over the scratch CNN space, with explicit reuse rules and failure checks.

Keras Tuner silently reloads a finished search when its project folder exists, and
records a failing trial without raising. Here an existing search is reused only with
``resume=True`` (or replaced with ``overwrite=True``), and a search in which no trial
completed raises ``SearchFailedError`` instead of returning an arbitrary "best" model.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import pandas as pd
import tensorflow as tf

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import json_digest
from dogbreeds.models.builders import CNNConfig, build_scratch_cnn
from dogbreeds.models.compiling import ModelConfigError
from dogbreeds.models.recipes import EAGER_STEPS
from dogbreeds.models.training import cosine_schedule

TUNER_KINDS = ("hyperband", "bayesian", "random")
_LOSS_SETTINGS = ("loss", "label_smoothing", "focal_gamma")

DEFAULT_SPACE: dict[str, tuple[Any, ...]] = {
    "filters": ((32, 64, 128), (32, 64, 64, 64), (32, 64, 128, 256), (64, 128, 256)),
    "kernel_size": (3, 5),
    "activation": ("relu", "elu", "selu", "leaky_relu"),
    "batch_norm": (True, False),
    "dropout": (0.0, 0.25, 0.5),
    "pooling": ("gap", "flatten"),
    "dense_units": (0, 128, 256, 512),
    "l2": (0.0, 1e-4),
    "optimizer": ("adam", "nadam", "rmsprop", "sgd"),
    "learning_rate": (3e-3, 1e-3, 3e-4),
}

SCRATCH_SPACE: dict[str, tuple[Any, ...]] = {
    "filters": ((32, 64, 128, 256), (48, 96, 192, 384), (32, 64, 128, 256, 256)),
    "kernel_size": (3, 5),
    "dropout": (0.1, 0.3, 0.5),
    "learning_rate": (1e-3, 2e-3, 4e-3),
    "weight_decay": (0.01, 0.05, 0.1),
    "label_smoothing": (0.0, 0.1, 0.2),
}
"""The search around the scratch recipe (:data:`~dogbreeds.models.recipes.SCRATCH_CONFIG`): width and depth,
kernel size, dropout, peak learning rate, weight decay and label smoothing; every other setting is the recipe's."""


class SearchError(DogbreedsError, RuntimeError):
    """A hyperparameter search cannot be set up or did not produce a result."""


class ExistingSearchError(SearchError):
    """The project folder already holds a search and neither resume nor overwrite was asked for."""


class SearchFailedError(SearchError):
    """No trial of the search completed."""


@dataclasses.dataclass(frozen=True)
class TrialSchedule:
    """Each trial's learning rate: a linear warm-up then a cosine decay over a fixed number of epochs."""

    steps_per_epoch: int
    epochs: int
    warmup_epochs: int

    def learning_rate(self, peak: float) -> keras.optimizers.schedules.LearningRateSchedule:
        """The schedule that rises to ``peak`` and decays over the trial's epochs."""
        steps = self.steps_per_epoch
        return cosine_schedule(peak, steps * self.epochs, warmup_steps=steps * self.warmup_epochs)


class CNNHyperModel(kt.HyperModel):
    """The scratch CNN (``build_scratch_cnn``) as a Keras Tuner hypermodel.

    ``space`` maps ``CNNConfig`` settings to the values to try (``DEFAULT_SPACE`` when
    None). A setting with a single value is fixed; a setting not in ``space`` keeps its value
    from ``base`` (``CNNConfig()`` when None). With ``schedule``, every trial trains on the same
    fixed warm-up + cosine schedule, the one of the recipe it tunes.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, int, int],
        space: Mapping[str, Sequence[Any]] | None = None,
        *,
        base: CNNConfig | None = None,
        augmentation: keras.Layer | None = None,
        schedule: TrialSchedule | None = None,
    ) -> None:
        super().__init__(name="scratch_cnn")
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.base = base if base is not None else CNNConfig()
        self.augmentation = augmentation
        self.schedule = schedule
        self.space = _checked_space(space if space is not None else DEFAULT_SPACE, self.base)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        values = {}
        for name, choices in self.space.items():
            encoded = [_encode(choice) for choice in choices]
            if len(encoded) == 1:
                values[name] = hp.Fixed(name, encoded[0])
            else:
                values[name] = hp.Choice(name, encoded, ordered=False)
        config = self.config_from(values)
        rate = self.schedule.learning_rate(config.learning_rate) if self.schedule else None
        model = build_scratch_cnn(config, self.num_classes, self.input_shape, self.augmentation, rate)
        if self.schedule is not None:  # a trial of a few steps runs eagerly, as the recipe's runs do
            model.run_eagerly = self.schedule.steps_per_epoch * self.schedule.epochs <= EAGER_STEPS
        return model

    def config_from(self, values: Mapping[str, Any] | kt.HyperParameters) -> CNNConfig:
        """The ``CNNConfig`` for tuned ``values`` (a trial's hyperparameters or their dict)."""
        if isinstance(values, kt.HyperParameters):
            values = values.values
        chosen = {name: _decode(name, values[name]) for name in self.space if name in values}
        return dataclasses.replace(self.base, **chosen)


def search_project_name(prefix: str, **settings: Any) -> str:
    """``prefix`` plus a short digest of everything that shapes a search (space, trials, data settings...).

    A search resumed under this name (``make_tuner(..., resume=True)``) can only be the
    same search: other settings give another name, and so a fresh search.
    """
    return f"{prefix}-{json_digest(settings)[:12]}"


def make_tuner(
    kind: str,
    hypermodel: kt.HyperModel,
    directory: str | os.PathLike,
    project_name: str,
    *,
    objective: str = "val_accuracy",
    max_trials: int = 10,
    max_epochs: int = 10,
    hyperband_factor: int = 3,
    seed: int = DEFAULT_SEED,
    overwrite: bool = False,
    resume: bool = False,
) -> kt.Tuner:
    """A seeded tuner of ``kind`` ("hyperband", "bayesian", "random") writing into ``directory/project_name``.

    If that folder already holds a search, ``resume=True`` continues it and
    ``overwrite=True`` deletes it first; with neither, ``ExistingSearchError`` is raised.
    ``max_trials`` bounds the bayesian and random searches; ``max_epochs`` (with
    ``hyperband_factor``) sizes the hyperband brackets.
    """
    if kind not in TUNER_KINDS:
        raise SearchError(f"Unknown tuner kind {kind!r}; choose one of {', '.join(TUNER_KINDS)}.")
    if overwrite and resume:
        raise SearchError("Pass either overwrite=True (start over) or resume=True (continue), not both.")
    if max_trials < 1 or max_epochs < 1:
        raise SearchError(f"max_trials and max_epochs must be >= 1, got {max_trials} and {max_epochs}.")
    project_dir = Path(directory) / project_name
    if project_dir.is_dir() and any(project_dir.iterdir()) and not (overwrite or resume):
        raise ExistingSearchError(
            f"{project_dir} already holds a search. Pass resume=True to continue it, overwrite=True to "
            "delete it and start over, or choose another project_name."
        )
    goal = kt.Objective(objective, direction="max" if "acc" in objective else "min")
    common = dict(
        objective=goal,
        seed=seed,
        directory=os.fspath(directory),
        project_name=project_name,
        overwrite=overwrite,
    )
    if kind == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=max_epochs, factor=hyperband_factor, **common)
    if kind == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    return kt.RandomSearch(hypermodel, max_trials=max_trials, **common)


def run_search(
    tuner: kt.Tuner,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    *,
    epochs: int,
    patience: int | None = 3,
    verbose: int = 1,
) -> pd.DataFrame:
    """Runs the search and returns ``trials_dataframe``.

    ``epochs`` is what a bayesian/random trial trains (hyperband sets its own budgets); with
    ``patience`` a trial stops early when its objective has not improved for that many epochs,
    with None it trains every epoch (a fixed schedule). Raises ``SearchFailedError`` when no trial completed.
    """
    objective = tuner.oracle.objective
    stops = []
    if patience is not None:
        stops.append(
            keras.callbacks.EarlyStopping(
                monitor=objective.name, mode=objective.direction, patience=patience, restore_best_weights=True
            )
        )
    tuner.search(train_ds, validation_data=val_ds, epochs=epochs, callbacks=stops, verbose=verbose, shuffle=False)
    return trials_dataframe(tuner)


def trials_dataframe(tuner: kt.Tuner) -> pd.DataFrame:
    """One row per trial: trial_id, status, score, best_step, error, then each hyperparameter.

    Rows are sorted best first. Raises ``SearchFailedError`` when no trial completed.
    """
    trials = list(tuner.oracle.trials.values())
    _check_some_completed(trials)
    rows = []
    for trial in trials:
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "status": trial.status,
            "score": trial.score,
            "best_step": trial.best_step,
            "error": _last_line(trial.message),
        }
        row.update(trial.hyperparameters.values)
        rows.append(row)
    table = pd.DataFrame(rows)
    ascending = tuner.oracle.objective.direction == "min"
    return table.sort_values("score", ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


def best_config(tuner: kt.Tuner) -> CNNConfig:
    """The ``CNNConfig`` of the best completed trial of a ``CNNHyperModel`` search."""
    if not isinstance(tuner.hypermodel, CNNHyperModel):
        tuned = type(tuner.hypermodel).__name__
        raise SearchError(f"best_config needs a CNNHyperModel search, this one tuned {tuned}.")
    _check_some_completed(list(tuner.oracle.trials.values()))
    return tuner.hypermodel.config_from(tuner.get_best_hyperparameters(1)[0])


def space_table(space: Mapping[str, Sequence[Any]], base: CNNConfig) -> pd.DataFrame:
    """One row per searched setting: the values tried and the value of ``base`` (the recipe the search starts from)."""
    checked = _checked_space(space, base)
    return pd.DataFrame(
        [
            {
                "setting": name.replace("_", " "),
                "values tried": ", ".join(_shown(value) for value in choices),
                "recipe": _shown(getattr(base, name)),
            }
            for name, choices in checked.items()
        ]
    )


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(str(part) for part in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_some_completed(trials: list[kt.engine.trial.Trial]) -> None:
    if any(trial.status == "COMPLETED" and trial.score is not None for trial in trials):
        return
    if not trials:
        raise SearchFailedError("The search ran no trial: call run_search (or tuner.search) first.")
    errors = [trial.message for trial in trials if trial.message]
    detail = f" Last error:\n{errors[-1].strip()}" if errors else ""
    raise SearchFailedError(f"All {len(trials)} trials of the search failed.{detail}")


def _checked_space(space: Mapping[str, Sequence[Any]], base: CNNConfig) -> dict[str, tuple[Any, ...]]:
    known = {field.name for field in dataclasses.fields(CNNConfig)}
    unknown = sorted(set(space) - known)
    if unknown:
        raise SearchError(f"Unknown search settings {unknown}; tunable settings are {sorted(known)}.")
    checked = {}
    for name, choices in space.items():
        checked[name] = tuple(tuple(c) if name == "filters" else c for c in choices)
        if not checked[name]:
            raise SearchError(f"Setting {name!r} has no values to try.")
    # Loss settings constrain each other, so every combination of them must be valid;
    # every other setting is checked on its own against the base config.
    loss_choices = {name: checked.get(name, (getattr(base, name),)) for name in _LOSS_SETTINGS}
    for combination in itertools.product(*loss_choices.values()):
        try:
            dataclasses.replace(base, **dict(zip(loss_choices, combination, strict=True)))
        except ModelConfigError as error:
            raise SearchError(f"The search space combines settings that cannot work together: {error}") from error
    for name, choices in checked.items():
        if name in _LOSS_SETTINGS:
            continue
        for choice in choices:
            try:
                dataclasses.replace(base, **{name: choice})
            except ModelConfigError as error:
                raise SearchError(f"Search value {choice!r} for {name!r} is invalid: {error}") from error
    return checked


def _encode(value: Any) -> Any:
    return "-".join(str(f) for f in value) if isinstance(value, tuple) else value


def _decode(name: str, value: Any) -> Any:
    if name == "filters":
        return tuple(int(part) for part in str(value).split("-"))
    return value


def _last_line(message: str | None) -> str | None:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
