"""Tests of the command line, through main([...]) and as a real `python -m dogbreeds` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import write_image

from dogbreeds.cli import program as cli
from dogbreeds.cli.common import without_native_notices
from dogbreeds.cli.program import main
from dogbreeds.core.config import DATA_DIR_ENV


def test_summary_of_bundled_sample_by_default(capsys, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert main(["data", "summary"]) == 0
    out = capsys.readouterr().out
    assert "Breeds           5\n" in out and "Images           150\n" in out
    assert "Official split   train 90, test 60" in out
    assert "n02099601-golden_retriever  golden retriever" in out


def test_summary_honours_the_environment_and_json(make_dogs_dir, capsys, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(make_dogs_dir(lists=None)))
    assert main(["data", "summary", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["breeds"], summary["images"], summary["official_split"]) == (3, 18, None)


def test_scan_exit_codes_and_table(make_dogs_dir, capsys):
    root = make_dogs_dir()
    assert main(["data", "scan", "--data-dir", str(root)]) == 0
    assert capsys.readouterr().out.startswith("No problems: 18 images")
    write_image(root / "Images" / "n02085620-Chihuahua" / "gray.jpg", mode="L")
    assert main(["data", "scan", "--data-dir", str(root)]) == 0  # warnings alone do not fail
    (root / "Images" / "n02085620-Chihuahua" / "broken.jpg").write_text("not an image")
    assert main(["data", "scan", "--data-dir", str(root), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "1 error(s) (files skipped when loading), 1 warning(s)" in out
    assert "error     not_an_image  Images/n02085620-Chihuahua/broken.jpg" in out
    assert main(["data", "scan", "--data-dir", str(root), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"not_an_image": 1, "color_mode": 1}


@pytest.mark.parametrize("command", ["summary", "scan"])
def test_wrong_data_dir_is_one_line_and_exit_code_2(tmp_path, capsys, command):
    assert main(["data", command, "--data-dir", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("dogbreeds: error: data folder") and "does not exist" in captured.err


def test_usage_errors_and_help(capsys):
    assert main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err
    assert main(["data"]) == 2
    assert "required: SUBCOMMAND" in capsys.readouterr().err
    assert main(["data", "scan", "--workers", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "examples:" in capsys.readouterr().out
    assert main(["data", "summary", "--help"]) == 0
    assert "stanford-dogs-crops224" in capsys.readouterr().out


def test_a_command_is_one_added_function(monkeypatch, capsys):
    def add_hello_command(commands):
        parser = commands.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="dog")
        parser.set_defaults(run=lambda args: print(f"hello {args.name}") or 3)

    monkeypatch.setattr(cli, "DATA_COMMANDS", [*cli.DATA_COMMANDS, add_hello_command])
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, add_hello_command])
    assert main(["data", "hello", "--name", "Rex"]) == 3
    assert capsys.readouterr().out == "hello Rex\n"
    assert main(["hello"]) == 3
    assert capsys.readouterr().out == "hello dog\n"
    assert main(["data", "--help"]) == 0
    assert "say hello" in capsys.readouterr().out


def test_python_dash_m_runs_without_tensorflow(tmp_path):
    program = (
        "import sys, runpy; sys.argv = ['dogbreeds', 'data', 'summary']; "
        "code = 0\ntry:\n    runpy.run_module('dogbreeds', run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\nsys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Images           150" in result.stdout


@pytest.mark.shared_data
def test_summary_of_shared_crops224(crops224_dir, capsys):
    assert main(["data", "summary", "--data-dir", str(crops224_dir)]) == 0
    out = capsys.readouterr().out
    assert "Breeds           120\n" in out
    assert "Images           15,780\n" in out
    assert "Official split   train 7,200, test 8,580" in out


def test_native_start_up_notices_are_dropped_and_everything_else_kept():
    written = (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1796207121.359602   23817 port.cc:153] oneDNN custom operations are on. You may see ...\n"
        b"I0000 00:00:1796207121.4   23817 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...\n"
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        b"appropriate compiler flags.\n"
        b"E0000 00:00:1796207121.4   23817 cuda_dnn.cc:8310] Unable to register cuDNN factory\n"
        b"Traceback (most recent call last):\n"
    )
    assert without_native_notices(written) == (
        b"E0000 00:00:1796207121.4   23817 cuda_dnn.cc:8310] Unable to register cuDNN factory\n"
        b"Traceback (most recent call last):\n"
    )


def test_tensorflow_loads_without_notices_on_the_terminal():
    code = (
        "import sys\n"
        "from dogbreeds.cli.common import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "print('tensorflow' in sys.modules)\n"
        "print('still shown', file=sys.stderr)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n" and done.stderr == "still shown\n"


def test_threads_that_would_hold_the_exit_open_are_found():
    import threading

    from dogbreeds.cli.shelter import lingering_threads

    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="server-like")
    helper = threading.Thread(target=release.wait, name="daemon-like", daemon=True)
    worker.start()
    helper.start()
    try:
        names = [thread.name for thread in lingering_threads()]
        assert "server-like" in names and "daemon-like" not in names
    finally:
        release.set()
        worker.join(timeout=30)
        helper.join(timeout=30)
    assert "server-like" not in [thread.name for thread in lingering_threads()]


def test_ctrl_c_stops_the_app_with_exit_code_130(tmp_path, shelter_model_factory):
    import select
    import signal
    import socket
    import time
    import urllib.request

    model = shelter_model_factory().save(tmp_path / "model")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "dogbreeds", "app", "--port", str(port), "--model", str(model)]
    env = {key: value for key, value in os.environ.items() if key != "DOGBREEDS_APP_AUTH"}
    process = subprocess.Popen(  # started with SIGINT ignored, as a script's background command is: Ctrl-C still works
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        url, deadline, said = f"http://127.0.0.1:{port}", time.monotonic() + 300, ""  # slow to load when busy
        while url not in said and time.monotonic() < deadline:
            if select.select([process.stdout], [], [], 1.0)[0]:
                line = process.stdout.readline()
                if not line:
                    break  # the app ended: its stderr says why
                said += line
        assert url in said and process.poll() is None, process.communicate()[1]
        assert urllib.request.urlopen(url, timeout=60).status == 200  # it serves
        time.sleep(2)  # settled in its serving loop (any moment must give 130; this is where it gave 0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=300)  # the server may take long to stop on a busy machine
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "dogbreeds: interrupted" in err
