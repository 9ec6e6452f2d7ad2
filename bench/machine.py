"""The machine a figure was measured on: nproc, CPU model, RAM, Python, load average, date."""
from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def describe() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "ram_gib": _ram_gib(),
            "python": platform.python_version(), "load_average_1m": round(os.getloadavg()[0], 2),
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
