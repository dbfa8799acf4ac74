"""The dependency direction of docs/design.md section 2 holds (import-linter contracts)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: " in result.stdout and " broken" in result.stdout
    assert "0 broken" in result.stdout


def test_layers_contract_names_every_package() -> None:
    """A new top-level package must be placed in the architecture, not slip past it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    named = " ".join(" ".join(c.get("layers", [])) + " " + " ".join(c.get("source_modules", []))
                     for c in contracts)
    packages = sorted(p.name for p in (ROOT / "src" / "greenhop").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    missing = [p for p in packages if f"greenhop.{p}" not in named]
    assert not missing, f"packages outside every import contract: {missing}"
