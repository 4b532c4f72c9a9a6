"""The documentation site, the README and the one Python version.

- The site (mkdocs.yml, docs/) builds in strict mode with every internal link and anchor
  checked; any warning fails.
- The README stays a front page (at most 250 lines).
- Every environment variable the code reads is on the configuration page.
- The Python version is pinned once, in .python-version, and the image, CI, the tests'
  interpreter and the docs all take it from there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "operators" / "configuration.md"
README_MAX_LINES = 250


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "LANG": "C.UTF-8"},
    )


def test_the_site_builds_strict_with_no_warning(tmp_path):
    result = mkdocs_build(ROOT, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "clients" / "errors" / "index.html").is_file()


def test_a_broken_anchor_or_link_fails_the_build(tmp_path):
    """The checks above really run: a copy with one bad anchor and one bad link fails."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copy(ROOT / ".python-version", project / ".python-version")
    shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DOCS, project / "docs")
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + "\n[a](operators/cli.md#no-such-anchor) [b](no-such-page.md)\n")
    result = mkdocs_build(project, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no-such-anchor" in output and "no-such-page.md" in output, output


def test_the_nav_lists_every_page():
    """A page outside the nav is one nobody finds (and mkdocs' strict build only warns
    about it when told to)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(items) -> set[str]:
        found: set[str] = set()
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            found |= pages(value) if isinstance(value, list) else {value}
        return found

    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    listed = pages(config["nav"])
    assert not on_disk - listed, f"add to mkdocs.yml's nav: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"in mkdocs.yml's nav but not in docs/: {sorted(listed - on_disk)}"


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


# --- every environment variable is documented ----------------------------------------

# How the code reads a variable: django-environ (env.str("X")), os.environ, the small
# _int/_env_int/_env_list helpers of the server configs, NAME_ENV = "X" constants, and
# ${X} in shell scripts.
READS = [
    re.compile(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\b_(?:env_)?(?:int|float|list)\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\b[A-Z_]+_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']"""),
]
SHELL_READS = re.compile(r"\$\{([A-Z][A-Z0-9_]+)")
SOURCES = ["config", "authenticator", "accounts", "otp", "sessions_log", "deploy"]
# Set by the program for itself, not by an operator.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE", "PYTHONUNBUFFERED"}


def variables_read_by_the_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or "_pb2" in path.name or "migrations" in path.parts:
                continue
            patterns = READS if path.suffix == ".py" else [SHELL_READS] if path.suffix == ".sh" else []
            text = path.read_text() if patterns else ""
            for pattern in patterns:
                for name in pattern.findall(text):
                    found.setdefault(name, str(path.relative_to(ROOT)))
    return {name: where for name, where in found.items() if name not in NOT_SETTINGS}


def test_the_scan_finds_the_variables_it_should():
    found = variables_read_by_the_code()
    # One of each way of reading, so a scan that silently finds nothing fails here.
    for name in ("DATABASE_URL", "TOKENIZER_URL", "GUNICORN_THREADS", "H2_BIND", "HEALTHCHECK_URL",
                 "FIREBASE_AUTH_EMULATOR_HOST", "PROMETHEUS_MULTIPROC_DIR", "GRPC_BIND"):
        assert name in found, name


def test_every_environment_variable_is_on_the_configuration_page():
    page = CONFIGURATION.read_text()
    missing = {name: where for name, where in variables_read_by_the_code().items() if f"`{name}`" not in page}
    assert not missing, f"read by the code but not in {CONFIGURATION.relative_to(ROOT)}: {missing}"


# --- one Python version ----------------------------------------------------------------


def pinned_python() -> str:
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version), f".python-version must be MAJOR.MINOR, not {version!r}"
    return version


def test_the_tests_run_on_the_pinned_python():
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == pinned_python()


def test_the_dockerfile_takes_the_pinned_python():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^ARG PYTHON_VERSION={re.escape(pinned_python())}$", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_IMAGE=python:\$\{PYTHON_VERSION\}-slim$", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_BUILDER_IMAGE=python:\$\{PYTHON_VERSION\}$", text, re.MULTILINE)
    assert not re.search(r"python:3\.\d", text), "a Python version written in the Dockerfile"


def test_the_image_builders_pass_the_pinned_python():
    makefile = (ROOT / "Makefile").read_text()
    assert "PYTHON_VERSION := $(shell cat .python-version)" in makefile
    assert "--build-arg PYTHON_VERSION=$(PYTHON_VERSION)" in makefile
    offline = (ROOT / "scripts" / "build-image-offline.sh").read_text()
    assert "cat .python-version" in offline
    assert '--build-arg "PYTHON_VERSION=${PYTHON_VERSION}"' in offline


def test_ci_takes_the_pinned_python():
    (workflow,) = [doc for doc in yaml.safe_load_all((ROOT / ".github/workflows/ci.yml").read_text()) if doc]
    jobs = workflow["jobs"]
    (setup,) = [s for s in jobs["test"]["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"].get("python-version-file") == ".python-version"
    assert "python-version" not in setup["with"]
    (build,) = [s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("docker/build-push-action@")]
    assert "PYTHON_VERSION=${{ steps.python.outputs.version }}" in build["with"]["build-args"]
    (read,) = [s for s in jobs["build"]["steps"] if s.get("id") == "python"]
    assert "cat .python-version" in read["run"]
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    assert not re.search(r"""["']?3\.\d+["']?\s*$""", text, re.MULTILINE), "a Python version written in CI"


PYTHON_VERSION_WRITTEN = re.compile(r"(?i)python\s*:?\s*3\.\d+|python3\.\d+|3\.\d+-slim")


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
def test_the_docs_take_the_python_version_from_the_pin(page):
    """Pages write {{ python_version }} (scripts/docs_hooks.py fills it in), never a number."""
    text = (DOCS / page).read_text()
    assert not PYTHON_VERSION_WRITTEN.findall(text), page


def test_the_readme_names_the_pinned_python():
    """GitHub renders the README as it is, so it names the version; it must be the pin."""
    text = (ROOT / "README.md").read_text()
    written = set(re.findall(r"(?i)python\s*(3\.\d+)", text)) | set(re.findall(r"`python3` \((3\.\d+)\)", text))
    assert written == {pinned_python()}


# --- what the docs point at exists -------------------------------------------------------

CITED_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|proto|yml|yaml|toml|sh|json|txt|env|md))`")


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
def test_every_file_a_page_cites_exists(page):
    cited = set(CITED_PATH.findall((DOCS / page).read_text()))
    missing = sorted(path for path in cited if not (ROOT / path).exists())
    assert not missing, f"{page} cites files that are not in the repository: {missing}"


def test_the_readme_links_to_pages_that_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README points nowhere into docs/"
    assert [link for link in local if not (ROOT / link).is_file()] == []


DOCS_CITED = re.compile(r"\bdocs/[\w./-]+\.md\b")
CITING = ["authenticator", "accounts", "otp", "sessions_log", "config", "deploy", "scripts", "tests", "Makefile", ".importlinter"]


def test_code_cites_only_docs_that_exist():
    """Docstrings and comments point at real pages (not TOKENIZER.md or docs/operations.md)."""
    bad: dict[str, list[str]] = {}
    for name in CITING:
        top = ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if not path.is_file() or path.suffix not in {"", ".py", ".sh", ".yaml", ".yml", ".toml", ".html"}:
                continue
            if path == Path(__file__).resolve():  # names the stale ones to forbid them
                continue
            text = path.read_text(errors="replace")
            wrong = [cited for cited in DOCS_CITED.findall(text) if not (ROOT / cited).is_file()]
            wrong += ["TOKENIZER.md"] * text.count("TOKENIZER" + ".md")
            if wrong:
                bad[str(path.relative_to(ROOT))] = wrong
    assert not bad
