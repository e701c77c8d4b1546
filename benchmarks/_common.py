"""What every benchmark result file records (see ../shared/benchmarking.md)."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import torch


def environment() -> dict:
    """Device string, library versions, git commit, thread count."""
    import keras
    import sionna

    import sionna_csifb

    dev = sionna_csifb.config.device
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(int(dev.split(":")[1]))
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {
        "device": dev, "device_name": name, "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "keras": keras.__version__, "sionna": sionna.__version__,
        "sionna_csifb": sionna_csifb.__version__, "git_commit": commit, "precision": sionna_csifb.config.precision,
        "date": time.strftime("%Y-%m-%d"),
    }


def best_time(fn, repeats: int = 3, warmup: int = 1) -> tuple[float, list[float]]:
    """Minimum and all wall times of ``fn()`` after ``warmup`` calls (synchronised on GPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times), times
