"""Run policycheck's CLI in this process under tracemalloc and print what is held at the
end of each stage of a run, and the peak during the stage:

    .venv/bin/python bench/memprofile.py run --policy P --processes 1 ...

(bench/run.py --profile runs it on the synthetic fleet.) Each stage's snapshot lists the
allocation sites holding the most memory, by source line; ``--processes 1`` keeps every
allocation in this process. tracemalloc slows the run several times: its timings mean
nothing, and it counts Python allocations only (not the interpreter, the modules' code or
C libraries), so its totals are below the process's PSS."""

import functools
import os
import sys
import tracemalloc
from typing import Any

TOP = int(os.environ.get("MEMPROFILE_TOP", "12"))
FRAMES = 12
#: Where the code of policycheck is: this checkout, or the one PYTHONPATH names (an
#: older version profiled with this script).
ROOTS = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]


def _ours(filename: str) -> str:
    """A file of policycheck's, relative to its checkout; "" for any other."""
    if "site-packages" in filename:
        return ""
    root = next((root for root in ROOTS if filename.startswith(root + os.sep)), None)
    return os.path.relpath(filename, root) if root else ""


def report(stage: str) -> None:
    """What is held now, by the innermost line of policycheck that allocated it."""
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    held: dict[str, list[int]] = {}
    for stat in snapshot.statistics("traceback"):
        ours = [
            f"{_ours(frame.filename)}:{frame.lineno}"
            for frame in reversed(stat.traceback)  # the most recent first
            if _ours(frame.filename)
        ]
        site = " < ".join(ours[:2]) or "(imports and libraries)"
        size, count = held.setdefault(site, [0, 0])
        held[site] = [size + stat.size, count + stat.count]
    print(
        f"\n== {stage}: {current / 2**20:.1f} MiB traced now, {peak / 2**20:.1f} MiB peak "
        "since the stage before",
        file=sys.stderr,
    )
    for site, (size, count) in sorted(held.items(), key=lambda item: -item[1][0])[:TOP]:
        print(f"{size / 2**20:8.1f} MiB {count:8d} blocks  {site}", file=sys.stderr)
    del snapshot
    tracemalloc.reset_peak()  # the snapshot's own memory is not the run's


def after(module: Any, name: str, stage: str) -> None:
    """Report when ``module.name`` returns (and wrap it where it is imported from)."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value = original(*args, **kwargs)
        report(stage)
        return value

    setattr(module, name, wrapped)


#: Where a stage of a run ends: (module, attribute path, stage); those the running
#: version lacks are skipped.
STAGES = [
    ("policycheck.engine.runner", "Located.collect", "facts collected"),
    ("policycheck.engine.runner", "judge_run", "results judged"),
    ("policycheck.engine.runner", "assemble", "report assembled"),
    ("policycheck.publish.reportset", "publish_set", "reports rendered and published"),
]


def main() -> int:
    import importlib

    tracemalloc.start(FRAMES)
    import policycheck
    from policycheck import cli

    ROOTS.append(os.path.dirname(os.path.dirname(os.path.abspath(policycheck.__file__))))

    for module_name, path, stage in STAGES:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and hasattr(owner, name):
            after(owner, name, stage)
    code = cli.main(sys.argv[1:])
    report("end")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
