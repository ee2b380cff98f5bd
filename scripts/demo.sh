#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs ctl's main job for real: five loopback sshd test
# hosts, then run -P 0, poll --wait, cleanup; the local connection where no sshd can be had.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
