"""Warm connections, measured: ``ctl poll`` of N lab hosts cold (``--persist 0``, a new SSH
connection per host), the poll that starts the keeper, and warm polls (the keeper's
connections), beside the SSH floor (``bench/floor.py``: its process's wall, as bench.py
times it, and its own in-loop seconds). Prints seconds as JSON; it asserts nothing.

    .venv/bin/python bench/warm.py [HOSTS] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.sshd_lab import running_lab  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, proc


def measure(hosts: int, rounds: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="kb", dir="/tmp"))
    with running_lab(work / "lab", count=hosts, subnet="127.0.77", user_prefix="ctlk") as lab:
        env = dict(lab.controller_env(work / "home"), PYTHONPATH=str(ROOT))
        ctl = [sys.executable, "-m", "controller.cli"]
        _, run = timed([*ctl, "run", "-i", str(lab.inventory), "-B", "600", "-P", "0",
                        "--persist", "0", "--", "true"], env)
        jid = re.search(r"ctl: job (\S+) on", run.stderr).group(1)  # type: ignore[union-attr]
        poll = [*ctl, "poll", jid, "--persist"]
        floor_argv = [sys.executable, "bench/floor.py", str(lab.inventory), "50"]
        first, _ = timed([*poll, "60"], env)  # starts the keeper
        cold, warm, floor, floor_loop = [], [], [], []
        for _ in range(rounds):  # interleaved: each round's three share the machine's load
            cold.append(timed([*poll, "0"], env)[0])
            warm.append(timed([*poll, "60"], env)[0])
            wall, out = timed(floor_argv, env)  # timed as a whole process, as bench.py does
            floor.append(wall)
            floor_loop.append(json.loads(out.stdout)["loop_seconds"])
        _, stats = timed([*ctl, "keeper", "status", "--json"], env)
        found = json.loads(stats.stdout)
        os.kill(int(found["pid"]), signal.SIGTERM)
    shutil.rmtree(work, ignore_errors=True)
    cold_s, warm_s, floor_s = (statistics.median(x) for x in (cold, warm, floor))
    return {"hosts": hosts, "cold_poll_s": cold, "first_poll_with_keeper_s": first,
            "warm_poll_s": warm, "floor_wall_s": floor, "floor_loop_s": floor_loop,
            "keeper": found,
            "warm_over_floor": round(warm_s / floor_s, 2),
            "warm_over_cold": round(warm_s / cold_s, 2),
            "warm_over_floor_loop": round(warm_s / statistics.median(floor_loop), 2),
            "warm_over_floor_per_round": [round(w / f, 2) for w, f in zip(warm, floor)],
            "load_average": os.getloadavg()}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(json.dumps(measure(count, int(sys.argv[2]) if len(sys.argv) > 2 else 3), indent=1))
