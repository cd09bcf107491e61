"""What every benchmark prints above its table: the command, the machine and the date.

Imported as ``from common import print_header`` (the scripts run as ``python benchmarks/x.py``,
which puts this folder on ``sys.path``)."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time


def cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU, cores, load and the versions that decide the speed (torch only if it is loaded)."""
    parts = [cpu_name(), f"{os.cpu_count()} cores", f"load average {os.getloadavg()[0]:.2f}"]
    parts.append(f"Python {platform.python_version()}")
    for package in ("gymnasium", "torch", "transformers"):
        module = sys.modules.get(package)
        if module is not None:
            parts.append(f"{package} {module.__version__}")
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"{torch.get_num_threads()} torch threads")
    return ", ".join(parts)


def print_header() -> None:
    script = os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "benchmark"
    print(f"command: python {' '.join([script, *sys.argv[1:]])}")
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}\n")
