"""A private embedded stack for a benchmark: started in its own state dir, always stopped."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def private_stack(progress: Any = None) -> Iterator[Any]:
    from cqrs.stack import running_stack

    state_dir = Path(tempfile.mkdtemp(prefix="cqrs-bench-"))
    try:
        with running_stack(state_dir, progress or (lambda m: None)) as settings:
            yield settings
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
