"""The layering README.md draws, enforced: import-linter's contracts in ``.importlinter``.

A change that makes a transport import another, or a lower layer import a higher one,
fails here with the offending import chain in the message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-2000:]


def test_a_broken_arrow_would_be_caught(tmp_path):
    """The contract can fail: the same check on a copy of the config with the flows and
    the core swapped reports the flows' imports of the core as broken."""
    config = (ROOT / ".importlinter").read_text()
    inverted = config.replace("    authenticator.flows\n", "    authenticator.core_placeholder\n", 1)
    inverted = inverted.replace("    authenticator.core\n", "    authenticator.flows\n", 1)
    inverted = inverted.replace("    authenticator.core_placeholder\n", "    authenticator.core\n", 1)
    assert inverted != config
    path = tmp_path / "inverted.ini"
    path.write_text(inverted)
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache", "--config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "authenticator.flows is not allowed to import authenticator.core" in result.stdout, result.stdout[-3000:]
