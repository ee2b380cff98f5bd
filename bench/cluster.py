"""Scaling out, measured: hosts per second per worker process, in one process and with
``--cluster local:2``, on loopback sshd hosts; the registry's write rate (the job's
write-ahead and the per-host results) for SQLite and PostgreSQL; and the cost when
neither is used (start-up and the modules a plain run imports).

    .venv/bin/python bench/cluster.py --hosts 300 --reps 2
    .venv/bin/python bench/cluster.py --hosts 20 --reps 1 --registry-rows 10000   # quick

Each figure is the median wall time of a whole ``ctl`` process, measured from outside
(the local:2 figures include starting the LocalCluster; the tcp:// ones use a ``dask
scheduler`` and ``dask worker --nworkers 2`` started once, on 127.0.0.1). The hosts' sshd
and Python run on the same cores as the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.dask_lab import DaskLab  # noqa: E402
from tests.support.pg import PgServer, pg_bin  # noqa: E402
from tests.support.sshd_lab import SshdLab  # noqa: E402

CTL = str(Path(sys.executable).parent / "ctl")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exit {proc.returncode}: "
                           f"{proc.stderr[-500:]}")
    return wall, proc.stdout + proc.stderr


def jid_of(text: str) -> str:
    for line in text.splitlines():
        if "ctl: job j" in line:
            return line.split("ctl: job ", 1)[1].split()[0]
    raise RuntimeError("no jid:\n" + text[-1000:])


def fan_out(lab: SshdLab, env: dict[str, str], n: int, reps: int, forks: int, scheduler: str
            ) -> dict[str, dict[str, float]]:
    """Launch (-P 0 of sleep 30) and one poll round, per mode: wall medians and hosts/s
    per worker process. ``local:2`` starts its LocalCluster in each command; the tcp://
    mode uses ``dask worker --nworkers 2`` started once (the steady state)."""
    inv = str(lab.write_inventory(lab.root / f"hosts-{n}.yml", lab.hosts[:n]))
    modes = {"one process": ([], 1), "--cluster local:2": (["--cluster", "local:2"], 2),
             "tcp:// 2 workers up": (["--cluster", scheduler, "--allow-insecure-cluster"], 2)}
    figures: dict[str, dict[str, float]] = {}
    for mode, (extra, procs) in modes.items():
        walls: dict[str, list[float]] = {"launch": [], "poll": []}
        for _ in range(reps):
            wall, out = timed([CTL, "run", "-i", inv, "-f", str(forks), *extra, "-B", "60",
                               "-P", "0", "--", "sleep", "30"], env)
            walls["launch"].append(wall)
            jid = jid_of(out)
            walls["poll"].append(timed([CTL, "poll", jid, "-f", str(forks), *extra], env)[0])
            subprocess.run([CTL, "kill", jid, "--grace", "1"], env=env, capture_output=True)
            subprocess.run([CTL, "cleanup", jid], env=env, capture_output=True)
        for op, values in walls.items():
            wall = statistics.median(values)
            figures[f"{mode} {op}"] = {"wall": wall, "hosts_per_s": n / wall,
                                       "hosts_per_s_per_process": n / wall / procs}
            print(f"  {mode:18} {op:6} n={n}: {wall:6.2f}s  {n / wall:7.1f} hosts/s  "
                  f"{n / wall / procs:7.1f} per worker process", flush=True)
    return figures


def registry_rates(rows: int) -> dict[str, dict[str, float]]:
    """Write-ahead of a ``rows``-host job and recording every host's result, per backend."""
    from controller.hosts import HostSpec
    from controller.registries import open_registry
    from controller.results import HostResult, Status

    hosts = [(HostSpec(f"h{i}", address=f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"), ["all"])
             for i in range(rows)]
    results = [(HostResult(h.name, Status.CHANGED, {"started": 1, "finished": 0}), "started")
               for h, _ in hosts]
    server = PgServer(pg_bin()).start() if pg_bin() else None  # type: ignore[arg-type]
    found: dict[str, dict[str, float]] = {}
    try:
        backends = {"sqlite": open_registry(None, tempfile.mkdtemp(prefix="ctl-reg-"))}
        if server is not None:
            backends["postgresql"] = open_registry(server.create_db("bench"))
        for name, registry in backends.items():
            started = time.perf_counter()
            registry.create_job("j1.1", ["true"], False, 60, 0, [], hosts)
            ahead = time.perf_counter() - started
            started = time.perf_counter()
            for i in range(0, rows, 500):  # as the CLI records: batches as results arrive
                registry.record("j1.1", results[i:i + 500])
            recorded = time.perf_counter() - started
            found[name] = {"write_ahead_s": ahead, "record_s": recorded,
                           "rows_per_s": rows / recorded}
            print(f"  registry {name:10}: write-ahead of {rows} hosts {ahead:.2f}s, "
                  f"recording their results {recorded:.2f}s ({rows / recorded:,.0f} rows/s)",
                  flush=True)
    finally:
        if server is not None:
            server.stop()
    return found


def unused_cost(env: dict[str, str], reps: int) -> dict[str, float]:
    code = ("import sys, runpy; sys.argv = ['ctl', '--version']\n"
            "try:\n    runpy.run_module('controller.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\nprint(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'dask', 'distributed', 'psycopg', 'cloudpickle'}))")
    heavy = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    version = statistics.median(timed([CTL, "--version"], env)[0] for _ in range(reps))
    print(f"  ctl --version {version * 1000:.0f} ms; heavy modules imported: {heavy}",
          flush=True)
    return {"version_s": version}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--registry-rows", type=int, default=100_000)
    parser.add_argument("--json", default="bench/cluster-results.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctl-bench-cluster-"))
    lab = SshdLab(work / "lab", count=args.hosts, subnet="127.0.50", user_prefix="ctlb")
    started = time.perf_counter()
    lab.start()
    print(f"started {args.hosts} sshd hosts in {time.perf_counter() - started:.1f}s", flush=True)
    env = dict(lab.controller_env(work / "home"), PYTHONPATH=str(ROOT))
    dask = DaskLab(work / "dask").start()
    try:
        report = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
                  "hosts": args.hosts, "forks": args.forks, "reps": args.reps,
                  "unused": unused_cost(env, args.reps),
                  "fan_out": fan_out(lab, env, args.hosts, args.reps, args.forks,
                                     dask.address),
                  "registry": registry_rates(args.registry_rows)}
    finally:
        dask.stop()
        lab.stop()
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"raw figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
