from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def load_yaml_documents(path: Path) -> list[dict]:
    """Every non-empty document of a YAML file (a manifest may hold several)."""
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]
