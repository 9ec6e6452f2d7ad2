"""Durable positions per consumer and shard: one small JSON file per consumer under
`<state_dir>/checkpoints/`, replaced atomically (write, fsync, rename) so a kill -9 at any moment
leaves either the old or the new position, never a torn file. A position is the last sequence
number fully processed; resuming reads AFTER it, so a crash re-delivers (at least once), never skips."""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class CheckpointStore:
    def __init__(self, directory: Path, consumer: str):
        self.path = Path(directory) / f"{_safe(consumer)}.json"
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {"shards": {}, "closed": []}
        try:
            loaded = json.loads(self.path.read_text())
            self._data["shards"].update(loaded.get("shards", {}))
            self._data["closed"] = list(loaded.get("closed", []))
        except (OSError, ValueError):
            pass

    def get(self, shard: str) -> str | None:
        with self._lock:
            return self._data["shards"].get(shard)

    def positions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._data["shards"])

    def is_closed(self, shard: str) -> bool:
        with self._lock:
            return shard in self._data["closed"]

    def set(self, shard: str, sequence_number: str) -> None:
        with self._lock:
            self._data["shards"][shard] = sequence_number
            self._flush()

    def close(self, shard: str) -> None:
        """The shard is closed and every record of it is processed: its children may start."""
        with self._lock:
            if shard not in self._data["closed"]:
                self._data["closed"].append(shard)
                self._flush()

    def _flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{threading.get_ident()}")
        with open(tmp, "w") as f:
            json.dump(self._data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
