"""The real ``ctl`` CLI in a subprocess, and parsers of its Ansible-style output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Ctl:
    """Runs the real ``ctl`` CLI in a subprocess with its own HOME and registry."""

    env: dict[str, str]
    home: Path
    inventory: Path

    def __call__(self, *args: str, timeout: float = 120, check_code: int | None = None,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=input)
        if check_code is not None:
            assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "controller.cli", *args], cwd=ROOT,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def blocks(stdout: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Parse Ansible-style output: ``host | LABEL => {json}`` blocks, by host."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        at = stdout.find(" => {", pos)
        if at < 0:
            return found
        line_start = stdout.rfind("\n", 0, at) + 1
        host, label = [p.strip() for p in stdout[line_start:at].split(" | ", 1)]
        data, end = decoder.raw_decode(stdout, at + 4)
        found[host] = (label, data)
        pos = end


def argv_holding(secret: str, seconds: float) -> list[str]:
    """Watch every process's command line for ``seconds``; the pids that held ``secret``."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in os.listdir("/proc"):
            try:
                if secret.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    seen.append(pid)
            except OSError:
                pass
        time.sleep(0.1)
    return seen


def jid_of(stdout: str) -> str:
    jids = {data["ansible_job_id"] for _, data in blocks(stdout).values()
            if "ansible_job_id" in data}
    assert len(jids) == 1, stdout
    return jids.pop()
