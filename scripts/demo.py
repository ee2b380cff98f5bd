"""The README's first command: ctl's main job against real local test hosts."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.sshd_lab import SSHD, SshdLab  # noqa: E402

CTL = [str(Path(sys.executable).parent / "ctl")]


def ctl(env: dict[str, str], *args: str) -> str:
    print(f"\n$ ctl {shlex.join(args)}", flush=True)
    proc = subprocess.run(CTL + list(args), env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    print(f"(exit {proc.returncode})", flush=True)
    return proc.stdout


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ctl-demo-"))
    lab, env = None, None
    try:
        if os.path.exists(SSHD) and shutil.which("ssh-keygen"):
            lab = SshdLab(work / "lab", count=5).start()
            env = lab.controller_env(work / "home")
            inventory = str(lab.inventory)
            print(f"Started {len(lab.hosts)} sshd test hosts on loopback; inventory: {inventory}")
        else:
            env = dict(os.environ, CTL_HOME=str(work / "state"))
            inventory = str(ROOT / "inventories" / "local.yml")
            print("No sshd here: using the local connection (inventories/local.yml)")
        env["NO_COLOR"] = "1"
        env["CTL_PERSIST"] = "60"  # warm connections: the polls reuse the run's (ctl keeper)
        out = ctl(env, "run", "-i", inventory, "-B", "600", "-P", "0", "--",
                  "sh", "-c", "sleep 2; echo hello from $(hostname) as $(id -un)")
        jid = next(line.split('"')[3] for line in out.splitlines()
                   if '"ansible_job_id"' in line)
        ctl(env, "poll", jid, "--all-hosts")
        ctl(env, "poll", jid, "--all-hosts", "--wait", "--delay", "1")
        ctl(env, "cleanup", jid)
        ctl(env, "jobs")
        return 0
    finally:
        if env is not None:  # the keeper would otherwise wait out its 60 s
            subprocess.run([*CTL, "keeper", "stop"], env=env, capture_output=True)
        if lab is not None:
            lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
