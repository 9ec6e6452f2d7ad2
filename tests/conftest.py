"""Shared fixtures. Tests that need the local stack start their own, in a temporary state dir, one
per pytest-xdist worker, and stop it at the end of the session."""
from __future__ import annotations

from pathlib import Path

import pytest

from cqrs.settings import Settings

EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory):
    """A running embedded stack (moto, osmem-server, PostgreSQL) with every resource created.
    Yields its Settings; CQRS_STATE_DIR points at it so CLI calls in the tests reach it too."""
    from cqrs.stack import running_stack

    with running_stack(tmp_path_factory.mktemp("stack")) as settings:
        yield settings


@pytest.fixture
def settings(local_stack: Settings) -> Settings:
    return local_stack


def load_event(name: str) -> dict:
    import json

    return json.loads((EVENTS / name).read_text())
