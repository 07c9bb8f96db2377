"""``syncwatch demo``: feed a hub with the realistic media-library workload of core.workload.

Each simulated agent publishes through its own :class:`Reporter`, as real agents would, so
the demo also exercises reconnects and de-duplication when the hub restarts. The workload
is paced in real time. The desktop app calls :func:`run_demo` in-process to feed its
embedded hub; the command line wraps it with argument parsing, signals and a status line.

Demo updates are disposable: a Reporter whose buffer fills while the hub is unreachable
drops the oldest updates rather than stopping the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from syncwatch.client.publish_command import add_hub_arguments, read_token
from syncwatch.client.reporter import Reporter, ReporterAuthError
from syncwatch.core.backoff import Backoff
from syncwatch.core.workload import Workload, WorkloadConfig

log = logging.getLogger(__name__)

PROG: Final = "syncwatch demo"
#: Seconds between two steps of the workload (its own tick is finer; steps only batch).
STEP_S: Final = 0.25
STEP_US: Final = 250_000
#: A clock jump larger than this (a suspended machine) is skipped, not simulated.
MAX_CATCH_UP_US: Final = 60_000_000


@dataclass(frozen=True, slots=True)
class DemoStats:
    """What a demo run did, for its caller's status line and tests."""

    agents: tuple[str, ...]
    generated: int
    acknowledged: int
    pending: int
    dropped: int
    connected: int


async def run_demo(
    url: str,
    token: str | None,
    config: WorkloadConfig,
    stop: asyncio.Event,
    *,
    seed: int | None = None,
    clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    on_status: Callable[[DemoStats], None] | None = None,
    status_every_s: float = 10.0,
    step_s: float = STEP_S,
    ca_file: str | None = None,
) -> DemoStats:
    """Run the workload against the hub at ``url`` until ``stop`` is set.

    ``seed`` makes the workload reproducible (None: a fresh random one); ``clock_us``
    and ``step_s`` (real seconds between steps) let tests run it faster than real time.
    ``on_status`` is called every ``status_every_s`` with the running figures;
    ``ca_file`` is the CA certificate of a wss:// hub. Raises
    ReporterAuthError when the hub refuses the token; a hub that is down is retried.
    Returns the final figures after a bounded wait for the last acknowledgements.
    """
    last_us = clock_us()
    workload = Workload(config, random.Random(seed), start_us=last_us)
    reporters = {
        name: Reporter(
            url,
            token,
            source=name,
            ca_file=ca_file,
            overflow="drop_oldest",
            max_buffer=50_000,
            backoff=Backoff(random.Random(), base=0.5, factor=2.0, cap=30.0),
            close_timeout=2.0,
        )
        for name in workload.agent_names
    }
    generated = 0
    for reporter in reporters.values():
        reporter.start()
    loop = asyncio.get_running_loop()
    next_status = loop.time() + status_every_s
    try:
        while not stop.is_set():
            now_us = clock_us()
            if now_us - last_us > MAX_CATCH_UP_US:
                workload.skip_to(now_us - STEP_US)  # resumed from suspend: do not replay
            last_us = now_us
            for update in workload.advance(now_us):
                source = update.source or ""
                reporters[source].post(update)
                generated += 1
            for reporter in reporters.values():
                if reporter.error is not None:
                    raise reporter.error
            if on_status is not None and loop.time() >= next_status:
                next_status += status_every_s
                on_status(_stats(reporters, generated))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), step_s)
    finally:
        # In parallel: each waits up to its close_timeout for the last acks.
        await asyncio.gather(*(r.aclose() for r in reporters.values()), return_exceptions=True)
    return _stats(reporters, generated)


def _stats(reporters: dict[str, Reporter], generated: int) -> DemoStats:
    values = reporters.values()
    return DemoStats(
        agents=tuple(reporters),
        generated=generated,
        acknowledged=sum(r.acked for r in values),
        pending=sum(r.pending for r in values),
        dropped=sum(r.dropped for r in values),
        connected=sum(r.connected for r in values),
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Drive a realistic media-library workload (photos and videos up and down, deletes,"
        " metadata, scans; bursts, retries, failures) into a hub, one publisher per agent."
    )
    add_hub_arguments(parser)
    defaults = WorkloadConfig()
    parser.add_argument(
        "--rate",
        type=float,
        default=defaults.rate_ops_per_min,
        metavar="OPS_PER_MIN",
        help=f"new operations per minute over all agents (default: {defaults.rate_ops_per_min:g})",
    )
    parser.add_argument(
        "--error-rate",
        type=float,
        default=defaults.error_rate_pct,
        metavar="PCT",
        help="percent of attempts that fail: < 5 healthy, 5-10 warning, > 10 critical"
        f" (default: {defaults.error_rate_pct:g})",
    )
    parser.add_argument(
        "--agents",
        type=int,
        default=defaults.agents,
        metavar="N",
        help=f"number of sync agents (default: {defaults.agents})",
    )
    parser.add_argument(
        "--burst-every",
        type=float,
        default=defaults.burst_every_s,
        metavar="S",
        help="mean seconds between imports of a few hundred photos; 0 for none"
        f" (default: {defaults.burst_every_s:g})",
    )
    parser.add_argument("--seed", type=int, help="seed for a reproducible workload")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl+C)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo the arguments describe; 0 on a clean stop, 2 bad input, 4 token refused."""
    try:
        token = read_token(args)
        config = WorkloadConfig(
            rate_ops_per_min=args.rate,
            error_rate_pct=args.error_rate,
            agents=args.agents,
            burst_every_s=args.burst_every or None,
        )
        if args.duration is not None and not args.duration > 0:
            raise ValueError(f"--duration must be > 0 seconds, got {args.duration}")
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        stats = asyncio.run(_main(args, token, config))
    except ReporterAuthError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 4
    except ValueError as exc:  # a malformed --hub URL
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(_describe(stats, final=True), file=sys.stderr)
    return 0


async def _main(args: argparse.Namespace, token: str | None, config: WorkloadConfig) -> DemoStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    log.info(
        "demo: %d agents, %g ops/min, %g%% failures -> %s",
        config.agents,
        config.rate_ops_per_min,
        config.error_rate_pct,
        args.hub,
    )
    return await run_demo(
        args.hub,
        token,
        config,
        stop,
        seed=args.seed,
        ca_file=args.ca_file,
        on_status=lambda stats: log.info("%s", _describe(stats)),
    )


def _describe(stats: DemoStats, *, final: bool = False) -> str:
    link = "" if final else f", {stats.connected}/{len(stats.agents)} connected"
    return (
        f"demo: {stats.generated} updates from {len(stats.agents)} agents,"
        f" {stats.acknowledged} acknowledged, {stats.pending} not acknowledged,"
        f" {stats.dropped} dropped{link}"
    )


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog=PROG)
    configure_parser(_parser)
    sys.exit(run(_parser.parse_args()))
