"""Never a false pass: every path that could say PASS, exit 0 or "resolved" without
evidence fails closed (issue 9). Each test here failed on the code before the fix."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from policycheck.demo.seeding import seed
from policycheck.errors import InputError
from policycheck.report.diff import diff_reports, is_regression
from policycheck.report.gating import exit_code
from policycheck.report.merge import merge_reports
from policycheck.report.model import ControlInEnvironment, Gap, assess_control
from policycheck.validation import MAX_YAML_BYTES, MAX_YAML_EXPANDED_BYTES, parse_yaml
from support.checks import make_report, make_result
from support.faults import Fault
from support.harness import MotoServer, Workspace, audit, run_cli

# --- a run that assesses nothing is not a pass --------------------------------------


@pytest.mark.parametrize("command", ["run", "validate"])
def test_selection_matching_nothing_exits_2(workspace: Workspace, command: str) -> None:
    """The drills are bound in dev only: prod's SC.10.03.02 has nothing to assess. Said
    in one line, before any AWS call (no endpoint is given)."""
    result = run_cli(
        command,
        "--policy",
        workspace.policy_path,
        "--env",
        "prod",
        "--controls",
        "SC.10.03.02",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # nothing listens: never called
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "policycheck: error: nothing to assess: SC.10.03.02 in prod: the policy binds its "
        "checks only in dev"
    )
    assert "PASS" not in result.stdout
    assert not (workspace.directory / "reports").exists()


def test_policy_without_bound_checks_for_the_selection_exits_2(workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d.update(checks=[c for c in d["checks"] if c["check"] != "ecs-service-stable"])
    )
    result = run_cli(
        "validate", "--policy", workspace.policy_path, "--checks", "ecs-service-stable"
    )
    assert result.returncode == 2
    assert "'ecs-service-stable' is not bound in policy.yaml; add it under checks:" in (
        result.stderr
    )


def test_existing_but_unbound_check_is_named_as_such(workspace: Workspace) -> None:
    result = run_cli(
        "run", "--policy", workspace.policy_path, "--checks", "s3-cross-region-replication"
    )
    assert result.returncode == 2
    assert (
        "--checks: 's3-cross-region-replication' is not bound in policy.yaml; add it under "
        "checks: with the resources it applies to"
    ) in result.stderr
    assert "unknown" not in result.stderr


def test_validate_warns_about_controls_that_can_never_be_assessed(workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d.update(
            checks=[c for c in d["checks"] if c["check"] != "dr-drill-evidence-fresh"]
        )
    )
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: SC.10.03.02: none of its checks (dr-drill-evidence-fresh) is bound in the "
        "policy; it will be reported NOT ASSESSED"
    ) in result.stderr


def test_control_status_per_environment_and_overall() -> None:
    """A control passes only where it was assessed; not assessed anywhere keeps the run
    from passing, not applicable (bound elsewhere) does not."""
    results = [make_result("a", "pass", environment="dev")]
    control = assess_control(
        "C.1",
        "t",
        ["a"],
        results,
        environments={
            "dev": ControlInEnvironment(status="not_assessed", reason="unused: has a result"),
            "prod": ControlInEnvironment(status="not_applicable", reason="bound only in dev"),
        },
    )
    assert control.status == "pass"
    assert control.environments["prod"].status == "not_applicable"
    missing = assess_control(
        "C.1",
        "t",
        ["a"],
        results,
        environments={
            "dev": ControlInEnvironment(status="pass"),
            "prod": ControlInEnvironment(status="not_assessed", reason="not audited"),
        },
    )
    assert (missing.status, missing.reason) == ("not_assessed", "prod: not audited")
    report = make_report(*results, controls=(missing,))
    assert report.summary.status == "not_assessed"
    # not assessed is not a read error: --fail-on fail does not silence it
    assert exit_code(report) == 3 and exit_code(report, "fail") == 3
    assert exit_code(make_report(*results, controls=(control,))) == 0


# --- a name pattern that matches nothing fails ----------------------------------------


def _only_token_tables(workspace: Workspace, *, allow_empty: bool = False) -> None:
    def change(document: dict) -> None:
        group = document["resources"]["token_tables"]
        group["name"] = "mcp-oauth-storage-*-{env}"
        group.pop("description", None)
        if allow_empty:
            group["allow_empty"] = True

    workspace.edit(change)


def test_pattern_matching_nothing_fails_each_bound_check(
    moto: MotoServer, workspace: Workspace
) -> None:
    """Every token table deleted (or a typo in the pattern): a failure for each check
    bound to the group, as for a named table that is missing, never a silent pass."""
    _only_token_tables(workspace)
    seed(workspace.policy, moto.url)
    dynamodb = boto3.client("dynamodb", endpoint_url=moto.url, region_name="eu-central-1")
    for name in dynamodb.list_tables()["TableNames"]:
        if name.startswith("mcp-oauth-storage-") and name.endswith("-dev"):
            dynamodb.delete_table(TableName=name)
    result, report = audit(moto, workspace, "--env", "dev", "--controls", "SC.10.01.01")
    assert result.returncode == 1, result.stdout + result.stderr
    [unmatched] = [r for r in report["results"] if r["resource"]["name"].startswith("mcp-oauth")]
    assert unmatched["status"] == "fail"
    assert unmatched["check_id"] == "dynamodb-pitr-enabled"
    assert unmatched["message"].startswith(
        "no DynamoDB table matches 'mcp-oauth-storage-*-dev' in account 123456789012, "
        "eu-central-1 (listed with dynamodb:ListTables); expected at least one"
    )
    assert unmatched["observed"] == {"matching_resources": 0, "pattern": "mcp-oauth-storage-*-dev"}
    control = next(c for c in report["controls"] if c["id"] == "SC.10.01.01")
    assert control["status"] == "fail"


def test_pattern_allowed_to_match_nothing(moto: MotoServer, workspace: Workspace) -> None:
    _only_token_tables(workspace, allow_empty=True)
    seed(workspace.policy, moto.url)
    dynamodb = boto3.client("dynamodb", endpoint_url=moto.url, region_name="eu-central-1")
    for name in dynamodb.list_tables()["TableNames"]:
        if name.startswith("mcp-oauth-storage-"):
            dynamodb.delete_table(TableName=name)
    result, report = audit(moto, workspace, "--env", "dev", "--checks", "dynamodb-ttl-enabled")
    # Nothing else is selected: an allowed-empty pattern alone is nothing to assess.
    assert result.returncode == 2 and report is None
    assert "nothing to assess" in result.stderr


def test_allow_empty_needs_a_pattern(workspace: Workspace) -> None:
    workspace.edit(lambda d: d["resources"]["lock_table"].update(allow_empty=True))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert "resources.lock_table: Value error, `allow_empty` applies to name patterns" in (
        result.stderr
    )


# --- diff and merge never turn a missing shard into "resolved" -------------------------


def _report(*results, environments=("dev", "prod"), **run):  # type: ignore[no-untyped-def]
    from policycheck.report.model import EnvironmentInfo

    report = make_report(*results)
    info = [
        EnvironmentInfo(name=e, account_id="123456789012", caller_arn="a", region="eu-central-1")
        for e in environments
    ]
    return report.model_copy(
        update={"run": report.run.model_copy(update={"environments": info, **run})}
    )


def test_diff_missing_environment_is_not_compared_and_a_regression() -> None:
    old = _report(
        make_result("c", "fail", environment="dev"), make_result("c", "fail", environment="prod")
    )
    new = _report(make_result("c", "pass", environment="dev"), environments=("dev",))
    changes = diff_reports(old, new)
    assert [e["environment"] for e in changes["resolved_failures"]] == ["dev"]
    [missing] = changes["not_compared"]
    assert missing["environment"] == "prod" and missing["was"] == "fail"
    assert missing["status"].startswith("missing from NEW: prod in 123456789012, eu-central-1")
    assert changes["coverage_lost"] and is_regression(changes)


def test_diff_error_is_not_resolved() -> None:
    old = _report(make_result("c", "fail"))
    new = _report(make_result("c", "error"))
    changes = diff_reports(old, new)
    assert changes["resolved_failures"] == []
    assert [e["was"] for e in changes["new_errors"]] == ["fail"]
    assert is_regression(changes)


def test_diff_cli_lists_not_compared_and_fails(tmp_path: Path) -> None:
    old = _report(make_result("c", "fail", environment="prod"))
    new = _report(make_result("c", "pass", environment="dev"), environments=("dev",))
    (tmp_path / "old.json").write_text(old.model_dump_json(by_alias=True))
    (tmp_path / "new.json").write_text(new.model_dump_json(by_alias=True))
    result = run_cli("diff", tmp_path / "old.json", tmp_path / "new.json", "--fail-on-new")
    assert result.returncode == 1
    assert "## Coverage lost (1)" in result.stdout
    assert "## Not compared (missing from NEW, or not judged by it) (1)" in result.stdout
    assert "## Resolved failures (0)" in result.stdout


def test_merge_records_a_missing_shard_and_exits_3(tmp_path: Path) -> None:
    shard = _report(
        make_result("c", "pass"),
        environments=("dev",),
        shard="1/3",
        occupied_shards=[1, 3],
        policy_environments=["dev"],
    )
    merged = merge_reports([shard], ["shard-1.json"])
    assert [(g.environment, g.reason) for g in merged.run.gaps] == [
        ("*", "shard 3/3: no report merged")  # shard 2 had nothing to do
    ]
    assert merged.summary.status == "not_assessed"
    path = tmp_path / "shard-1.json"
    path.write_text(shard.model_dump_json(by_alias=True))
    result = run_cli("merge", path, "-o", tmp_path / "merged")
    assert result.returncode == 3
    assert "not assessed: *: shard 3/3: no report merged" in result.stderr
    merged_file = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert merged_file["summary"]["status"] == "not_assessed"
    allowed = run_cli("merge", path, "-o", tmp_path / "m2", "--allow-missing")
    assert allowed.returncode == 0


def test_merge_records_an_environment_without_report() -> None:
    dev = _report(
        make_result("c", "pass"), environments=("dev",), policy_environments=["dev", "prod"]
    )
    merged = merge_reports([dev], ["dev.json"])
    assert [(g.environment, g.reason) for g in merged.run.gaps] == [
        ("prod", "no report merged for this environment")
    ]
    assert merged.summary.status == "not_assessed"


def test_merge_keeps_gaps_once() -> None:
    gap = Gap(environment="prod", reason="no active account")
    one = _report(make_result("c", "pass"), environments=("dev",), gaps=[gap], shard="1/2")
    two = _report(environments=(), gaps=[gap], shard="2/2")
    assert merge_reports([one, two], ["1", "2"]).run.gaps == [gap]


# --- bad input: one line, exit 2, before any AWS call -----------------------------------


def test_output_dir_that_is_a_file_is_refused_first(workspace: Workspace) -> None:
    target = workspace.directory / "a-file"
    target.write_text("x")
    for command in (
        ["run", "--policy", workspace.policy_path, "--endpoint-url", "http://127.0.0.1:9"],
        ["demo", "--policy", workspace.policy_path],
    ):
        result = run_cli(*command, "--output-dir", target)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()[-1:]
        assert str(target) in line and "Traceback" not in result.stderr
    assert target.read_text() == "x"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--endpoint-url", "not-a-url"], "'not-a-url' is not an http(s) URL"),
        (["--max-per-service", "foo=3"], "--max-per-service: unknown service 'foo'"),
    ],
)
def test_bad_run_options_exit_2(workspace: Workspace, args: list[str], said: str) -> None:
    result = run_cli("run", "--policy", workspace.policy_path, *args)
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr


def test_unknown_region_is_a_warning_naming_the_closest(workspace: Workspace) -> None:
    workspace.edit(lambda d: d["environments"]["dev"].update(region="eu-centrl-1"))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 0  # a region newer than botocore must stay usable
    assert (
        "environments.dev.region: 'eu-centrl-1' is not a region botocore" in result.stderr
        and "did you mean 'eu-central-1'?" in result.stderr
    )


def _serve(body: bytes | None) -> tuple[str, object]:
    """A loopback HTTP server answering every request with ``body`` (HTML), or closing
    the connection without an answer (None)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if body is None:
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.mark.parametrize("body", [b"<html><h1>Welcome to nginx!</h1>" + b"x" * 4000, None])
def test_endpoint_that_is_not_aws_fails_fast_in_one_line(
    workspace: Workspace, body: bytes | None
) -> None:
    url, server = _serve(body)
    try:
        result, report = audit(url, workspace)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert result.returncode == 2 and report is None
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("policycheck: error: ")
    assert "<html" not in line and len(line) < 300


BOMB = """
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


@pytest.mark.parametrize("where", ["mcps", "params", "description"])
def test_yaml_alias_bomb_is_refused_quickly(workspace: Workspace, where: str) -> None:
    text = workspace.policy_path.read_text()
    anchors = "x-bomb:" + BOMB.replace("\n", "\n  ")
    target = {"mcps": "mcps: *h", "params": "x: *h", "description": "description: *h"}[where]
    if where == "mcps":
        text = text.replace("mcps:", "mcps_was:", 1) + "\n" + target + "\n"
    elif where == "params":
        text = text.replace(
            "params: {min_recovery_days: 35}", "params: {min_recovery_days: 35, " + target + "}"
        )
    else:
        text = text.replace(
            "    description: Terraform state (§3 Terraform State Bucket)", "    " + target
        )
    workspace.policy_path.write_text(anchors + "\n" + text)
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert "expands to more than 200,000 nodes through its aliases" in result.stderr  # was: 5.8 GB


@pytest.mark.parametrize("aliases", [25, 20_000])
def test_one_big_string_repeated_through_aliases_is_refused(
    workspace: Workspace, aliases: int
) -> None:
    """Few nodes, many bytes: 900 KB of one string repeated through aliases was valid at
    426 MB expanded (25 aliases) and a MemoryError, exit 70, at 20,000."""
    text = workspace.policy_path.read_text().replace("mcps:", "mcps_was:", 1)
    text += f"\nmcps: [&s {'a' * 900_000}, {', '.join(['*s'] * aliases)}]\n"
    assert len(text) < MAX_YAML_BYTES
    workspace.policy_path.write_text(text)
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2, result.stderr
    assert "expands to more than 4 MiB of text through its aliases" in result.stderr
    assert len(result.stderr) < 300


def test_expanded_text_at_the_bound_is_read() -> None:
    piece = "a" * 1000
    bound = MAX_YAML_EXPANDED_BYTES // 1000
    parse_yaml(f"[&s {piece}, " + ", ".join(["*s"] * (bound - 1)) + "]", "p.yaml")
    with pytest.raises(InputError, match="more than 4 MiB of text"):
        parse_yaml(f"[&s {piece}, " + ", ".join(["*s"] * bound) + ", b]", "p.yaml")


@pytest.mark.parametrize(
    ("group", "field", "template", "limit", "label"),
    [
        ("state_bucket", "name", "b-{env}-", 63, "S3 bucket name"),
        ("lock_table", "name", "t-{env}-", 255, "DynamoDB table name"),
        ("ecr_repositories", "name", "r-{mcp}-", 256, "ECR repository name"),
        ("ecs_services", "name", "s-{mcp}-", 255, "ECS service name"),
        ("ecs_services", "cluster", "c-{env}-", 255, "ECS service cluster"),
        ("client_secrets", "name", "/p/{env}/", 1011, "SSM parameter name"),
    ],
)
def test_a_name_longer_than_aws_allows_is_refused(
    workspace: Workspace, group: str, field: str, template: str, limit: int, label: str
) -> None:
    """The longest expansion (the longest environment, region and MCP name) counts."""
    longest = {"{env}": len("prod"), "{mcp}": len("outlook-mcp")}
    fixed = len(template) - sum(len(k) - v for k, v in longest.items() if k in template)

    def named(length: int) -> Callable[[dict], None]:
        return lambda d: d["resources"][group].update({field: template + "x" * (length - fixed)})

    workspace.edit(named(limit))
    assert run_cli("validate", "--policy", workspace.policy_path).returncode == 0
    workspace.edit(named(limit + 1))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert (
        f"resources.{group}.{field}: expands to names of up to {limit + 1:,} characters; "
        f"AWS allows at most {limit} ({label})"
    ) in result.stderr


@pytest.mark.parametrize(
    "template", ["x-{env:>2000000000}", "x-{env!r}", "x-{env.__class__}", "x-{env[0]}"]
)
def test_name_template_accepts_plain_placeholders_only(workspace: Workspace, template: str) -> None:
    workspace.edit(lambda d: d["resources"]["lock_table"].update(name=template))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert "resources.lock_table.name" in result.stderr
    assert "placeholder" in result.stderr


def test_check_parameter_template_accepts_plain_placeholders_only(workspace: Workspace) -> None:
    def change(document: dict) -> None:
        binding = next(c for c in document["checks"] if c["check"] == "dynamodb-access-isolated")
        binding["params"] = {"table": "t-{env:>2000000000}"}

    workspace.edit(change)
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert ".params.table: Value error, {env:>2000000000} is not a plain placeholder" in (
        result.stderr
    )


@pytest.mark.parametrize("command", [["schema", "report"], ["controls"], ["drills"]])
def test_closed_pipe_is_not_a_traceback(workspace: Workspace, command: list[str]) -> None:
    """`policycheck … | head`: no BrokenPipeError traceback; exit 141 (128 + SIGPIPE) as
    Unix tools end. The pipe's reading end is closed before the command starts."""
    import os

    args = command if command[0] == "schema" else [*command, "--policy", workspace.policy_path]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "policycheck", *map(str, args)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == 141, completed.stderr
    assert completed.stderr == ""


def test_workflows_check_out_full_history_where_drills_are_judged() -> None:
    """actions/checkout fetches one commit by default: a drill record deleted within the
    retention would be invisible (the check errs on a shallow clone; the workflows avoid
    it). Every job that audits (runs `policycheck run`, or the action beyond installing)
    checks the repository out with full history."""
    import yaml

    from support.harness import REPO

    def audits(step: dict) -> bool:
        uses = str(step.get("uses", ""))
        if uses.startswith("./"):
            return str(step.get("with", {}).get("install-only", "false")) != "true"
        return "policycheck run" in step.get("run", "")

    auditing = 0
    for path in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            steps = job.get("steps", [])
            if not any(audits(step) for step in steps):
                continue
            auditing += 1
            checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout")]
            repository = [s for s in checkouts if "path" not in s.get("with", {})]
            assert repository, (path.name, name)
            assert all(s["with"].get("fetch-depth") == 0 for s in repository), (path.name, name)
    assert auditing >= 2  # the nightly's audit and the release gate


def _unassessed_report():  # type: ignore[no-untyped-def]
    results = [make_result("a", "pass", environment="dev")]
    control = assess_control(
        "C.1",
        "t",
        ["a"],
        results,
        environments={
            "dev": ControlInEnvironment(status="pass"),
            "prod": ControlInEnvironment(status="not_assessed", reason="not audited"),
        },
        source_file="controls/C.1.yaml",
    )
    return make_report(*results, controls=(control,))


def test_every_view_shows_what_was_not_assessed() -> None:
    """A view that shows only results would look clean: each says what was not assessed."""
    import xml.etree.ElementTree as ET

    from policycheck.render import FORMATS

    report = _unassessed_report()
    sarif = json.loads(FORMATS["sarif"].render(report))
    [gap] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "policycheck-not-assessed"]
    assert gap["message"]["text"] == "C.1 not assessed in prod: not audited"
    assert gap["level"] == "error"
    assert "## policycheck: NOT ASSESSED" in FORMATS["summary"].render(report)
    assert "- **NOT ASSESSED** C.1 in prod: not audited" in FORMATS["summary"].render(report)
    oscal = json.loads(FORMATS["oscal"].render(report))
    [finding] = oscal["assessment-results"]["results"][0]["findings"]
    assert finding["target"]["status"]["state"] == "not-satisfied"
    junit = ET.fromstring(FORMATS["junit"].render(report))
    assert [e.get("message") for e in junit.iter("error")] == [
        "not assessed: C.1 in prod: not audited"
    ]


def test_diff_check_dropped_from_new_is_lost_coverage() -> None:
    """Removing a failing check from policy.yaml must not read as 'resolved'."""
    old = _report(make_result("c", "fail"), make_result("d", "pass"))
    new = _report(make_result("d", "pass"))
    changes = diff_reports(old, new)
    assert changes["resolved_failures"] == []
    assert changes["coverage_lost"] == [
        "missing from NEW: no result of c in dev (123456789012, eu-central-1)"
    ]
    assert is_regression(changes)


def test_merge_of_reports_that_selected_differently_is_not_a_pass() -> None:
    """dev ran everything, prod only one check: prod's other controls are not assessed in
    the merge, not 'not selected' (which would let the merge pass)."""
    dev_result = make_result("a", "pass", environment="dev")
    prod_result = make_result("b", "pass", environment="prod")

    def control(cid: str, checks: list[str], env: str, status: str, result):  # type: ignore[no-untyped-def]
        there = ControlInEnvironment(status=status)
        return assess_control(cid, "t", checks, [result], environments={env: there})

    dev = _report(dev_result, environments=("dev",)).model_copy(
        update={
            "controls": [
                control("C.1", ["a"], "dev", "pass", dev_result),
                control("C.2", ["b"], "dev", "pass", make_result("b", "pass")),
            ]
        }
    )
    prod = _report(prod_result, environments=("prod",), selected_checks=["b"]).model_copy(
        update={
            "controls": [
                control("C.1", ["a"], "prod", "not_selected", prod_result),
                control("C.2", ["b"], "prod", "pass", prod_result),
            ]
        }
    )
    merged = merge_reports([dev, prod], ["dev.json", "prod.json"])
    c1 = next(c for c in merged.controls if c.id == "C.1")
    assert c1.environments["prod"].status == "not_assessed"
    assert merged.summary.status == "not_assessed"
    assert merged.run.selected_checks is None  # dev selected everything


def test_legacy_report_is_never_a_pass(tmp_path: Path) -> None:
    """A report of schema 1.0 (an older policycheck) cannot tell what it left out: render
    and merge both say NOT ASSESSED, never PASS."""
    legacy = json.loads(_report(make_result("c", "pass")).model_dump_json(by_alias=True))
    legacy["schema_version"] = "1.0"
    for key in ("selected_environments", "policy_environments", "shard", "gaps"):
        legacy["run"].pop(key, None)
    path = tmp_path / "old" / "report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(legacy))
    rendered = run_cli("render", path, "-o", tmp_path / "rendered")
    assert rendered.returncode == 0, rendered.stderr
    again = json.loads((tmp_path / "rendered" / "report.json").read_text())
    assert again["schema_version"] == "1.2"
    assert again["summary"]["status"] == "not_assessed"
    assert "older policycheck" in again["run"]["gaps"][0]["reason"]
    merged = run_cli("merge", path, "-o", tmp_path / "merged")
    assert merged.returncode == 3


def test_render_or_merge_never_replace_their_input(tmp_path: Path) -> None:
    report = _report(make_result("c", "pass"))
    path = tmp_path / "out" / "report.json"
    path.parent.mkdir()
    path.write_text(report.model_dump_json(by_alias=True))
    for command in (["render", path], ["merge", path]):
        result = run_cli(*command, "--format", "csv", "-o", tmp_path / "out")
        assert result.returncode == 2
        assert "whose report set this command replaces" in result.stderr
    assert json.loads(path.read_text())["results"]


def test_merge_can_gate_on_the_merged_status(tmp_path: Path) -> None:
    report = _report(make_result("c", "fail"), policy_environments=["dev", "prod"])
    path = tmp_path / "r.json"
    path.write_text(report.model_dump_json(by_alias=True))
    assert run_cli("merge", path, "-o", tmp_path / "m", "--allow-missing").returncode == 0
    gated = run_cli("merge", path, "-o", tmp_path / "m", "--fail-on", "error")
    assert gated.returncode == 1


#: Answers holding a lone surrogate (JSON can say it, UTF-8 and so a report cannot) and
#: what the error of the facts read from them says.
SURROGATE_ANSWERS = {
    # The stream is then described by its name and not found: the error quotes it escaped.
    "ListDeliveryStreams": (
        '{"DeliveryStreamNames": ["\\ud800x"], "HasMoreDeliveryStreams": false}',
        "ResourceNotFoundException: Firehose \\ud800x under account",
    ),
    "DescribeTimeToLive": (
        '{"TimeToLiveDescription": {"TimeToLiveStatus": "\\ud800x"}}',
        "UnstorableValue: TimeToLiveStatus is not Unicode text (a lone surrogate)",
    ),
    "DescribeServices": (
        '{"services": [{"serviceName": "x", "deployments": [{"status": "\\ud800x"}]}],'
        ' "failures": []}',
        "UnstorableValue: deployments[0].status is not Unicode text (a lone surrogate)",
    ),
}


@pytest.mark.parametrize("operation", sorted(SURROGATE_ANSWERS))
def test_an_answer_a_report_cannot_hold_is_an_error_of_its_fact_only(
    moto: MotoServer, workspace: Workspace, operation: str
) -> None:
    """One undecodable string ended the run with exit 70, PydanticSerializationError and
    no report."""
    seed(workspace.policy, moto.url)
    answer, said = SURROGATE_ANSWERS[operation]
    moto.faults.add(Fault(operation, "", 200, answer=answer))
    result, report = audit(moto, workspace, "--env", "dev")
    assert result.returncode == 3, result.stderr
    assert report is not None
    errors = [r for r in report["results"] if r["status"] == "error"]
    assert any(said in r["message"] for r in errors), errors
    assert len(report["results"]) - len(errors) >= 39  # every other result is written
