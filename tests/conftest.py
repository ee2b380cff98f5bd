"""Shared fixtures: a session-wide lab of real sshd hosts (started only when a test asks for
it), and a ctl runner per test. Helpers live in ``tests/support``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.ctl import ROOT, Ctl, argv_holding, blocks, jid_of  # noqa: F401
from tests.support.sshd_lab import SshdLab

LAB_HOSTS = int(os.environ.get("CTL_TEST_HOSTS", "5"))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    lab = SshdLab(tmp_path_factory.mktemp("lab"), count=LAB_HOSTS).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def ctl(lab: SshdLab, tmp_path: Path) -> Ctl:
    home = tmp_path / "home"
    env = lab.controller_env(home)
    env["PYTHONPATH"] = str(ROOT)
    return Ctl(env, home, lab.inventory)
