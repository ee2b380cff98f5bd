"""What reading an Ansible project costs ctl before it contacts any host: start-up, and
loading an N-host inventory plain, with a ``{{ }}`` template per host, and with one vaulted
value per host (each its own salt, so each costs its key derivation). Beside it, the same
inventory through ``ansible-inventory --list`` (which renders and decrypts nothing) and
``python -c "import typer"`` (the floor of any typer CLI).

    .venv/bin/python bench/startup.py --hosts 100 --reps 5

Each figure is the median wall time of a whole process, measured from outside.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-vault-password"


def vaulted(values: list[str]) -> list[str]:
    """Each value encrypted by ansible-core's own VaultLib (ansible-vault's code)."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(PASSWORD.encode()))])
    return [vault.encrypt(v).decode() for v in values]


def write_project(base: Path, hosts: int, kind: str) -> Path:
    """An inventory of ``hosts`` local hosts: plain, templated or vaulted become passwords."""
    base.mkdir(parents=True, exist_ok=True)
    lines = ["all:", "  vars:", "    lab_net: 10.9", "  hosts:"]
    secrets = vaulted([f"pw{i}" for i in range(hosts)]) if kind == "vaulted" else []
    for i in range(hosts):
        lines.append(f"    h{i}:")
        if kind == "templated":
            lines.append(f"      ansible_host: \"{{{{ lab_net }}}}.0.{i % 250}\"")
        else:
            lines.append(f"      ansible_host: 10.9.0.{i % 250}")
        if kind == "vaulted":
            lines.append("      ansible_become: true")
            lines.append("      ansible_become_password: !vault |")
            lines += ["        " + row for row in secrets[i].splitlines()]
    (base / "hosts.yml").write_text("\n".join(lines) + "\n")
    (base / "vault-pass").write_text(PASSWORD + "\n")
    return base


def timed(argv: list[str], env: dict[str, str], cwd: Path, reps: int) -> float:
    walls = []
    for _ in range(reps):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr[-500:]}")
    return statistics.median(walls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = root / "empty.cfg"
        cfg.write_text("[defaults]\n")
        env = dict(os.environ, HOME=str(root), CTL_HOME=str(root / "ctl"),
                   ANSIBLE_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
        ctl = [sys.executable, "-m", "controller.cli"]
        rows = [("python -c 'import typer'", timed([sys.executable, "-c", "import typer"],
                                                   env, root, args.reps)),
                ("ctl --version", timed(ctl + ["--version"], env, root, args.reps))]
        for kind in ("plain", "templated", "vaulted"):
            project = write_project(root / kind, args.hosts, kind)
            inv = ["-i", str(project / "hosts.yml"), "--vault-password-file",
                   str(project / "vault-pass")]
            rows.append((f"ctl inventory --host h0 ({args.hosts} hosts, {kind})",
                         timed(ctl + ["inventory", *inv, "--host", "h0"], env, root,
                               args.reps)))
            rows.append((f"ctl library: resolve every host ({kind})",
                         resolve_all(project, env, args.reps)))
            rows.append((f"ansible-inventory --list ({kind})",
                         timed([str(BIN / "ansible-inventory"), *inv, "--list"], env, root,
                               args.reps)))
    width = max(len(name) for name, _ in rows)
    for name, wall in rows:
        print(f"{name:<{width}}  {wall * 1000:8.1f} ms")
    plain = dict(rows)["ctl library: resolve every host (plain)"]
    vault = dict(rows)["ctl library: resolve every host (vaulted)"]
    print(f"per vaulted value: {(vault - plain) * 1000 / args.hosts:.2f} ms")
    return 0


def resolve_all(project: Path, env: dict[str, str], reps: int) -> float:
    """Every host's settings resolved, as a launch does before contacting any: the library
    in a fresh process, so start-up is counted."""
    code = ("import sys\nfrom controller.api import Targets\nfrom controller.settings import "
            "Settings\nfrom controller.vault import read_secrets\nimport dataclasses\n"
            "s = dataclasses.replace(Settings.load(), secrets=tuple(read_secrets([sys.argv[2]])))\n"
            "t = Targets.from_inventory([sys.argv[1]], None, s)\n"
            "assert all(x.become_password is None or x.become_password.startswith('pw') "
            "for x in t.specs)\n")
    return timed([sys.executable, "-c", code, str(project / "hosts.yml"),
                  str(project / "vault-pass")], env, project, reps)


if __name__ == "__main__":
    sys.exit(main())
