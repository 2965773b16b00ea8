"""The notebook runner (papermill) and the report builder, on tiny notebooks the tests write."""

import json

import nbformat
import pytest

from dogbreeds.core.provenance import code_version
from dogbreeds.core.recordfile import make_record, write_record
from dogbreeds.study import reporting, runner
from dogbreeds.study.title_page import DEFAULT_AUTHOR, report_author, title_page_for_run


def _write_notebook(path, body, markdown="## Section"):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(markdown),
        params,
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebook_dir(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    for name in runner.NOTEBOOKS:
        _write_notebook(
            folder / f"{name}.ipynb",
            "import pathlib\nfrom dogbreeds.study.profiles import load_settings\nprint('log line')\n"
            f"pathlib.Path(run_dir, '{name}.txt').write_text(load_settings(run_dir).profile)\n"
            "from IPython.display import HTML\nHTML('<b>figure-of-" + name + "</b>')",
            markdown=f"## Story of {name}",
        )
    return folder


def test_select_notebooks_accepts_numbers_and_names():
    assert runner.select_notebooks(None) == list(runner.NOTEBOOKS)
    assert runner.select_notebooks("3")[0] == "03_scratch_cnn"
    assert runner.select_notebooks("04_transfer_learning") == list(runner.NOTEBOOKS[3:])
    assert runner.select_notebooks("2", until="03") == ["02_preprocessing", "03_scratch_cnn"]
    with pytest.raises(ValueError, match="comes before"):
        runner.select_notebooks("4", until="2")
    with pytest.raises(ValueError, match="no notebook '07'"):
        runner.select_notebooks("07")


@pytest.mark.notebook
def test_run_resume_failure_and_report(tmp_path, notebook_dir, capfd):
    run_dir = tmp_path / "run"
    started = []
    results = runner.run_notebooks(
        run_dir,
        {"profile": "quick"},
        notebook_dir=notebook_dir,
        on_start=lambda name, i, n: started.append((name, i, n)),
    )
    assert [r.name for r in results] == list(runner.NOTEBOOKS)
    assert started[0] == ("01_exploration", 1, 5)
    assert (run_dir / "05_comparison.txt").read_text() == "quick"  # run_dir was injected, its settings read
    manifest = json.loads((run_dir / "run.json").read_text())
    assert {e["status"] for e in manifest["notebooks"].values()} == {"done"}
    assert manifest["device"].startswith("CPU") and manifest["seed"] == 42
    assert manifest["code"] == code_version()
    if manifest["code"] is not None:
        assert {e["commit"] for e in manifest["notebooks"].values()} == {manifest["code"]["commit"]}

    # What a notebook prints is in its executed copy, never in a kernel log (a log holds only what a kernel wrote
    # straight to the terminal; a kernel stopped slowly on a busy machine may leave a notice there).
    logs = sorted((run_dir / "logs").glob("*.kernel.log")) if (run_dir / "logs").exists() else []
    assert not any("log line" in log.read_text() for log in logs), [log.read_text() for log in logs]

    # a failing notebook names itself and the cell, and the manifest records it; what its kernel wrote
    # straight to the terminal (as TensorFlow's C++ notices do) is in the run's logs, not on the console
    _write_notebook(notebook_dir / "04_transfer_learning.ipynb", "import os\nos.write(2, b'a C++ notice\\n')\n1 / 0")
    capfd.readouterr()
    with pytest.raises(
        runner.NotebookFailed,
        match=r"04_transfer_learning failed in cell 4: ZeroDivisionError"
        r"(.|\n)*kernel's own messages: .*04_transfer_learning\.kernel\.log",
    ):
        runner.run_notebooks(run_dir, {"profile": "quick"}, start="04", notebook_dir=notebook_dir)
    assert "a C++ notice" not in capfd.readouterr().err
    assert (run_dir / "logs" / "04_transfer_learning.kernel.log").read_text() == "a C++ notice\n"
    failed = json.loads((run_dir / "run.json").read_text())["notebooks"]["04_transfer_learning"]
    assert failed["kernel_log"].endswith("04_transfer_learning.kernel.log")
    with pytest.raises(runner.NotebookFailed):  # resumed, it fails again: the log holds this attempt only
        runner.run_notebooks(run_dir, {"profile": "quick"}, start="04", until="04", notebook_dir=notebook_dir)
    assert (run_dir / "logs" / "04_transfer_learning.kernel.log").read_text() == "a C++ notice\n"
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["notebooks"]["04_transfer_learning"]["status"] == "failed"
    assert manifest["notebooks"]["03_scratch_cnn"]["status"] == "done"  # earlier work kept
    # the pass that had finished 04 stays on record (its time is the run's first pass); failed attempts do not
    [earlier] = manifest["earlier_passes"]["04_transfer_learning"]
    assert (
        earlier["status"] == "done"
        and earlier["seconds"] > 0
        and list(manifest["earlier_passes"]) == ["04_transfer_learning"]
    )
    assert runner.latest_run_dir(tmp_path) == run_dir

    made = reporting.build_report(run_dir, pdf=False)
    combined = made["report.html"].read_text()
    assert "Story of 01_exploration" in combined and "figure-of-03_scratch_cnn" in combined
    assert "log line" not in combined  # progress logs hidden
    assert "write_text(profile)" not in combined  # code hidden
    assert "write_text" in made["01_exploration"].read_text()  # per-notebook HTML keeps code


def test_the_kernel_log_drops_the_kernels_shutdown_notice(tmp_path):
    import os

    notice = b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"
    quiet, noisy = tmp_path / "quiet.kernel.log", tmp_path / "noisy.kernel.log"
    with runner._kernel_output_to(quiet):
        os.write(2, notice)
    with runner._kernel_output_to(noisy):
        os.write(2, b"a C++ notice\n" + notice)
    assert not quiet.exists()  # nothing but shutdown noise: no log
    assert noisy.read_bytes() == b"a C++ notice\n"


def test_find_chromium_error_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(reporting.CHROMIUM_ENV, raising=False)
    with pytest.raises(reporting.ReportError, match="apt-get install chromium"):
        reporting.find_chromium()


def test_html_to_pdf_prints_a_pdf(tmp_path):
    try:
        reporting.find_chromium()
    except reporting.ReportError:
        pytest.skip("no Chromium on this machine")
    html = tmp_path / "page.html"
    html.write_text("<h1>Hello jury</h1><p>" + "text " * 200 + "</p>")
    pdf = reporting.html_to_pdf(html, tmp_path / "out" / "page.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000


@pytest.fixture
def crafted_run(tmp_path):
    """A run folder whose report tries to print a secret beside it: frames, objects, scripts, file links."""
    from PIL import Image

    Image.new("RGB", (60, 60), (250, 0, 0)).save(tmp_path / "secret.png")
    (tmp_path / "secret.html").write_text('<body>SECRET-TEXT<img src="secret.png"></body>')
    run_dir = tmp_path / "run"
    (run_dir / "report").mkdir(parents=True)
    Image.new("RGB", (60, 60), (0, 0, 250)).save(run_dir / "report" / "figure.png")
    secret = (tmp_path / "secret.png").as_uri()
    (run_dir / "report" / "report.html").write_text(
        '<html><head><meta charset="utf-8"><link rel="stylesheet" href="../../secret.css">'
        '<meta http-equiv="refresh" content="0; url=../../secret.html"></head><body><h1>Report</h1>'
        '<iframe src="../../secret.html"></iframe><object data="../../secret.html"></object>'
        f'<embed src="{secret}"><img src="{secret}"><img src="..\\..\\secret.png"><img src="%2e%2e/%2e%2e/secret.png">'
        f'<div style="background: url({secret})"></div><style>@import "../../x.css"; p {{ color: red }}</style>'
        "<script>document.write('SECRET-BY-SCRIPT')</script>"
        '<img onerror="alert(1)" src="figure.png"><a href="https://example.org/">a link</a></body></html>'
    )
    return run_dir


def test_the_page_chromium_prints_loads_nothing_outside_the_run_folder(crafted_run):
    from dogbreeds.study.safe_html import printable_html

    report = crafted_run / "report"
    safe = printable_html((report / "report.html").read_text(), report, crafted_run)
    for gone in ("<iframe", "<object", "<embed", "<script", "<link", "refresh", "secret", "onerror", "@import"):
        assert gone not in safe
    assert '<img src="figure.png"/>' in safe and 'href="https://example.org/"' in safe  # kept
    assert "Content-Security-Policy" in safe and "script-src" not in safe  # default-src 'none': no script


def test_the_pdf_prints_no_file_from_outside_the_run_folder(crafted_run):
    try:
        reporting.find_chromium()
    except reporting.ReportError:
        pytest.skip("no Chromium on this machine")
    pdf = reporting.html_to_pdf(crafted_run / "report" / "report.html", crafted_run / "report.pdf")
    assert pdf.read_bytes().count(b"/Subtype /Image") == 1  # the report's own figure, not the secret image
    assert sorted(path.name for path in (crafted_run / "report").iterdir()) == ["figure.png", "report.html"]


INTERRUPTIBLE_RUN = """
import sys
from pathlib import Path
from dogbreeds.study import runner
runner.NOTEBOOK_DIR = Path(sys.argv[1])
from dogbreeds.cli.program import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.notebook
@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)])
def test_ctrl_c_or_sigterm_stops_the_run_and_it_resumes(tmp_path, notebook_dir, signum, code):
    import os
    import signal
    import subprocess
    import sys
    import time

    _write_notebook(notebook_dir / "02_preprocessing.ipynb", "import time\nfor _ in range(600):\n    time.sleep(0.1)")
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE_RUN, str(notebook_dir), "run", "--runs", str(runs), "--no-pdf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until notebook 02 runs
        manifests = list(runs.glob("*/run.json"))
        notebooks = json.loads(manifests[0].read_text())["notebooks"] if manifests else {}
        if notebooks.get("02_preprocessing", {}).get("status") == "running":
            break
        time.sleep(0.5)
    time.sleep(3)  # the kernel is busy in the sleeping cell
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole terminal process group
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert time.monotonic() - sent < 20
    assert "interrupted" in stderr and "02_preprocessing" in stderr and "--from 02" in stderr
    assert "running over TCP" not in stderr  # the kernel's start-up noise is quiet
    run_dir = manifests[0].parent
    statuses = {name: entry["status"] for name, entry in json.loads(manifests[0].read_text())["notebooks"].items()}
    assert statuses == {"01_exploration": "done", "02_preprocessing": "interrupted"}

    _write_notebook(notebook_dir / "02_preprocessing.ipynb", "print('quick now')")
    runner.run_notebooks(run_dir, {"profile": "quick"}, start="02", until="03", notebook_dir=notebook_dir)
    statuses = {name: entry["status"] for name, entry in json.loads(manifests[0].read_text())["notebooks"].items()}
    assert statuses == {"01_exploration": "done", "02_preprocessing": "done", "03_scratch_cnn": "done"}


def test_publishing_a_report_replaces_the_previous_one_whole(tmp_path):
    from dogbreeds.core.config import REPO_ROOT

    target = tmp_path / "report"
    (target / "results").mkdir(parents=True)
    (target / "README.md").write_text("kept")
    for name in ("report.html", "report.pdf", "01_exploration.html", "results/old-record.json"):
        (target / name).write_text("older run")
    run_dir = tmp_path / "run"
    (run_dir / "results").mkdir(parents=True)
    (run_dir / "run.json").write_text(
        json.dumps({"output": str(REPO_ROOT / "runs" / "x"), "data": str(REPO_ROOT.parent / "shared" / "datasets")})
    )
    first = make_record("exploration", "exploration", notes="first run of notebook 01")
    again = make_record("exploration", "exploration", notes="notebook 01 run again (--from 01)")
    again["timestamp"] = "2999-01-01T00:00:00+00:00"
    kept = [
        write_record(again, run_dir / "results"),
        write_record(make_record("preprocessing", "preprocessing"), run_dir / "results"),
    ]
    write_record(first, run_dir / "results")  # superseded: behind no number of the report
    made = {"01_exploration": run_dir / "01_exploration.html", "report.html": run_dir / "report.html"}
    for path in made.values():
        path.write_text("new run")
    reporting.publish(run_dir, made, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == sorted(
        ["README.md", "report.html", "run.json", *(f"results/{path.name}" for path in kept)]
    )  # one HTML report, not every notebook's; the newest record of each run
    assert (target / "report.html").read_text() == "new run"
    assert json.loads((target / "run.json").read_text()) == {"output": "./runs/x", "data": "../shared/datasets"}


@pytest.mark.notebook
def test_a_default_run_writes_only_under_runs_and_leaves_the_reference_report(tmp_path, notebook_dir, monkeypatch):
    from dogbreeds.cli import program as cli
    from dogbreeds.core.config import REPO_ROOT

    def snapshot():
        return {p: p.read_bytes() for p in sorted((REPO_ROOT / "report").rglob("*")) if p.is_file()}

    before = snapshot()
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", notebook_dir)
    runs = tmp_path / "runs"
    assert cli.main(["run", "--runs", str(runs), "--no-pdf"]) == cli.EXIT_OK
    assert snapshot() == before
    (run_dir,) = runs.iterdir()
    assert (run_dir / "report" / "report.html").exists()


def test_the_title_page_gives_the_date_the_scope_and_the_headline_numbers(tmp_path):
    run_dir = tmp_path / "run"
    results = run_dir / "results"
    common = {
        "data_counts": {"train": 900, "val": 100, "test": 500},
        "timings": {"train_seconds": 1.0, "inference_ms_per_image": 1.0},
    }
    scores = {"macro_f1": 0.5, "kappa": 0.5}
    write_record(
        make_record(
            "lite2/keras+tta",
            "transfer",
            num_classes=120,
            metrics={"top1": 0.875, "top5": 0.99, "val_top1": 0.88, **scores},
            params={
                "model": "EfficientNet-Lite2 + head, flip TTA",
                "parameters": 5,
                "dataset": "stanford-dogs-crops224",
            },
            **common,
        ),
        results,
    )
    write_record(
        make_record(
            "mnv2/keras",
            "transfer",
            num_classes=120,
            metrics={"top1": 0.9, "top5": 0.99, "val_top1": 0.80, **scores},
            params={"model": "MobileNetV2 + head", "parameters": 3},
            **common,
        ),
        results,
    )
    write_record(  # the ten breeds' whole photos: a higher score on an easier task is not the headline
        make_record(
            "photos_lite2",
            "transfer",
            num_classes=10,
            metrics={"top1": 0.98, "top5": 1.0, "val_top1": 0.99, **scores},
            params={"model": "EfficientNet-Lite2 + head, whole photos", "parameters": 5},
            data_counts={"train": 9, "val": 1, "test": 5},
            timings=common["timings"],
        ),
        results,
    )
    write_record(
        make_record(
            "scratch_cnn_best",
            "scratch",
            num_classes=10,
            metrics={"top1": 0.41, "top5": 0.8, "val_top1": 0.4, **scores},
            params={"model": "Scratch CNN", "parameters": 1, "dataset": "stanford-dogs-10breeds"},
            **common,
        ),
        results,
    )
    per_1000 = {"labelled": 456, "labelled_wrong": 28, "to_a_person": 539, "not_a_dog": 4}
    write_record(
        make_record(
            "shelter_oxford", "comparison", metrics={"dogs": {"per_1000": per_1000, "top1_known": 0.93}}, params={}
        ),
        results,
    )
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "updated": "2026-12-02T09:00:00+00:00",
                "parameters": {"profile": "cpu"},
                "device": "CPU: test",
                "seed": 42,
                "notebooks": {"01_exploration": {"status": "done", "seconds": 120}},
                "data_folders": {"data_dir": "stanford-dogs-crops224"},
                "data_folder_hash": {"data_dir": "ab" * 32},
            }
        )
    )

    page = title_page_for_run(run_dir, author="A. Student")

    assert "Author: A. Student · 2026-12-02" in page and "OpenClassrooms" in page and "Stanford Dogs" in page
    assert "Hardware: CPU: test; the notebooks ran in 2 min (seed 42)" in page
    assert "the right breed first for 93.0% of the dogs of known breeds; out of 1,000 such photos, 456" in page
    assert "**87.5% test top-1**" in page  # chosen on validation (88 %), not the better test score of MobileNetV2
    assert "120 breeds of stanford-dogs-crops224 (500 test photos; chance 0.8%)" in page
    assert "**41.0% test top-1**" in page and "chance 10.0%" in page
    assert "out of 1,000 such photos, 456 are labelled automatically with 28 mistakes and 539 go to a person" in page
    counts = "120 breeds; 900 training, 100 validation, 500 test photos"
    assert f"Data, breeds benchmark: stanford-dogs-crops224, {counts}" in page
    assert "(content hash abababababab)" in page and str(tmp_path) not in page and "`" not in page
    assert "| 01 exploration | done | 2.0 |" in page

    # run again from the caches: the first pass's time, and the second one's beside it
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest["notebooks"]["01_exploration"]["seconds"] = 30
    manifest["earlier_passes"] = {"01_exploration": [{"status": "done", "seconds": 120}]}
    (run_dir / "run.json").write_text(json.dumps(manifest))
    page = title_page_for_run(run_dir, author="A. Student")
    assert "the notebooks ran in 2 min, then 0 min for those run again from the caches (seed 42)" in page
    assert "| 01 exploration | done | 2.0 | 0.5 |" in page


@pytest.mark.notebook
def test_the_manifest_names_and_hashes_every_data_folder_of_the_profile(
    tmp_path, notebook_dir, make_dogs_dir, monkeypatch
):
    crops = make_dogs_dir({"n02085620-Chihuahua": 3, "n02086240-Shih-Tzu": 3}, name="shared/stanford-dogs-crops224")
    make_dogs_dir({"n02085620-Chihuahua": 3, "n02086240-Shih-Tzu": 4}, name="shared/stanford-dogs-10breeds")
    monkeypatch.setenv("DOGBREEDS_SHARED_DATASETS", str(tmp_path / "shared"))
    run_dir = tmp_path / "run"
    runner.run_notebooks(run_dir, {"profile": "cpu", "data_dir": str(crops)}, until="01", notebook_dir=notebook_dir)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["data_folders"] == {"data_dir": "stanford-dogs-crops224", "photos_dir": "stanford-dogs-10breeds"}
    hashes = manifest["data_folder_hash"]
    assert len(hashes["data_dir"]) == 64 and hashes["data_dir"] != hashes["photos_dir"]


def test_table_headings_written_as_code_names_are_put_in_words():
    html = (
        '<table><tr><th>val_top1</th><th class="col">ms_per_image</th><th>model</th>'
        "<th>test_accuracy_std</th><th>kernel_size</th><th>Pillow - OpenCV</th></tr><td>val_top1</td></table>"
    )
    assert reporting._readable_headers(html) == (
        '<table><tr><th>validation top-1</th><th class="col">ms per photo</th><th>model</th>'
        "<th>test accuracy (std)</th><th>kernel size</th><th>Pillow - OpenCV</th></tr><td>val_top1</td></table>"
    )


def test_the_author_is_a_setting_with_a_default(monkeypatch):
    monkeypatch.delenv("DOGBREEDS_REPORT_AUTHOR", raising=False)
    assert report_author() == DEFAULT_AUTHOR
    monkeypatch.setenv("DOGBREEDS_REPORT_AUTHOR", "B. Jury")
    assert report_author() == "B. Jury" and report_author("C. Given") == "C. Given"
