"""The import-layer contract of ARCHITECTURE.md, checked in the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_layers_import_one_way() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports)], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
