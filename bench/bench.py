"""ctl against Ansible on the same loopback sshd hosts: launch, poll, cleanup, a whole -P run,
and the SSH floor. Prints a table of medians and ratios and writes the raw figures as JSON.

    .venv/bin/python bench/bench.py --hosts 10,100 --reps 3
    .venv/bin/python bench/bench.py --quick          # fits in about two minutes

Every figure is a whole process, measured from outside: wall time, CPU time (user + system
of the process and the children it waited for) and peak RSS (the largest of them). The test
hosts run on the same machine, so their sshd and Python time competes for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.sshd_lab import SshdLab  # noqa: E402  (the suite's host-starting code, reused)

BIN = Path(sys.executable).parent


@dataclass
class Sample:
    tool: str
    scenario: str
    hosts: int
    rep: int
    wall: float
    cpu: float
    rss_mib: float
    ok: bool


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, bool, str]:
    """Wall, CPU (user + system) and peak RSS of one process and the children it waited
    for, from wait4()."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, \
        proc.returncode == 0, text


class Bench:
    def __init__(self, lab: SshdLab, env: dict[str, str], forks: int) -> None:
        self.lab, self.env, self.forks = lab, env, forks
        self.samples: list[Sample] = []

    def inventory(self, n: int) -> str:
        path = self.lab.root / f"hosts-{n}.yml"
        if not path.exists():
            self.lab.write_inventory(path, self.lab.hosts[:n])
        return str(path)

    def ctl(self, *args: str) -> list[str]:
        return [str(BIN / "ctl"), *args]

    def ansible(self, *args: str) -> list[str]:
        return [str(BIN / "ansible"), "all", *args]

    def record(self, tool: str, scenario: str, n: int, rep: int, argv: list[str]) -> str:
        wall, cpu, rss, ok, out = run_measured(argv, self.env)
        self.samples.append(Sample(tool, scenario, n, rep, wall, cpu, rss, ok))
        print(f"  {tool:7} {scenario:8} n={n:<5} rep={rep} wall={wall:7.2f}s cpu={cpu:7.2f}s "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            print("    " + out.strip().splitlines()[-1][:200] if out.strip() else "", flush=True)
        return out

    def jid(self, out: str) -> str:
        for line in out.splitlines():
            if '"ansible_job_id"' in line:
                return line.split('"')[3]
        raise RuntimeError("no jid in output:\n" + out[-2000:])

    def wait_done(self, jid: str) -> None:
        subprocess.run(self.ctl("poll", jid, "--wait", "--delay", "1", "--retries", "120",
                                "-f", str(self.forks)), env=self.env, capture_output=True)

    def rep(self, n: int, rep: int, ansible: bool) -> None:
        inv, f = self.inventory(n), str(self.forks)
        # (e) the floor
        self.record("floor", "floor", n, rep, [sys.executable, str(ROOT / "bench" / "floor.py"),
                                                inv, f])
        # (a) launch -P 0, (b) one poll round of the running job
        out = self.record("ctl", "launch", n, rep, self.ctl(
            "run", "-i", inv, "-f", f, "-B", "1000", "-P", "0", "--", "sleep", "20"))
        running = self.jid(out)
        self.record("ctl", "poll", n, rep, self.ctl("poll", running, "-f", f))
        if ansible:
            self.record("ansible", "launch", n, rep, self.ansible(
                "-i", inv, "-f", f, "-B", "1000", "-P", "0", "-a", "sleep 20"))
            self.record("ansible", "poll", n, rep, self.ansible(
                "-i", inv, "-f", f, "-m", "async_status", "-a", f"jid={running}"))
        subprocess.run(self.ctl("kill", running, "-f", f, "--grace", "1"), env=self.env,
                       capture_output=True)
        # (c) cleanup of a finished job
        for tool in ("ctl", "ansible") if ansible else ("ctl",):
            done = self.jid(subprocess.run(self.ctl(
                "run", "-i", inv, "-f", f, "-B", "100", "-P", "0", "--", "true"),
                env=self.env, capture_output=True, text=True).stdout)
            self.wait_done(done)
            argv = self.ctl("cleanup", done, "-f", f) if tool == "ctl" else self.ansible(
                "-i", inv, "-f", f, "-m", "async_status", "-a", f"jid={done} mode=cleanup")
            self.record(tool, "cleanup", n, rep, argv)
            if tool == "ansible":
                subprocess.run(self.ctl("cleanup", done, "-f", f), env=self.env,
                               capture_output=True)
        # (d) a whole -P 2 run of sleep 5
        self.record("ctl", "run-P2", n, rep, self.ctl(
            "run", "-i", inv, "-f", f, "-B", "100", "-P", "2", "--", "sleep", "5"))
        if ansible:
            self.record("ansible", "run-P2", n, rep, self.ansible(
                "-i", inv, "-f", f, "-B", "100", "-P", "2", "-a", "sleep 5"))


def median(samples: list[Sample], tool: str, scenario: str, n: int, key: str) -> float | None:
    values = [getattr(s, key) for s in samples
              if s.tool == tool and s.scenario == scenario and s.hosts == n and s.ok]
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def table(samples: list[Sample], sizes: list[int]) -> str:
    rows = ["| hosts | scenario | ctl wall | ctl cpu | ctl rss | ansible wall | ansible/ctl "
            "| floor wall | ctl/floor |", "|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        floor = median(samples, "floor", "floor", n, "wall")
        for scenario in ("launch", "poll", "cleanup", "run-P2"):
            cw = median(samples, "ctl", scenario, n, "wall")
            if cw is None:
                continue
            cpu = median(samples, "ctl", scenario, n, "cpu")
            rss = median(samples, "ctl", scenario, n, "rss_mib")
            aw = median(samples, "ansible", scenario, n, "wall")
            ratio = "-" if aw is None else f"{aw / cw:.1f}x"
            vs_floor = "-" if floor is None or scenario == "run-P2" else f"{cw / floor:.2f}x"
            rows.append(f"| {n} | {scenario} | {fmt(cw)} | {fmt(cpu)} | {fmt(rss, ' MiB')} | "
                        f"{fmt(aw)} | {ratio} | {fmt(floor)} | {vs_floor} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="10,100", help="comma list of host counts")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 hosts, 1 rep")
    parser.add_argument("--no-ansible", action="store_true")
    parser.add_argument("--ansible-max", type=int, default=100,
                        help="skip Ansible above this many hosts (it takes too long)")
    parser.add_argument("--json", default="bench/results.json", help="raw figures")
    args = parser.parse_args()
    sizes = [10] if args.quick else sorted(int(x) for x in args.hosts.split(","))
    reps = 1 if args.quick else args.reps
    work = Path(tempfile.mkdtemp(prefix="ctl-bench-"))
    lab = SshdLab(work / "lab", count=max(sizes), subnet="127.0.40")
    started = time.perf_counter()
    lab.start()
    print(f"started {len(lab.hosts)} sshd hosts in {time.perf_counter() - started:.1f}s",
          flush=True)
    env = lab.controller_env(work / "home")
    env["ANSIBLE_SSH_COMMON_ARGS"] = f"-o UserKnownHostsFile={lab.known_hosts}"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    env["ANSIBLE_PIPELINING"] = "True"
    env["LC_ALL"] = "C.UTF-8"  # ansible-core refuses to run without a UTF-8 locale
    env["ANSIBLE_SSH_ARGS"] = "-C -o ControlMaster=auto -o ControlPersist=60s"
    bench = Bench(lab, env, args.forks)
    try:
        for n in sizes:
            for rep in range(1, reps + 1):
                bench.rep(n, rep, ansible=not args.no_ansible and n <= args.ansible_max)
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(bench.samples, sizes))
    Path(args.json).write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "forks": args.forks, "reps": reps,
        "cores": os.cpu_count(), "samples": [asdict(s) for s in bench.samples]}, indent=1))
    print(f"\nraw figures: {args.json}")
    return 0 if all(s.ok for s in bench.samples) else 1


if __name__ == "__main__":
    sys.exit(main())
