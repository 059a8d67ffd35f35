"""Where the shipped catalog (policy.yaml and controls/) lives."""

from pathlib import Path

POLICY_FILENAME = "policy.yaml"
CONTROLS_DIRNAME = "controls"


def bundled_catalog_dir() -> Path:
    """Directory holding the shipped policy.yaml and controls/.

    A wheel installs them as ``policycheck/catalog/``; a source checkout or an editable
    install keeps them at the repository root, one level above the package.
    """
    package_dir = Path(__file__).resolve().parent
    installed = package_dir / "catalog"
    if (installed / POLICY_FILENAME).is_file():
        return installed
    return package_dir.parent


#: What a command that audits says when it is not told which policy to audit.
NO_POLICY_HERE = f"no {POLICY_FILENAME} here: --policy FILE, or `policycheck init`"


def default_policy_path(shipped: bool = False) -> Path | None:
    """``./policy.yaml`` when present; else the policy shipped with the package if
    ``shipped`` (the demo), else None: no other command audits a policy it was not given."""
    local = Path(POLICY_FILENAME)
    if local.is_file():
        return local
    return bundled_catalog_dir() / POLICY_FILENAME if shipped else None


def controls_dir_for(policy_path: Path) -> Path:
    """Controls are read from the ``controls/`` directory beside the policy file."""
    return policy_path.resolve().parent / CONTROLS_DIRNAME
