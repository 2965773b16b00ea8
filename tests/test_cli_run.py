"""`dogbreeds run` and `dogbreeds report`: argument checks fail early, in one line, with exit code 2."""

import pytest

from dogbreeds.cli import program as cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--data-dir", "/no/such/folder"], "does not exist"),
        (["run", "--from", "03", "--runs", "{tmp}/none"], "no earlier run"),
        (["run", "--from", "09"], "no notebook '09'"),
        (["run", "--from", "04", "--until", "02"], "comes before"),
    ],
)
def test_run_rejects_bad_requests_before_starting(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "none").exists()


def test_set_parses_json_values():
    assert cli._parameter("epochs=3") == ("epochs", 3)
    assert cli._parameter('breeds=["beagle", "Samoyed"]') == ("breeds", ["beagle", "Samoyed"])
    assert cli._parameter("breeds=all") == ("breeds", "all")
    with pytest.raises(Exception, match="KEY=VALUE"):
        cli._parameter("no-equals-sign")


def test_bad_set_is_a_usage_error(capsys):
    assert cli.main(["run", "--set", "oops"]) == cli.EXIT_USAGE
    assert "KEY=VALUE" in capsys.readouterr().err


def test_an_unknown_setting_fails_at_once_with_the_known_names(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert cli.main(["run", "--runs", str(runs), "--set", "batchsize=16"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown setting(s) batchsize" in err and "batch_size" in err and "target_accuracy" in err
    assert not runs.exists()  # nothing started


def test_every_run_setting_reaches_the_runs_settings_file(tmp_path):
    import dataclasses

    from dogbreeds.study import runner
    from dogbreeds.study.profiles import RunSettings, load_settings, save_settings

    for name, parameters in runner.notebook_parameters().items():
        assert {"run_dir", "profile", "overrides"} <= parameters, f"{name} cannot read the run's settings"
    every = {field.name: 1 for field in dataclasses.fields(RunSettings) if field.name != "output_dir"}
    folders = ("data_dir", "photos_dir", "pets_dir", "not_dogs_dir")
    every |= {"profile": "quick", "breeds": 2} | {name: str(tmp_path) for name in folders}
    every |= {"image_size": 32, "transfer_image_size": 32, "whitening_size": 2, "val_fraction": 0.5}
    every |= {"deterministic": False, "ablation_image_size": 32, "data_sizes": [1, 2], "scratch_cache": True}
    resolved = runner.resolve_parameters({**every, "target_accuracy": 0.9})
    settings, notebook_only = runner.run_settings(resolved, tmp_path / "run")
    assert notebook_only == {"target_accuracy": 0.9}  # a parameter notebook 05 declares, not a run setting
    save_settings(settings, tmp_path / "run")
    stored = load_settings(tmp_path / "run")
    assert stored == settings and stored.output_dir == tmp_path / "run"
    assert {name: getattr(stored, name) for name in every if name not in folders} == {
        name: value for name, value in every.items() if name not in folders
    }
    assert all(getattr(stored, name) == tmp_path for name in folders)
    legacy, _ = runner.run_settings({"profile": "quick", "overrides": {"batch_size": 4}}, tmp_path / "old")
    assert legacy.batch_size == 4  # run folders made before settings.json nested their overrides


@pytest.mark.parametrize(
    ("setting", "shown", "takes"),
    [
        ("epochs=-1", "epochs=-1", "a whole number >= 1"),
        ("batch_size=0", "batch_size=0", "a whole number >= 1"),
        ("image_size=abc", 'image_size="abc"', "a whole number >= 32"),
        ("breeds=[]", "breeds=[]", '"all", a whole number >= 2 or a list of at least 2 breed names'),
        ("breeds=beagle", 'breeds="beagle"', '"all", a whole number >= 2'),
        ("epochs=2.5", "epochs=2.5", "a whole number >= 1"),
        ("val_fraction=1", "val_fraction=1", "a number between 0 and 1 (both excluded)"),
        ("deterministic=no", 'deterministic="no"', "true or false"),
    ],
)
def test_a_setting_out_of_range_fails_at_once_naming_it(tmp_path, capsys, setting, shown, takes):
    runs = tmp_path / "runs"
    assert cli.main(["run", "--runs", str(runs), "--set", setting]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--set {shown} is not allowed: " in err and takes in err
    assert not runs.exists()  # no run folder, no kernel


def test_standalone_settings_are_checked_alike():
    from dogbreeds.study.profiles import settings_for

    with pytest.raises(ValueError, match="batch_size=0 is not allowed"):
        settings_for("quick", batch_size=0)
    assert settings_for("quick", epochs=None).epochs == 2  # None: the profile's default


def test_profile_choices_come_from_the_profiles(capsys):
    from dogbreeds.study.profiles import PROFILES

    assert cli.main(["run", "--profile", "nope"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in PROFILES)


def test_op_determinism_can_be_switched_off_for_a_gpu(monkeypatch, tmp_path):
    from dogbreeds.models import training
    from dogbreeds.study import runner
    from dogbreeds.study.profiles import settings_for
    from dogbreeds.study.session import Study

    assert settings_for("quick").deterministic is True
    assert settings_for("quick", deterministic=False).deterministic is False
    calls = []
    monkeypatch.setattr(training, "set_seed", lambda seed, deterministic=True: calls.append((seed, deterministic)))
    Study.start("01_exploration", "quick", seed=5, output_dir=tmp_path, deterministic=False)
    assert calls == [(5, False)]
    assert runner.resolve_parameters({"deterministic": False}) == {"deterministic": False}


def test_the_cpu_profile_reads_the_shared_real_folders(make_dogs_dir, monkeypatch, tmp_path):
    from dogbreeds.core.recordfile import load_record
    from dogbreeds.study.profiles import settings_for
    from dogbreeds.study.session import Study

    crops = make_dogs_dir(
        {"n02085620-Chihuahua": 10, "n02086240-Shih-Tzu": 10, "n02088364-beagle": 10},
        name="shared/stanford-dogs-crops224",
    )
    photos = make_dogs_dir({"n02085620-Chihuahua": 10, "n02086240-Shih-Tzu": 10}, name="shared/stanford-dogs-10breeds")
    monkeypatch.setenv("DOGBREEDS_SHARED_DATASETS", str(tmp_path / "shared"))

    settings = settings_for("cpu")
    assert (settings.data_dir, settings.photos_dir, settings.val_fraction) == (crops, photos, 0.1)
    assert settings.transfer_image_size is None and settings.ablation_seeds >= 3 and settings.tuner_trials >= 5
    assert settings_for("cpu", photos_dir=str(crops)).photos_dir == crops  # --set photos_dir=... wins
    assert settings_for("quick", data_dir=crops).photos_dir == crops  # one folder for everything
    for profile in ("quick", "cpu"):  # the shelter's reporting photos: the shared folders whatever the profile
        shelter = settings_for(profile)
        assert (shelter.pets_dir, shelter.not_dogs_dir) == (
            tmp_path / "shared/oxford-pet-dogs",
            tmp_path / "shared/not-dogs",
        )
    assert (settings_for("quick").pets_sample, settings_for("cpu").pets_sample) == (8, None)  # quick: a seeded draw

    study = Study.start("03_scratch_cnn", "cpu", output_dir=tmp_path / "run", seeded=False, dataset="photos")
    assert len(study.data().label_map) == 2 and len(study.data("data").label_map) == 3
    assert len(study.data().split.val) == 2  # 10 % of each breed's 7 training photos, rounded up
    record = load_record(study.record("ablation_baseline", "ablation", metrics={"top1": 0.5}))
    assert record["params"]["dataset"] == "stanford-dogs-10breeds" and record["data"]["num_classes"] == 2
    assert record["data"]["hash"] == study.data_hash("photos") != study.data_hash("data")


def test_resuming_on_another_data_folder_is_refused(tmp_path, make_dogs_dir, sample_dir, capsys):
    import json

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    manifest = {"parameters": {"profile": "quick", "data_dir": str(sample_dir.resolve())}, "notebooks": {}}
    (run_dir / "run.json").write_text(json.dumps(manifest))
    other = make_dogs_dir()
    argv = ["run", "--run-dir", str(run_dir), "--from", "02", "--data-dir", str(other)]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ran on {sample_dir.resolve()}, not {other}" in err
    assert json.loads((run_dir / "run.json").read_text()) == manifest  # untouched
