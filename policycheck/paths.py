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


def default_policy_path() -> Path:
    """``./policy.yaml`` when present, else the policy shipped with the package."""
    local = Path(POLICY_FILENAME)
    if local.is_file():
        return local
    return bundled_catalog_dir() / POLICY_FILENAME


def controls_dir_for(policy_path: Path) -> Path:
    """Controls are read from the ``controls/`` directory beside the policy file."""
    return policy_path.resolve().parent / CONTROLS_DIRNAME
