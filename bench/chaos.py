"""Chaos at fleet size, on loopback sshd hosts, and the way back: figures.

A launch on many hosts while a random tenth of the sshds are killed (with their sessions) at
random moments, with a few black-hole hosts (accept TCP, never speak) in the inventory, and
the controller SIGKILLed mid-launch. Then the killed hosts come back, ``ctl resume`` runs
once, and the host side is read directly (this machine is every host) to say how many
reachable hosts have the job exactly once, how many have it twice, and how many hosts
``ctl poll --all-hosts`` misreports.

    .venv/bin/python bench/chaos.py                       # 120 hosts, 3 black holes
    .venv/bin/python bench/chaos.py --hosts 200 --seed 7 --json chaos.json

Loopback only, every wait bounded; it stops its hosts, jobs and sockets by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from remote_payload.ctl_async_wrapper import pid_alive  # noqa: E402
from tests.support.sshd_lab import LabHost, SshdLab  # noqa: E402  (the suite's lab code)

HOLE_SUBNET = "127.0.69"


@dataclass
class Figures:
    hosts: int
    black_holes: int
    seed: int
    sshd_kills: int = 0
    controller_killed_at: str = "-"
    launched_before_kill: int = 0
    exactly_once: int = 0
    duplicates: int = 0
    missing: list[str] = field(default_factory=list)
    misreported: list[str] = field(default_factory=list)
    resume_exit: int | None = None
    resume_seconds: float = 0.0
    recover_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = Path(tempfile.mkdtemp(prefix="ctl-chaos-"))
        self.root.chmod(0o711)  # the hosts' users append to runs/ below
        self.runs = self.root / "runs"
        self.runs.mkdir(mode=0o1777)
        self.runs.chmod(0o1777)
        self.lab = SshdLab(self.root / "lab", count=args.hosts, subnet="127.0.70",
                           user_prefix="ctlx")
        self.holes: list[socket.socket] = []
        self.figures = Figures(args.hosts, args.black_holes, args.seed)
        self.env: dict[str, str] = {}
        self.jid: str | None = None

    # --- set-up --------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.lab.start()
        for i in range(self.args.black_holes):
            hole = socket.socket()
            hole.bind((f"{HOLE_SUBNET}.{i + 1}", 0))
            hole.listen(64)
            self.holes.append(hole)
        self.env = self.lab.controller_env(self.root / "home")
        self.env["PYTHONPATH"] = str(ROOT)
        print(f"lab: {self.args.hosts} sshd hosts + {self.args.black_holes} black holes up in "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr)

    def inventory(self) -> Path:
        """The lab's hosts with the black holes at random places among them."""
        import yaml
        path = self.root / "hosts.yml"
        self.lab.write_inventory(path)
        hosts = list(yaml.safe_load(path.read_text())["all"]["hosts"].items())
        for i, hole in enumerate(self.holes):
            hosts.insert(self.rng.randrange(len(hosts) + 1), (f"hole{i + 1}", {
                "ansible_host": hole.getsockname()[0], "ansible_port": hole.getsockname()[1]}))
        path.write_text(yaml.safe_dump({"all": {"hosts": dict(hosts)}}, sort_keys=False))
        return path

    def ctl(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "controller.cli", *args]

    # --- the launch and its faults -------------------------------------------------------

    def launched(self, jid: str) -> int:
        return sum(os.path.exists(f"{h.real_async_dir}/{jid}") for h in self.lab.hosts)

    def current_jid(self) -> str | None:
        import sqlite3
        db = self.root / "home" / "ctl-state" / "registry.db"
        if not db.exists():
            return None
        try:
            row = sqlite3.connect(db).execute("SELECT jid FROM jobs").fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def launch_under_fire(self, inventory: Path) -> None:
        """ctl run, while the faults are injected at the progress fractions drawn for them
        (progress: the hosts holding the job's file); SIGKILL the controller at its own."""
        n = self.args.hosts
        victims = self.rng.sample(self.lab.hosts, max(1, n // 10))
        kill_at = self.rng.uniform(0.35, 0.65)
        plan = sorted((self.rng.uniform(0.0, kill_at), v.name) for v in victims)
        by_name = {h.name: h for h in self.lab.hosts}
        command = f"echo ran >> {self.runs}/{{{{ inventory_hostname }}}}; sleep {self.args.job}"
        proc = subprocess.Popen(self.ctl("run", "all", "-i", str(inventory), "-f",
                                         str(self.args.forks), "-T", str(self.args.timeout),
                                         "-B", str(self.args.job + 120), "-P", "0", "-m",
                                         "shell", "-a", command),
                                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            self.jid = self.jid or self.current_jid()
            done = self.launched(self.jid) / n if self.jid else 0.0
            while plan and plan[0][0] <= done:
                self.lab.stop_host(by_name[plan.pop(0)[1]], drop_sessions=True)
                self.figures.sshd_kills += 1
            if self.jid and done >= kill_at:
                proc.send_signal(signal.SIGKILL)
                self.figures.launched_before_kill = self.launched(self.jid)
                self.figures.controller_killed_at = f"{self.figures.launched_before_kill}/{n} " \
                                                    "hosts launched"
                break
            time.sleep(0.005)
        if proc.poll() is None and self.figures.controller_killed_at == "-":
            proc.kill()
            self.figures.notes.append("the launch outlived its deadline: killed")
        proc.wait(30)
        if self.figures.controller_killed_at == "-":
            self.figures.notes.append("the controller ended before its kill moment")
        self.jid = self.jid or self.current_jid()
        for _, name in plan:  # not reached before the kill: they die now, still mid-launch
            self.lab.stop_host(by_name[name], drop_sessions=True)
            self.figures.sshd_kills += 1
        self.victims = victims

    # --- the way back --------------------------------------------------------------------

    def recover(self) -> None:
        assert self.jid, "no job was ever recorded"
        killed = time.monotonic()
        for host in self.victims:
            self.lab.start_host(host)
        started = time.monotonic()
        resume = subprocess.run(self.ctl("resume", self.jid, "-f", str(self.args.forks), "-T",
                                         str(self.args.timeout)), cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=600)
        self.figures.resume_exit = resume.returncode
        self.figures.resume_seconds = time.monotonic() - started
        self.figures.recover_seconds = time.monotonic() - killed
        if "Traceback" in resume.stderr:
            self.figures.notes.append("ctl resume printed a traceback")

    def runs_of(self, host: LabHost) -> int:
        try:
            return (self.runs / host.name).read_text().count("ran\n")
        except OSError:
            return 0

    def truth(self, host: LabHost) -> str:
        """What is so on the host, read from its files and /proc: running, finished or
        not there."""
        try:
            record = json.loads(Path(f"{host.real_async_dir}/{self.jid}").read_text())
        except (OSError, ValueError):
            return "missing"
        info = record.get("ctl") or {}
        if "started" in record and not record.get("finished"):
            alive = info.get("job_pid") and pid_alive(int(info["job_pid"]))
            return "running" if alive else "lost"
        return "finished"

    def check(self) -> None:
        """Exactly-once from the hosts' own files, then the poll against the truth."""
        assert self.jid
        deadline = time.monotonic() + 30  # resumed jobs write their line within moments
        while time.monotonic() < deadline and \
                any(self.runs_of(h) == 0 and self.truth(h) == "running" for h in self.lab.hosts):
            time.sleep(0.1)
        for host in self.lab.hosts:
            runs = self.runs_of(host)
            self.figures.exactly_once += runs == 1
            self.figures.duplicates += runs > 1
            if runs == 0:
                self.figures.missing.append(host.name)
        poll = subprocess.run(self.ctl("poll", self.jid, "--all-hosts", "--json", "-T",
                                       str(self.args.timeout), "-f", str(self.args.forks)),
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600)
        answers: dict[str, list[dict[str, Any]]] = {}
        for line in poll.stdout.splitlines():
            event = json.loads(line)
            if event["event"] == "result":
                answers.setdefault(event["host"], []).append(event)
        expected = {h.name: self.expected(h) for h in self.lab.hosts}
        expected.update({f"hole{i + 1}": "unreachable" for i in range(len(self.holes))})
        for name, want in expected.items():
            got = answers.get(name, [])
            if len(got) != 1 or got[0]["status"] != want:
                self.figures.misreported.append(
                    f"{name}: {len(got)} answer(s) {[g['status'] for g in got]}, truth {want}")
        self.figures.misreported += [f"{n}: not a host of the job" for n in answers
                                     if n not in expected]

    def expected(self, host: LabHost) -> str:
        truth = self.truth(host)
        return {"running": "running", "missing": "failed", "lost": "failed"}.get(
            truth, "changed")

    # --- the end -------------------------------------------------------------------------

    def stop(self) -> None:
        if self.jid:
            subprocess.run(self.ctl("kill", self.jid, "-l", "h*", "--grace", "1", "-f", "50"),
                           cwd=ROOT, env=self.env, capture_output=True, timeout=300)
            subprocess.run(self.ctl("cleanup", self.jid, "-l", "h*", "-f", "50"), cwd=ROOT,
                           env=self.env, capture_output=True, timeout=300)
        for hole in self.holes:
            hole.close()
        self.lab.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def report(f: Figures) -> str:
    reachable = f.hosts
    lines = [
        f"chaos run {time.strftime('%Y-%m-%d')}: {f.hosts} hosts + {f.black_holes} black holes "
        f"(seed {f.seed})",
        f"faults injected: {f.sshd_kills} sshds killed with their sessions mid-launch, "
        f"{f.black_holes} black holes, controller SIGKILL at {f.controller_killed_at}",
        f"hosts with exactly one job: {f.exactly_once}/{reachable} reachable (goal: all)",
        f"duplicates: {f.duplicates} (goal: 0)",
        f"hosts misreported by ctl poll --all-hosts: {len(f.misreported)} (goal: 0)",
        f"time to recover: {f.recover_seconds:.1f}s (hosts restarted, then ctl resume: "
        f"{f.resume_seconds:.1f}s, exit {f.resume_exit}: the black holes stay unreachable)",
    ]
    for name in f.missing:
        lines.append(f"  missing: {name}")
    for item in f.misreported:
        lines.append(f"  misreported: {item}")
    lines += [f"  note: {note}" for note in f.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=120, help="sshd hosts (at least 10)")
    parser.add_argument("--black-holes", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20, help="ctl -f for every command")
    parser.add_argument("--timeout", type=int, default=3, help="ctl -T (the black holes' cost)")
    parser.add_argument("--job", type=int, default=120, help="seconds each job sleeps")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.hosts < 10:
        parser.error("--hosts must be at least 10")
    args.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    chaos = Chaos(args)
    try:
        chaos.start()
        chaos.launch_under_fire(chaos.inventory())
        chaos.recover()
        chaos.check()
    finally:
        chaos.stop()
    figures = chaos.figures
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(figures), indent=2) + "\n")
    good = figures.exactly_once == figures.hosts and not figures.duplicates and \
        not figures.misreported
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
