"""The data seam: PynamoDB is imported only under ``shared/memberflow/store/`` (the
models, repositories and the unit of work); every other module reaches the tables
through it (docs/architecture.md, Layers)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports_pynamodb(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "pynamodb" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pynamodb":
            return True
    return False


def test_pynamodb_is_imported_only_by_the_store():
    store = ROOT / "shared" / "memberflow" / "store"
    sources = [*(ROOT / "shared" / "memberflow").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    outside = sorted(
        str(path.relative_to(ROOT))
        for path in sources
        if store not in path.parents and _imports_pynamodb(path)
    )
    assert outside == []
    assert any(_imports_pynamodb(path) for path in store.rglob("*.py"))  # the check can see


# The layers of docs/architecture.md, top down: a module imports only its own layer and
# those below it (a lazy import inside a function counts the same), so nothing lower, the
# loyalty jobs included, reaches back up into the journeys that import it.
LAYERS = (
    ("api",),
    ("ingest", "journeys", "importing", "reports"),
    ("runtime",),
    ("loyalty",),
    ("shops",),
    ("members", "webhooks"),
    ("store",),
    ("config", "clock", "metrics"),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _memberflow_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "memberflow":
            names = [f"memberflow.{alias.name}" for alias in node.names]  # from memberflow import x
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("memberflow.")}
    return found


def test_imports_run_down_the_layers_only():
    package_root = ROOT / "shared" / "memberflow"
    upward = sorted(
        f"{path.relative_to(package_root)} -> memberflow.{imported}"
        for path in package_root.rglob("*.py")
        if (own := path.relative_to(package_root).parts[0].removesuffix(".py")) in RANK
        for imported in _memberflow_imports(path)
        if imported in RANK and RANK[imported] < RANK[own]
    )
    assert upward == []


def test_no_module_is_over_400_lines():
    """A module past 400 lines holds more than one idea: split it where the ideas part."""
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in ("shared", "functions", "local", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
