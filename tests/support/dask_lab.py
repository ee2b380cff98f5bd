"""A real Dask cluster for the e2e tier: ``dask scheduler`` and ``dask worker --nworkers 2``
as subprocesses on 127.0.0.1, no dashboards, started and stopped by the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sshd_lab import free_port

DASK = str(Path(sys.executable).with_name("dask"))


@dataclass
class DaskLab:
    root: Path
    workers: int = 2
    port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *argv: str) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen([DASK, *argv], stdout=log, stderr=log,
                                           stdin=subprocess.DEVNULL, start_new_session=True,
                                           cwd=self.root))
        log.close()

    def start(self) -> DaskLab:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port("127.0.0.1")
        self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard")
        self._spawn("worker", "worker", self.address, "--nworkers", str(self.workers),
                    "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard")
        self.wait_for_workers(self.workers)
        return self

    def worker_pids(self) -> list[int]:
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return sorted(client.run(os.getpid).values())

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    client.wait_for_workers(count, timeout=max(1, deadline - time.monotonic()))
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
