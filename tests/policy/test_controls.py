from pathlib import Path

import pytest

from policycheck.errors import InputError
from policycheck.policy.controls import Catalog, load_catalog
from support.harness import REPO, run_cli


def test_catalog_maps_the_seed_controls(catalog: Catalog) -> None:
    assert [c.id for c in catalog.controls] == [
        "SC.10.01.01",
        "SC.10.01.02",
        "SC.10.02",
        "SC.10.03.01",
        "SC.10.03.02",
    ]
    assert catalog.get("SC.10.01.01").check_ids == [
        "s3-versioning-enabled",
        "s3-retains-all-versions",
        "dynamodb-pitr-enabled",
        "s3-cross-region-replication",
    ]
    assert catalog.get("SC.10.01.02").check_ids == [
        "s3-lifecycle-archive-and-expire",
        "firehose-delivers-to-audit-bucket",
        "ecr-lifecycle-retains-tagged",
        "dynamodb-ttl-enabled",
    ]
    assert catalog.get("SC.10.02").check_ids == [
        "s3-encryption-at-rest",
        "s3-public-access-blocked",
        "s3-policy-denies-delete",
        "dynamodb-encryption-at-rest",
        "dynamodb-access-isolated",
        "terraform-backend-encrypted-and-locked",
        "s3-bucket-in-region",
        "state-writers-restricted",
        "lock-writers-restricted",
        "apply-role-trust-pinned",
    ]
    assert catalog.get("SC.10.03.01").check_ids == [
        "ecr-image-available",
        "ecs-service-stable",
        "ssm-parameter-secure",
        "terraform-lock-table-ready",
        "recovery-path-present",
        "recovery-workflow-runnable",
    ]
    assert catalog.get("SC.10.03.02").check_ids == ["dr-drill-evidence-fresh"]
    assert catalog.control_ids_for("dynamodb-pitr-enabled") == ["SC.10.01.01"]


def test_every_check_is_mapped_and_every_control_states_its_manual_part(
    catalog: Catalog,
) -> None:
    from policycheck.plugin.registry import load_registry

    mapped = {check_id for c in catalog.controls for check_id in c.check_ids}
    assert mapped == set(load_registry().checks)
    assert all(control.manual for control in catalog.controls)


def _copy_controls(tmp_path: Path) -> Path:
    target = tmp_path / "controls"
    target.mkdir()
    for path in (REPO / "controls").glob("*.yaml"):
        (target / path.name).write_text(path.read_text())
    return target


def test_unknown_check_in_control(tmp_path: Path) -> None:
    directory = _copy_controls(tmp_path)
    path = directory / "SC.10.02.yaml"
    path.write_text(path.read_text().replace("id: s3-policy-denies-delete", "id: s3-deny"))
    with pytest.raises(InputError, match=r"SC.10.02.yaml: checks\[2\].id: unknown check 's3-deny'"):
        load_catalog(directory)


def test_control_id_must_match_file_name(tmp_path: Path) -> None:
    directory = _copy_controls(tmp_path)
    (directory / "SC.10.09.yaml").write_text((directory / "SC.10.02.yaml").read_text())
    with pytest.raises(InputError, match=r"SC\.10\.09\.yaml: id: 'SC\.10\.02' does not match"):
        load_catalog(directory)


def test_control_missing_key(tmp_path: Path) -> None:
    directory = _copy_controls(tmp_path)
    (directory / "SC.10.02.yaml").write_text("id: SC.10.02\ntitle: t\nsource: s\n")
    with pytest.raises(InputError, match=r"SC\.10\.02\.yaml: objective: Field required"):
        load_catalog(directory)


def test_missing_controls_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="controls directory not found"):
        load_catalog(tmp_path / "controls")


def test_cli_controls_lists_the_catalog() -> None:
    result = run_cli("controls", cwd=REPO)
    assert result.returncode == 0
    for control_id in ("SC.10.01.01", "SC.10.01.02", "SC.10.02", "SC.10.03.01", "SC.10.03.02"):
        assert control_id in result.stdout
    assert "dr-drill-evidence-fresh" in result.stdout
