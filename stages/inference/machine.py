"""Where a timing was measured, recorded beside it, so that timings from other machines or under other load are
not set side by side as if alike (stages.compare). Here rather than in stages/modeling/hardware.py, which every
training stage depends on: a change to this file reruns generation only."""
import os
import platform
from pathlib import Path

from ..modeling import hardware


def cpu_model(path=Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name (x86 `model name`; on ARM `Model` or `Hardware`), else platform's guess, else None."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return " ".join(value.split())
    return platform.processor() or None


def machine(device: str) -> dict:
    """The CPU model and count, the GPU's name when the device is a GPU, and the 1-minute load average (runnable
    processes; on Linux also those waiting on disk) just before the timed work: other work on the machine."""
    record = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()}
    if device == "cuda":
        record["gpu"] = hardware.detect().gpu
    if hasattr(os, "getloadavg"):  # not on Windows
        record["load_average_1min"] = round(os.getloadavg()[0], 2)
    return record
