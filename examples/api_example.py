"""ctl as a library: start a job on an inventory selection, wait for it, print, clean up.

    python examples/api_example.py INVENTORY [PATTERN]
"""

from __future__ import annotations

import asyncio
import sys

from controller import Controller, Job, Status, Targets


async def main(inventory: str, pattern: str | None) -> int:
    ctl = Controller(forks=20)  # registry under $CTL_HOME, host keys checked
    targets = Targets.from_inventory([inventory], pattern)
    jid, launched = await ctl.run(targets, Job(["uname", "-n"], timeout=60, poll=0))
    print(f"started {jid} on {sum(r.status is Status.CHANGED for r in launched)} host(s)")
    results = await ctl.poll(jid, wait=True, delay=0.5, retries=60)
    for r in sorted(results, key=lambda r: r.host):
        print(f"{r.host}: {r.status.value} rc={r.data.get('rc')} stdout={r.data.get('stdout')!r}")
    erased = await ctl.cleanup(jid)
    print(f"erased on {sum('erased' in r.data for r in erased)} host(s)")
    return 0 if all(r.status is Status.CHANGED for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))
