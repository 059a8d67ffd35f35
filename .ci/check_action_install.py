"""Run the install step of action.yml for real, as GitHub runs it for a caller, on a copy
of this checkout (as GitHub downloads the action): a fresh venv, the dependencies from
requirements/action.txt with --require-hashes (downloaded from the package index, every
file checked against its hash), then policycheck from that copy with --no-deps; then
policycheck from that venv validates the shipped policy.

Needs the package index (CI has it; the test suite never downloads). The pins are exact,
so a newer release on the index does not change what this installs. `make
action-install-check` runs it; exit 0 when the installed policycheck works.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    [step] = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    script = step["run"]
    if "${{" in script:
        print("action.yml: the install step must not expand expressions", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="policycheck-action-") as temp:
        runner_temp = Path(temp)
        # The action as GitHub downloads it: the repository's files, no build/ leftovers.
        action_path = runner_temp / "action"
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        for name in listed:
            if (ROOT / name).is_file():
                (action_path / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, action_path / name)
        files = {name: runner_temp / name for name in ("path", "output", "env", "summary")}
        for path in files.values():
            path.touch()
        env = {
            **os.environ,
            "GITHUB_ACTION_PATH": str(action_path),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_PATH": str(files["path"]),
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
        }
        env.pop("VIRTUAL_ENV", None)
        subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            env=env,
            check=True,
        )
        [bin_dir] = files["path"].read_text().split()
        policycheck = Path(bin_dir) / "policycheck"
        for command in (["--version"], ["validate"], ["controls"], ["environments", "--json"]):
            subprocess.run([str(policycheck), *command], cwd=ROOT, check=True)
        where = subprocess.run(
            [
                str(policycheck.resolve().parent / "python"),
                "-c",
                "import policycheck, sys; print(policycheck.__file__)",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=runner_temp,
        ).stdout.strip()
        if not where.startswith(str(runner_temp)):
            print(f"policycheck imported from {where}, not the venv", file=sys.stderr)
            return 1
        print(f"action install step: OK ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
