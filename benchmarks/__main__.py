"""`make bench`: run every benchmark of the project, one process each, and print their tables.

Each benchmark measures the raw library ceiling in the same run and prints its figures as
ratios to it, since these machines are noisy; docs/benchmarks.md records the latest run.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = [
    "benchmarks.bench_core",
    "benchmarks.bench_hub",
    "benchmarks.bench_store",
    "benchmarks.bench_engine",
    "benchmarks.bench_startup",
    "benchmarks.bench_plots",
    "benchmarks.bench_memory",
    "benchmarks.bench_heap",
]


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", module], check=False)
        print(f"--- {module}: exit {result.returncode} in {time.monotonic() - started:.0f} s")
        if result.returncode != 0:
            failed.append(module)
    if failed:
        print("benchmarks that failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
