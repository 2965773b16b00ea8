"""Ablation study: variants as data, their inputs, seeded training, tidy rows, table and bar chart."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dogbreeds.experiments.ablation import TABLE_COLUMNS, ablation_table, run_ablation, run_variant, train_and_evaluate
from dogbreeds.experiments.ablation_variants import (
    BASELINE,
    VARIANTS,
    AblationError,
    Variant,
    VariantInputs,
    describe_change,
)
from dogbreeds.inputs.arrays import LabeledImages, SplitArrays
from dogbreeds.inputs.preprocessing import apply_named
from dogbreeds.inputs.whitening import Whitener
from dogbreeds.judge.plots import PlotInputError, plot_ablation
from dogbreeds.judge.verdicts import VerdictError, ablation_verdicts, summarize_ablation, welch_half_width
from dogbreeds.models.builders import CNNConfig

TINY = CNNConfig(filters=(4,), dense_units=8, dropout=0.0, batch_norm=False, learning_rate=1e-2)
COLOURS = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220]])


def colour_arrays(size: int = 8, per_class: tuple[int, int, int] = (8, 3, 4)) -> SplitArrays:
    """Three breeds, one colour each, with noise: a CNN separates them in a few epochs."""
    rng = np.random.default_rng(0)

    def part(per_breed: int) -> LabeledImages:
        labels = np.repeat(np.arange(3), per_breed)
        noise = rng.integers(-30, 31, (len(labels), size, size, 3))
        images = np.clip(COLOURS[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
        return LabeledImages(images, labels)

    return SplitArrays(*(part(n) for n in per_class), class_names=("red", "green", "blue"))


def changed_keys(variant: Variant, study: tuple[Variant, ...] = VARIANTS) -> set[str]:
    control = next(v for v in study if v.name == variant.control)
    size = {False: 64, True: 32}
    mine, theirs = variant.settings(size[variant.at_whitening_size]), control.settings(size[control.at_whitening_size])
    return {key for key in mine if mine[key] != theirs[key]}


def test_each_variant_changes_one_thing_against_its_control():
    names = [variant.name for variant in VARIANTS]
    assert len(set(names)) == len(names) and names[0] == "baseline" and BASELINE.control is None
    expected = {
        "equalized": {"preprocessing"},
        "augmented": {"augmentation"},
        "sgd": {"optimizer", "learning_rate"},
        "label_smoothing": {"loss", "label_smoothing"},
        "elu": {"activation"},
        "no_dropout": {"dropout"},
        "no_batch_norm": {"batch_norm"},
        "flatten": {"pooling"},
        "wider": {"filters"},
        "deeper": {"filters"},
        "baseline_small": {"image_size"},
        "zca": {"whitening"},
    }
    assert {variant.name: changed_keys(variant) for variant in VARIANTS[1:]} == expected
    assert next(v for v in VARIANTS if v.name == "zca").control == "baseline_small"


def test_describe_change_names_each_setting_with_old_and_new_value():
    wider = next(v for v in VARIANTS if v.name == "wider")
    assert describe_change(wider.settings(64), BASELINE.settings(64)) == "filters: 32-64-128 -> 64-128-256"
    no_dropout = Variant("no_dropout", config={"dropout": 0.0})
    assert describe_change(no_dropout.settings(64), BASELINE.settings(64)) == "dropout: 0.3 -> 0.0"
    assert describe_change(BASELINE.settings(64), None) == "reference"
    assert describe_change(BASELINE.settings(64), BASELINE.settings(64)) == "no change"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"config": {"width": 3}}, r"unknown CNNConfig setting\(s\) \['width'\]"),
        ({"config": {"dropout": 1.5}}, "dropout must be in"),
        ({"preprocessing": "sharpen"}, "Unknown preprocessing 'sharpen'"),
        ({"augmentation": "wild"}, "Unknown augmentation preset 'wild'"),
        ({"whitening": True}, "set at_whitening_size=True"),
        ({"control": "odd"}, "cannot be its own control"),
    ],
)
def test_invalid_variants_are_refused_with_the_reason(options, message):
    with pytest.raises(AblationError, match=message):
        Variant("odd", **options)


def test_variant_inputs_derive_each_kind_of_input_once():
    arrays = colour_arrays()
    inputs = VariantInputs(arrays, whitening_size=4, progress=False)
    plain = inputs.for_variant(BASELINE)
    assert plain is arrays and inputs.for_variant(Variant("elu", config={"activation": "elu"})) is arrays
    equalized = inputs.for_variant(Variant("eq", preprocessing="equalize_luma"))
    assert np.array_equal(equalized.test.images, apply_named(arrays.test.images, "equalize_luma", progress=False))
    small = inputs.for_variant(Variant("small", at_whitening_size=True))
    assert small.input_shape == (4, 4, 3) and inputs.image_size(Variant("small", at_whitening_size=True)) == 4
    assert inputs.image_size(BASELINE) == 8
    zca = Variant("zca", whitening=True, at_whitening_size=True, control="small")
    whitened = inputs.for_variant(zca)
    assert inputs.for_variant(zca) is whitened
    # fitted on the train split only, scaled by 255 for the CNN's 1/255 rescaling
    whitener = Whitener("zca", image_size=4).fit(small.train.images, progress=False)
    assert np.allclose(whitened.test.images, whitener.transform(small.test.images) * 255.0, atol=1e-3)
    assert abs(float(whitened.train.images.mean())) < 1e-2 * float(np.abs(whitened.train.images).mean())
    assert np.array_equal(whitened.val.labels, arrays.val.labels)


def test_train_and_evaluate_learns_colours_and_is_reproducible(tmp_path):
    arrays = colour_arrays()
    first = train_and_evaluate(
        TINY, arrays, seed=3, epochs=8, batch_size=8, progress=False, checkpoint_dir=tmp_path / "best"
    )
    assert first.test_metrics["top1"] == 1.0 and first.val_metrics["top1"] == 1.0
    assert set(first.test_metrics) >= {"top1", "top5", "macro_f1", "kappa", "ece"}
    assert first.test_probabilities.shape == (12, 3) and first.inference_ms_per_image > 0
    assert 1 <= first.fit.best_epoch <= first.fit.epochs_run <= 8
    assert first.parameters == first.model.count_params()
    assert (tmp_path / "best" / "best.weights.h5").is_file()
    assert first.fit.monitor == "val_loss"
    again = train_and_evaluate(TINY, arrays, seed=3, epochs=8, batch_size=8, progress=False)
    assert again.fit.history == first.fit.history
    assert np.allclose(again.test_probabilities, first.test_probabilities)
    on_accuracy = train_and_evaluate(
        TINY, arrays, seed=3, epochs=3, batch_size=8, progress=False, monitor="val_accuracy"
    )
    accuracies = on_accuracy.fit.history["val_accuracy"]
    assert on_accuracy.fit.monitor == "val_accuracy" and on_accuracy.fit.best_value == max(accuracies)


def test_run_variant_averages_seeds_into_one_row_and_record():
    inputs = VariantInputs(colour_arrays(), whitening_size=4, progress=False)
    variant = Variant("elu", config={"activation": "elu"})
    result = run_variant(variant, inputs, seeds=[1, 2], epochs=2, batch_size=8, control=BASELINE, base=TINY)
    row = result.row()
    per_seed = [run.test_metrics["top1"] for run in result.runs]
    assert row["seeds"] == 2 and row["test_accuracy"] == pytest.approx(np.mean(per_seed))
    assert row["test_accuracy_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert row["val_accuracy"] == pytest.approx(np.mean([run.val_metrics["top1"] for run in result.runs]))
    assert row["change"] == "activation: relu -> elu" and row["image_size"] == 8 and row["epochs"] == 2
    assert row["parameters"] > 0 and row["train_seconds"] > 0
    fields = result.record_fields()
    assert fields["metrics"]["top1"] == row["test_accuracy"] and fields["params"]["seeds"] == [1, 2]
    assert fields["params"]["settings"]["filters"] == [4] and len(fields["history"]["loss"]) == 2
    assert [entry["test_top1"] for entry in fields["params"]["per_seed"]] == per_seed
    single = run_variant(BASELINE, inputs, seeds=[1], epochs=1, batch_size=8, base=TINY)
    assert math.isnan(single.row()["test_accuracy_std"]) and single.row()["change"] == "reference"
    with pytest.raises(AblationError, match="compared with 'baseline'"):
        run_variant(variant, inputs, seeds=[1], epochs=1, batch_size=8)
    with pytest.raises(AblationError, match="at least one seed"):
        run_variant(BASELINE, inputs, seeds=[], epochs=1, batch_size=8)


def test_run_ablation_reports_each_result_and_tables_deltas_against_controls():
    inputs = VariantInputs(colour_arrays(), whitening_size=4, progress=False)
    study = (
        BASELINE,
        Variant("small", at_whitening_size=True),
        Variant("zca", whitening=True, at_whitening_size=True, control="small"),
    )
    seen = []
    results = run_ablation(
        study, inputs, seeds=[5], epochs=2, batch_size=8, base=TINY, on_result=seen.append, progress=False
    )
    assert [r.variant.name for r in seen] == ["baseline", "small", "zca"] and seen == results
    table = ablation_table(results)
    assert list(table.columns) == list(TABLE_COLUMNS) and table["variant"].tolist() == ["baseline", "small", "zca"]
    assert (table["test_images"] == 12).all() and table["image_size"].tolist() == [8, 4, 4]
    accuracy = table.set_index("variant")["test_accuracy"]
    delta = table.set_index("variant")["test_delta"]
    assert math.isnan(delta["baseline"])
    assert delta["small"] == pytest.approx(accuracy["small"] - accuracy["baseline"])
    assert delta["zca"] == pytest.approx(accuracy["zca"] - accuracy["small"])
    assert table.set_index("variant").loc["zca", "change"] == "whitening: none -> zca"
    with pytest.raises(AblationError, match=r"Control variant\(s\) \['small'\]"):
        run_ablation(study[::2], inputs, seeds=[5], epochs=1, batch_size=8)
    with pytest.raises(AblationError, match="unique"):
        run_ablation((BASELINE, BASELINE), inputs, seeds=[5], epochs=1, batch_size=8)
    with pytest.raises(AblationError, match="No results"):
        ablation_table([])


def test_an_interrupted_ablation_resumes_with_the_seeds_already_trained(tmp_path, monkeypatch):
    import dogbreeds.experiments.ablation as ablation_module

    inputs = VariantInputs(colour_arrays(), whitening_size=4, progress=False)
    study = (BASELINE, Variant("elu", config={"activation": "elu"}))
    options = dict(seeds=[1, 2], epochs=2, batch_size=8, base=TINY, resume_dir=tmp_path, progress=False)
    trained = []
    real = ablation_module.train_and_evaluate

    def counting(*args, **kwargs):
        trained.append((kwargs["seed"], args[0].activation))
        if len(trained) == 3:  # the run is interrupted while training the third model
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ablation_module, "train_and_evaluate", counting)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(study, inputs, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline-seed1.json", "baseline-seed2.json"]

    trained.clear()
    resumed = run_ablation(study, inputs, **options)
    assert trained == [(1, "elu"), (2, "elu")]  # only what the interruption left undone
    monkeypatch.setattr(ablation_module, "train_and_evaluate", real)
    uninterrupted = run_ablation(study, inputs, **(options | {"resume_dir": None}))
    assert [r.record_fields() | {"timings": None} for r in resumed] == [
        r.record_fields() | {"timings": None} for r in uninterrupted
    ]  # deterministic training: reading a seed back gives what training it again gives

    monkeypatch.setattr(ablation_module, "train_and_evaluate", counting)
    trained.clear()
    run_ablation(study[:1], inputs, **(options | {"epochs": 1}))  # other settings: trained again
    assert trained == [(1, "relu"), (2, "relu")]
    trained.clear()
    monkeypatch.setattr(ablation_module, "_training_code", lambda: {"code": "an edited training loop"})
    run_ablation(study[:1], inputs, **options)  # other training code: trained again
    assert trained == [(1, "relu"), (2, "relu")]


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


def made_table(test_images: int = 10_000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": ["baseline", "good", "bad", "same", "small", "zca"],
            "change": [
                "reference",
                "a: 1 -> 2",
                "b: 1 -> 2",
                "c: 1 -> 2",
                "image_size: 64 -> 32",
                "whitening: none -> zca",
            ],
            "control": [None, "baseline", "baseline", "baseline", "baseline", "small"],
            "test_accuracy": [0.50, 0.60, 0.40, 0.51, 0.50, 0.55],
            "test_accuracy_std": [0.01, 0.01, 0.01, 0.01, 0.05, 0.05],
            "test_delta": [math.nan, 0.10, -0.10, 0.01, 0.0, 0.05],
            "test_images": [test_images] * 6,
            "seeds": [3] * 6,
        }
    )


def test_verdicts_count_a_difference_only_above_the_noise():
    judged = ablation_verdicts(made_table()).set_index("variant")
    assert judged["verdict"].to_dict() == {
        "baseline": "reference",
        "good": "better",
        "bad": "worse",
        "same": "tie",
        "small": "tie",
        "zca": "tie",
    }
    assert math.isnan(judged.loc["baseline", "noise"])
    # 10,000 photos: the seeds' spread dominates the binomial standard error (2 x 0.0070); 3 seeds a
    # side with equal spreads: Welch's interval has 4 degrees of freedom (t = 2.776)
    assert judged.loc["same", "noise"] == pytest.approx(2.7764 * math.sqrt(2 * 0.01**2 / 3), rel=1e-4)
    assert judged.loc["zca", "noise"] == pytest.approx(2.7764 * math.sqrt(2 * 0.05**2 / 3), rel=1e-4)
    # 100 photos, one seed: twice the binomial standard error of the difference
    few = ablation_verdicts(made_table(100).assign(test_accuracy_std=math.nan)).set_index("variant")
    assert few.loc["good", "noise"] == pytest.approx(2 * math.sqrt((0.6 * 0.4 + 0.5 * 0.5) / 100))
    assert few.loc["good", "verdict"] == few.loc["bad", "verdict"] == "tie"  # 10 points on 100 photos: noise
    # accuracies of 0 or 1 have no binomial spread: two photos is the least difference that counts
    perfect = made_table(36).assign(test_accuracy=1.0, test_accuracy_std=math.nan, test_delta=0.0)
    judged = ablation_verdicts(perfect).set_index("variant")
    assert judged.loc["same", "noise"] == pytest.approx(2 / 36) and judged.loc["same", "verdict"] == "tie"
    with pytest.raises(VerdictError, match="test_images"):
        ablation_verdicts(made_table().drop(columns="test_images"))


def test_welch_half_width_matches_scipys_interval_for_the_difference_of_means():
    variant, control = [0.31, 0.24, 0.29], [0.20, 0.17, 0.26, 0.22]
    interval = stats.ttest_ind(variant, control, equal_var=False).confidence_interval(0.95)
    half_width = welch_half_width(np.std(variant, ddof=1), 3, np.std(control, ddof=1), 4)
    assert half_width == pytest.approx((interval.high - interval.low) / 2)
    assert welch_half_width(0.0, 3, 0.0, 3) == 0.0  # deterministic runs: no seed noise
    assert math.isnan(welch_half_width(0.02, 1, 0.02, 3))  # one run has no spread to measure


def test_summary_lists_better_worse_and_ties_with_the_noise_level():
    text = summarize_ablation(made_table())
    assert "Better than its control: **good** (a: 1 -> 2; +10.0%)." in text
    assert "Worse than its control: **bad** (b: 1 -> 2; -10.0%)." in text
    assert "**same**" in text.split("Ties")[1] and "**zca**" in text.split("Ties")[1]
    assert "with 10000 test photos (one photo is 0.01%)" in text and "two means over 3 seeds" in text
