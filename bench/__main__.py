"""`make bench`: run every benchmark module in this folder (or those named) in turn.

Each module exposes ``main(argv) -> int`` and prints its own figures, each next to a
baseline measured in the same run.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    wanted = set(argv)
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_")
    )
    status = 0
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.perf_counter()
        status |= importlib.import_module(f"bench.{name}").main([])
        print(f"(bench/{name}.py took {time.perf_counter() - started:.1f}s)", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
