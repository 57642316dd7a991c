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
