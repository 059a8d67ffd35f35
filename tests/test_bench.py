"""bench/run.py works and its counts hold: requests equal the floor (plus the one identity
call) and verdicts agree with the ground truth. Timings are printed, never asserted."""

import re
import subprocess
import sys

from conftest import REPO


def test_small_fleet_requests_at_the_floor_and_full_agreement() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--buckets",
            "12",
            "--tables",
            "4",
            "--repos",
            "4",
            "--runs",
            "1",
            "--latency-ms",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    floor = int(re.search(r"floor: (\d+) requests", out).group(1))
    assert floor == 12 * 5 + 4 * 2 + 4 * 2 + 1 + 3
    requests = dict(re.findall(r"^(policycheck|yardstick)\s+[\d.]+\s+\d+\s+(\d+)", out, re.M))
    assert int(requests["policycheck"]) == floor + 1  # + sts:GetCallerIdentity
    assert requests["policycheck"] == requests["yardstick"]
    assert "agreement with ground truth: 100.0% of 76 verdicts" in out  # 12x5 + 4x2 + 4x2


def test_plan_benchmark_agrees_with_its_ground_truth() -> None:
    """bench/plan.py writes a plan, times `policycheck plan` on it and checks every
    verdict; here a small one (the timing is printed, never asserted)."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "plan.py"),
            "--buckets",
            "14",
            "--tables",
            "6",
            "--repos",
            "4",
            "--runs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "agreement with ground truth: 100.0% of 90 verdicts" in result.stdout  # 14x5 + 6x2 + 4x2
