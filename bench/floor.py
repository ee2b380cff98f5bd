"""The SSH floor: connect + authenticate + one exec of ``true`` on every host of an
inventory, ``forks`` at a time, in one process, with the key and known_hosts loaded once and
handed to asyncssh as objects (``config=None``). Prints the in-process seconds as JSON.

The inventory is read with libyaml's loader when PyYAML has it, as ctl reads it: the pure
Python loader cost the floor 0.15 s of CPU at 1,000 hosts, which was not SSH's."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import asyncssh
import yaml


async def floor(inventory: str, forks: int) -> dict[str, float]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(inventory) as f:
        hosts = yaml.load(f, Loader=loader)["all"]["hosts"]
    first = next(iter(hosts.values()))
    key = asyncssh.read_private_key(first["ansible_ssh_private_key_file"])
    known = asyncssh.read_known_hosts(os.path.expanduser("~/.ssh/known_hosts"))
    limit = asyncio.Semaphore(forks)

    async def one(hv: dict) -> None:
        async with limit:
            async with asyncssh.connect(hv["ansible_host"], port=hv["ansible_port"],
                                        username=hv["ansible_user"], client_keys=[key],
                                        known_hosts=known, config=None) as conn:
                result = await conn.run("true", check=True)
                assert result.exit_status == 0

    start = time.perf_counter()
    await asyncio.gather(*(one(hv) for hv in hosts.values()))
    return {"loop_seconds": time.perf_counter() - start, "hosts": len(hosts)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(floor(sys.argv[1], int(sys.argv[2])))))
