"""The plan gate on real Terraform: examples/terraform applied with the hashicorp/aws
provider to a moto server on loopback; `policycheck run` after an apply gives the verdict
`policycheck plan` gave on that apply's plan.

Needs `terraform` on PATH and the provider in a filesystem mirror (TF_PLUGIN_MIRROR, or
/opt/tf-plugins, ~/.terraform.d/plugins): skipped, saying why, without them, unless
POLICYCHECK_REQUIRE_TERRAFORM=1 (.ci/run sets it where they are) makes that a failure.
Nothing is downloaded. One apply of the example, one plan and apply of a batch of
independent deviations: a few minutes."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from policycheck.demo.seeding import demo_session
from policycheck.engine.plan import judge_plan
from policycheck.engine.planning import select
from policycheck.engine.runner import RunOptions, run_audit
from policycheck.paths import controls_dir_for
from policycheck.plugin.check import CheckSpec
from policycheck.policy.controls import load_catalog
from policycheck.policy.load import load_policy
from policycheck.report.model import Report
from policycheck.sources.terraform.planfile import read_plan
from support.harness import POLICY_PATH, REPO

pytestmark = pytest.mark.xdist_group("terraform")

EXAMPLE = REPO / "examples" / "terraform"
PROVIDER = Path("registry.terraform.io/hashicorp/aws")
MIRRORS = [
    Path(p)
    for p in (
        os.environ.get("TF_PLUGIN_MIRROR", ""),
        "/opt/tf-plugins",
        str(Path.home() / ".terraform.d" / "plugins"),
    )
    if p
]
SERVICES = ("s3", "dynamodb", "ecr", "ecs", "iam", "kms", "ssm", "sts", "firehose")
MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
server.start()
print("PORT", server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _mirror() -> Path | None:
    return next(
        (m for m in MIRRORS if any((m / PROVIDER).glob("*/*/terraform-provider-aws*"))), None
    )


def _missing() -> str | None:
    if shutil.which("terraform") is None:
        return "no terraform on PATH"
    if _mirror() is None:
        return f"no hashicorp/aws provider in a filesystem mirror ({', '.join(map(str, MIRRORS))})"
    return None


@pytest.fixture(scope="module")
def terraform_here() -> None:
    missing = _missing()
    if missing and os.environ.get("POLICYCHECK_REQUIRE_TERRAFORM") == "1":
        pytest.fail(f"POLICYCHECK_REQUIRE_TERRAFORM=1 but {missing}")
    if missing:
        pytest.skip(missing)


@dataclass
class Platform:
    """The example in a working directory, pointed at a moto server."""

    directory: Path
    endpoint: str
    environment: dict[str, str]

    def terraform(self, *args: str) -> str:
        done = subprocess.run(
            ["terraform", *args, "-no-color"],
            cwd=self.directory,
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def plan(self, name: str) -> Path:
        """A plan of the configuration as it is (``-refresh=false``: moto's state is
        what the last apply left), as ``terraform show -json``."""
        self.terraform("plan", "-refresh=false", "-input=false", f"-out={name}.tfplan")
        path = self.directory / f"{name}.json"
        path.write_text(self.terraform("show", "-json", f"{name}.tfplan"))
        return path

    def apply(self, name: str) -> None:
        self.terraform("apply", "-input=false", "-auto-approve", f"{name}.tfplan")


def _network(endpoint: str) -> dict[str, list[str]]:
    """The subnet and security group another module would give the services."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-central-1", **_keys())
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="mcp", Description="mcp", VpcId=vpc)["GroupId"]
    return {"subnet_ids": [subnet], "security_group_ids": [group]}


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _provider_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in SERVICES)
    return f"""provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}
"""


@pytest.fixture(scope="module")
def platform(terraform_here: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The example applied to a moto server of its own (a process of its own: moto's state
    is per process, and other tests reset theirs)."""
    root = tmp_path_factory.mktemp("terraform")
    server = subprocess.Popen(
        [sys.executable, "-c", MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = ""
        while not line.startswith("PORT "):
            line = server.stdout.readline()
            assert line, "the moto server did not start"
        endpoint = f"http://127.0.0.1:{line.split()[1]}"
        directory = root / "platform"
        shutil.copytree(EXAMPLE, directory)
        (directory / "moto_override.tf").write_text(_provider_override(endpoint))
        (directory / "network.auto.tfvars.json").write_text(json.dumps(_network(endpoint)))
        config = root / "terraform.rc"
        config.write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{_mirror()}"\n'
            f'    include = ["{PROVIDER}"]\n  }}\n  direct {{\n    exclude = ["{PROVIDER}"]\n'
            "  }\n}\n"
        )
        environment = {
            **os.environ,
            **CREDENTIALS,
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }
        platform = Platform(directory, endpoint, environment)
        platform.terraform("init", "-input=false")
        platform.plan("compliant")
        platform.apply("compliant")
        yield platform
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


POLICY = load_policy(POLICY_PATH)
CATALOG = load_catalog(controls_dir_for(POLICY_PATH), POLICY.registry)
#: The checks a Terraform plan judges (the platform repository's are judged on the
#: repository: tests/engine/test_plan.py).
JUDGEABLE = sorted(
    {
        b.check.id
        for b in POLICY.bindings
        if POLICY.registry.plan.judgeable(b.check)
        and not POLICY.registry.plan.on_repository(b.check)
    }
)


def _judgeable(check: CheckSpec) -> bool:
    return check.id in JUDGEABLE


def live(platform: Platform) -> Report:
    options = RunOptions(endpoint_url=platform.endpoint, session_factory=demo_session)
    return run_audit(POLICY, CATALOG, select(POLICY, CATALOG, ["dev"], JUDGEABLE), options)


def judged(plan: Path) -> Report:
    return judge_plan(POLICY, CATALOG, select(POLICY, CATALOG, ["dev"]), [read_plan(plan)])


def verdicts(report: Report) -> dict[tuple[str, str], str]:
    """(check, resource) -> status of the plan-judgeable checks."""
    return {
        (r.check_id, r.resource.name): r.status for r in report.results if r.check_id in JUDGEABLE
    }


def test_the_example_complies_live_and_on_its_plan(platform: Platform) -> None:
    """Applied, every plan-judgeable bound check passes live; the plan after it (no change
    but moto's unstored ECS setting) passes them all too."""
    after = verdicts(live(platform))
    assert set(after.values()) == {"pass"}, {k: v for k, v in after.items() if v != "pass"}
    assert len(after) == 35
    on_plan = verdicts(judged(platform.plan("unchanged")))
    assert on_plan == after


#: Independent deviations a team might make, in one plan: a setting loosened, a retention
#: shortened by a variable, a rename forcing a replacement, a secret removed (deleted), a
#: compliant hardening of a token table (deletion protection: the task role's policy
#: document is then read at apply, its statements known).
DEVIATIONS = """
resource "aws_s3_bucket_versioning" "state" {
  versioning_configuration {
    status = "Suspended"
  }
}

resource "aws_dynamodb_table" "lock" {
  name = "aiconnectors-terraform-locks-${var.env}"
}

resource "aws_ssm_parameter" "client_secret" {
  for_each = setsubtract(var.mcps, ["databricks"])
}

resource "aws_dynamodb_table" "tokens" {
  deletion_protection_enabled = each.key == "outlook-mcp"
  point_in_time_recovery {
    enabled                 = true
    recovery_period_in_days = each.key == "teams" ? 7 : 35
  }
}
"""
VARIABLES = {"tagged_images_kept": 5}
MCPS = ("sharepoint", "outlook-mcp", "teams", "databricks")
#: What the deviations break (the rest stays compliant).
BROKEN = {
    ("s3-versioning-enabled", "aiconnectors-terraform-state-dev"),
    ("terraform-lock-table-ready", "aiconnectors-terraform-lock-dev"),
    ("dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev"),
    *(("ecr-lifecycle-retains-tagged", f"mcp-{mcp}") for mcp in MCPS),
    ("ssm-parameter-secure", "/aiconnectors/dev/mcps/databricks/client-secret"),
}


def test_deviations_get_the_same_verdict_on_the_plan_and_live_after_it(
    platform: Platform,
) -> None:
    (platform.directory / "deviations_override.tf").write_text(DEVIATIONS)
    (platform.directory / "deviations.auto.tfvars.json").write_text(json.dumps(VARIABLES))
    plan = platform.plan("deviations")
    on_plan = verdicts(judged(plan))
    platform.apply("deviations")
    after = verdicts(live(platform))
    assert {k for k, v in on_plan.items() if v != "pass"} == BROKEN, on_plan
    assert on_plan == after
    assert on_plan[("dynamodb-access-isolated", "mcp-outlook-mcp-main-svc")] == "pass"


#: Another team's module: standalone attachments naming by a string a repository and a
#: bucket the platform manages; one keeps more images (compliant), one loosens the block.
ELSEWHERE = """
provider "aws" {
  region = "eu-central-1"
}

resource "aws_ecr_lifecycle_policy" "teams" {
  repository = "mcp-teams"
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      selection = {
        tagStatus      = "tagged"
        tagPatternList = ["*"]
        countType      = "imageCountMoreThan"
        countNumber    = 20
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = "aiconnectors-terraform-state-dev"
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = false
}
"""


def test_standalone_attachments_of_resources_managed_elsewhere(platform: Platform) -> None:
    """The plan of a module holding only attachments judges the facts they carry, as the
    live audit does after its apply; the targets' other checks are not in the plan."""
    directory = platform.directory.parent / "elsewhere"
    directory.mkdir()
    (directory / "main.tf").write_text(ELSEWHERE)
    shutil.copy(platform.directory / "moto_override.tf", directory)
    module = Platform(directory, platform.endpoint, platform.environment)
    module.terraform("init", "-input=false")
    report = judged(module.plan("elsewhere"))
    on_plan = {k: v for k, v in verdicts(report).items() if v != "not_in_plan"}
    assert on_plan == {
        ("ecr-lifecycle-retains-tagged", "mcp-teams"): "pass",
        ("s3-public-access-blocked", "aiconnectors-terraform-state-dev"): "fail",
    }
    assert verdicts(report)[("s3-versioning-enabled", "aiconnectors-terraform-state-dev")] == (
        "not_in_plan"
    )
    module.apply("elsewhere")
    after = verdicts(live(platform))
    assert {k: after[k] for k in on_plan} == on_plan
