"""Organisation scale in flat memory (issue 15): a run judges resource by resource and
spools its results to disk; report.json stores each fact value once; report.md stays
under its size limit; render, merge and diff read reports a result at a time. What is
checked here is behaviour (the same verdicts, the same files), never time."""

import copy
import hashlib
import io
import json
import random
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from policycheck.deadline import NO_DEADLINE
from policycheck.engine.judging import Job, judge_run
from policycheck.engine.locations import Where
from policycheck.engine.planning import Scope, select, written_resources
from policycheck.errors import InputError
from policycheck.paths import controls_dir_for
from policycheck.policy.controls import load_catalog
from policycheck.policy.load import Policy, load_policy
from policycheck.render import render_json
from policycheck.render.reportmd import MARKDOWN_LIMIT, SHOWN_PER_CHECK, render_markdown
from policycheck.report import spool
from policycheck.report.jsonstream import JsonReader
from policycheck.report.model import Evidence, FactEvidence, Report, evidence_sha256
from policycheck.report.reader import read_report
from policycheck.report.spool import canonical
from support.harness import REPO, RecordedRun

WHERE = Where("bench", "123456789012", "eu-central-1")
CHECKS = (
    "s3-versioning-enabled",
    "s3-encryption-at-rest",
    "s3-public-access-blocked",
    "s3-lifecycle-archive-and-expire",
    "s3-policy-denies-delete",
)


def _draw(name: str, what: str) -> float:
    digest = hashlib.blake2b(f"{name}|{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def _missing(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not set"}}, operation)


class FakeS3:
    """An S3 whose buckets' settings are drawn from their names: a mix of passes,
    failures and AccessDenied."""

    def get_bucket_versioning(self, Bucket: str) -> dict[str, Any]:
        return {"Status": "Enabled"} if _draw(Bucket, "versioning") < 0.7 else {}

    def get_bucket_encryption(self, Bucket: str) -> dict[str, Any]:
        if _draw(Bucket, "encryption") < 0.2:
            raise _missing("ServerSideEncryptionConfigurationNotFoundError", "GetBucketEncryption")
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        return {"ServerSideEncryptionConfiguration": {"Rules": [rule]}}

    def get_public_access_block(self, Bucket: str) -> dict[str, Any]:
        flags = (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        blocked = _draw(Bucket, "block") < 0.8
        return {
            "PublicAccessBlockConfiguration": {f: blocked or i < 3 for i, f in enumerate(flags)}
        }

    def get_bucket_lifecycle_configuration(self, Bucket: str) -> dict[str, Any]:
        if _draw(Bucket, "lifecycle") < 0.3:
            raise _missing("NoSuchLifecycleConfiguration", "GetBucketLifecycleConfiguration")
        days = 365 if _draw(Bucket, "expiry") < 0.7 else 180
        rule = {
            "ID": "audit",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": days},
        }
        return {"Rules": [rule]}

    def get_bucket_policy(self, Bucket: str) -> dict[str, Any]:
        draw = _draw(Bucket, "policy")
        if draw < 0.02:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetBucketPolicy"
            )
        if draw < 0.3:
            raise _missing("NoSuchBucketPolicy", "GetBucketPolicy")
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": f"arn:aws:s3:::{Bucket}/*",
        }
        return {"Policy": json.dumps({"Statement": [statement]})}


class FakeS3Control:
    def get_public_access_block(self, AccountId: str) -> dict[str, Any]:
        raise _missing("NoSuchPublicAccessBlockConfiguration", "GetPublicAccessBlock")


CLIENTS = {"s3": FakeS3(), "s3control": FakeS3Control()}


@pytest.fixture
def report(recorded_full_run: RecordedRun) -> Report:
    """A real run's report (every check, a compliant account), its results in memory."""
    recorded = recorded_full_run.report
    return recorded.model_copy(
        update={
            "results": list(recorded.results),
            "evidence_values": dict(recorded.evidence_values),
        }
    )


@pytest.fixture(scope="module")
def fleet_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    directory = tmp_path_factory.mktemp("fleet")
    (directory / "controls").symlink_to(REPO / "controls")
    document = {
        "version": 1,
        "environments": {"bench": {"region": WHERE.region}},
        "resources": {"buckets": {"type": "s3_bucket", "name": "bucket-*"}},
        "checks": [{"check": check, "resources": ["buckets"]} for check in CHECKS],
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_policy(path)


def _judged(
    policy: Policy, names: list[str], processes: int, workers: int, progress: Any = None
) -> list[str]:
    """Each result of a run over these buckets, as report.json stores it (its facts'
    read times left out: they are the only thing two runs differ in)."""
    catalog = load_catalog(controls_dir_for(policy.path))

    def resolve(group: str, where: Where) -> list[Any]:
        [pattern] = written_resources(policy, group, where)
        return [replace(pattern, name=n) for n in names if fnmatchcase(n, pattern.name)]

    job = Job(
        scope=Scope(policy, catalog, select(policy, catalog), (WHERE,), resolve),
        clients_for=lambda location: CLIENTS.__getitem__,
        started=datetime(2026, 11, 24, tzinfo=UTC),
        waivers=[],
        deadline=NO_DEADLINE,
        max_workers=workers,
        processes=processes,
        progress=progress,
    )
    lines = []
    for line in judge_run(job).results.lines():
        result = json.loads(line)
        for fact in result["evidence"]["facts"]:
            del fact["fetched_at"], fact["seconds"]  # when, and how long: of this run
        lines.append(json.dumps(result, sort_keys=True))
    return lines


def test_a_large_run_judges_as_small_batches_do(
    fleet_policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 buckets in one run (two processes, results sorted from many runs on disk)
    give exactly the results of 20 runs of 50 buckets each, in the report's order."""
    names = [f"bucket-{i:05d}" for i in range(1000)]
    monkeypatch.setattr(spool, "RUN_CHARS", 32 * 1024)  # many sorted runs to merge
    large = _judged(fleet_policy, names, processes=2, workers=16)
    monkeypatch.undo()
    batches = [
        line
        for start in range(0, len(names), 50)
        for line in _judged(fleet_policy, names[start : start + 50], processes=1, workers=1)
    ]
    key = [(json.loads(line)["check_id"], json.loads(line)["resource"]["name"]) for line in batches]
    in_order = [line for _, line in sorted(zip(key, batches, strict=True))]
    assert len(large) == 1000 * len(CHECKS)
    assert large == in_order
    statuses = {json.loads(line)["status"] for line in large}
    assert statuses == {"pass", "fail", "error"}  # a mix, AccessDenied included


@pytest.mark.parametrize("processes", [1, 2])
def test_progress_ends_once_at_its_total(fleet_policy: Policy, processes: int) -> None:
    shown: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        shown.append((done, total))

    _judged(fleet_policy, [f"bucket-{i:03d}" for i in range(60)], processes, 4, record)
    done = [d for d, _ in shown]
    assert shown[-1] == (300, 300) and done == sorted(done)  # 60 buckets x 5 facts
    assert [d for d, total in shown if d == total] == [300]  # the line ends once


def _fact(name: str, value: Any) -> FactEvidence:
    return FactEvidence(
        name=name, actions=["s3:GetX"], fetched_at="2026-11-24T00:00:00", value=value
    )


def _evidence(shared: Any, own: Any) -> Evidence:
    facts = [_fact("shared", shared), _fact("own", own), _fact("unset", None)]
    return Evidence(facts=facts, sha256=evidence_sha256((f.name, f.value) for f in facts))


def _with_evidence(report: Report) -> Report:
    """The report's results resting on shared and distinct values (None included)."""
    shared = {"BlockPublicAcls": True, "nested": [1, {"é": None}]}
    results = [
        r.model_copy(update={"evidence": _evidence(shared, {"n": i})})
        for i, r in enumerate(report.results)
    ]
    return report.model_copy(update={"results": results, "evidence_values": {}})


def test_evidence_values_are_stored_once_and_round_trip_through_render(
    report: Report, tmp_path: Path
) -> None:
    original = _with_evidence(report)
    text = render_json(original)
    stored = json.loads(text)
    values = stored["evidence_values"]
    # Each distinct value once, under the SHA-256 of its canonical JSON.
    assert len(values) == len(original.results) + 2
    for digest, value in values.items():
        assert hashlib.sha256(canonical(value).encode()).hexdigest() == digest
    for result, saved in zip(original.results, stored["results"], strict=True):
        assert result.evidence is not None
        for fact, saved_fact in zip(result.evidence.facts, saved["evidence"]["facts"], strict=True):
            assert "value" not in saved_fact
            assert values[saved_fact["value_sha256"]] == fact.value
    # render reproduces report.json from report.json, byte for byte.
    path = tmp_path / "report.json"
    path.write_text(text)
    again = read_report(path)
    assert render_json(again) == text
    assert render_markdown(again) == render_markdown(original)
    assert [r.status for r in again.results] == [r.status for r in original.results]


def test_a_report_whose_evidence_was_altered_is_refused(report: Report, tmp_path: Path) -> None:
    stored = json.loads(render_json(_with_evidence(report)))
    digest = next(iter(stored["evidence_values"]))
    stored["evidence_values"][digest] = {"BlockPublicAcls": False}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(stored))
    with pytest.raises(InputError, match=f"evidence_values.{digest}: the value does not match"):
        read_report(path)
    del stored["evidence_values"][digest]
    path.write_text(json.dumps(stored))
    with pytest.raises(InputError, match="is not in evidence_values"):
        read_report(path)


def test_a_report_of_schema_1_1_is_read_and_stored_once(report: Report, tmp_path: Path) -> None:
    """A 1.1 report holds each value in its result: read, it is stored the 1.2 way."""
    original = _with_evidence(report)
    legacy = json.loads(original.model_dump_json(by_alias=True, exclude={"evidence_values"}))
    legacy["schema_version"] = "1.1"
    for result in legacy["results"]:
        for fact in result["evidence"]["facts"]:
            del fact["value_sha256"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(legacy, indent=2))
    assert render_json(read_report(path)) == render_json(original)


def _large_report(report: Report, count: int) -> Report:
    """``count`` results of the demo's checks, most failing, with long observations."""
    random.seed(15)
    template = report.results
    results = []
    for index in range(count):
        base = template[index % len(template)]
        status = random.choice(["fail", "fail", "error", "pass"])
        resource = base.resource.model_copy(update={"name": f"{base.resource.name}-{index:06d}"})
        results.append(
            base.model_copy(
                update={"status": status, "resource": resource, "observed": {"long": "x" * 400}}
            )
        )
    return report.model_copy(update={"results": results})


def test_report_md_stays_under_its_limit_and_counts_what_it_leaves_out(report: Report) -> None:
    large = _large_report(report, 50_000)
    markdown = render_markdown(large)
    assert len(markdown.encode()) <= MARKDOWN_LIMIT
    checks = {r.check_id for r in large.results}
    for check_id in checks:
        hidden = []
        for status, label in (("fail", "FAIL"), ("error", "ERROR")):
            # every check's errors are shown too, not only its first failures
            shown = markdown.count(f"### {label}: `{check_id}` on `")
            total = sum(r.check_id == check_id and r.status == status for r in large.results)
            assert 1 <= shown < total
            hidden.append(f"{total - shown} {label} of {total}")
        assert f"`{check_id}`: not shown {', '.join(hidden)}" in markdown
    assert "## Control matrix" in markdown and "## Passed" in markdown
    findings = markdown.split("## Failures, errors and waived failures")[1]
    assert findings.lstrip().startswith("**Only the first")  # the note before the findings
    # A limit too small for even one finding of each check: cut, and said so.
    tiny = render_markdown(large, limit=20_000)
    assert len(tiny.encode()) <= 20_000
    assert tiny.endswith("_Cut to fit: every result is in report.json and report.csv._\n")


def test_a_small_report_md_lists_every_result(report: Report) -> None:
    """No check has more results than report.md shows of each: every one is listed."""
    kept: Counter[str] = Counter()
    small = []
    for result in report.results:
        kept[result.check_id] += 1
        if kept[result.check_id] <= SHOWN_PER_CHECK:
            small.append(result)
    report = report.model_copy(update={"results": small})
    markdown = render_markdown(report)
    assert "not shown" not in markdown
    for result in report.results:
        assert f"`{result.resource.name}`" in markdown


@pytest.mark.parametrize("chunk", [1, 3, 64, 2**20])
def test_json_reader_reads_any_document_piece_by_piece(chunk: int) -> None:
    random.seed(chunk)

    def anything(depth: int = 0) -> Any:
        kind = random.random()
        if depth > 3 or kind < 0.3:
            return random.choice([0, -2.5e10, 123456789, 1.5e-7, 'a"b\\\n', True, None, "é"])
        if kind < 0.6:
            return [anything(depth + 1) for _ in range(random.randint(0, 4))]
        return {f"k{i}": anything(depth + 1) for i in range(random.randint(0, 4))}

    for _ in range(20):
        document = {"head": anything(), "results": [anything() for _ in range(20)], "n": 12345}
        for indent in (None, 2):
            reader = JsonReader(io.StringIO(json.dumps(document, indent=indent)), chunk)
            read: dict[str, Any] = {}
            for key in reader.members():
                read[key] = (
                    [reader.value() for _ in reader.items()]
                    if key == "results"
                    else (reader.value())
                )
            reader.end()
            assert read == document


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": [1, 2', '{"a" 1}', '{"a": tru}', "", "{} x"])
def test_json_reader_refuses_what_is_not_json(text: str) -> None:
    reader = JsonReader(io.StringIO(text), 2)
    with pytest.raises(ValueError, match="not valid JSON"):
        for _ in reader.members():
            reader.value()
        reader.end()


def _saved(tmp_path: Path, document: Any, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_a_report_edited_after_the_run_is_refused(report: Report, tmp_path: Path) -> None:
    """What a report states is checked against its results as they are read: a summary or
    control made to pass, a result's evidence pointed at another value, a value replaced
    and filed under its new hash: each exit 2 in one line, never rendered as it claims."""
    stored = json.loads(render_json(_with_evidence(report)))
    assert read_report(_saved(tmp_path, stored)).summary == report.summary  # as written: read

    lying = copy.deepcopy(stored)
    lying["summary"]["results"]["pass"] += 1
    with pytest.raises(InputError, match=r"does not hold together \(summary counts"):
        read_report(_saved(tmp_path, lying))

    lying = copy.deepcopy(stored)  # a failure whose counts were carried, not its status
    result = lying["results"][0]
    result["status"] = "fail"
    [control] = [c for c in lying["controls"] if c["id"] in result["control_ids"]]
    for counts in (lying["summary"]["results"], control["counts"]):
        counts["pass"] -= 1
        counts["fail"] += 1
    lying["summary"]["status"] = "fail"
    with pytest.raises(InputError, match=rf"controls\.{control['id']} is 'pass' while its"):
        read_report(_saved(tmp_path, lying))
    control["status"] = "fail"  # and the environment of the failure still says pass
    environment = result["environment"]
    where = rf"controls\.{control['id']}\.environments\.{environment}"
    with pytest.raises(InputError, match=rf"{where} is 'pass' while its results hold 'fail'"):
        read_report(_saved(tmp_path, lying))

    lying = copy.deepcopy(stored)
    lying["summary"]["status"] = "fail"
    with pytest.raises(InputError, match=r"summary\.status is 'fail', not what its results say"):
        read_report(_saved(tmp_path, lying))

    pointed = copy.deepcopy(stored)
    del pointed["results"][0]["evidence"]["facts"][0]["value_sha256"]  # would read as null
    with pytest.raises(InputError, match=r"results\[0\]: its evidence.sha256 is not that of"):
        read_report(_saved(tmp_path, pointed))

    forged = copy.deepcopy(stored)
    shared = forged["results"][0]["evidence"]["facts"][0]["value_sha256"]
    value = {"BlockPublicAcls": False}
    digest = hashlib.sha256(canonical(value).encode()).hexdigest()
    forged["evidence_values"][digest] = value
    for result in forged["results"]:
        for fact in result["evidence"]["facts"]:
            if fact["value_sha256"] == shared:
                fact["value_sha256"] = digest
    with pytest.raises(InputError, match=r"its evidence\.sha256 is not that of its facts"):
        read_report(_saved(tmp_path, forged))


def test_repeated_keys_and_deep_nesting_are_refused(report: Report, tmp_path: Path) -> None:
    """JSON leaves repeated keys to the reader; a report may not have them (its results
    would count twice, or a second summary would win). Nesting deeper than Python decodes
    is exit 2, not an internal error."""
    text = render_json(report)
    twice = text.rstrip().removesuffix("}") + ', "results": []}'
    with pytest.raises(InputError, match=r"not a policycheck report \(the key 'results' appears"):
        read_report(_saved(tmp_path, twice))
    first = text.split('"results": [\n', 1)[1].split("\n", 1)[0]  # one result a line
    nested = text.replace(first, first.replace('"status":', '"status":"pass","status":', 1))
    assert nested != text
    with pytest.raises(InputError, match="the key 'status' appears twice in an object"):
        read_report(_saved(tmp_path, nested))
    stored = json.loads(text)
    stored["run"]["deep"] = "PLACEHOLDER"
    deep = json.dumps(stored).replace('"PLACEHOLDER"', "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_report(_saved(tmp_path, deep))


def test_a_value_that_never_decodes_is_refused_where_it_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A malformed value is reported once it is longer than any report's value could be,
    not after reading (and holding) the rest of the file."""
    monkeypatch.setattr("policycheck.report.jsonstream.MAX_VALUE_CHARS", 1000)
    text = '{"run": {"a": 1 "b": 2}' + " " * 100_000 + "}"
    source = io.StringIO(text)
    reader = JsonReader(source, 100)
    with pytest.raises(ValueError, match=r"not valid JSON: Expecting ',' delimiter"):
        for _ in reader.members():
            reader.value()
    assert source.tell() < 2000


@pytest.mark.parametrize("token", ["Infinity", "-Infinity", "NaN"])
def test_infinity_and_nan_are_not_json_and_are_refused(
    report: Report, tmp_path: Path, token: str
) -> None:
    """Python's json reads Infinity and NaN; a report holding one is not JSON (RFC 8259)
    and a reader that took it would judge an 'inf-day recovery period'."""
    text = render_json(report)
    first = text.split('"results": [\n', 1)[1].split("\n", 1)[0].strip().rstrip(",")
    result = json.loads(first)
    result["observed"] = "PLACEHOLDER"
    planted = text.replace(first, json.dumps(result).replace('"PLACEHOLDER"', token))
    assert planted != text
    with pytest.raises(InputError, match=re.escape(f"{token} is not a JSON number")):
        read_report(_saved(tmp_path, planted))
