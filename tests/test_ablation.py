"""Ablation study: arms as data, their inputs, seeded training on the recipe, the cache, comparisons and Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dogbreeds.experiments.ablation import TABLE_COLUMNS, ablation_table, run_ablation, run_variant
from dogbreeds.experiments.ablation_variants import (
    BASELINE,
    PREPROCESSING_ARMS,
    VARIANTS,
    AblationError,
    Variant,
    VariantInputs,
    describe_change,
    variant_for,
)
from dogbreeds.experiments.scratch_runs import RecipeSettings, cached_seed_run, run_key, train_seed
from dogbreeds.inputs.arrays import LabeledImages, SplitArrays
from dogbreeds.inputs.augmentation import ResizedCropConfig
from dogbreeds.inputs.preprocessing import apply_named
from dogbreeds.judge.intervals import holm_adjust, seeded_comparison, seeded_interval
from dogbreeds.judge.plots import PlotInputError, plot_ablation, plot_learning_curves
from dogbreeds.models.builders import CNNConfig
from dogbreeds.models.recipes import SCRATCH_CONFIG

TINY = CNNConfig(
    filters=(4, 8),
    batch_norm=False,  # 18 steps are too few for batch norm's moving averages
    dense_units=0,
    dropout=0.0,
    optimizer="adamw",
    learning_rate=2e-2,
    weight_decay=0.01,
    loss="categorical_crossentropy",
    label_smoothing=0.1,
)
COLOURS = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220]])
FAST = RecipeSettings(epochs=6, batch_size=8, crop=ResizedCropConfig(area=(0.6, 1.0), color_jitter=0.0))


def colour_arrays(size: int = 8, per_class: tuple[int, int, int] = (8, 3, 4)) -> SplitArrays:
    """Three breeds, one colour each, with noise: a CNN separates them in a few epochs."""
    rng = np.random.default_rng(0)

    def part(per_breed: int) -> LabeledImages:
        labels = np.repeat(np.arange(3), per_breed)
        noise = rng.integers(-30, 31, (len(labels), size, size, 3))
        images = np.clip(COLOURS[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
        return LabeledImages(images, labels)

    return SplitArrays(*(part(n) for n in per_class), class_names=("red", "green", "blue"))


def changed_keys(variant: Variant) -> set[str]:
    mine, theirs = variant.settings(32), BASELINE.settings(32)
    return {key for key in mine if mine[key] != theirs[key]}


def test_each_arm_changes_one_thing_in_the_recipe():
    names = [variant.name for variant in VARIANTS]
    assert len(set(names)) == len(names) == 13 and names[0] == "baseline" and BASELINE.control is None
    assert BASELINE.cnn_config() == SCRATCH_CONFIG and BASELINE.augmentation  # the baseline is the recipe
    expected = {
        "equalized": {"preprocessing"},
        "clahe": {"preprocessing"},
        "zca": {"whitening"},
        "no_augmentation": {"augmentation"},
        "sgd": {"optimizer", "learning_rate", "weight_decay"},
        "no_label_smoothing": {"label_smoothing"},
        "elu": {"activation"},
        "no_dropout": {"dropout"},
        "no_batch_norm": {"batch_norm"},
        "flatten": {"pooling"},
        "wider": {"filters"},
        "deeper": {"filters"},
    }
    assert {variant.name: changed_keys(variant) for variant in VARIANTS[1:]} == expected
    assert all(variant.control == "baseline" for variant in VARIANTS[1:])
    assert set(PREPROCESSING_ARMS) <= set(names)


def test_describe_change_and_variant_for_name_each_setting_with_old_and_new_value():
    wider = next(v for v in VARIANTS if v.name == "wider")
    assert describe_change(wider.settings(32), BASELINE.settings(32)) == "filters: 32-64-128-256 -> 64-128-256-512"
    assert describe_change(BASELINE.settings(32), None) == "reference"
    assert describe_change(BASELINE.settings(32), BASELINE.settings(32)) == "no change"
    tuned = variant_for("tuned", CNNConfig(**{**SCRATCH_CONFIG.to_dict(), "dropout": 0.5, "kernel_size": 5}))
    assert tuned.config == {"dropout": 0.5, "kernel_size": 5} and tuned.control == "baseline"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"config": {"width": 3}}, r"unknown CNNConfig setting\(s\) \['width'\]"),
        ({"config": {"dropout": 1.5}}, "dropout must be in"),
        ({"preprocessing": "sharpen"}, "Unknown preprocessing 'sharpen'"),
        ({"control": "odd"}, "cannot be its own control"),
    ],
)
def test_invalid_variants_are_refused_with_the_reason(options, message):
    with pytest.raises(AblationError, match=message):
        Variant("odd", **options)


def test_variant_inputs_derive_each_preprocessing_once_and_fit_whitening_on_training_photos():
    arrays = colour_arrays()
    inputs = VariantInputs(arrays, progress=False)
    assert inputs.for_variant(BASELINE) is arrays and inputs.image_size == 8
    equalized = inputs.for_variant(Variant("eq", preprocessing="equalize_luma"))
    assert inputs.for_variant(Variant("eq2", preprocessing="equalize_luma")) is equalized
    assert np.array_equal(equalized.test.images, apply_named(arrays.test.images, "equalize_luma", progress=False))
    whitener = inputs.whitener()
    assert inputs.whitener() is whitener and whitener.image_size == (8, 8)
    assert np.allclose(whitener.mean.reshape(-1), arrays.train.images.reshape(len(arrays.train), -1).mean(axis=0) / 255)


def test_train_seed_learns_colours_keeps_the_last_epoch_and_is_cached_by_key(tmp_path):
    arrays = colour_arrays()
    key = run_key(TINY, arrays, FAST, seed=3, augmentation=True, whitening=False)
    calls = []

    def train():
        calls.append(1)
        return train_seed(TINY, arrays, FAST, seed=3)

    run, model = cached_seed_run(tmp_path, key, train)
    assert run.epochs_run == run.epoch_kept == 6 and len(run.history["loss"]) == 6
    assert run.test_metrics["top1"] >= 0.9 and not run.from_cache and model is not None
    assert run.test_probabilities.shape == (12, 3) and run.val_probabilities.shape == (9, 3)
    again, _ = cached_seed_run(tmp_path, key, train)  # read back: not trained again
    assert calls == [1] and again.from_cache and again.summary()["epoch_kept"] == 6
    np.testing.assert_array_equal(again.test_probabilities, run.test_probabilities)
    assert again.test_metrics == run.test_metrics and again.history == run.history
    retrained, _ = train_seed(TINY, arrays, FAST, seed=3)  # seeded: the same run bit for bit
    np.testing.assert_array_equal(retrained.test_probabilities, run.test_probabilities)
    assert run_key(TINY, arrays, FAST, seed=4, augmentation=True, whitening=False) != key
    assert run_key(TINY, colour_arrays(per_class=(8, 3, 5)), FAST, seed=3, augmentation=True, whitening=False) != key


def test_ablation_compares_each_arm_with_the_baseline_on_the_same_photos_with_holm(tmp_path):
    arrays = colour_arrays(per_class=(8, 3, 12))  # 36 test photos: enough to call a large difference
    study = (
        Variant("baseline", control=None),
        Variant("zca", whitening=True),
        Variant("no_augmentation", augmentation=False),
        Variant("slow", config={"learning_rate": 1e-7}),
    )
    seen = []
    inputs = VariantInputs(arrays, progress=False)
    results = run_ablation(
        study, inputs, FAST, seeds=[1, 2], cache_dir=tmp_path, base=TINY, on_result=seen.append, progress=False
    )
    assert [r.variant.name for r in seen] == [v.name for v in study]
    table = ablation_table(results).set_index("variant")
    assert list(table.reset_index().columns) == list(TABLE_COLUMNS)
    assert table.loc["baseline", "verdict"] == "reference" and np.isnan(table.loc["baseline", "p_holm"])
    baseline = results[0]
    assert baseline.correct().shape == (2, 36) and table.loc["baseline", "test_accuracy"] >= 0.75
    comparisons = [seeded_comparison(r.correct(), baseline.correct()) for r in results[1:]]
    np.testing.assert_allclose(table["p_holm"].iloc[1:], holm_adjust([c.p_value for c in comparisons]))
    for result, comparison in zip(results[1:], comparisons, strict=True):
        row = table.loc[result.variant.name]
        assert row["difference"] == pytest.approx(comparison.difference.value)
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]
        expected = comparison.verdict if row["p_holm"] < 0.05 else "tie"
        assert row["verdict"] == expected and row["seeds"] == 2
        assert row["epochs_run"] == row["epoch_kept"] == 6
    assert table.loc["slow", "verdict"] == "worse"  # 1e-7 for 6 epochs cannot learn the colours
    assert table.loc["zca", "change"] == "whitening: none -> zca"
    # a rerun reads every seed back from the cache
    again = run_variant(study[3], inputs, FAST, seeds=[1, 2], cache_dir=tmp_path, control=study[0], base=TINY)
    assert all(run.from_cache for run in again.runs)
    interval = results[0].interval()
    assert interval.value == pytest.approx(results[0].correct().mean()) and interval.low <= interval.value
    assert seeded_interval(np.ones((2, 5), dtype=bool)).value == 1.0
    fields = results[1].record_fields({"verdict": table.loc["zca", "verdict"]})
    assert fields["timings"]["epochs_run"] == fields["timings"]["epoch_kept"] == 6
    assert [seed["epoch_kept"] for seed in fields["params"]["per_seed"]] == [6, 6]
    assert fields["metrics"]["top1_low"] <= fields["metrics"]["top1"] <= fields["metrics"]["top1_high"]


def test_run_ablation_refuses_a_missing_control(tmp_path):
    with pytest.raises(AblationError, match="not in the study"):
        run_ablation([Variant("x")], VariantInputs(colour_arrays()), FAST, seeds=[1], cache_dir=tmp_path)
    with pytest.raises(AblationError, match="at least one seed"):
        run_variant(BASELINE, VariantInputs(colour_arrays()), FAST, seeds=[], cache_dir=tmp_path)


def test_plot_ablation_draws_a_bar_per_variant_and_metric_with_error_bars():
    table = pd.DataFrame(
        {
            "variant": ["baseline", "wider", "deeper"],
            "val_accuracy": [0.5, 0.6, 0.4],
            "test_accuracy": [0.45, 0.55, 0.35],
            "test_accuracy_std": [0.05, float("nan"), 0.02],
        }
    )
    fig = plot_ablation(table)
    ax = fig.axes[0]
    widths = sorted(round(patch.get_width(), 2) for patch in ax.patches)
    assert widths == sorted([0.5, 0.6, 0.4, 0.45, 0.55, 0.35])
    rows_top_down = [
        label.get_text() for _, label in sorted(zip(ax.get_yticks(), ax.get_yticklabels()), key=lambda pair: -pair[0])
    ]
    assert rows_top_down == ["baseline", "wider", "deeper"]  # table order, first row at the top
    val_bars, test_bars = (c for c in ax.containers if type(c).__name__ == "BarContainer")
    assert val_bars.errorbar is None  # no val_accuracy_std column
    assert test_bars.errorbar is not None  # test_accuracy_std: error bars, NaN drawn as none
    reference_lines = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(reference_lines) == [0.45, 0.5]
    assert ax.get_xlabel().startswith("accuracy")
    with_chance = plot_ablation(table, chance=0.1).axes[0]
    assert [line.get_xdata()[0] for line in with_chance.get_lines() if line.get_linestyle() == ":"] == [0.1]
    with pytest.raises(PlotInputError, match="reference 'none'"):
        plot_ablation(table, reference="none")
    with pytest.raises(PlotInputError):
        plot_ablation(table.drop(columns="val_accuracy"))


def test_learning_curves_mark_the_epoch_actually_kept():
    history = {"loss": [1.0, 0.8, 0.6], "val_loss": [0.9, 0.7, 0.75], "accuracy": [0.3, 0.5, 0.7]}
    history |= {"val_accuracy": [0.4, 0.6, 0.55]}
    kept = plot_learning_curves(history, kept_epoch=3)
    for ax in kept.axes:
        [marker] = [c for c in ax.collections if c.get_offsets().shape == (1, 2)]
        assert marker.get_offsets()[0][0] == 3  # the last epoch of a fixed schedule, not the best one
        assert "kept" in ax.get_legend().get_texts()[-1].get_text()
    best = plot_learning_curves(history)  # without it: the best validation epoch, as early stopping keeps
    assert [ax.collections[-1].get_offsets()[0][0] for ax in best.axes] == [2, 2]
    with pytest.raises(PlotInputError, match="outside the 3 epochs"):
        plot_learning_curves(history, kept_epoch=4)
