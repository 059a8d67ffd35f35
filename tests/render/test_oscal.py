"""The OSCAL documents as a GRC tool reads them: the catalog, the assessment plan and the
assessment results each load in compliance-trestle's models and pass NIST's schema, and
every reference resolves: the results import the plan written beside them, each subject
is an inventory item of the plan, each finding targets a statement of the catalog, each
back-matter resource is referenced and its hash is the file's."""

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from trestle.oscal.assessment_plan import AssessmentPlan
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog

from policycheck.paths import controls_dir_for
from policycheck.policy.controls import load_catalog
from policycheck.render import FORMATS
from policycheck.report.model import Report
from support.harness import run_cli

ROOT = Path(__file__).parents[2]
REAL_PLANS = ROOT / "tests" / "fixtures" / "terraform" / "real"
MODELS = {
    "catalog.json": ("catalog", Catalog),
    "assessment-plan.json": ("assessment-plan", AssessmentPlan),
    "assessment-results.json": ("assessment-results", AssessmentResults),
}


@pytest.fixture(scope="module", params=["demo", "plan"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report set with OSCAL: the demo's (a live run, with its deliberate failures),
    and a Terraform plan's (a real plan of Terraform 0.12, judged with a policy naming its
    buckets)."""
    out = tmp_path_factory.mktemp(request.param)
    if request.param == "demo":
        result = run_cli("demo", "--output-dir", out, "--format", "json,oscal", cwd=out)
        assert result.returncode == 0, result.stderr
        return out
    policy = out / "policy"
    policy.mkdir()
    (policy / "controls").symlink_to(ROOT / "controls")
    shutil.copy(REAL_PLANS / "policy.yaml", policy / "policy.yaml")
    plan = sorted(REAL_PLANS.glob("*.json"))[0]
    result = run_cli(
        "plan",
        plan,
        "--policy",
        policy / "policy.yaml",
        "--format",
        "json,oscal",
        "-o",
        out / "set",
    )
    assert result.returncode == 1, result.stderr  # the plan's buckets fail
    return out / "set"


def _documents(out: Path) -> dict[str, dict[str, Any]]:
    return {name: json.loads((out / name).read_text())[root] for name, (root, _) in MODELS.items()}


def _schema() -> dict[str, Any]:
    """NIST's schema with its \\p{L}/\\p{N} classes in a form Python's re understands."""
    text = (ROOT / "tests" / "schemas" / "oscal_complete_schema-1.2.3.json").read_text()
    return json.loads(text.replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d"))


def _uuids(document: Any, key: str) -> list[str]:
    """Every value of ``key`` anywhere in the document."""
    if isinstance(document, dict):
        found = [document[key]] if isinstance(document.get(key), str) else []
        return found + [u for value in document.values() for u in _uuids(value, key)]
    if isinstance(document, list):
        return [u for item in document for u in _uuids(item, key)]
    return []


def _parts(controls: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    def walk(part: dict[str, Any]) -> list[dict[str, Any]]:
        return [part] + [p for child in part.get("parts", []) for p in walk(child)]

    return {p["id"]: p for c in controls for top in c.get("parts", []) for p in walk(top)}


def test_oscal_writes_the_catalog_the_plan_and_the_results(demo: Path) -> None:
    assert FORMATS["oscal"].filenames == [
        "assessment-results.json",
        "assessment-plan.json",
        "catalog.json",
    ]
    listed = {line.split("  ")[1] for line in (demo / "SHA256SUMS").read_text().splitlines()}
    assert listed == {"report.json", *MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_each_document_loads_in_trestle_and_passes_nists_schema(demo: Path, name: str) -> None:
    root, model = MODELS[name]
    document = json.loads((demo / name).read_text())
    loaded = model.model_validate(document[root])
    assert loaded.metadata.oscal_version.root.root == "1.2.3"
    validator = jsonschema.Draft7Validator(_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_the_results_import_the_plan_written_beside_them(demo: Path) -> None:
    results = _documents(demo)["assessment-results.json"]
    href = results["import-ap"]["href"]
    assert href == "assessment-plan.json"
    plan = json.loads((demo / href).read_text())
    AssessmentPlan.model_validate(plan["assessment-plan"])


def test_every_subject_is_an_inventory_item_of_the_plan_by_arn(demo: Path) -> None:
    documents = _documents(demo)
    plan, results = documents["assessment-plan.json"], documents["assessment-results.json"]
    inventory = {
        item["uuid"]: next(p["value"] for p in item["props"] if p["name"] == "asset-id")
        for item in plan["local-definitions"]["inventory-items"]
    }
    report = Report.model_validate_json((demo / "report.json").read_text())
    assert sorted(inventory.values()) == sorted({r.resource.arn for r in report.results})
    [result] = results["results"]
    for observation in result["observations"]:
        [subject] = observation["subjects"]
        assert subject["type"] == "inventory-item"
        assert inventory[subject["subject-uuid"]] == subject["title"]
    planned = plan["assessment-subjects"][0]["include-subjects"]
    assert {s["subject-uuid"] for s in planned} == set(inventory)
    # Which check runs on which resources, and which controls it assesses.
    activities = {a["uuid"]: a for a in plan["local-definitions"]["activities"]}
    ran: dict[str, set[str]] = {}
    for r in report.results:
        ran.setdefault(r.check_id, set()).add(r.resource.arn)
    for task in plan["tasks"]:
        [associated] = task["associated-activities"]
        activity = activities[associated["activity-uuid"]]
        subjects = associated["subjects"][0]["include-subjects"]
        assert {inventory[s["subject-uuid"]] for s in subjects} == ran[activity["title"]]
        assessed = activity["related-controls"]["control-selections"][0]["include-controls"]
        assert {c["control-id"] for c in assessed} == {
            c.id for c in report.controls if activity["title"] in c.checks
        }
    assert {
        activities[t["associated-activities"][0]["activity-uuid"]]["title"] for t in plan["tasks"]
    } == set(ran)


def test_findings_target_statements_of_the_catalog(demo: Path) -> None:
    documents = _documents(demo)
    catalog, results = documents["catalog.json"], documents["assessment-results.json"]
    controls = [c for group in catalog["groups"] for c in group["controls"]]
    parts = _parts(controls)
    [result] = results["results"]
    observations = {o["uuid"] for o in result["observations"]}
    assert result["findings"]
    for finding in result["findings"]:
        target = finding["target"]
        assert target["type"] == "statement-id"
        assert parts[target["target-id"]]["name"] == "statement"
        related = {r["observation-uuid"] for r in finding.get("related-observations", [])}
        assert related <= observations
    reviewed = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert {c["control-id"] for c in reviewed} == {c["id"] for c in controls}
    plan = documents["assessment-plan.json"]
    planned = plan["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert {c["control-id"] for c in planned} == {c["id"] for c in controls}


@pytest.mark.parametrize("name", ["assessment-plan.json", "assessment-results.json"])
def test_every_back_matter_resource_is_referenced_and_hashes_its_file(
    demo: Path, name: str
) -> None:
    root, model = MODELS[name]
    document = json.loads((demo / name).read_text())
    resources = document[root]["back-matter"]["resources"]
    model.model_validate(document[root])
    # (trestle's ModelUtils.find_uuid_refs sees only version-4 uuids; OSCAL allows 4 and 5)
    referenced = {href[1:] for href in _uuids(document, "href") if href.startswith("#")}
    assert {r["uuid"] for r in resources} == referenced
    files = {p.name for p in demo.iterdir()}
    for resource in resources:
        [rlink] = resource["rlinks"]
        [digest] = rlink["hashes"]
        if rlink["href"] in files:  # the policy file is not part of the report set
            assert (
                hashlib.sha256((demo / rlink["href"]).read_bytes()).hexdigest() == (digest["value"])
            )
    if name == "assessment-results.json":
        observations = document[root]["results"][0]["observations"]
        assert all(
            o["relevant-evidence"][0]["href"] == f"#{resources[0]['uuid']}" for o in observations
        )


def test_every_uuid_reference_resolves(demo: Path) -> None:
    """Whatever refers to a uuid (a subject, an observation, an activity, ``#uuid``) finds
    it defined in the documents the results import."""
    documents = _documents(demo)
    defined = {u for document in documents.values() for u in _uuids(document, "uuid")}
    references = [
        *_uuids(documents, "subject-uuid"),
        *_uuids(documents, "observation-uuid"),
        *_uuids(documents, "activity-uuid"),
        *(h[1:] for h in _uuids(documents, "href") if h.startswith("#")),
    ]
    assert references and set(references) <= defined
    every = [u for document in documents.values() for u in _uuids(document, "uuid")]
    assert len(every) == len(defined)  # each defined once


def test_render_reproduces_the_oscal_set_byte_for_byte(demo: Path, tmp_path: Path) -> None:
    result = run_cli("render", demo / "report.json", "--format", "json,oscal", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    for name in [*MODELS, "report.json", "SHA256SUMS"]:
        assert (tmp_path / name).read_bytes() == (demo / name).read_bytes(), name


def test_controls_prints_the_catalog_alone(demo: Path) -> None:
    """The same controls give the same catalog: from the control files, or from a run."""
    result = run_cli("controls", "--policy", ROOT / "policy.yaml", "--format", "oscal-catalog")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["catalog"]
    Catalog.model_validate(printed)
    catalog = load_catalog(controls_dir_for(ROOT / "policy.yaml"))
    controls = [c for group in printed["groups"] for c in group["controls"]]
    assert [c["id"] for c in controls] == [c.id for c in catalog.controls]
    parts = _parts(controls)
    for control in catalog.controls:
        assert parts[f"{control.id}_smt"]["prose"] == control.objective
        for check in control.checks:
            assert parts[f"{control.id}_smt.{check.id}"]["prose"] == check.verifies
    secured = next(c for c in controls if c["id"] == "SC.10.02")
    mapped = catalog.get("SC.10.02")
    assert mapped is not None
    assert {(p["class"], p["value"]) for p in secured["props"]} == {
        (name, requirement) for name, reqs in mapped.frameworks.items() for requirement in reqs
    }
    assert {link["href"] for link in secured["links"]} >= {
        "https://doi.org/10.6028/NIST.SP.800-53r5"
    }
    from_run = json.loads((demo / "catalog.json").read_text())["catalog"]
    assert (printed["uuid"], printed["groups"]) == (from_run["uuid"], from_run["groups"])


def test_controls_refuses_a_catalog_with_a_framework() -> None:
    result = run_cli(
        "controls",
        "--policy",
        ROOT / "policy.yaml",
        "--format",
        "oscal-catalog",
        "--framework",
        "SOC2",
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("--format oscal-catalog: not with --framework")
