"""Print the pinned requirements for a CPU or an NVIDIA GPU set-up (standard library only).

    python3 scripts/select_requirements.py requirements.txt          # as pinned: tensorflow-cpu
    python3 scripts/select_requirements.py requirements.txt --gpu    # tensorflow[and-cuda], same version

run_all.sh installs what this prints, so a GPU venv never gets tensorflow-cpu beside tensorflow.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

CPU_BUILD = re.compile(r"^tensorflow[-_]cpu==(?P<version>\S+)\s*$", re.IGNORECASE)


def select(lines: list[str], gpu: bool) -> list[str]:
    """The requirement lines, with tensorflow-cpu swapped for tensorflow[and-cuda] when ``gpu``."""
    pinned = [line for line in lines if CPU_BUILD.match(line.strip())]
    if len(pinned) != 1:
        raise ValueError(f"expected exactly one 'tensorflow-cpu==VERSION' line, found {len(pinned)}")
    if not gpu:
        return list(lines)
    version = CPU_BUILD.match(pinned[0].strip()).group("version")
    return [f"tensorflow[and-cuda]=={version}" if line is pinned[0] else line for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("--gpu", action="store_true", help="the NVIDIA GPU build of TensorFlow")
    args = parser.parse_args(argv)
    try:
        print("\n".join(select(args.requirements.read_text().splitlines(), args.gpu)))
    except (OSError, ValueError) as error:
        print(f"select_requirements: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
