"""What the benchmark sections share: fresh subprocesses per case, peak RSS, result files."""

import json
import platform
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# backtrader, the peer, is installed here on first use (never into the project's environment).
PEER_DEPS = Path("var/bench-deps")


def in_subprocess(module: str, *args: str, timeout: float = 900) -> dict:
    """Run `python -m benchmarks.<module> *args` in a fresh process (nautilus engines leak, and
    peak RSS must be the case's own) and return the JSON object its last line prints."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"benchmarks.{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    From /proc's VmHWM where there is one: Linux carries ru_maxrss over from the parent
    through fork and exec, so a small child would report its big parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_result(name: str, results: dict, note: str) -> Path:
    """Write benchmarks/results/<name>.json with the machine it ran on."""
    import os

    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "note": note,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
