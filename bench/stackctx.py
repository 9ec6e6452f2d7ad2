"""A private embedded stack for a benchmark: started in its own state dir, always stopped."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def private_stack(progress: Any = None) -> Iterator[Any]:
    from cqrs.settings import Settings
    from cqrs.stack import Stack

    state_dir = Path(tempfile.mkdtemp(prefix="cqrs-bench-"))
    old = os.environ.get("CQRS_STATE_DIR")
    os.environ["CQRS_STATE_DIR"] = str(state_dir)
    stack = Stack(state_dir)
    try:
        stack.up(progress=progress or (lambda m: None))
        yield Settings.from_env()
    finally:
        stack.down()
        if old is None:
            os.environ.pop("CQRS_STATE_DIR", None)
        else:
            os.environ["CQRS_STATE_DIR"] = old
        shutil.rmtree(state_dir, ignore_errors=True)
