"""Compare two report sets (two ``--output-dir``s of ``policycheck run``/``demo``) file by
file, ignoring only what differs from run to run: times and durations, the tool version,
what moto invents anew on every run (key ids and other uuids, and the sha256 digests
computed over them) and the commit ids of a repository committed anew (the demo's).
Anything else that differs is printed, and the exit code is 1.

    python .ci/compare_report_sets.py BEFORE_DIR AFTER_DIR

Used to prove a refactoring changed no report byte (issue 23: the package move)."""

import difflib
import re
import sys
from pathlib import Path

#: What a run may change without changing the report, each replaced by a placeholder.
VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?(?: UTC)?"), "<time>"),
    (re.compile(r'("seconds"\s*:\s*)[0-9.e-]+'), r"\1<seconds>"),
    (re.compile(r'(\btime=")[0-9.]+(")'), r"\1<seconds>\2"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    # The demo's scratch repository is committed anew on every run: its commit ids differ.
    (re.compile(r"\b[0-9a-f]{40}\b"), "<commit>"),
    # Short digests (of evidence, of a commit) as the Markdown and HTML views show them.
    (re.compile(r"\b[0-9a-f]{12}\b"), "<digest>"),
    (re.compile(r'("(?:tool_)?version"\s*:\s*")[^"]+(")'), r"\1<version>\2"),
    (re.compile(r"\bin \d+(?:\.\d+)? ?s\b"), "in <seconds>"),
)


#: A line of report.json's table of fact values, keyed by the value's digest: the table is
#: in digest order, so masking digests leaves it in an order that means nothing.
_KEYED_BY_DIGEST = re.compile(r'^\s*"<sha256>":')


def masked(text: str) -> list[str]:
    """The lines of ``text`` with what varies replaced; runs of lines keyed by a masked
    digest sorted, each once (values moto made differ may coincide in another run)."""
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    lines, run = [], []
    for line in text.splitlines(keepends=True):
        if _KEYED_BY_DIGEST.match(line):
            run.append(line.rstrip(",\n") + "\n")
            continue
        lines.extend(sorted(set(run)))
        run = []
        lines.append(line)
    return lines + sorted(set(run))


def differences(before: Path, after: Path) -> list[str]:
    """A unified diff of every file that differs after masking, and the files only one
    side has."""
    names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
    found: list[str] = []
    for name in names:
        old, new = before / name, after / name
        if not old.exists() or not new.exists():
            found.append(f"{name}: only in {'AFTER' if not old.exists() else 'BEFORE'}\n")
            continue
        a = masked(old.read_text(encoding="utf-8"))
        b = masked(new.read_text(encoding="utf-8"))
        found.extend(difflib.unified_diff(a, b, f"before/{name}", f"after/{name}", n=1))
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = (Path(arg) for arg in argv)
    found = differences(before, after)
    sys.stdout.writelines(found[:400])
    files = sorted(p.name for p in before.iterdir())
    print(
        f"{'DIFFERENT' if found else 'identical'}: {len(files)} files compared ({', '.join(files)})"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
