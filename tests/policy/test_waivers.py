"""Waivers, severity gating and the exit-code contract."""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from policycheck.demo.seeding import Deviation, seed
from policycheck.errors import InputError
from policycheck.policy.load import load_policy
from policycheck.policy.waivers import Waiver, apply_waivers, lint_waivers
from policycheck.report.gating import exit_code
from support.checks import make_report, make_result
from support.harness import (
    CliResult,
    MotoServer,
    Workspace,
    audit,
    new_workspace,
    run_cli,
    without_real_aws,
)

TODAY = date(2026, 11, 24)


def _waiver(
    expires: date, resource: str | None = "b", glob: str | None = None, check: str = "c"
) -> Waiver:
    return Waiver(
        check=check,
        environment="dev",
        resource=resource,
        resource_glob=glob,
        justification="accepted until the migration",
        owner="platform",
        ticket="SEC-1",
        expires=expires,
    )


def test_active_waiver_waives_only_the_matching_failure() -> None:
    results, [report] = apply_waivers(
        [
            make_result(),
            make_result(name="other"),
            make_result(status="pass", name="b", check_id="d"),
        ],
        [_waiver(TODAY + timedelta(days=60))],
        TODAY,
    )
    assert [r.status for r in results] == ["waived", "fail", "pass"]
    assert results[0].waiver.ticket == "SEC-1" and not results[0].waiver.expired
    assert (report.state, report.matched) == ("active", 1)


def test_waiver_by_arn_and_explicit_glob() -> None:
    by_arn = _waiver(TODAY, resource="arn:aws:s3:::b")
    assert apply_waivers([make_result()], [by_arn], TODAY)[0][0].status == "waived"
    glob = _waiver(TODAY, resource=None, glob="b*")
    results, _ = apply_waivers([make_result(name="bucket-1"), make_result(name="x")], [glob], TODAY)
    assert [r.status for r in results] == ["waived", "fail"]


def test_substring_is_not_a_match() -> None:
    results, [report] = apply_waivers([make_result(name="bb")], [_waiver(TODAY)], TODAY)
    assert results[0].status == "fail" and report.state == "stale"


def test_expired_waiver_no_longer_applies() -> None:
    results, [report] = apply_waivers([make_result()], [_waiver(TODAY - timedelta(days=1))], TODAY)
    assert results[0].status == "fail"
    assert results[0].waiver.expired
    assert results[0].message.endswith("(waiver SEC-1 expired on 2026-11-23)")
    assert report.state == "expired"


@pytest.mark.parametrize(("days", "state"), [(0, "expiring"), (14, "expiring"), (15, "active")])
def test_expiry_warning_boundary(days: int, state: str) -> None:
    _, [report] = apply_waivers([make_result()], [_waiver(TODAY + timedelta(days=days))], TODAY)
    assert report.state == state


def test_stale_waiver_and_errors_are_not_waivable() -> None:
    results, [report] = apply_waivers([make_result(status="error")], [_waiver(TODAY)], TODAY)
    assert results[0].status == "error" and report.state == "stale"


def test_lint_flags_expired_and_expiring() -> None:
    warnings = lint_waivers(
        [
            _waiver(TODAY - timedelta(days=3)),
            _waiver(TODAY + timedelta(days=5)),
            _waiver(TODAY + timedelta(days=90)),
        ],
        TODAY,
    )
    assert len(warnings) == 2
    assert "expired on 2026-11-21" in warnings[0] and "within 14 days" in warnings[1]


def test_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one of `resource` and `resource_glob`"):
        _waiver(TODAY, resource="b", glob="b*")


@pytest.mark.parametrize(
    ("results", "fail_on", "min_severity", "code"),
    [
        ([make_result(status="pass")], "error", "low", 0),
        ([make_result(status="fail")], "error", "low", 1),
        ([make_result(status="error")], "error", "low", 3),
        ([make_result(status="error"), make_result(status="fail")], "error", "low", 1),
        ([make_result(status="error")], "fail", "low", 0),
        ([make_result(status="fail")], "none", "low", 0),
        ([make_result(status="waived")], "error", "low", 0),
        ([make_result(status="fail", severity="medium")], "error", "high", 0),
        ([make_result(status="fail", severity="high")], "error", "high", 1),
        ([make_result(status="fail", severity="critical")], "error", "critical", 1),
    ],
)
def test_exit_code_contract(results: list, fail_on: str, min_severity: str, code: int) -> None:
    assert exit_code(make_report(*results), fail_on, min_severity) == code


# --- policy validation and the CLI ---------------------------------------------------------


def _with_waivers(workspace: Workspace, *waivers: dict) -> None:
    workspace.edit(lambda d: d.update(waivers=list(waivers)))


def _entry(**overrides: object) -> dict:
    return {
        "check": "s3-policy-denies-delete",
        "environment": "dev",
        "resource": "nn-aiconnectors-audit-dev",
        "justification": "legacy log shipper",
        "owner": "platform-team",
        "ticket": "SEC-42",
        "expires": (date.today() + timedelta(days=30)).isoformat(),
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (
            {"expires": (date.today() + timedelta(days=400)).isoformat()},
            "is more than a year ahead",
        ),
        ({"environment": "staging"}, "unknown environment 'staging'"),
        (
            {"check": "s3-versioning-enabled", "resource": "mcp-teams"},
            "'mcp-teams' is not a resource s3-versioning-enabled checks in dev",
        ),
        (
            {
                "check": "ecs-service-stable",
                "resource": None,
                "resource_glob": "x",
                "environment": "dev",
                "justification": "short",
            },
            "String should have at least 10 characters",
        ),
    ],
)
def test_invalid_waivers_exit_2(workspace: Workspace, overrides: dict, said: str) -> None:
    _with_waivers(workspace, _entry(**overrides))
    with pytest.raises(InputError, match=said):
        load_policy(workspace.policy_path)
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2 and said in result.stderr


def test_validate_warns_about_expiring_waivers(workspace: Workspace) -> None:
    _with_waivers(workspace, _entry(expires=(date.today() + timedelta(days=3)).isoformat()))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 0
    assert "1 waiver(s)" in result.stdout
    assert "within 14 days" in result.stderr


@dataclass(frozen=True)
class WaivedRun:
    """One audit in every format, then only dev's, then one gated at critical."""

    result: CliResult
    report: dict
    out: Path
    only_dev: CliResult
    gated: CliResult


@pytest.fixture(scope="module")
def waived_run(_moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> WaivedRun:
    """dev's and prod's audit buckets allow deletes, under three waivers: an active one
    (dev's failure), an expired one (prod's) and a stale one (versioning passes). Seeded
    and audited once for the tests that read these runs."""
    from policycheck.render import FORMATS

    workspace = new_workspace(tmp_path_factory.mktemp("waived"))
    past = (date.today() - timedelta(days=1)).isoformat()
    _with_waivers(
        workspace,
        _entry(),  # waives dev's delete-deny failure
        _entry(
            environment="prod", resource="nn-aiconnectors-audit-prod", ticket="SEC-7", expires=past
        ),  # expired: prod's failure stands
        _entry(
            check="s3-versioning-enabled",
            resource="aiconnectors-terraform-state-dev",
            ticket="SEC-9",
        ),  # stale: versioning passes
    )
    _moto_server.empty()
    out = workspace.directory / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        without_real_aws(monkeypatch)
        seed(
            workspace.policy,
            _moto_server.url,
            deviations=tuple(
                Deviation(env, "s3-policy-denies-delete", f"nn-aiconnectors-audit-{env}")
                for env in ("dev", "prod")
            ),
        )
        result, report = audit(_moto_server, workspace, "--format", ",".join(FORMATS), out=out)
        only_dev = audit(_moto_server, workspace, "--env", "dev", out=out.with_name("dev"))[0]
        gated = audit(
            _moto_server, workspace, "--min-severity", "critical", out=out.with_name("gated")
        )[0]
    _moto_server.empty()
    assert report is not None, result.stderr
    return WaivedRun(result, report, out, only_dev, gated)


def test_report_with_active_expired_and_stale_waivers(waived_run: WaivedRun) -> None:
    result, report, out = waived_run.result, waived_run.report, waived_run.out
    assert result.returncode == 1  # the expired waiver no longer covers prod
    statuses = {
        (r["environment"], r["check_id"]): r["status"]
        for r in report["results"]
        if r["check_id"] == "s3-policy-denies-delete"
    }
    assert statuses == {
        ("dev", "s3-policy-denies-delete"): "waived",
        ("prod", "s3-policy-denies-delete"): "fail",
    }
    assert [(w["ticket"], w["state"], w["matched"], w["waived"]) for w in report["waivers"]] == [
        ("SEC-42", "active", 1, 1),
        ("SEC-7", "expired", 1, 0),  # matched a failure, but no longer waives it
        ("SEC-9", "stale", 0, 0),
    ]
    assert report["summary"]["results"]["waived"] == 1
    markdown = (out / "report.md").read_text()
    assert "### WAIVED: `s3-policy-denies-delete` on `nn-aiconnectors-audit-dev`" in markdown
    assert "legacy log shipper" in markdown and "## Waivers" in markdown
    assert (
        "waiver SEC-9 (s3-versioning-enabled on aiconnectors-terraform-state-dev, dev): stale"
        in result.stdout
    )

    assert waived_run.only_dev.returncode == 0  # the waived failure does not fail the gate
    assert waived_run.gated.returncode == 0  # s3-policy-denies-delete is high, below critical


def test_waived_report_renders_in_every_format(waived_run: WaivedRun) -> None:
    import csv
    import json
    from xml.etree import ElementTree as ET

    result, out = waived_run.result, waived_run.out
    assert result.returncode == 1
    waived_arn = "arn:aws:s3:::nn-aiconnectors-audit-dev"

    rows = list(csv.DictReader((out / "report.csv").open()))
    assert {
        (r["resource_arn"], r["status"]) for r in rows if r["check"] == "s3-policy-denies-delete"
    } == {(waived_arn, "waived"), ("arn:aws:s3:::nn-aiconnectors-audit-prod", "fail")}
    skipped = ET.parse(out / "report.junit.xml").getroot().findall(".//skipped")
    assert len(skipped) == 1 and "SEC-42" in skipped[0].get("message")
    sarif = json.loads((out / "report.sarif").read_text())["runs"][0]["results"]
    suppressed = [r for r in sarif if "suppressions" in r]
    assert [r["properties"]["environment"] for r in suppressed] == ["dev"]
    assert suppressed[0]["suppressions"][0]["justification"] == "legacy log shipper"
    summary = (out / "summary.md").read_text()
    assert "**WAIVED** `s3-policy-denies-delete` on `nn-aiconnectors-audit-dev`" in summary
    oscal = json.loads((out / "assessment-results.json").read_text())
    findings = oscal["assessment-results"]["results"][0]["findings"]
    assert (
        next(f for f in findings if f["target"]["target-id"] == "SC.10.02_smt")["target"]["status"][
            "state"
        ]
        == "not-satisfied"
    )
    markdown = (out / "report.md").read_text()
    for state in ("ACTIVE", "EXPIRED", "STALE"):
        assert f"| {state} " in markdown
    assert "(waiver SEC-7 expired on" in markdown


# --- a waiver that switches a check off says so -----------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"resource": None, "resource_glob": "*"},
        {"resource": None, "resource_glob": "nn-aiconnectors-*"},  # the only bucket it checks
        {
            "check": "dynamodb-pitr-enabled",
            "resource": None,
            "resource_glob": "mcp-oauth-storage-*-dev",  # all four token tables of dev
        },
    ],
)
def test_waiver_covering_every_resource_needs_scope_all(
    workspace: Workspace, overrides: dict
) -> None:
    _with_waivers(workspace, _entry(**overrides))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert "for every resource it checks in dev; a waiver that switches a check off must say " in (
        result.stderr
    )
    _with_waivers(workspace, _entry(**overrides, scope="all"))
    assert run_cli("validate", "--policy", workspace.policy_path).returncode == 0


def test_narrow_glob_is_accepted(workspace: Workspace) -> None:
    _with_waivers(
        workspace,
        _entry(check="dynamodb-pitr-enabled", resource=None, resource_glob="*-teams-dev"),
    )
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 0, result.stderr


def test_critical_check_waived_everywhere_needs_scope_all(workspace: Workspace) -> None:
    """s3-public-access-blocked is critical: waiving it for both buckets in dev and in
    prod, one exact name at a time, switches it off entirely."""
    waivers = [
        _entry(
            check="s3-public-access-blocked",
            environment=env,
            resource=f"{bucket}-{env}",
            ticket=f"SEC-{env}-{bucket}",
        )
        for env in ("dev", "prod")
        for bucket in ("aiconnectors-terraform-state", "nn-aiconnectors-audit")
    ]
    _with_waivers(workspace, *waivers)
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert (
        "the waivers of critical check s3-public-access-blocked together waive it for every "
        "resource in every environment (dev, prod); each must say `scope: all`"
    ) in result.stderr
    _with_waivers(workspace, *waivers[:3])  # prod's audit bucket stays checked
    assert run_cli("validate", "--policy", workspace.policy_path).returncode == 0


def test_waiver_beside_a_binding_to_an_unknown_group_is_one_clear_error(
    workspace: Workspace,
) -> None:
    """Found by the fuzz test: the binding's unknown group was expanded for the waiver's
    coverage check and raised KeyError instead of the message."""
    workspace.edit(lambda d: d["checks"][0].update(resources=["no_such_group"]))
    check = _bound_check(workspace, 0)
    _with_waivers(workspace, _entry(check=check, resource=None, resource_glob="aiconnectors-*"))
    with pytest.raises(InputError, match=r"checks\[0\]\.resources\[0\]: unknown resource"):
        load_policy(workspace.policy_path)


def test_glob_waiver_in_an_unknown_environment_is_one_clear_error(workspace: Workspace) -> None:
    _with_waivers(workspace, _entry(environment="qa", resource=None, resource_glob="nn-*"))
    with pytest.raises(InputError, match=r"waivers\[0\]\.environment: unknown environment 'qa'"):
        load_policy(workspace.policy_path)


def _bound_check(workspace: Workspace, index: int) -> str:
    import yaml

    return str(yaml.safe_load(workspace.policy_path.read_text())["checks"][index]["check"])
