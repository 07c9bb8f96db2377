"""``python -m tests.chaos [--minutes M] [--seed S] [--run-dir DIR]``: exit 0 only if every
check passed (``CHAOS_MINUTES`` and ``CHAOS_SEED`` set the defaults)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.harness import Chaos, ChaosConfig
from tests.chaos.schedule import FULL, Kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument(
        "--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", "10"))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "20261203")))
    parser.add_argument("--run-dir", type=Path, default=None, help="default: a new temp dir")
    defaults = ChaosConfig(run_dir=Path())
    parser.add_argument(
        "--demo-rate", type=int, default=defaults.demo_rate, help="demo ops per minute"
    )
    parser.add_argument(
        "--demo-agents", type=int, default=defaults.demo_agents, help="simulated sync agents"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(k.name.lower() for k in FULL),
        help="comma-separated faults to schedule (default: all, the hub killed twice)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix=f"chaos-{time.strftime('%H%M%S')}-"))
    try:
        kinds = tuple(Kind[name.strip().upper()] for name in args.kinds.split(",") if name)
    except KeyError as exc:
        parser.error(
            f"--kinds: unknown fault {exc}; known: {', '.join(k.name.lower() for k in Kind)}"
        )
    config = ChaosConfig(
        run_dir=run_dir,
        minutes=args.minutes,
        seed=args.seed,
        demo_rate=args.demo_rate,
        demo_agents=args.demo_agents,
        kinds=kinds,
    )
    checks = asyncio.run(Chaos(config).run())
    failed = [c for c in checks if not c.ok]
    print(f"\nchaos: {len(checks) - len(failed)}/{len(checks)} checks passed; logs in {run_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
