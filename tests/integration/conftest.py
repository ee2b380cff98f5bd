"""Fixtures of the integration tier: the real CLI in-process (``cli``), and no job left
running on this machine after a test (``reaper``)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.fast import Cli, reap_jobs


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)
