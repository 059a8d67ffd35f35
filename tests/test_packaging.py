"""The wheel ships the engine, the checks as policycheck.checks, the catalog and the
schemas, and works with no source tree around it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("policycheck-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "policycheck/cli.py",
        "policycheck/checks/__init__.py",
        "policycheck/checks/s3.py",
        "policycheck/catalog/policy.yaml",
        "policycheck/schemas/report.schema.json",
        *(f"policycheck/catalog/controls/{p.name}" for p in (REPO / "controls").glob("*.yaml")),
    }
    assert expected <= names
    top_level = {name.split("/")[0] for name in names if not name.endswith(".dist-info")}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"policycheck"}


def test_installed_wheel_has_its_catalog(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "policycheck", "validate"],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(site / "policycheck" / "catalog" / "policy.yaml") in result.stdout
    assert "5 control(s)" in result.stdout
