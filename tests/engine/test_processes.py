"""Facts fetched by several processes: the same calls, once each, and the same results."""

import inspect

from policycheck.demo.seeding import seed
from policycheck.engine.planning import Scope, select
from policycheck.engine.processes import FACTS_PER_PROCESS, default_processes
from policycheck.engine.subjects import sharing_checks, subjects
from policycheck.plugin.registry import load_registry
from policycheck.policy.controls import Catalog
from policycheck.policy.load import Policy
from support.harness import MotoServer, Workspace, audit


def test_resources_spread_whole_over_processes_and_shared_lookups_together(
    policy: Policy, catalog: Catalog
) -> None:
    scope = Scope.as_written(policy, catalog, select(policy, catalog))
    every = list(subjects(scope))
    # Every target of the plan, each once, all of a resource's together (across checks and
    # environments in one account and region).
    planned = [p.target for subject in every for p in subject.planned]
    assert sorted(map(repr, planned)) == sorted(map(repr, scope.targets()))
    assert len({(s.account_id, s.region, s.parent, s.name) for s in every}) == len(every)
    assert all(
        {(p.target.resource.parent, p.target.resource.name) for p in s.planned}
        == {(s.parent, s.name)}
        for s in every
    )
    sharing = sharing_checks(policy)
    # Their tables' KMS keys, and the lock table's resource policy, are looked up once.
    assert sharing == {"dynamodb-encryption-at-rest", "lock-writers-restricted"}
    parts = [subject.part(3, sharing) for subject in every]
    for subject, part in zip(every, parts, strict=True):
        if any(p.target.binding.check.id in sharing for p in subject.planned):
            assert part == 0  # each lookup made once, in one process
    assert set(parts) == {0, 1, 2}  # the rest spread
    assert [subject.part(3, sharing) for subject in every] == parts  # stable


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
