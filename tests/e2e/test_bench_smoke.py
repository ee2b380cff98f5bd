"""The benchmark runs (at N=3): a smoke test, not a timing assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.ctl import ROOT


def test_bench_runs_at_three_hosts(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--hosts", "3",
                           "--reps", "1", "--json", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    samples = json.loads(out.read_text())["samples"]
    seen = {(s["tool"], s["scenario"]) for s in samples if s["ok"]}
    assert seen == {("floor", "floor"), ("ctl", "launch"), ("ctl", "poll"), ("ctl", "cleanup"),
                    ("ctl", "run-P2"), ("ansible", "launch"), ("ansible", "poll"),
                    ("ansible", "cleanup"), ("ansible", "run-P2"), ("ctl", "--version"),
                    ("ctl", "jobs"), ("python", "import typer")} | (
        {("ctl", "warm-poll")} if "warm-poll: skipped" not in proc.stdout else set())
    assert all(s["wall"] > 0 and s["cpu"] > 0 for s in samples)
    assert all(s["host_cpu"] is not None for s in samples if s["hosts"])  # hosts' CPU
    assert "| 3 | launch |" in proc.stdout and "goals (issue 16):" in proc.stdout


def test_chaos_bench_runs_at_ten_hosts(tmp_path: Path) -> None:
    """bench/chaos.py end to end on a small lab (-f 2: the kill lands mid-launch): its
    faults are injected and its figures meet their goals."""
    out = tmp_path / "chaos.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--hosts", "10",
                           "--black-holes", "1", "--forks", "2", "--job", "30", "--seed", "5",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["sshd_kills"] == 1 and figures["controller_killed_at"].endswith("launched")
    assert 0 < figures["launched_before_kill"] < 10
    assert figures["exactly_once"] == 10 and figures["duplicates"] == 0
    assert figures["misreported"] == [] and figures["resume_exit"] == 4  # the black hole
    assert "hosts with exactly one job: 10/10 reachable" in proc.stdout
