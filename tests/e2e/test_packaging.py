"""The wheel ships the engine, its subpackages, the checks as policycheck.checks, the catalog
and the schemas, and works installed in a venv where the repository's editable policycheck
is not visible.

The wheel is built offline (``--no-build-isolation --no-index``) with the test venv's
setuptools, as the GitHub Action builds policycheck from its checkout, from a copy of
the sources (a stale build/ directory would hide a package missing from pyproject.toml).
The clean venv has no pip and no packages of its own: the test venv's pip installs the
wheel into it (``pip --python``), and a ``.pth`` file in its site-packages appends the
test venv's site-packages for the dependencies (boto3, pydantic, moto for the demo, ...).
A path a ``.pth`` file adds is not itself a site directory, so the ``.pth`` files there
are not run: the hook of the editable install (``__editable__...policycheck...pth``) never
loads, and ``policycheck`` can only come from the wheel, which the tests check."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from support.harness import REPO


def source_tree(destination: Path) -> Path:
    """The project's files as a fresh clone has them (tracked and new, not ignored): no
    build/ directory whose leftovers would slip into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if name.split("/")[0] not in ("tests", "bench") and (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = source_tree(tmp_path_factory.mktemp("source"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("policycheck-*.whl")
    return built


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "test_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    return venv


def run_installed(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv / "bin" / "policycheck"), *args],
        cwd=cwd,
        env={**environment, "PATH": f"{venv / 'bin'}{os.pathsep}{environment['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        f"policycheck/{p.relative_to(REPO / 'policycheck').as_posix()}"
        for p in (REPO / "policycheck").rglob("*.py")
    }
    sources |= {f"policycheck/checks/{p.name}" for p in (REPO / "checks").glob("*.py")}
    expected = {
        *sources,
        "policycheck/catalog/policy.yaml",
        "policycheck/catalog/docs/compliance/dr-test-evidence/README.md",
        "policycheck/py.typed",
        *(
            f"policycheck/schemas/{p.name}"
            for p in (REPO / "policycheck" / "schemas").glob("*.json")
        ),
        *(f"policycheck/catalog/controls/{p.name}" for p in (REPO / "controls").glob("*.yaml")),
    }
    assert expected - names == set()  # every module, subpackages included
    top_level = {name.split("/")[0] for name in names if not name.endswith(".dist-info")}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"policycheck"}


def test_installed_wheel_is_what_runs(clean_venv: Path, tmp_path: Path) -> None:
    python = clean_venv / "bin" / "python"
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import policycheck, policycheck.checks as c; print(policycheck.__file__, c.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(w).is_relative_to(clean_venv) for w in where), where


def test_installed_wheel_has_its_catalog(clean_venv: Path, tmp_path: Path) -> None:
    """The shipped policy and controls (which only the demo falls back to), and the
    starter files of `init`."""
    catalog = next(clean_venv.rglob("policycheck/catalog"))
    shipped = str(catalog / "policy.yaml")
    validate = run_installed(clean_venv, "validate", "--policy", shipped, cwd=tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert shipped in validate.stdout
    assert "5 control(s)" in validate.stdout
    assert run_installed(clean_venv, "validate", cwd=tmp_path).returncode == 2  # no policy here
    started = tmp_path / "started"
    started.mkdir()
    assert run_installed(clean_venv, "init", cwd=started).returncode == 0
    assert run_installed(clean_venv, "validate", cwd=started).returncode == 0
    controls = run_installed(clean_venv, "controls", "--policy", shipped, cwd=tmp_path)
    assert controls.returncode == 0, controls.stderr
    assert "SC.10.03.02" in controls.stdout and "dr-drill-evidence-fresh" in controls.stdout
    schema = run_installed(clean_venv, "schema", "report", cwd=tmp_path)
    assert schema.returncode == 0 and '"$schema"' in schema.stdout
    assert (catalog / "docs" / "compliance" / "dr-test-evidence" / "README.md").is_file()


def test_installed_wheel_runs_the_demo(clean_venv: Path, tmp_path: Path) -> None:
    demo = run_installed(
        clean_venv, "demo", "--output-dir", str(tmp_path / "reports"), cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (tmp_path / "reports" / "report.json").is_file()
    assert (tmp_path / "reports" / "report.md").is_file()
