"""Run the numbered notebooks in order with papermill, into one run folder.

Layout of a run folder:
    run.json              what ran: parameters, versions, status and time of each notebook
    notebooks/NN_*.ipynb  the executed notebooks
    results/*.json        results records written by the notebooks
    figures/              figures saved by the notebooks
    report/               HTML of each notebook, combined report (HTML, PDF)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dogbreeds.core.config import DEFAULT_SEED, REPO_ROOT
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.study.profiles import SETTINGS_FILE, RunSettings, save_settings, settings_for

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = (
    "01_exploration",
    "02_preprocessing",
    "03_scratch_cnn",
    "04_transfer_learning",
    "05_comparison",
)
MANIFEST = "run.json"


class RunError(DogbreedsError, ValueError):
    """A run cannot start or resume as asked (the message says why)."""


class NotebookFailed(DogbreedsError, RuntimeError):
    """A notebook raised: names the notebook and the cell."""

    def __init__(self, notebook: str, cell: int | None, error: str, executed: Path, kernel_log: Path | None = None):
        where = f"cell {cell}" if cell is not None else "start-up"
        log = f"\n  the kernel's own messages: {kernel_log}" if kernel_log is not None and kernel_log.exists() else ""
        super().__init__(
            f"notebook {notebook} failed in {where}: {error}\n"
            f"  executed copy (outputs up to the failure): {executed}{log}"
        )
        self.notebook, self.cell, self.error, self.executed = notebook, cell, error, executed


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped a notebook; ``exit_code`` is 130 or 143 (128 + the signal)."""

    def __init__(self, signum: int, notebook: str | None = None):
        super().__init__(f"{signal.Signals(signum).name} received")
        self.signum, self.notebook = signum, notebook

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""The kernel's own start-up warnings (e.g. about TCP on this machine) are noise to a user; its errors are not."""

KERNEL_SHUTDOWN_NOISE = re.compile(rb"\[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel\.?")
"""What a kernel may log while papermill shuts it down (an interrupt it caught): not the notebook's doing."""


@contextlib.contextmanager
def _kernel_output_to(log: Path) -> Any:
    """While a notebook runs, what its kernel writes straight to the terminal goes to ``log`` instead.

    That is TensorFlow's C++ start-up notices (oneDNN, absl), which no log level hides, and a
    crashing kernel's last words. The kernel inherits the redirected standard error; Python
    errors still reach the executed notebook. TensorFlow's C++ log starts at errors-hidden
    level 3 unless the user asked for more (TF_CPP_MIN_LOG_LEVEL 0 or 1). The kernel's shutdown
    notices are dropped from the log, and a log left empty is removed.
    """
    from dogbreeds.core.fileio import standard_error_to

    previous = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if previous in (None, "", "2"):
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        # this attempt's log: a resumed notebook starts it afresh
        with open(log, "wb") as target, standard_error_to(target.fileno()):
            yield
    finally:
        if previous is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = previous
        _drop_shutdown_noise(log)


def _drop_shutdown_noise(log: Path) -> None:
    """Remove the kernel's shutdown notices from ``log``, and ``log`` itself when nothing else is left."""
    if not log.exists():
        return
    written = log.read_bytes()
    kept = b"".join(line for line in written.splitlines(keepends=True) if not KERNEL_SHUTDOWN_NOISE.search(line))
    if not kept:
        log.unlink()
    elif kept != written:
        log.write_bytes(kept)


@contextlib.contextmanager
def _signals_raise() -> Any:
    """While running, SIGINT and SIGTERM raise :class:`RunInterrupted` (even where they were ignored)."""

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop_kernels() -> None:
    """End the kernels (child processes) an interrupted notebook leaves behind: terminate, then kill."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


@dataclass(frozen=True)
class NotebookResult:
    name: str
    seconds: float
    output: Path


RUN_MANAGED = frozenset({"run_dir", "profile", "overrides"})
"""Notebook parameters the runner sets itself (never through --set)."""


def notebook_parameters(notebook_dir: Path | None = None) -> dict[str, set[str]]:
    """The parameters each notebook declares in its ``parameters`` cell, by notebook name."""
    import papermill

    folder = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    return {name: set(papermill.inspect_notebook(str(folder / f"{name}.ipynb"))) for name in NOTEBOOKS}


def resolve_parameters(values: dict[str, Any], notebook_dir: Path | None = None) -> dict[str, Any]:
    """Run parameters from ``--set``-style values, checked before any kernel starts.

    A name is a run setting (a field of ``study.profiles.RunSettings``, e.g. ``batch_size``), or
    a parameter a notebook declares for a person to set by hand (e.g. notebook 05's
    ``target_accuracy``). An unknown name raises RunError at once, listing the known names; so
    does a value that a setting does not take (``RunSettings.check``).
    """
    declared = set().union(*notebook_parameters(notebook_dir).values()) - RUN_MANAGED
    fields = {field.name for field in dataclasses.fields(RunSettings)} - {"output_dir"}
    unknown = sorted(set(values) - declared - fields)
    if unknown:
        raise RunError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(declared | fields))}")
    for key, value in values.items():
        if key in fields:
            try:
                RunSettings.check(key, value)
            except ValueError as error:
                raise RunError(f"--set {error}") from None
    return dict(values)


def run_settings(parameters: dict[str, Any], run_dir: Path) -> tuple[RunSettings, dict[str, Any]]:
    """(the run's settings, resolved once; the notebook-only parameters) of flat run ``parameters``.

    A legacy ``overrides`` dict (run folders made before settings.json) is read as more settings.
    """
    values = {**parameters, **parameters.get("overrides", {})}
    values.pop("overrides", None)
    fields = {field.name for field in dataclasses.fields(RunSettings)} - {"output_dir"}
    chosen = {key: value for key, value in values.items() if key in fields}
    notebook_only = {key: value for key, value in values.items() if key not in fields}
    settings = settings_for(chosen.pop("profile", "quick"), output_dir=run_dir, **chosen)
    return settings, notebook_only


def _position(key: str) -> int:
    key = key.strip()
    for i, name in enumerate(NOTEBOOKS):
        if name == key or name.split("_")[0] == key.zfill(2):
            return i
    raise RunError(f"no notebook {key!r}; choose one of {', '.join(NOTEBOOKS)}")


def select_notebooks(start: str | None = None, until: str | None = None) -> list[str]:
    """Notebook names from ``start`` to ``until`` included (numbers such as "03" or "3", or full names)."""
    first = _position(start) if start else 0
    last = _position(until) if until else len(NOTEBOOKS) - 1
    if last < first:
        raise RunError(f"notebook {until!r} comes before {start!r}")
    return list(NOTEBOOKS[first : last + 1])


def new_run_dir(root: Path, profile: str) -> Path:
    """A fresh, time-stamped run folder under ``root``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{profile}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def latest_run_dir(root: Path) -> Path:
    """The most recent run folder under ``root`` (for --from without --run-dir)."""
    runs = sorted(p for p in root.glob("*") if (p / MANIFEST).exists())
    if not runs:
        raise RunError(f"no earlier run under {root} to resume; run without --from first")
    return runs[-1]


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run.json of a run folder (empty for a new folder). Raises RunError for a file or a broken run.json."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run folder; give --run-dir a folder (new or made by dogbreeds run)")
    path = run_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RunError(
            f"{path} is not a readable run manifest ({error}); start a new run without --from, or repair that file"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks", {}), dict):
        raise RunError(f"{path} is not a run manifest (no 'notebooks' table); start a new run without --from")
    return manifest


def run_notebooks(
    run_dir: Path,
    parameters: dict[str, Any],
    start: str | None = None,
    until: str | None = None,
    kernel_name: str = "python3",
    notebook_dir: Path | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    on_done: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Execute the notebooks from ``start`` to ``until``, each in a fresh kernel; stop at the first failure.

    ``parameters`` (flat: run settings and notebook parameters) are resolved once into the run's
    ``settings.json``, which every notebook reads (papermill passes it ``run_dir``, and the
    notebook-only parameters). run.json is rewritten after each notebook, so
    an interrupted run shows what finished and ``start`` can resume it. Ctrl-C (SIGINT)
    or SIGTERM stops the kernel within seconds, marks the notebook "interrupted" and
    raises :class:`RunInterrupted`.
    """
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    run_dir = run_dir.resolve()
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    manifest, notebook_only = _open_manifest(run_dir, parameters)
    names = select_notebooks(start, until)
    results = []
    for position, name in enumerate(names, start=1):
        if on_start:
            on_start(name, position, len(names))
        result = _run_one(
            name, run_dir, manifest, {**notebook_only, "run_dir": str(run_dir)}, notebook_dir, kernel_name
        )
        results.append(result)
        if on_done:
            on_done(result)
    return results


def _open_manifest(run_dir: Path, parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run.json brought up to date for this run: versions, device, commit, data hashes; the notebook-only
    parameters), once the run's settings are resolved and written to settings.json.
    """
    import papermill

    from dogbreeds.core.provenance import code_version, data_hash, device_name
    from dogbreeds.core.recordfile import library_versions
    from dogbreeds.data.folder import discover

    manifest = read_manifest(run_dir) or {"notebooks": {}}
    versions = {name: found for name, found in library_versions().items() if found}
    manifest.update(
        parameters=parameters,
        versions={**versions, "papermill": papermill.__version__},
        platform=platform.platform(),
        device=device_name(),
        code=code_version(),
        seed=parameters.get("seed", DEFAULT_SEED),
        updated=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    settings, notebook_only = run_settings(parameters, run_dir)
    save_settings(settings, run_dir)
    manifest["settings"] = SETTINGS_FILE
    folders = {"data_dir": settings.data_dir, "photos_dir": settings.photos_dir}
    manifest["data_folders"] = {key: folder.name for key, folder in folders.items()}
    manifest["data_folder_hash"] = {
        key: data_hash([r.path for r in discover(folder).records], folder) for key, folder in folders.items()
    }
    return manifest, notebook_only


def first_passes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The first pass's run.json entry of each notebook that was run again (``earlier_passes``), by name."""
    return {name: passes[0] for name, passes in (manifest.get("earlier_passes") or {}).items() if passes}


def pass_minutes(manifest: dict[str, Any]) -> tuple[float, float]:
    """Minutes of the run's first pass over its notebooks, and of the notebooks run again since (0 if none)."""
    notebooks, first = manifest.get("notebooks", {}), first_passes(manifest)
    once = sum(first.get(name, entry).get("seconds", 0) for name, entry in notebooks.items()) / 60
    again = sum(notebooks[name].get("seconds", 0) for name in first if name in notebooks) / 60
    return once, again


def _run_one(
    name: str,
    run_dir: Path,
    manifest: dict[str, Any],
    parameters: dict[str, Any],
    notebook_dir: Path,
    kernel_name: str,
) -> NotebookResult:
    """Execute one notebook in a fresh kernel, its status kept in run.json whatever happens."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run_dir / "notebooks" / f"{name}.ipynb"
    kernel_log = run_dir / "logs" / f"{name}.kernel.log"
    began = time.perf_counter()
    previous = manifest["notebooks"].get(name)
    if previous and previous.get("status") == "done":  # run again (--from): its earlier pass stays on record
        manifest.setdefault("earlier_passes", {}).setdefault(name, []).append(previous)
    entry = manifest["notebooks"][name] = {"status": "running", "output": str(output)}
    if manifest.get("code") is not None:  # which commit ran this notebook (a run resumed with --from may mix them)
        entry["commit"] = manifest["code"]["commit"]
    _write_manifest(run_dir, manifest)
    try:
        with _signals_raise(), _kernel_output_to(kernel_log):
            papermill.execute_notebook(
                str(notebook_dir / f"{name}.ipynb"),
                str(output),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(notebook_dir),
                progress_bar=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
    except PapermillExecutionError as error:
        cell = error.cell_index + 1  # 1-based, as counted in the executed copy
        failure = f"{error.ename}: {error.evalue}"
        _end_entry(run_dir, manifest, entry, began, kernel_log, status="failed", cell=cell, error=failure)
        raise NotebookFailed(name, cell, failure, output, kernel_log) from None
    except BaseException as error:  # kernel died, Ctrl-C, SIGTERM: record it, stop the kernel, re-raise
        interrupted = isinstance(error, KeyboardInterrupt)
        status, text = ("interrupted", str(error)) if interrupted else ("failed", repr(error))
        _end_entry(run_dir, manifest, entry, began, kernel_log, status=status, error=text)
        if interrupted:
            _stop_kernels()
            raise RunInterrupted(getattr(error, "signum", signal.SIGINT), name) from None
        raise
    seconds = time.perf_counter() - began
    entry.update(status="done", seconds=round(seconds, 1))
    _write_manifest(run_dir, manifest)
    return NotebookResult(name, seconds, output)


def _end_entry(run_dir: Path, manifest: dict, entry: dict, began: float, kernel_log: Path, **fields: Any) -> None:
    """A notebook's entry in run.json closed on a failure or an interruption (with its kernel log, if any)."""
    entry.update(**fields, seconds=round(time.perf_counter() - began, 1))
    if kernel_log.exists():
        entry["kernel_log"] = str(kernel_log)
    _write_manifest(run_dir, manifest)


def _write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    from dogbreeds.core.fileio import write_json_atomic

    write_json_atomic(run_dir / MANIFEST, manifest)
