"""What a newcomer meets before running anything: typed packages, a licence, a README whose every
cited path exists, and install steps that say what they are doing."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPED_PACKAGES = ("oracle", "inference", "deploy")


def _tracked() -> set[str]:
    """Every path git tracks, and every folder above one."""
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    paths: set[str] = set()
    for line in out.splitlines():
        parts = line.split("/")
        for i in range(1, len(parts) + 1):
            paths.add("/".join(parts[:i]))
    return paths


@pytest.mark.parametrize("package", TYPED_PACKAGES)
def test_every_package_is_marked_typed_and_ships_the_marker(package: str) -> None:
    assert (ROOT / package / "py.typed").is_file(), f"{package}/py.typed is missing (PEP 561)"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["*"], "py.typed is not in [tool.setuptools.package-data]"


def test_licence_file_matches_the_declared_licence() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["license"]["text"]
    licence = ROOT / "LICENSE"
    assert licence.is_file(), "LICENSE is missing"
    assert licence.read_text().startswith(f"{declared} License"), licence.read_text()[:80]
    package = (ROOT / "package.json").read_text()
    assert f'"license": "{declared}"' in package


def _readme_paths() -> set[str]:
    """Relative paths the README cites: link targets, words that start with a folder the
    repository holds (`oracle/node/`, contracts/GAS.md), and top-level files in code spans.
    Generated folders (.genoracle/, demo-output/) are not in the repository, so not matched."""
    text = (ROOT / "README.md").read_text()
    cited = {t for t in re.findall(r"\]\(([^)#\s]+)\)", text) if "://" not in t}
    top_level = {p for p in _tracked() if "/" not in p}
    folders = "|".join(re.escape(p) for p in sorted(top_level) if (ROOT / p).is_dir())
    cited |= set(re.findall(rf"(?<![\w/.~$-])((?:{folders})/[\w./*-]*[\w/*])", text))
    files = {p for p in top_level if (ROOT / p).is_file()} | {"LICENSE"}
    cited |= {span for span in re.findall(r"`([^`\s]+)`", text) if span in files}
    return cited


def test_readme_cites_only_files_that_are_in_the_repository() -> None:
    tracked = _tracked()
    cited = _readme_paths()
    assert len(cited) > 20, sorted(cited)  # the extraction still finds what the README cites
    missing = sorted(
        p for p in cited if not fnmatch.filter(tracked, p.rstrip("/").replace("**/", "*"))
    )
    assert not missing, f"README.md cites paths the repository does not hold: {missing}"


def _recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile rule whose target starts with `target`."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


@pytest.mark.parametrize("target", ["$(VENV)/.installed", "node_modules/.installed"])
def test_install_steps_say_what_they_are_doing(target: str) -> None:
    recipe = _recipe(target)
    commands = [line for line in recipe if not line.startswith("@")]
    for i, line in enumerate(recipe):
        if line in commands and line != "touch $@":
            assert i > 0, f"{target} starts with {line!r}, not with an echo"
            assert recipe[i - 1].startswith("@echo"), f"no echo before {line!r} in {target}"
        assert not re.search(r"pip install .*(-q\b|--quiet)", line), f"silent pip: {line!r}"


def test_the_npm_engine_warning_is_explained() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "EBADENGINE" in readme, "the README does not explain npm's engine warning"
    assert "EBADENGINE" in makefile, "make does not say the engine warning is expected"
