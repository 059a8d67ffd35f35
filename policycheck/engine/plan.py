"""The policy judged on Terraform plans (``policycheck plan``): the same planning, checks,
evaluation, waivers and report as ``run``, with facts read from the plans' resources
instead of AWS.

For each check bound to a resource of the environment:

- a resource the plan deletes fails every check bound to it ("the plan deletes it");
- a check that needs a fact no plan shows is ``not_assessed``, saying why;
- a check of the platform repository (its backend configuration, the recovery plan's
  files) is judged on the repository's commit, read as ``run`` reads it: a plan run and
  a live run give it the same verdict;
- a resource the plans neither have nor create is ``not_in_plan`` (a plan of one module
  shows only its part of the account);
- otherwise the check judges the facts as they will be after the apply; a fact that needs
  a value known only after the apply is an error, never a pass. It also judges them as
  they were before, so the report says what the plan changes (a check that passes today
  and would fail after the apply)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from policycheck.engine.assembly import Audited, assemble
from policycheck.engine.evaluation import describe, evaluate
from policycheck.engine.fetching import FactKey, fact_key, read_fact
from policycheck.engine.locations import Where, static_locations
from policycheck.engine.planning import (
    NothingMatches,
    Scope,
    Selection,
    Target,
    nothing_to_assess,
    resolve_with,
    why_no_results,
)
from policycheck.errors import InputError
from policycheck.git import checkout_of
from policycheck.plugin.facts import AwsError, FactOutcome, FactSpec, FetchContext
from policycheck.plugin.plans import FromRepository, PlannedType, PlanReader
from policycheck.plugin.resources import ResourceType
from policycheck.policy.bindings import ResourceInstance
from policycheck.policy.controls import Catalog
from policycheck.policy.load import Policy
from policycheck.policy.templates import is_pattern, matching
from policycheck.policy.waivers import apply_waivers
from policycheck.report.model import (
    UNJUDGED,
    EnvironmentInfo,
    PlanAction,
    PlanChange,
    Report,
    Result,
    SourceInfo,
    result_order,
)
from policycheck.sources.repository.checkout import REPOSITORY, PlatformRepository
from policycheck.sources.terraform.common import Subject
from policycheck.sources.terraform.planfile import PlanFile
from policycheck.sources.terraform.state import Instance, PlanState, Unknowable, build_states

#: An ARN's region and account: arn:PARTITION:SERVICE:REGION:ACCOUNT:...
ARN = re.compile(r"^arn:aws[\w-]*:[\w-]+:(?P<region>[\w-]*):(?P<account>\d{12}):")


@dataclass
class PlanSet:
    """The plans of one location (environment, account, region), after and before."""

    where: Where
    files: list[PlanFile]
    after: PlanState
    before: PlanState

    def find(
        self, state: PlanState, planned: PlannedType, name: str, parent: str
    ) -> list[Instance]:
        """The instances a state has of a policy's resource (by name, and parent)."""
        return [
            i
            for i in state.named(planned.tf_type, planned.name_attr, name)
            if _in(planned, i, parent)
        ]

    def deleted(self, planned: PlannedType, name: str, parent: str) -> list[Instance]:
        """The instances of a policy's resource the plan destroys without a successor of
        that name: deleted, or replaced by one of another name (a rename)."""
        kept = {(i.file, i.address) for i in self.find(self.after, planned, name, parent)}
        return [
            i
            for i in self.find(self.before, planned, name, parent)
            if "delete" in i.actions and (i.file, i.address) not in kept
        ]

    def names(self, planned: PlannedType, parent: str) -> list[str]:
        """Every name of the type the plans have or delete (for name patterns)."""
        instances = [
            *self.after.of_type(planned.tf_type),
            *(i for i in self.before.of_type(planned.tf_type) if "delete" in i.actions),
        ]
        names = (i.node.optional(planned.name_attr) for i in instances if _in(planned, i, parent))
        return sorted({name for name in names if isinstance(name, str)})


def _in(planned: PlannedType, instance: Instance, parent: str) -> bool:
    try:
        return planned.parent_of(instance) == parent
    except Unknowable:
        return False  # its cluster is known only after apply: not found here, never a pass


def judge_plan(
    policy: Policy, catalog: Catalog, selection: Selection, plans: list[PlanFile]
) -> Report:
    """The report of the selection (one environment) judged on the plans; InputError when
    there is nothing to judge, or the plans judge nothing."""
    if not Scope.as_written(policy, catalog, selection).targets():
        raise InputError(nothing_to_assess(policy, catalog, selection))
    started = datetime.now(UTC)
    [environment] = selection.environments
    sets = {
        where: PlanSet(where, files, *build_states(files))
        for where, files in locate(policy, environment, plans).items()
    }
    _refuse_another_environments(policy, environment, plans, list(sets.values()))
    judge = _Judge(policy, catalog, sets, started)
    scope = Scope(policy, catalog, selection, tuple(sets), judge.resolve)
    results = sorted((judge.result(target) for target in scope.targets()), key=result_order)
    registry = policy.registry
    on_plans = [r for r in results if not registry.plan.on_repository(registry.checks[r.check_id])]
    if all(r.status in UNJUDGED for r in on_plans):
        raise InputError(_judges_nothing(on_plans, plans, environment))
    in_run = [w for w in policy.document.waivers if w.environment in selection.environments]
    results, waivers = apply_waivers(results, in_run, started.date())
    environments = [
        EnvironmentInfo(name=w.environment, account_id=w.account_id, caller_arn="", region=w.region)
        for w in sets
    ]
    sources = [
        SourceInfo(
            path=str(p.path),
            sha256=p.sha256,
            terraform_version=p.terraform_version,
            format_version=p.format_version,
        )
        for p in plans
    ]
    audited = Audited(
        scope=scope,
        checkout=checkout_of(policy.path.resolve().parent),
        input_sha256=scope.input_sha256(),
        environments=environments,
        gaps=[],
        no_results=why_no_results(scope, {w.environment for w in sets}),
        started=started,
        finished=datetime.now(UTC),
        results=results,
        waivers=waivers,
        sources=sources,
    )
    return assemble(audited)


def _refuse_another_environments(
    policy: Policy, environment: str, plans: list[PlanFile], sets: list[PlanSet]
) -> None:
    """InputError when the plans name resources only another environment has (a name of
    it that is not the selected one's) and none only the selected one has: the plan of
    dev judged as prod. Names are the signal where environments share a region and the
    policy names no account."""
    planned = {
        name
        for plan_set in sets
        for state in (plan_set.after, plan_set.before)
        for kind in policy.registry.plan.types.values()
        for instance in state.of_type(kind.tf_type)
        if isinstance(name := instance.node.optional(kind.name_attr), str)
    }
    names = {env: _concrete_names(policy, env) for env in policy.environments}
    others = [found for env, found in names.items() if env != environment]
    if planned & names[environment].difference(*others):
        return  # it has a resource only the selected environment names
    theirs = {env: found - names[environment] for env, found in names.items() if env != environment}
    matched = {env: sorted(planned & found) for env, found in theirs.items() if planned & found}
    if not matched:
        return
    listed = "; ".join(
        f"{env} ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''})"
        for env, found in matched.items()
    )
    raise InputError(
        f"{', '.join(str(p.path) for p in plans)}: not a plan of environment {environment}: "
        f"its resources have the names of {listed}, none of {environment}'s; "
        f"run with --env {next(iter(matched))}"
    )


def _concrete_names(policy: Policy, environment: str) -> set[str]:
    """The names the policy gives the resources of an environment (patterns left out)."""
    return {
        instance.name
        for group, written in policy.document.resources.items()
        if written.type in policy.registry.plan.types
        for instance in policy.resources_in(group, environment)
        if not is_pattern(instance.name)
    }


def _judges_nothing(results: list[Result], plans: list[PlanFile], environment: str) -> str:
    missing = sum(r.status == "not_in_plan" for r in results)
    unjudgeable = sum(r.status == "not_assessed" for r in results)
    return (
        f"{', '.join(str(p.path) for p in plans)}: the plan judges nothing in {environment}: "
        f"{missing} result(s) not in the plan (it neither has nor creates a resource the "
        f"policy names there), {unjudgeable} not judgeable from a plan; is it the plan of "
        f"{environment}, and of the modules that manage the policy's resources?"
    )


def locate(policy: Policy, environment: str, plans: list[PlanFile]) -> dict[Where, list[PlanFile]]:
    """Each location of the environment with the plans for it. An environment in one
    account and region takes every plan; in several, a plan goes where its provider's
    region and its resources' ARNs say, or InputError. An account the policy leaves
    unnamed is taken from the plans' ARNs when they agree."""
    locations = static_locations(policy, [environment])
    placed: dict[Where, list[PlanFile]] = {where: [] for where in locations}
    for plan_file in plans:
        regions, accounts = _where_planned(plan_file)
        _refuse_elsewhere(plan_file, environment, locations, regions, accounts)
        fitting = [
            w
            for w in locations
            if (not regions or w.region in regions)
            and (not w.account_id or not accounts or w.account_id in accounts)
        ]
        if len(locations) == 1:
            fitting = locations
        if len(fitting) != 1:
            listed = ", ".join(f"{w.account_id or '?'}/{w.region}" for w in locations)
            raise InputError(
                f"{plan_file.path}: environment {environment} spans {listed}; the plan's "
                "provider region and ARNs do not tell which one it is for"
            )
        placed[fitting[0]].append(plan_file)
    return {_with_account(where, files): files for where, files in placed.items()}


def _refuse_elsewhere(
    plan_file: PlanFile,
    environment: str,
    locations: list[Where],
    regions: set[str],
    accounts: set[str],
) -> None:
    """InputError when the plan is for another place than the environment: none of the
    regions (provider, ARNs) or none of the accounts (ARNs) it names is the environment's."""
    wanted_regions = {w.region for w in locations}
    wanted_accounts = {w.account_id for w in locations if w.account_id}
    differs = []
    if regions and not regions & wanted_regions:
        differs.append(
            f"region {', '.join(sorted(regions))} ({environment}: "
            f"{', '.join(sorted(wanted_regions))})"
        )
    if accounts and wanted_accounts and not accounts & wanted_accounts:
        differs.append(
            f"account {', '.join(sorted(accounts))} ({environment}: "
            f"{', '.join(sorted(wanted_accounts))})"
        )
    if differs:
        raise InputError(
            f"{plan_file.path}: not a plan of environment {environment}: it names "
            f"{' and '.join(differs)}"
        )


def _with_account(where: Where, files: list[PlanFile]) -> Where:
    accounts = {a for f in files for a in _where_planned(f)[1]}
    if where.account_id or len(accounts) != 1:
        return where
    return replace(where, account_id=accounts.pop())


def _where_planned(plan_file: PlanFile) -> tuple[set[str], set[str]]:
    """The regions (the AWS provider's configured region, ARNs) and accounts (ARNs) a
    plan names."""
    regions, accounts = set(), set()
    configuration = plan_file.document.get("configuration") or {}
    for name, provider in (configuration.get("provider_config") or {}).items():
        region = ((provider or {}).get("expressions") or {}).get("region") or {}
        if name.split(".")[0] == "aws" and isinstance(region.get("constant_value"), str):
            regions.add(region["constant_value"])
    for arn in _arns(plan_file):
        match = ARN.match(arn)
        if match:
            accounts.add(match["account"])
            if match["region"]:
                regions.add(match["region"])
    return regions, accounts


def _arns(plan_file: PlanFile) -> Iterator[str]:
    for entry in plan_file.document.get("resource_changes") or []:
        for values in (entry["change"].get("after"), entry["change"].get("before")):
            if isinstance(values, dict) and isinstance(values.get("arn"), str):
                yield values["arn"]


class _Judge:
    """Judges targets on the plans: each fact read once per subject and state."""

    def __init__(
        self, policy: Policy, catalog: Catalog, sets: dict[Where, PlanSet], now: datetime
    ) -> None:
        self.policy, self.catalog, self.sets, self.now = policy, catalog, sets, now
        self.registry = policy.registry
        self.memo: dict[tuple[str, FactKey], tuple[FactOutcome, list[Instance]]] = {}
        self.times = {str(p.path): p.timestamp for s in sets.values() for p in s.files}
        self.repository = PlatformRepository(policy.repository)
        self.from_repository: dict[FactKey, FactOutcome] = {}

    def resolve(self, group: str, where: Where) -> list[ResourceInstance]:
        """A group's resources: names as written, patterns matched against the plans."""
        plans = self.sets[where]

        def names(kind: ResourceType, pattern: str, parent: str) -> list[str]:
            planned = self.registry.plan.types.get(kind.name)
            return matching(plans.names(planned, parent), pattern) if planned else []

        return resolve_with(self.policy, group, where, names)

    def result(self, target: Target) -> Result:
        ref, common = describe(target, self.catalog)
        if isinstance(target.failure, NothingMatches):
            return Result(
                **common,
                status="not_in_plan",
                message=f"no {target.kind.label} in the plan matches {target.failure.pattern!r}",
                expected={"matching_resources": ">= 1"},
                observed={"matching_resources": 0, "pattern": target.failure.pattern},
            )
        plans, planned = self.sets[target.where], self.registry.plan.types.get(target.kind.name)
        name, parent = target.resource.name, target.resource.parent
        after = plans.find(plans.after, planned, name, parent) if planned else []
        deleted = plans.deleted(planned, name, parent) if planned else []
        why = self.registry.plan.why_not_judgeable(target.binding.check)
        if deleted and not after:
            return self._destroyed(target, common, deleted[0], why)
        if planned and planned.destroys and len(after) == 1 and after[0].action == "replace":
            return self._destroyed(target, common, after[0], why, planned.destroys)
        if why:
            return Result(
                **common,
                status="not_assessed",
                message=why,
                expected=None,
                observed=None,
            )
        if self.registry.plan.on_repository(target.binding.check):
            return self._evaluate(target, plans.after, None)[0]
        if not after:
            attachments = self._attachments(target, plans.after)
            if attachments:
                return self._managed_elsewhere(target, attachments)
            return Result(
                **common,
                status="not_in_plan",
                message=f"{ref.label} is not in the plan: the plan neither has nor creates it",
                expected={"in_plan": True},
                observed={"in_plan": False},
            )
        if len(after) > 1:
            where = ", ".join(f"{i.address} in {i.file}" for i in after)
            return Result(
                **common,
                status="error",
                message=f"{ref.label} is planned more than once ({where}): which one applies "
                "cannot be told",
                expected=None,
                observed=None,
                error={"code": "Ambiguous", "message": where},
            )
        result, recorded = self._evaluate(target, plans.after, after[0])
        return result.model_copy(update={"plan": self._change(target, after[0], recorded)})

    def _attachments(self, target: Target, state: PlanState) -> list[Instance]:
        """The standalone resources of the state carrying every resource fact the check
        needs for a resource the plans do not manage (a lifecycle policy of a repository
        another module manages), each naming it; none when one fact has none."""
        found: list[Instance] = []
        for name in target.binding.check.facts:
            if self.registry.facts[name].scope != "resource":
                continue
            source = self.registry.plan.facts[name]
            if not isinstance(source, PlanReader) or source.attachment is None:
                return []
            tf_type, attr = source.attachment
            carrying = state.named(tf_type, attr, target.resource.name) + state.deleted_with(
                tf_type, attr, target.resource.name
            )
            if not carrying:
                return []
            found += carrying
        return found

    def _managed_elsewhere(self, target: Target, attachments: list[Instance]) -> Result:
        """The check judged on the facts the plan's standalone resources carry for a
        resource managed elsewhere; the change is theirs."""
        plans = self.sets[target.where]
        result, recorded = self._evaluate(target, plans.after, None)
        before = (
            self._evaluate(target, plans.before, None)[0]
            if self._attachments(target, plans.before)
            else None
        )
        first = attachments[0]
        change = PlanChange(
            file=first.file,
            address=first.address,
            action=first.action,
            changed=list(
                dict.fromkeys(i.label for i in [*attachments, *recorded] if i.action != "no-op")
            ),
            before_status=before.status if before else None,
            before_message=before.message if before else "",
        )
        return result.model_copy(update={"plan": change})

    def _change(self, target: Target, instance: Instance, recorded: list[Instance]) -> PlanChange:
        """What the plan does to the resource, and the verdict before it."""
        plans, planned = self.sets[target.where], self.registry.plan.types[target.kind.name]
        previous = plans.find(plans.before, planned, target.resource.name, target.resource.parent)
        before = (
            self._evaluate(target, plans.before, previous[0])[0] if len(previous) == 1 else None
        )
        return PlanChange(
            file=instance.file,
            address=instance.address,
            action=instance.action,
            changed=[i.label for i in recorded if i.action != "no-op"],
            before_status=before.status if before else None,
            before_message=before.message if before else "",
        )

    def _destroyed(
        self,
        target: Target,
        common: dict[str, Any],
        instance: Instance,
        why: str | None,
        data: str = "",
    ) -> Result:
        """A failure: the plan deletes the resource, or replaces one that holds ``data``."""
        action: PlanAction = "replace" if data else "delete"
        change = PlanChange(file=instance.file, address=instance.address, action=action)
        if why is None:
            change = self._change(target, instance, []).model_copy(
                update={"action": action, "changed": [instance.label]}
            )
        where = f"{instance.address} in {instance.file}"
        if data:
            message = f"the plan replaces it ({where}): {data} are destroyed; expected it kept"
        else:
            renamed = ", replaced under another name" if instance.action == "replace" else ""
            message = f"the plan deletes it ({where}{renamed}); expected it to exist"
        return Result(
            **common,
            status="fail",
            message=message,
            expected={"exists": True, "replaced": False} if data else {"exists": True},
            observed={"planned_action": action, "address": instance.address},
            plan=change,
        )

    def _evaluate(
        self, target: Target, state: PlanState, instance: Instance | None
    ) -> tuple[Result, list[Instance]]:
        """The check judged on a state's facts, and the instances they rest on."""
        resource, where = target.resource, target.where
        outcomes: dict[FactKey, FactOutcome] = {}
        recorded: list[Instance] = []
        for name in target.binding.check.facts:
            spec = self.registry.facts[name]
            key = fact_key(where.account_id, where.region, spec, resource.name, resource.parent)
            source = self.registry.plan.facts[name]
            if isinstance(source, FromRepository):
                outcomes[key] = self._read_repository(spec, key, resource, where)
                continue
            if (state.view, key) not in self.memo:
                subject = Subject(
                    resource.name,
                    resource.parent,
                    where.account_id,
                    where.region,
                    instance if spec.scope == "resource" else None,
                )
                assert isinstance(source, PlanReader)  # a gap makes the check not_assessed
                self.memo[(state.view, key)] = self._read(spec, source, state, subject)
            outcome, seen = self.memo[(state.view, key)]
            outcomes[key] = outcome
            recorded += [i for i in seen if not any(i is r for r in recorded)]
        result = evaluate(target, outcomes, self.catalog, self.now, self.registry)
        unread = [o.error.message for o in outcomes.values() if o.error]
        if result.status == "error" and unread:  # say what the plan does not tell, plainly
            result = result.model_copy(update={"message": "; ".join(dict.fromkeys(unread))})
        return result, recorded

    def _read_repository(
        self, spec: FactSpec, key: FactKey, resource: ResourceInstance, where: Where
    ) -> FactOutcome:
        """A fact of the platform repository, read once by its own fetch as ``run`` reads
        it (the same before and after the apply)."""
        if key not in self.from_repository:
            local = {REPOSITORY: self.repository}
            context = FetchContext(
                resource.name, where.account_id, where.region, resource.parent, local.__getitem__
            )
            self.from_repository[key] = read_fact(spec, context)
        return self.from_repository[key]

    def _read(
        self, spec: FactSpec, reader: PlanReader, state: PlanState, subject: Subject
    ) -> tuple[FactOutcome, list[Instance]]:
        """One fact from a state: its value, or the error saying what the plan does not
        tell; the evidence names the plan's resources it was read from."""
        with state.recording() as seen:
            try:
                value, error = reader.read(state, subject), None
            except Unknowable as unknown:
                value, error = None, AwsError(unknown.code, unknown.message)
            except Exception as exc:  # fail closed: a value of a shape no reader expects
                what = subject.resource.address if subject.resource else subject.name
                message = f"{what}: could not read {spec.name} from the plan: {exc!r}"
                value, error = None, AwsError("UnreadablePlanValue", message)
        if subject.resource is not None and not any(i is subject.resource for i in seen):
            seen.insert(0, subject.resource)
        source = replace(spec, actions=("the plan", *(f"{i.file}: {i.label}" for i in seen)))
        when = next((t for i in seen if (t := self.times.get(i.file))), None) or self.now.isoformat(
            timespec="seconds"
        )
        return FactOutcome(source, value=value, error=error, fetched_at=when), list(seen)
