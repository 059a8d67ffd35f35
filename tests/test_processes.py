"""Facts fetched by several processes: the same calls, once each, and the same results."""

import inspect

from conftest import MotoServer, Workspace, audit
from policycheck.demo.seeding import seed
from policycheck.fetching import FactKey, FactRequest, with_dependencies
from policycheck.plugins import load_registry
from policycheck.processes import FACTS_PER_PROCESS, default_processes, partition


def _requests(names: list[str], facts: list[str]) -> dict[FactKey, FactRequest]:
    return with_dependencies(
        {
            FactKey("123456789012", "eu-central-1", fact, name): FactRequest(
                load_registry().facts[fact], name
            )
            for name in names
            for fact in facts
        }
    )


def test_partition_keeps_subjects_whole_and_shared_lookups_together() -> None:
    names = [f"table-{i}" for i in range(40)]
    requests = _requests(names, ["dynamodb_table.continuous_backups", "dynamodb_table.kms_key"])
    requests.update(_requests([f"bucket-{i}" for i in range(40)], ["s3_bucket.versioning"]))
    parts = partition(requests, 3)

    keys = [key for part in parts for key in part]
    assert len(keys) == len(requests) and set(keys) == set(requests)  # each once
    where = {key: index for index, part in enumerate(parts) for key in part}
    for name in names:  # a table's facts, its dependency (description) too, in one part
        assert {i for k, i in where.items() if k.subject == name} == {0}  # KMS lookups shared
    buckets = {i for k, i in where.items() if k.subject.startswith("bucket-")}
    assert len(buckets) == 3  # the rest spread
    assert partition(requests, 3) == parts  # stable


def test_facts_that_share_lookups_say_so() -> None:
    for spec in load_registry().facts.values():
        assert ("ctx.memo(" in inspect.getsource(spec.fetch)) == spec.uses_memo, spec.name


def test_default_processes_grow_with_the_run() -> None:
    assert default_processes(10) == 1
    assert default_processes(FACTS_PER_PROCESS - 1) == 1
    assert default_processes(10**6) >= 1


def test_two_processes_make_the_same_calls_and_reach_the_same_verdicts(
    moto: MotoServer, workspace: Workspace
) -> None:
    seed(workspace.policy, moto.url)
    verdicts, calls = {}, {}
    for processes in ("1", "2"):
        moto.faults.requests.clear()
        result, report = audit(
            moto, workspace, "--processes", processes, out=workspace.directory / processes
        )
        assert result.returncode == 0, result.stderr
        verdicts[processes] = [
            (r["environment"], r["check_id"], r["resource"]["arn"], r["status"], r["message"])
            for r in report["results"]
        ]
        calls[processes] = dict(moto.faults.requests)
    assert verdicts["2"] == verdicts["1"]
    assert calls["2"] == calls["1"]  # no fact fetched twice, shared lookups included
