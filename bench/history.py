"""Peak memory of `policycheck history` (and, beside it, `render`) on one large report:

    .venv/bin/python bench/history.py                  # 57,600 results, about 89 MB
    .venv/bin/python bench/history.py --results 5000 --padding 200

The report is made from the demo's (run once, against moto on loopback): its results
repeated under new resource names, each with ``--padding`` characters of observation,
its controls and summary assessed again from them (so the reader's consistency checks
hold), and marked as evidence of live accounts (history skips the demo's). Each command
runs in its own process; its peak is the largest resident set it reached (VmHWM, read
by the process itself). Linux only.
Never calls AWS."""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def large_report(directory: Path, count: int, padding: int) -> Path:
    """Write a report of ``count`` results into ``directory``; its path."""
    from policycheck.publish import write_reports
    from policycheck.report.model import assess_control, summarize
    from policycheck.report.reader import read_report

    demo = directory / "demo"
    subprocess.run(
        [PYTHON, "-m", "policycheck", "demo", "--output-dir", demo, "--format", "json"],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    template = read_report(demo / "report.json")
    originals = list(template.results)
    results = []
    for index in range(count):
        base = originals[index % len(originals)]
        name = f"{base.resource.name}-{index:06d}"
        results.append(
            base.model_copy(
                update={
                    "resource": base.resource.model_copy(update={"name": name}),
                    "observed": {"padding": "x" * padding},
                }
            )
        )
    controls = [
        assess_control(
            control.id,
            control.title,
            control.checks,
            results,
            control.manual,
            control.environments,
        ).model_copy(
            update={
                "requirements": control.requirements,
                "source_file": control.source_file,
                "check_lines": control.check_lines,
            }
        )
        for control in template.controls
    ]
    report = template.model_copy(
        update={
            "run": template.run.model_copy(update={"simulated": False}),
            "results": results,
            "controls": controls,
            "summary": summarize(controls, results, template.run.gaps),
            "evidence_values": dict(template.evidence_values),
        }
    )
    write_reports(report, directory / "large", ["json"])
    return directory / "large" / "report.json"


#: Runs the CLI and prints, last on stderr, the largest resident set it reached (KiB):
#: VmHWM, since ru_maxrss keeps, across exec, the peak of the process that forked it
#: (this one, which held the whole report while making it).
MEASURED = (
    "import re, sys\n"
    "from pathlib import Path\n"
    "from policycheck.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "status = Path('/proc/self/status').read_text()\n"
    "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def peak_of(command: list[str | Path]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB and exit code of one command in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", MEASURED, *command], capture_output=True, text=True, cwd=REPO
    )
    seconds = time.perf_counter() - started
    *said, peak = done.stderr.strip().split("\n")
    if done.returncode not in (0, 1, 3):
        print("\n".join(said), file=sys.stderr)
    return seconds, int(peak) / 1024, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=57_600)
    parser.add_argument("--padding", type=int, default=350)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        report = large_report(directory, args.results, args.padding)
        size = report.stat().st_size / 1e6
        print(f"report.json: {args.results:,} results, {size:.1f} MB")
        commands = {
            "history": ["history", report, "--output-dir", directory / "history"],
            "render": ["render", report, "--output-dir", directory / "render", "--format", "json"],
        }
        print("| command | wall s | peak MiB | exit |\n|---|---|---|---|")
        for name, command in commands.items():
            seconds, peak, code = peak_of(command)
            print(f"| `{name}` | {seconds:.2f} | {peak:.0f} | {code} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
