"""MkDocs hooks (mkdocs.yml ``hooks:``): the Python version comes from ``.python-version``.

Pages write it as ``{{ python_version }}``, so the one pin in ``.python-version`` is the
only place it is written; a placeholder left unknown fails the strict build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
log = logging.getLogger("mkdocs.hooks.docs")


def python_version() -> str:
    return (ROOT / ".python-version").read_text().strip()


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    values = {"python_version": python_version()}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            log.warning("%s: unknown placeholder {{ %s }}", page.file.src_path, name)
            return match.group(0)
        return values[name]

    return PLACEHOLDER.sub(fill, markdown)
