"""ctl against the SSH floor and Ansible on the same loopback sshd hosts: launch, cold and
warm poll, cleanup, a whole -P run, and start-up. Prints a table of medians and ratios,
checks them against the goals (``GOALS``: targets live here, never in timed tests) and
writes the raw figures as JSON.

    .venv/bin/python bench/bench.py --hosts 100 --reps 3            # with Ansible
    .venv/bin/python bench/bench.py --hosts 1000 --reps 1 --no-ansible
    .venv/bin/python bench/bench.py --quick                          # 10 hosts, 1 rep

Every figure is a whole process, measured from outside:
- wall time, and controller CPU: user + system of the process and the children it waited
  for (wait4), and its peak RSS;
- host CPU: what the test hosts spent for it (their sshd, shells, Python, the job), per
  host. Every lab sshd is moved into a cgroup of its own (cgroup v1 ``cpuacct`` or v2
  ``cpu.stat``, as root), so every process a session starts is counted, those that outlive
  the session too: a launch's detached supervisors go on starting Python after ctl has
  exited, so the meter waits for the cgroup to go quiet (under 5 ms of CPU in 200 ms, at
  most 15 s) before it reads the total. The other work on the machine is not counted.
  Without a cgroup the meter falls back to system-wide CPU from /proc/stat (user + nice +
  system + irq + softirq) over the same window, minus the process's own CPU: that figure
  includes whatever else the machine does, so it is marked ``~``.
The floor (``bench/floor.py``) is asyncssh connect + auth + exec ``true`` on every host in
one process, key and known_hosts loaded once. The test hosts share the controller's cores,
so their sshd and Python time competes with the controller's: the controller CPU and host
CPU columns are steadier than wall time on a loaded machine.

Warm poll (a second ``ctl poll JID --persist 60`` right after a first, through the
connection keeper) runs only when ``ctl poll --help`` offers ``--persist``.
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
SCENARIOS = ("launch", "poll", "warm-poll", "cleanup", "run-P2")
STARTUP = (("ctl", "--version"), ("ctl", "jobs"), ("python", "import typer"))
# Issue 16's goals, checked on every run (never in a timed test): ratio name -> limit
GOALS = {("launch", "cpu/floor"): ("<=", 1.15), ("launch", "wall/floor"): ("<=", 1.3),
         ("poll", "cpu/floor"): ("<=", 1.15), ("poll", "wall/floor"): ("<=", 1.2),
         ("launch", "ansible/ctl"): (">=", 25.0)}


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
    host_cpu: float | None = None  # seconds of CPU the hosts spent, all hosts together
    host_cpu_exact: bool = True  # False: system-wide /proc/stat, other work included


class HostMeter:
    """CPU spent by the lab's hosts (see the module docstring): a cgroup holding every
    sshd, or else system-wide /proc/stat."""

    def __init__(self, name: str) -> None:
        self.path: Path | None = None
        for base, usage in (("/sys/fs/cgroup/cpuacct", "cpuacct.usage"),
                            ("/sys/fs/cgroup", "cpu.stat")):
            try:
                path = Path(base) / name
                path.mkdir(exist_ok=True)
                self.path, self.usage_file = path, usage
                break
            except OSError:
                continue

    @property
    def exact(self) -> bool:
        return self.path is not None

    def adopt(self, pids: list[int]) -> None:
        if self.path is None:
            return
        try:
            for pid in pids:
                (self.path / "cgroup.procs").write_text(f"{pid}\n")
        except OSError as exc:
            print(f"host CPU: no cgroup ({exc}); system-wide /proc/stat instead", flush=True)
            self.path = None

    def read(self) -> float:
        """Seconds of CPU so far (cgroup), or system-wide busy seconds (/proc/stat)."""
        if self.path is not None:
            text = (self.path / self.usage_file).read_text()
            if self.usage_file == "cpuacct.usage":
                return int(text) / 1e9
            return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")

    def settle(self, quiet: float = 0.005, window: float = 0.2, limit: float = 15.0) -> float:
        """Wait until the hosts go quiet (detached supervisors done starting); the reading."""
        deadline = time.monotonic() + limit
        last = self.read()
        while time.monotonic() < deadline:
            time.sleep(window)
            now = self.read()
            busy = quiet * (1 if self.exact else os.cpu_count() or 1)
            if now - last < busy:
                return now
            last = now
        return last

    def close(self) -> None:
        """Remove the cgroup, its last processes (a job still running) moved out first."""
        if self.path is None:
            return
        for _ in range(50):  # exiting processes leave it a moment later
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    (self.path.parent / "cgroup.procs").write_text(pid + "\n")
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def run_measured(argv: list[str], env: dict[str, str], meter: HostMeter | None = None
                 ) -> tuple[float, float, float, bool, str, float | None]:
    """Wall, CPU (user + system) and peak RSS of one process and the children it waited
    for, from wait4(); the hosts' CPU from ``meter``, read once they are quiet."""
    with tempfile.TemporaryFile("w+") as out:
        before = meter.read() if meter else 0.0
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        cpu = usage.ru_utime + usage.ru_stime
        host = None
        if meter is not None:
            host = meter.settle() - before - (0.0 if meter.exact else cpu)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode == 0, text, host


class Bench:
    def __init__(self, lab: SshdLab, env: dict[str, str], forks: int, meter: HostMeter) -> None:
        self.lab, self.env, self.forks, self.meter = lab, env, forks, meter
        self.samples: list[Sample] = []
        self.persist = "--persist" in subprocess.run(
            self.ctl("poll", "--help"), env=env, capture_output=True, text=True).stdout

    def inventory(self, n: int) -> str:
        path = self.lab.root / f"hosts-{n}.yml"
        if not path.exists():
            self.lab.write_inventory(path, self.lab.hosts[:n])
        return str(path)

    def ctl(self, *args: str) -> list[str]:
        return [str(BIN / "ctl"), *args]

    def ansible(self, *args: str) -> list[str]:
        return [str(BIN / "ansible"), "all", *args]

    def record(self, tool: str, scenario: str, n: int, rep: int, argv: list[str],
               hosts: bool = True) -> str:
        wall, cpu, rss, ok, out, host = run_measured(argv, self.env,
                                                     self.meter if hosts else None)
        self.samples.append(Sample(tool, scenario, n, rep, wall, cpu, rss, ok, host,
                                   self.meter.exact))
        per_host = "" if host is None else f" host={host * 1000 / max(n, 1):6.1f}ms/host"
        print(f"  {tool:7} {scenario:13} n={n:<5} rep={rep} wall={wall:7.2f}s "
              f"cpu={cpu:7.2f}s{per_host} {'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            print("    " + out.strip().splitlines()[-1][:200] if out.strip() else "", flush=True)
        return out

    def jid(self, out: str) -> str:
        for line in out.splitlines():
            if '"ansible_job_id"' in line:
                return line.split('"')[3]
        raise RuntimeError("no jid in output:\n" + out[-2000:])

    def quiet(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True)

    def wait_done(self, jid: str) -> None:
        self.quiet(self.ctl("poll", jid, "--wait", "--delay", "1", "--retries", "120",
                            "-f", str(self.forks)))

    def startup(self, rep: int) -> None:
        """Start-up: no host contacted (``ctl jobs`` reads the registry)."""
        for tool, what in STARTUP:
            argv = [sys.executable, "-c", what] if tool == "python" else self.ctl(what)
            self.record(tool, what, 0, rep, argv, hosts=False)

    def rep(self, n: int, rep: int, ansible: bool) -> None:
        inv, f = self.inventory(n), str(self.forks)
        self.record("floor", "floor", n, rep, [sys.executable, str(ROOT / "bench" / "floor.py"),
                                                inv, f])
        out = self.record("ctl", "launch", n, rep, self.ctl(
            "run", "-i", inv, "-f", f, "-B", "1000", "-P", "0", "--", "sleep", "20"))
        running = self.jid(out)
        self.record("ctl", "poll", n, rep, self.ctl("poll", running, "-f", f))
        self.warm_poll(n, rep, running)
        if ansible:
            self.record("ansible", "launch", n, rep, self.ansible(
                "-i", inv, "-f", f, "-B", "1000", "-P", "0", "-a", "sleep 20"))
            self.record("ansible", "poll", n, rep, self.ansible(
                "-i", inv, "-f", f, "-m", "async_status", "-a", f"jid={running}"))
        self.quiet(self.ctl("kill", running, "-f", f, "--grace", "1"))
        for tool in ("ctl", "ansible") if ansible else ("ctl",):
            self.cleanup(tool, n, rep, inv, f)
        self.record("ctl", "run-P2", n, rep, self.ctl(
            "run", "-i", inv, "-f", f, "-B", "100", "-P", "2", "--", "sleep", "5"))
        if ansible:
            self.record("ansible", "run-P2", n, rep, self.ansible(
                "-i", inv, "-f", f, "-B", "100", "-P", "2", "-a", "sleep 5"))

    def warm_poll(self, n: int, rep: int, jid: str) -> None:
        """A poll through the connection keeper: a first ``--persist`` poll opens the
        connections, the second (measured) reuses them; then the keeper is stopped."""
        if not self.persist:
            if rep == 1:
                print("  warm-poll: skipped (no --persist in this ctl)", flush=True)
            return
        argv = self.ctl("poll", jid, "-f", str(self.forks), "--persist", "60")
        self.quiet(argv)
        self.record("ctl", "warm-poll", n, rep, argv)
        self.quiet(self.ctl("keeper", "stop"))  # may not exist: ignored

    def cleanup(self, tool: str, n: int, rep: int, inv: str, f: str) -> None:
        """(c) cleanup of a finished job."""
        done = self.jid(self.quiet(self.ctl(
            "run", "-i", inv, "-f", f, "-B", "100", "-P", "0", "--", "true")).stdout)
        self.wait_done(done)
        argv = self.ctl("cleanup", done, "-f", f) if tool == "ctl" else self.ansible(
            "-i", inv, "-f", f, "-m", "async_status", "-a", f"jid={done} mode=cleanup")
        self.record(tool, "cleanup", n, rep, argv)
        if tool == "ansible":
            self.quiet(self.ctl("cleanup", done, "-f", f))


def median(samples: list[Sample], tool: str, scenario: str, n: int, key: str) -> float | None:
    values = [getattr(s, key) for s in samples if s.tool == tool and s.scenario == scenario
              and s.hosts == n and s.ok and getattr(s, key) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    return "-" if a is None or not b else f"{a / b:.{digits}f}x"


HEADER = ("| hosts | scenario | ctl wall | ctl cpu | host cpu/host | wall/floor | cpu/floor "
          "| host cpu/floor | ansible wall | ansible cpu | ansible host cpu/host | ansible/ctl |")


def table(samples: list[Sample], sizes: list[int]) -> str:
    rows = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for n in sizes:
        rows.append(floor_row(samples, n))
        for scenario in SCENARIOS:
            if median(samples, "ctl", scenario, n, "wall") is not None:
                rows.append(row(samples, n, scenario))
    return "\n".join(rows)


def per_host_ms(samples: list[Sample], tool: str, scenario: str, n: int) -> float | None:
    host = median(samples, tool, scenario, n, "host_cpu")
    return None if host is None else host * 1000 / n


def floor_row(samples: list[Sample], n: int) -> str:
    wall, cpu = (median(samples, "floor", "floor", n, k) for k in ("wall", "cpu"))
    host = per_host_ms(samples, "floor", "floor", n)
    return (f"| {n} | floor | {fmt(wall)} | {fmt(cpu)} | {fmt(host, ' ms', 1)} | 1x | 1x | 1x "
            "| - | - | - | - |")


def row(samples: list[Sample], n: int, scenario: str) -> str:
    cw, cc = (median(samples, "ctl", scenario, n, k) for k in ("wall", "cpu"))
    fw, fc = (median(samples, "floor", "floor", n, k) for k in ("wall", "cpu"))
    aw, ac = (median(samples, "ansible", scenario, n, k) for k in ("wall", "cpu"))
    host, fhost = per_host_ms(samples, "ctl", scenario, n), per_host_ms(samples, "floor",
                                                                          "floor", n)
    ahost = per_host_ms(samples, "ansible", scenario, n)
    floored = scenario != "run-P2"  # a -P 2 run waits for its jobs: no floor to compare
    return (f"| {n} | {scenario} | {fmt(cw)} | {fmt(cc)} | {fmt(host, ' ms', 1)} | "
            f"{ratio(cw, fw) if floored else '-'} | {ratio(cc, fc) if floored else '-'} | "
            f"{ratio(host, fhost) if floored else '-'} | {fmt(aw)} | {fmt(ac)} | "
            f"{fmt(ahost, ' ms', 1)} | {ratio(aw, cw, 1)} |")


def startup_table(samples: list[Sample]) -> str:
    rows = ["| start-up | wall | cpu |", "|---|---|---|"]
    for tool, what in STARTUP:
        name = f"python -c '{what}'" if tool == "python" else f"ctl {what}"
        rows.append(f"| {name} | {fmt(median(samples, tool, what, 0, 'wall'))} | "
                    f"{fmt(median(samples, tool, what, 0, 'cpu'))} |")
    return "\n".join(rows)


def goals(samples: list[Sample], sizes: list[int]) -> list[str]:
    """Each goal of GOALS at each size: met, or missed by how much."""
    lines = []
    for n in sizes:
        fw, fc = (median(samples, "floor", "floor", n, k) for k in ("wall", "cpu"))
        for (scenario, name), (op, limit) in GOALS.items():
            cw, cc = (median(samples, "ctl", scenario, n, k) for k in ("wall", "cpu"))
            aw = median(samples, "ansible", scenario, n, "wall")
            value = {"cpu/floor": (cc, fc), "wall/floor": (cw, fw), "ansible/ctl": (aw, cw)}[name]
            if value[0] is None or not value[1]:
                continue
            x = value[0] / value[1]
            met = x <= limit if op == "<=" else x >= limit
            miss = "" if met else f" (misses by {abs(x / limit - 1) * 100:.0f}%)"
            lines.append(f"{n:>5} hosts  {scenario:7} {name:12} {x:6.2f}x  goal {op} {limit}x  "
                         f"{'met' if met else 'MISSED'}{miss}")
    return lines


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="10,100", help="comma list of host counts")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 hosts, 1 rep")
    parser.add_argument("--no-ansible", action="store_true")
    parser.add_argument("--ansible-max", type=int, default=100,
                        help="skip Ansible above this many hosts (at 1,000 hosts each of its "
                             "launches takes about 7 minutes)")
    parser.add_argument("--json", default="bench/results.json", help="raw figures")
    return parser.parse_args()


def lab_env(lab: SshdLab, home: Path) -> dict[str, str]:
    env = lab.controller_env(home)
    env["ANSIBLE_SSH_COMMON_ARGS"] = f"-o UserKnownHostsFile={lab.known_hosts}"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    env["ANSIBLE_PIPELINING"] = "True"
    env["LC_ALL"] = "C.UTF-8"  # ansible-core refuses to run without a UTF-8 locale
    env["ANSIBLE_SSH_ARGS"] = "-C -o ControlMaster=auto -o ControlPersist=60s"
    return env


def report(bench: Bench, sizes: list[int], args: argparse.Namespace, reps: int) -> None:
    print()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, forks {args.forks}, "
          f"{reps} rep(s), host cpu {'by cgroup' if bench.meter.exact else '~ /proc/stat'}")
    print(table(bench.samples, sizes))
    print()
    print(startup_table(bench.samples))
    print()
    print("goals (issue 16):")
    print("\n".join(goals(bench.samples, sizes)) or "  (no ratios measured)")
    Path(args.json).write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "forks": args.forks, "reps": reps,
        "cores": os.cpu_count(), "load": os.getloadavg(), "host_cpu_exact": bench.meter.exact,
        "samples": [asdict(s) for s in bench.samples]}, indent=1))
    print(f"\nraw figures: {args.json}")


def compile_sources() -> None:
    """Bytecode for ctl's own modules, as ``pip install`` writes it: with
    PYTHONDONTWRITEBYTECODE set (as on this project's machines), an editable install
    would otherwise compile its sources again in every measured process."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "controller"),
                    str(ROOT / "remote_payload")], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    args = arguments()
    compile_sources()
    sizes = [10] if args.quick else sorted(int(x) for x in args.hosts.split(","))
    reps = 1 if args.quick else args.reps
    work = Path(tempfile.mkdtemp(prefix="ctl-bench-"))
    lab = SshdLab(work / "lab", count=max(sizes), subnet="127.0.40", user_prefix="ctlq")
    meter = HostMeter(f"ctl-bench-{os.getpid()}")
    started = time.perf_counter()
    lab.start()
    meter.adopt([h.process.pid for h in lab.hosts if h.process is not None])
    print(f"started {len(lab.hosts)} sshd hosts in {time.perf_counter() - started:.1f}s",
          flush=True)
    bench = Bench(lab, lab_env(lab, work / "home"), args.forks, meter)
    try:
        for n in sizes:
            for rep in range(1, reps + 1):
                bench.startup(rep) if n == sizes[0] else None
                bench.rep(n, rep, ansible=not args.no_ansible and n <= args.ansible_max)
    finally:
        lab.stop()
        meter.close()
        shutil.rmtree(work, ignore_errors=True)
    report(bench, sizes, args, reps)
    return 0 if all(s.ok for s in bench.samples) else 1


if __name__ == "__main__":
    sys.exit(main())
