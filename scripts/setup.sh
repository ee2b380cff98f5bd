#!/usr/bin/env bash
# Installs what ctl and its test suite need, idempotently: Debian's OpenSSH server and
# client (when sshd is missing and we are root), shellcheck (the tests check the host-side
# shell with it), PostgreSQL (the shared-registry tests), Python's venv, and ctl with its
# test extras into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ -z "${CTL_APT_UPDATED:-}" ]; then apt-get update -qq; export CTL_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "setup: please install: $* (needs root and apt-get)" >&2
    return 1
  fi
}

need=()
{ command -v sshd >/dev/null || [ -x /usr/sbin/sshd ]; } || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v pgrep >/dev/null || need+=(procps)
command -v tmux >/dev/null || need+=(tmux)
command -v sudo >/dev/null || need+=(sudo)
command -v shellcheck >/dev/null || need+=(shellcheck)
[ -x /usr/bin/python3 ] || need+=(python3)
# the shared-registry tests run Debian's PostgreSQL (initdb/pg_ctl; installing starts no server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  apt_install "${need[@]}" || echo "setup: continuing without ${need[*]}" >&2
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# bytecode for ctl's own modules now: an editable install compiles none, and where
# PYTHONDONTWRITEBYTECODE is set every ctl command would compile them all again (~3x its
# start-up); Python still checks each file's time, so an edit is never run stale
.venv/bin/python -m compileall -q controller remote_payload tests >/dev/null
echo "setup: ready (.venv/bin/ctl)" >&2
