"""Benchmarks: tiny runs of each bench on synthetic folders, checked through the records they write."""

from __future__ import annotations

import pytest

from dogbreeds.bench.common import BENCH_KIND, BenchError
from dogbreeds.bench.scratch import bench_scratch
from dogbreeds.bench.throughput import bench_throughput
from dogbreeds.bench.transfer import bench_transfer, default_transfer_variants, format_table
from dogbreeds.cli.program import main
from dogbreeds.core.recordfile import load_record
from dogbreeds.data.splits import OfficialListsError
from dogbreeds.experiments.records import load_records
from dogbreeds.experiments.transfer_variants import ExperimentError, TransferVariant
from dogbreeds.models.builders import CNNConfig

BREEDS = {"n02085620-Chihuahua": 9, "n02086240-Shih-Tzu": 9, "n02106662-German_shepherd": 9}


@pytest.fixture
def dogs_dir(make_dogs_dir):
    """3 breeds x 9 one-colour images: 6 train and 3 test a breed."""
    return make_dogs_dir(BREEDS, size=(40, 40))


def test_default_variants_cover_heads_flips_and_ensembles():
    names = [variant.name for variant in default_transfer_variants(("a", "b"))]
    assert names[:4] == ["a/logreg", "a/keras", "a/keras+tta", "a/keras+fliptrain+tta"]
    assert "concat(a+b)/keras+fliptrain+tta" in names and "average(a+b)/keras+fliptrain+tta" in names
    assert "b/imagenet-head+tta" in names and "average(a+b)/imagenet-head+tta" in names
    assert len(names) == len(set(names))
    assert all(len(v.backbones) == 1 for v in default_transfer_variants(("a",)) if v.ensemble == "concat")


def test_variant_settings_are_checked():
    with pytest.raises(ExperimentError, match="no backbone"):
        TransferVariant("x", (), "keras")
    with pytest.raises(ExperimentError, match="need a keras head"):
        TransferVariant("x", ("a",), "logreg", imagenet_start=True)
    with pytest.raises(ExperimentError, match="need a keras head"):
        TransferVariant("x", ("a",), "imagenet", refit=True)
    with pytest.raises(ExperimentError, match="only be averaged"):
        TransferVariant("x", ("a", "b"), "imagenet")


def test_bench_transfer_writes_one_record_per_variant(dogs_dir, tmp_path):
    variants = [
        TransferVariant("mobilenet_v2/logreg", ("mobilenet_v2",), "logreg"),
        TransferVariant(
            "mobilenet_v2/keras+fliptrain+tta+refit",
            ("mobilenet_v2",),
            "keras",
            flip_train=True,
            flip_tta=True,
            refit=True,
        ),
        TransferVariant("mobilenet_v2/imagenet-head", ("mobilenet_v2",), "imagenet"),
    ]
    results = tmp_path / "results"
    table = bench_transfer(
        dogs_dir,
        variants=variants,
        val_fraction=0.33,
        image_size=(32, 32),
        batch_size=8,
        head_epochs=3,
        cache_dir=tmp_path / "cache",
        results_dir=results,
        source="test command",
        progress=False,
    )
    assert table["variant"].tolist() == [variant.name for variant in variants]
    records = load_records(results)
    assert len(records) == 3 and set(records["kind"]) == {BENCH_KIND}
    assert set(records["source"]) == {"test command"}
    first = load_record(table["record"][0])
    assert first["data"]["counts"] == {"train": 12, "val": 6, "test": 9} and first["data"]["num_classes"] == 3
    assert first["metrics"]["n"] == 9 and 0 <= first["metrics"]["top1"] <= 1
    assert first["metrics"]["top1"] == table["top1"][0]
    assert first["params"]["head"] == "logreg" and first["timings"]["features_cached"] is False
    keras_record = load_record(table["record"][1])
    assert keras_record["params"]["flip_train"] and keras_record["params"]["refit"] and keras_record["history"]
    head_params = keras_record["params"]["head_params"][0]
    assert head_params["refit_rows"] == 2 * 18 and head_params["epochs_run"] <= 3
    assert keras_record["timings"]["train_seconds"] > 0 and keras_record["timings"]["feature_seconds"] > 0
    assert load_record(table["record"][2])["timings"]["train_seconds"] == 0
    assert format_table(table).count("\n") == 4 and "| mobilenet_v2/logreg |" in format_table(table)

    again = bench_transfer(
        dogs_dir,
        variants=variants[:1],
        val_fraction=0.33,
        image_size=(32, 32),
        cache_dir=tmp_path / "cache",
        results_dir=results,
        progress=False,
    )
    assert load_record(again["record"][0])["timings"]["features_cached"] is True
    assert again["top1"][0] == pytest.approx(table["top1"][0])


def test_bench_transfer_needs_official_lists(make_dogs_dir, tmp_path):
    with pytest.raises(OfficialListsError, match="lists/"):
        bench_transfer(make_dogs_dir(BREEDS, lists=None), results_dir=tmp_path, progress=False)


def test_bench_scratch_trains_a_fixed_schedule_and_records_the_run(dogs_dir, tmp_path):
    result = bench_scratch(
        dogs_dir,
        image_size=16,
        load_size=24,
        epochs=3,
        warmup_epochs=1,
        batch_size=4,
        config=CNNConfig(filters=(4, 8), dense_units=0),
        val_fraction=0.33,
        results_dir=tmp_path,
        source="scratch command",
        progress=False,
    )
    record = load_record(result["record"])
    assert record["kind"] == BENCH_KIND and record["source"] == "scratch command"
    assert record["data"]["counts"] == {"train": 12, "val": 6, "test": 9}
    params = record["params"]
    assert params["config"]["filters"] == [4, 8] and params["parameters"] > 0
    assert params["load_size"] == 24 and params["crop"]["area"] == [0.35, 1.0] and params["flip_tta"] is True
    assert record["timings"]["epochs_run"] == 3 and len(record["history"]["val_accuracy"]) == 3
    learning_rates = record["history"]["learning_rate"]
    assert learning_rates[0] == pytest.approx(1e-3) and learning_rates[-1] < learning_rates[0] / 10
    assert record["metrics"] == result["metrics"] and result["metrics"]["n"] == 9
    # one-colour photos look the same in a mirror, so flip TTA cannot change a prediction
    assert result["metrics"]["top1"] == result["metrics"]["top1_without_tta"]


def test_bench_scratch_settings_are_checked_and_every_photo_can_train(dogs_dir, tmp_path):
    small = CNNConfig(filters=(4,), dense_units=0)
    with pytest.raises(BenchError, match="load_size"):
        bench_scratch(dogs_dir, image_size=16, load_size=8, config=small, results_dir=tmp_path)
    with pytest.raises(BenchError, match="too small"):
        bench_scratch(dogs_dir, image_size=8, config=CNNConfig(filters=(4, 4, 4, 4)), results_dir=tmp_path)
    result = bench_scratch(
        dogs_dir,
        image_size=8,
        epochs=1,
        warmup_epochs=0,
        batch_size=8,
        config=small,
        flip_tta=False,
        results_dir=tmp_path,
        progress=False,
    )
    record = load_record(result["record"])
    assert record["data"]["counts"] == {"train": 18, "val": 0, "test": 9}
    assert "val_loss" not in record["history"] and record["params"]["flip_tta"] is False


def test_bench_scratch_learns_colours_from_random_weights(dogs_dir, tmp_path):
    """Three breeds, one colour each: the recipe must score far above chance (1/3) on the test photos."""
    result = bench_scratch(
        dogs_dir,
        image_size=16,
        epochs=30,
        warmup_epochs=2,
        batch_size=6,
        config=CNNConfig(
            filters=(8, 16),
            dense_units=0,
            optimizer="adamw",
            learning_rate=1e-2,
            loss="categorical_crossentropy",
            label_smoothing=0.1,
        ),
        results_dir=tmp_path,
        progress=False,
    )
    assert result["metrics"]["top1"] >= 0.8


def test_bench_scratch_pretrains_on_another_folder_and_never_on_its_test_photos(dogs_dir, make_dogs_dir, tmp_path):
    other = make_dogs_dir({"n02088364-beagle": 6, "n02099601-golden_retriever": 6}, size=(40, 40), name="others")
    small = CNNConfig(filters=(4, 8), dense_units=0)
    result = bench_scratch(
        dogs_dir,
        image_size=16,
        epochs=2,
        warmup_epochs=0,
        batch_size=4,
        config=small,
        pretrain_dir=other,
        pretrain_epochs=2,
        results_dir=tmp_path,
        progress=False,
    )
    record = load_record(result["record"])
    pretrain = record["params"]["pretrain"]
    assert record["run_name"] == "scratch-cnn-pretrained" and record["data"]["num_classes"] == 3
    assert pretrain["images"] == 8 and pretrain["breeds"] == 2 and pretrain["epochs"] == 2
    assert record["timings"]["pretrain_seconds"] == pretrain["train_seconds"] > 0
    # a folder whose train list holds the benchmark's test photos (same files, all listed as train)
    leaky = make_dogs_dir(BREEDS, size=(40, 40), test_every=100, name="leaky")
    with pytest.raises(BenchError, match="test photos"):
        bench_scratch(dogs_dir, image_size=16, config=small, pretrain_dir=leaky, results_dir=tmp_path, progress=False)


def test_bench_throughput_reports_the_ratio_of_both_speeds(dogs_dir, tmp_path):
    result = bench_throughput(
        dogs_dir, images=8, batch_size=4, image_size=(32, 32), repeats=2, results_dir=tmp_path, progress=False
    )
    metrics = result["metrics"]
    assert metrics["pipeline_images_per_s"] > 0 and metrics["model_images_per_s"] > 0
    assert metrics["ratio"] == pytest.approx(metrics["pipeline_images_per_s"] / metrics["model_images_per_s"])
    assert metrics["model_images_per_s"] == pytest.approx(8 / min(result["timings"]["model_only_seconds"]))
    assert len(result["timings"]["pipeline_seconds"]) == 2
    assert load_record(result["record"])["params"]["image_size"] == [32, 32]
    with pytest.raises(BenchError, match="at least one batch"):
        bench_throughput(dogs_dir, images=2, batch_size=4, results_dir=tmp_path)
    with pytest.raises(BenchError, match="at most"):
        bench_throughput(dogs_dir, images=100, batch_size=4, results_dir=tmp_path)


def test_cli_bench_writes_the_command_into_the_record(dogs_dir, tmp_path, capsys):
    results = tmp_path / "out"
    code = main(
        [
            "bench",
            "throughput",
            "--data-dir",
            str(dogs_dir),
            "--images",
            "8",
            "--batch-size",
            "4",
            "--repeats",
            "1",
            "--results-dir",
            str(results),
        ]
    )
    assert code == 0
    assert "ratio" in capsys.readouterr().out
    record = load_records(results).iloc[0]
    assert record["source"] == (
        f"dogbreeds bench throughput --data-dir {dogs_dir} --images 8 --batch-size 4 "
        f"--repeats 1 --results-dir {results}"
    )


def test_cli_bench_errors_are_one_line_with_exit_code_2(dogs_dir, tmp_path, capsys):
    code = main(
        ["bench", "transfer", "--data-dir", str(dogs_dir), "--variants", "nope", "--results-dir", str(tmp_path)]
    )
    assert code == 2
    assert "Unknown variant(s) ['nope']" in capsys.readouterr().err
    code = main(
        ["bench", "throughput", "--data-dir", str(dogs_dir), "--backbone", "alexnet", "--results-dir", str(tmp_path)]
    )
    assert code == 2
    assert "Unknown backbone 'alexnet'" in capsys.readouterr().err


def test_cli_bench_scratch_refuses_a_bad_crop_area(dogs_dir, tmp_path, capsys):
    code = main(["bench", "scratch", "--data-dir", str(dogs_dir), "--crop-area", "0", "--results-dir", str(tmp_path)])
    assert code == 2
    assert "--crop-area: area must satisfy" in capsys.readouterr().err


def test_the_recorded_command_of_a_switch_is_the_flag_alone(tmp_path):
    from dogbreeds.cli.common import _bench_command_line
    from dogbreeds.cli.program import build_parser

    args = build_parser().parse_args(["bench", "scratch", "--data-dir", str(tmp_path), "--no-tta", "--epochs", "3"])
    line = _bench_command_line(args)
    assert "--no-tta" in line and "True" not in line and "--epochs 3" in line
    assert build_parser().parse_args(line.split()[1:]).no_tta is True  # the recorded command runs again
