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
from typing import Any

from tests.support.sshd_lab import free_port

DASK = str(Path(sys.executable).with_name("dask"))


def make_tls(root: Path) -> dict[str, str]:
    """A CA and one certificate for 127.0.0.1 (scheduler, workers and client alike), and
    the DASK_* variables that make Dask use them."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ctl-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                           x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    pem, private = str(root / "cert.pem"), str(root / "key.pem")
    return {f"DASK_DISTRIBUTED__COMM__TLS__{k}": v for k, v in (
        ("CA_FILE", pem), ("CLIENT__CERT", pem), ("CLIENT__KEY", private),
        ("SCHEDULER__CERT", pem), ("SCHEDULER__KEY", private), ("WORKER__CERT", pem),
        ("WORKER__KEY", private), ("REQUIRE_ENCRYPTION", "True"))}


@dataclass
class DaskLab:
    root: Path
    workers: int = 2
    port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tls: dict[str, str] | None = None  # DASK_* variables: a tls:// cluster (make_tls)

    @property
    def address(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *argv: str) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen([DASK, *argv], stdout=log, stderr=log,
                                           stdin=subprocess.DEVNULL, start_new_session=True,
                                           cwd=self.root, env={**os.environ,
                                                               **(self.tls or {})}))
        log.close()

    def start(self) -> DaskLab:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port("127.0.0.1")
        self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard", *(["--protocol", "tls"] if self.tls else []))
        self._spawn("worker", "worker", self.address, "--nworkers", str(self.workers),
                    "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard")
        self.wait_for_workers(self.workers)
        return self

    def client(self, timeout: float) -> Any:
        from distributed import Client
        from distributed.security import Security

        if not self.tls:
            return Client(self.address, timeout=timeout)
        pem, key = self.tls["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"], \
            self.tls["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"]
        return Client(self.address, timeout=timeout, security=Security(
            tls_ca_file=pem, tls_client_cert=pem, tls_client_key=key, require_encryption=True))

    def worker_pids(self) -> list[int]:
        with self.client(10) as client:
            return sorted(client.run(os.getpid).values())

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client(5) as client:
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
