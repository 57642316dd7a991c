"""Cold import of each handler from the layer, with and without compiled bytecode.

Builds the layer with shared/Makefile (as `sam build` does, for this machine's platform so
it can run here) into a temporary folder, copies it without its .pyc, and imports each
handler in fresh Python 3.12 processes that cannot write bytecode (like Lambda's
read-only /opt). Baseline: the same layer without .pyc, measured in the same run.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ("webhooks", "member_api", "journey_step", "sweep", "reports")
RUNS = 3
IMPORT = (
    "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); "
    "import app; print(time.perf_counter() - t)"
)


def _python312() -> str | None:
    for candidate in (os.environ.get("PYTHON312"), str(ROOT / ".venv/sam/bin/python3.12")):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("python3.12")


def _cold_import(python: str, layer: Path, handler: str) -> float:
    times = []
    for _ in range(RUNS):
        out = subprocess.run(
            [python, "-B", "-I", "-c", IMPORT, str(ROOT / "functions" / handler), str(layer)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
            env={"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1"},
        )
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def main(argv: list[str]) -> int:
    python = _python312()
    if python is None:
        print("skipped: no python3.12 (run make test once, or set PYTHON312)")
        return 0
    machine = "x86_64" if platform.machine() in ("x86_64", "AMD64") else "aarch64"
    with tempfile.TemporaryDirectory() as scratch:
        compiled = Path(scratch) / "compiled"
        subprocess.run(
            [
                "make",
                "--silent",
                "-C",
                str(ROOT / "shared"),
                "build-MemberflowLayer",
                f"ARTIFACTS_DIR={compiled}",
                f"PLATFORM=manylinux2014_{machine}",
                f"PYTHON={python}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        source_only = Path(scratch) / "source"
        shutil.copytree(compiled, source_only, ignore=shutil.ignore_patterns("__pycache__"))
        print(f"cold import of each handler, median of {RUNS} fresh processes (seconds)")
        print(f"{'handler':<14}{'no .pyc':>10}{'with .pyc':>11}{'ratio':>8}")
        for handler in HANDLERS:
            without = _cold_import(python, source_only / "python", handler)
            with_pyc = _cold_import(python, compiled / "python", handler)
            print(f"{handler:<14}{without:>10.3f}{with_pyc:>11.3f}{without / with_pyc:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
