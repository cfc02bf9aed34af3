"""The house's rules, checked: import-linter contracts (`.importlinter`), ruff, and the one rule
import-linter cannot express (providers may not import the top-level settings module)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def test_import_contracts_hold():
    out = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_ruff_finds_nothing():
    out = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
    return names


def test_providers_know_no_settings():
    offenders = [p.name for p in (ROOT / "providers").glob("*.py") if "settings" in _imports(p)]
    assert offenders == []


def test_no_product_function_over_60_lines():
    long = []
    for folder in ("web", "tasks", "services", "realtime", "providers", "models", "schemas", "extensions"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > 60:
                        long.append(f"{path.relative_to(ROOT)}:{node.name} {length}")
    assert long == []
