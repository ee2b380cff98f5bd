"""Sharding a fan-out over a Dask cluster (``--cluster ADDRESS`` / ``CTL_CLUSTER``).

The CLI resolves every host's settings once; a one-shot operation's hosts (a launch, one
poll round, cleanup, kill, gc) are cut into shards, far more shards than workers, each
shard one Dask task that runs today's asyncssh fan-out on its worker's event loop under
``--forks`` connections per worker process. Each worker streams its hosts' results back
(batched, through a Dask queue) as they finish; the CLI alone prints them and writes the
registry, so progress and ``--json`` look exactly as in one process.

Nothing lost, nothing doubled: a shard whose worker dies is re-run by Dask on another
worker; the re-run knows it is one (a scheduler-side mark set when the shard starts) and
runs the operation's ``rerun`` form (for a launch: read the job file, launch only where
there is none), and the CLI keeps the first result it heard for each host. A shard that
Dask gives up on costs its unheard hosts a "failed" result that says to poll.

``local:N`` starts a LocalCluster of N worker processes on this machine. Dask is imported
only here, and this module only when a cluster is named.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import pickle
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import cloudpickle
import dask
from distributed import Client, LocalCluster, Queue, get_client

from .datafiles import read_bytes
from .errors import CtlError, OptionError
from .hosts import HostSpec
from .results import HostResult
from .settings import DEFAULTS

log = logging.getLogger("ctl")

HostOp = Callable[[HostSpec], Awaitable[HostResult]]
FLUSH_EVERY = 0.1  # seconds: a worker sends what it has at least this often
BATCH = 200  # results: or as soon as it has this many
POLL_EVERY = 0.05  # seconds: the CLI asks the scheduler's queue for what arrived


class ClusterError(CtlError):
    """The cluster cannot be reached or started (exit 1)."""


def parse_address(address: str) -> tuple[str, int]:
    """("local", N) for local:N, else (scheme, 0) for tcp:// and tls:// addresses."""
    if address.startswith("local:"):
        count = address[6:]
        if not count.isdigit() or int(count) < 1:
            raise OptionError(f"--cluster {address}: give local:N with N worker processes, "
                              "e.g. local:2")
        return "local", int(count)
    scheme = address.split("://", 1)[0] if "://" in address else ""
    if scheme not in ("tcp", "tls") or not urlsplit(address).hostname:
        raise OptionError(f"--cluster {address}: give a Dask scheduler as tcp://HOST:PORT or "
                          "tls://HOST:PORT, or local:N")
    return scheme, 0


def cut(specs: list[HostSpec], workers: int, most: int = DEFAULTS["shard_size"],
        per_worker: int = DEFAULTS["shards_per_worker"]) -> list[list[HostSpec]]:
    """Contiguous shards of at most ``most`` hosts, at least ``per_worker`` per worker when
    there are hosts enough (a slow or dead worker then holds up little)."""
    size = max(1, min(most, math.ceil(len(specs) / max(1, workers * per_worker))))
    return [specs[i:i + size] for i in range(0, len(specs), size)]


@dataclass(frozen=True)
class Credentials:
    """The files a worker needs to reach the hosts as this machine would: each private key
    and the known_hosts its hosts are checked against, read here once, shipped with every
    shard (as secrets are: over TLS, or in this machine) and written on the worker into a
    private directory (0700) that the shard's host settings then point to."""

    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, specs: list[HostSpec]) -> Credentials:
        from .transport.ssh import KNOWN_HOSTS_FILES

        files: dict[str, bytes] = {}
        for spec in specs:
            for path in (spec.private_key, spec.known_hosts_file):
                if path and path not in files:
                    files[path] = _read(path)
        default = [p for p in map(os.path.expanduser, KNOWN_HOSTS_FILES) if os.path.isfile(p)]
        files[DEFAULT_KNOWN] = b"".join(_read(p) + b"\n" for p in default)
        return cls(files)

    def holders(self, specs: list[HostSpec]) -> list[str]:
        return [s.name for s in specs if s.private_key and s.private_key in self.files]

    def install(self, specs: list[HostSpec]) -> list[HostSpec]:
        """On the worker: the specs with each shipped path replaced by its local copy."""
        digest = hashlib.sha256(pickle.dumps(sorted(self.files.items()))).hexdigest()
        where = _INSTALLED.get(digest)
        if where is None:  # once per worker process and set of files
            root = tempfile.mkdtemp(prefix="ctl-shard-")
            where = {path: _write(root, i, data) for i, (path, data)
                     in enumerate(sorted(self.files.items()))}
            _INSTALLED[digest] = where
        return [replace(s, private_key=where.get(s.private_key or "", s.private_key),
                        known_hosts_file=where[s.known_hosts_file or DEFAULT_KNOWN])
                for s in specs]


DEFAULT_KNOWN = "(known_hosts)"  # the default known_hosts files, concatenated
_INSTALLED: dict[str, dict[str, str]] = {}


def _read(path: str) -> bytes:
    return read_bytes(path, lambda why: f"cannot read {path} to send it to the cluster's "
                                        f"workers: {why}")


def _write(root: str, index: int, data: bytes) -> str:
    path = os.path.join(root, f"f{index}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class Cluster:
    """One command's view of a Dask cluster: connected (or started) on first use."""

    def __init__(self, address: str, allow_insecure: bool = False, own_keys: bool = False,
                 connect_timeout: float = DEFAULTS["cluster_connect_timeout"],
                 shard_size: int = DEFAULTS["shard_size"],
                 shards_per_worker: int = DEFAULTS["shards_per_worker"]) -> None:
        self.address = address
        self.kind, self.local_workers = parse_address(address)
        self.allow_insecure = allow_insecure
        self.ship_keys = not own_keys and self.kind != "local"  # local:N: the same files
        self.connect_timeout = connect_timeout
        self.shard_size, self.shards_per_worker = shard_size, shards_per_worker
        self._client: Client | None = None
        self._local: LocalCluster | None = None

    def preflight(self) -> None:
        """Say at once, before any job is recorded or host contacted, that a remote
        scheduler does not answer."""
        if self.kind == "local":
            return
        parts = urlsplit(self.address)
        try:
            socket.create_connection((parts.hostname, parts.port or 8786),
                                     timeout=self.connect_timeout).close()
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask cluster {self.address}: "
                               f"{exc.strerror or exc}") from None

    def check_secrets(self, specs: list[HostSpec]) -> None:
        """Passwords travel inside task payloads: over TLS, or in this machine (local:N)."""
        if self.kind != "tcp" or self.allow_insecure:
            return
        for what, holders in (
                ("passwords", [s.name for s in specs if s.password or s.become_password]),
                ("private keys", [s.name for s in specs if s.private_key and self.ship_keys])):
            if holders:
                more = f" and {len(holders) - 1} more" if len(holders) > 1 else ""
                raise OptionError(
                    f"--cluster {self.address} is plain tcp://: ctl will not send the {what} "
                    f"of {holders[0]}{more} over it; use a tls:// scheduler, "
                    "--allow-insecure-cluster" + (", or --cluster-own-keys (the workers use "
                                                  "their own keys and known_hosts)"
                                                  if what == "private keys" else ""))

    async def client(self) -> Client:
        if self._client is None:
            logging.getLogger("distributed").setLevel(  # its chatter only at -vv
                logging.WARNING if log.getEffectiveLevel() <= logging.DEBUG else logging.ERROR)
            dask.config.set({"distributed.comm.timeouts.connect": f"{self.connect_timeout}s",
                             # a local scheduler hands a worker one shard per thread at once
                             "distributed.scheduler.worker-saturation": 1.0})
            self._client = await self._connect()
        return self._client

    async def _connect(self) -> Client:
        try:
            if self.kind == "local":
                self._local = await LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True,
                    dashboard_address="127.0.0.1:0",  # any free port: runs at once never clash
                    asynchronous=True, silence_logs=logging.ERROR)
                client = await Client(self._local, asynchronous=True)
                await client.wait_for_workers(self.local_workers)
                return client
            return await Client(self.address, asynchronous=True, timeout=self.connect_timeout)
        except (OSError, asyncio.TimeoutError, RuntimeError) as exc:
            raise ClusterError(f"cannot reach the Dask cluster {self.address}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               ) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._local is not None:
            await self._local.close()  # type: ignore[misc]
        self._client = self._local = None

    async def fan_out(self, specs: list[HostSpec], op: HostOp, rerun: HostOp | None = None
                      ) -> AsyncIterator[HostResult]:
        """Each host's result once, as soon as its worker sends it."""
        self.check_secrets(specs)
        client = await self.client()
        workers = max(1, sum((await client.nthreads()).values()))  # shard slots, in fact
        shards = cut(specs, workers, self.shard_size, self.shards_per_worker)
        run = f"ctl-{uuid.uuid4().hex}"
        queue = await Queue(run, client=client)
        # the operation (its captured settings, per-host commands) and the keys: sent to
        # each worker once, not with every shard
        blob, keys = await client.scatter(
            [cloudpickle.dumps((op, rerun)), Credentials.of(specs) if self.ship_keys else None],
            hash=False)
        futures = {f"{run}-{i}": client.submit(run_shard, blob, shard, run, f"{run}-{i}", keys,
                                               key=f"{run}-{i}", pure=False)
                   for i, shard in enumerate(shards)}
        log.debug("sharding %d hosts over %d worker(s) of %s: %d shard(s)", len(specs),
                  workers, self.address, len(shards))
        try:
            async for result in _collect(queue, futures, dict(zip(futures, shards))):
                yield result
        finally:
            await client.cancel(list(futures.values()))  # type: ignore[misc]
            await client.set_metadata(["ctl", run], None)


async def _collect(queue: Queue, futures: dict[str, Any], shards: dict[str, list[HostSpec]]
                   ) -> AsyncIterator[HostResult]:
    heard: set[str] = set()
    wanted = {s.name for shard in shards.values() for s in shard}
    open_shards = set(futures)
    while open_shards:
        batches = await queue.get(batch=True)  # what is there now: no wait, no timeout
        if not batches:
            for key in [k for k in open_shards if futures[k].status in ("error", "cancelled")]:
                open_shards.discard(key)
                for spec in shards[key]:
                    if spec.name not in heard:
                        heard.add(spec.name)
                        yield given_up(spec, futures[key])
            await asyncio.sleep(POLL_EVERY)
        for raw in batches:
            batch, finished = pickle.loads(raw)  # noqa: S301 (our own workers' results)
            for result in batch:
                if result.host in wanted and result.host not in heard:
                    heard.add(result.host)
                    yield result
            if finished:
                key, pid, again = finished
                log.debug("shard %s done by worker process %s%s", key, pid,
                          " (a re-run)" if again else "")
                open_shards.discard(key)


def given_up(spec: HostSpec, future: Any) -> HostResult:
    try:
        reason = f"{type(future.exception()).__name__}: {future.exception()}"
    except Exception:
        reason = future.status
    return HostResult.failed(spec.name, f"the cluster gave up on this host's shard ({reason}); "
                             "its job state is unknown: run ctl poll")


# --- on the worker ---------------------------------------------------------------------------

async def run_shard(blob: bytes, specs: list[HostSpec], queue_name: str, key: str,
                    keys: Credentials | None = None) -> int:
    """A shard on a worker: its hosts' results into the queue, then the shard's end mark.
    A second run of the same shard (its first worker died) uses the ``rerun`` form."""
    from .runner import fan_out

    client = get_client()
    again = await client.get_metadata(["ctl", queue_name, key], None) is not None
    await client.set_metadata(["ctl", queue_name, key], os.getpid())
    op, rerun = cloudpickle.loads(blob)
    specs = keys.install(specs) if keys is not None else specs
    if again:
        log.warning("shard %s runs again (its first worker died)", key)
    queue = await Queue(queue_name, client=client)
    batch: list[HostResult] = []

    async def flush(end: tuple[str, int, bool] | None = None) -> None:
        sent, batch[:] = list(batch), []
        if sent or end:
            await queue.put(pickle.dumps((sent, end)))

    async def ticker() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await flush()

    tick = asyncio.ensure_future(ticker())
    try:
        last = time.monotonic()
        async for result in fan_out(specs, rerun if again and rerun else op):
            batch.append(result)
            if len(batch) >= BATCH or time.monotonic() - last > FLUSH_EVERY:
                last = time.monotonic()
                await flush()
    finally:
        tick.cancel()
    await flush(end=(key, os.getpid(), again))
    return len(specs)
