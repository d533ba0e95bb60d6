"""py-spy profiles of benchmark processes, and where their time goes, in numbers.

`record` samples processes (py-spy record --nonblocking --gil, raw collapsed stacks) for the duration of a
benchmark phase; `summary` reads the collapsed stacks and gives, per process, the share of samples
spent in each function: self (the function on top of the stack) and inclusive (anywhere in the stack),
line numbers folded, so "where does a quote's time go" can be answered with percentages.

    python bench/pyspy.py DIR/worker0.txt [--top 25]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).parent / "py-spy"
FRAME_LINE = re.compile(r":\d+\)$")


def record(pids: dict[str, int], seconds: float, out: Path, rate: int = 100) -> list[subprocess.Popen[bytes]]:
    """Start one sampler per process (they stop by themselves after `seconds`)."""
    executable = str(PY_SPY) if PY_SPY.exists() else shutil.which("py-spy")
    if executable is None:
        raise RuntimeError("py-spy not installed (requirements-dev.txt)")
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                executable,
                "record",
                f"--pid={pid}",
                f"--duration={max(1, round(seconds))}",
                f"--rate={rate}",
                "--format=raw",
                "--nonblocking",
                "--gil",  # only the thread holding the GIL: Python CPU, not threads waiting on sockets
                f"--output={out / (name.replace('/', '-') + '.txt')}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, pid in pids.items()
    ]


def _frame(text: str) -> str:
    """'quote (carbon_pricing/core.py:120)' -> 'quote (carbon_pricing/core.py)'; site-packages paths shortened."""
    text = FRAME_LINE.sub(")", text)
    return re.sub(r"\(.*?site-packages/", "(", text)


def summary(path: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)] if total else []

    return {"samples": total, "self_pct": share(own), "inclusive_pct": share(inclusive)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(json.dumps({str(p): summary(p, args.top) for p in args.profiles}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
