"""Fan-out: remote wrapper calls on many hosts at once, under a forks limit.

Every host ends each operation with exactly one HostResult, whatever happens to the
others; a transport error costs that host alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable

from . import fastpath, payload
from .defaults import DEFAULTS
from .errors import HostError, HostFailed, HostUnreachable
from .hosts import HostSpec
from .logcontext import LOG_CONTEXT
from .results import HostResult
from .transport import ConnectOptions, Connector, Transport, open_transport

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger("ctl")
_LIMITS: dict[int, asyncio.Semaphore] = {}


def worker_limit(forks: int) -> asyncio.Semaphore:
    """On a cluster worker: one forks limit shared by every shard the process runs."""
    return _LIMITS.setdefault(forks, asyncio.Semaphore(forks))

HostOp = Callable[[HostSpec], Awaitable[HostResult]]


class Session:
    """Remote calls for one command invocation: the forks limit and, when ``keep_open``,
    one connection per host reused across calls (reopened transparently if it drops)."""

    def __init__(self, options: ConnectOptions, forks: int = DEFAULTS["forks"],
                 keep_open: bool = False, cluster: Cluster | None = None,
                 connect: Connector = open_transport) -> None:
        self.options = options
        self.connect = connect  # how a host is reached (a FakeTransport factory in tests)
        self.forks = max(1, forks)
        self.keep_open = keep_open
        self.cluster = cluster  # None: this process (see "Scaling out" in the README)
        self._limit = asyncio.Semaphore(self.forks)
        self._open: dict[str, Transport] = {}

    def fan_out(self, specs: list[HostSpec], op: HostOp, rerun: HostOp | None = None
                ) -> AsyncIterator[HostResult]:
        """Each host's result as soon as it is known: in this process, or sharded over the
        cluster's workers (``rerun``: the form a shard re-run after its worker died uses)."""
        if self.cluster is None:
            return fan_out(specs, op)
        return self.cluster.fan_out(list(specs), op, rerun)

    def __getstate__(self) -> dict[str, Any]:
        """What a cluster task carries: the settings, never the cluster, the connections
        or this process's semaphore."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("cluster", "_limit", "_open")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, cluster=None, _open={}, keep_open=False,
                             _limit=worker_limit(state["forks"]))

    async def call(self, spec: HostSpec, request: dict[str, Any], retry: bool = False
                   ) -> dict[str, Any]:
        """Run one wrapper operation on one host; the wrapper's result dict.

        ``retry``: the operation is idempotent, so a pooled connection that dropped is
        reopened and the call made again once."""
        LOG_CONTEXT.set((spec.name, str(request.get("jid") or "-")))
        async with self._limit:
            pooled = spec.name in self._open
            try:
                return await self._call(spec, request)
            except HostUnreachable:
                await self._drop(spec.name)
                if not (retry and pooled):
                    raise
            return await self._call(spec, request)

    async def _call(self, spec: HostSpec, request: dict[str, Any]) -> dict[str, Any]:
        transport = self._open.get(spec.name)
        if transport is None:
            transport = self.connect(spec, self.options)
            await transport.__aenter__()
            log.info("connected to %s", spec.address)
        try:
            reply = await self._exec(transport, spec, request)
        except BaseException:
            await transport.__aexit__(None, None, None)
            self._open.pop(spec.name, None)
            raise
        if self.keep_open:
            self._open[spec.name] = transport
        else:
            await transport.__aexit__(None, None, None)
        return reply

    async def _exec(self, transport: Transport, spec: HostSpec, request: dict[str, Any]
                    ) -> dict[str, Any]:
        if fastpath.applies(spec, request):  # no Python start on the host when a read will do
            result = await fastpath.call(transport, spec, request)
            if result is not None:
                return result
            log.debug("%s: the shell read did not settle it; asking the wrapper",
                      request.get("op"))
        become = payload.Become.of(spec)
        command = payload.remote_command(spec.python)
        for with_wrapper in (False, True):
            log.debug("%s%s", request.get("op"), " (pushing the wrapper)" if with_wrapper else "")
            out = await become.run(transport, command,
                                   payload.encode_request(request, with_wrapper))
            reply = payload.decode_reply(out.exit_status, out.stdout, out.stderr, spec.python)
            if reply.result is not None:
                return reply.result
            if not reply.need_wrapper:
                raise HostFailed(become.explain(reply.problem))
        raise HostFailed("the host did not accept the pushed wrapper")

    async def _drop(self, name: str) -> None:
        transport = self._open.pop(name, None)
        if transport is not None:
            await transport.__aexit__(None, None, None)

    async def close(self) -> None:
        for name in list(self._open):
            await self._drop(name)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def guarded(spec: HostSpec, op: HostOp) -> HostResult:
    """Run ``op`` for one host; any error becomes that host's result."""
    try:
        return await op(spec)
    except HostUnreachable as exc:
        return HostResult.unreachable(spec.name, exc.message)
    except HostError as exc:
        return HostResult.failed(spec.name, exc.message)
    except Exception as exc:  # a bug must cost one host, not the run; say so plainly
        log.debug("internal error", exc_info=True)  # the traceback only at -vv
        return HostResult.failed(spec.name, f"internal error in ctl: {type(exc).__name__}: "
                                 f"{exc} (please report this)")


async def fan_out(specs: Iterable[HostSpec], op: HostOp) -> AsyncIterator[HostResult]:
    """Yield each host's result as soon as it is known. The forks limit lives in Session."""
    tasks = [asyncio.ensure_future(guarded(spec, op)) for spec in specs]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
