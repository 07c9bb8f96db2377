"""Turn a finished chaos run into checks and figures, print them, save report.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING

from tests.chaos import verify
from tests.chaos.schedule import Kind, warmup_s

if TYPE_CHECKING:
    from tests.chaos.harness import Chaos, FaultRecord

#: Faults whose start the app's link can notice (the others hit the hub's other clients).
_LINK_FAULTS = frozenset(
    {Kind.HUB_KILL, Kind.BLACKHOLE, Kind.RESET, Kind.LATENCY, Kind.THROTTLE, Kind.SUSPEND}
)
#: Slack for scheduling and the writer's commit interval on top of each bound.
_SLACK_S = 3.0
_OPEN_TIMEOUT_S = 10.0


def time_faults(chaos: Chaos) -> None:
    """Fill in detect_s / recover_s of every fault from the app's connection_status rows."""
    rows = chaos._connection_rows()
    faults = chaos.state.faults
    for number, fault in enumerate(faults):
        horizon = faults[number + 1].injected_at if number + 1 < len(faults) else float("inf")
        window = [(at, state) for at, state in rows if fault.injected_at <= at < horizon]
        kind = Kind(fault.kind)
        if kind is Kind.APP_KILL:
            up = next((at for at, state in window if state == "connected"), None)
            fault.recover_s = None if up is None else up - fault.restored_at
            continue
        if kind not in _LINK_FAULTS:
            continue
        # A suspended app can notice nothing until it runs again: time it from SIGCONT.
        since = fault.restored_at if kind is Kind.SUSPEND else fault.injected_at
        down = next((at for at, state in window if state != "connected"), None)
        if down is None:
            continue  # ridden out: the link never dropped
        fault.detect_s = max(0.0, down - since)
        back_from = max(down, fault.restored_at)
        up = next((at for at, state in window if at >= back_from and state == "connected"), None)
        fault.recover_s = None if up is None else up - back_from


def timing_checks(faults: list[FaultRecord]) -> list[verify.Check]:
    detect_bound = chaos_ping_bound()
    recover_bound = chaos_recover_bound()
    late_detect = [f for f in faults if f.detect_s is not None and f.detect_s > detect_bound]
    not_recovered = [
        f for f in faults
        if (f.detect_s is not None or Kind(f.kind) is Kind.APP_KILL)
        and (f.recover_s is None or f.recover_s > recover_bound)
    ]  # fmt: skip
    blackholes = [f for f in faults if Kind(f.kind) is Kind.BLACKHOLE]
    return [
        Check_(
            f"faults detected within ping interval + timeout ({detect_bound:.0f} s)",
            not late_detect and all(f.detect_s is not None for f in blackholes),
            ", ".join(f"{f.kind}: {f.detect_s:.1f} s" for f in late_detect)
            or "blackholes detected: "
            + ", ".join(f"{f.detect_s}" for f in blackholes if f.detect_s is not None),
        ),
        Check_(
            f"every dropped link recovered within backoff cap + open timeout "
            f"({recover_bound:.0f} s)",
            not not_recovered,
            ", ".join(f"{f.kind}: {f.recover_s}" for f in not_recovered) or "all recovered",
        ),
    ]


def chaos_ping_bound() -> float:
    from tests.chaos.harness import PING_INTERVAL_S, PING_TIMEOUT_S

    return PING_INTERVAL_S + PING_TIMEOUT_S + _SLACK_S


def chaos_recover_bound() -> float:
    from tests.chaos.harness import BACKOFF_CAP_S

    return BACKOFF_CAP_S + _OPEN_TIMEOUT_S + _SLACK_S


Check_ = verify.Check


def judge(chaos: Chaos, started: float) -> list[verify.Check]:
    from tests.chaos.harness import warmup_baseline

    config = chaos.config
    state = chaos.state
    checks: list[verify.Check] = []
    log = verify.read_hub_log(chaos.hub_data / "events.sqlite3")
    acks = [ack for p in chaos.publishers for ack in p.ledger.acks]
    checks.append(verify.check_acks(acks, log))
    checks.extend(verify.check_history(chaos.app_data / "history.db", log))
    warm = warmup_s(config.minutes * 60)
    assert chaos.app is not None
    for name, index, managed in (("app", 1, chaos.app), ("hub", 3, chaos.hub)):
        baseline, final = warmup_baseline(state.rss, index=index, since=managed.starts[-1] + warm)
        checks.append(verify.check_rss(name, baseline, final))
    since = chaos.hub.starts[-1] + warm
    for when, memory in [
        *[m for m in state.hub_memory if m[0] >= since][:1],
        *state.hub_memory[-1:],
    ]:
        figures = ", ".join(f"{kind} {value / 2**20:.1f}" for kind, value in memory.items())
        state.notes.append(f"hub memory (MiB) at t+{when - started:.0f} s: {figures}")
    run_dir = config.run_dir
    checks.append(verify.check_logs([run_dir / "app.log", run_dir / "hub.log",
                                     run_dir / "demo.log"]))  # fmt: skip
    checks.append(verify.check_integrity([chaos.app_data / "history.db",
                                          chaos.hub_data / "events.sqlite3"]))  # fmt: skip
    crashes = [n for n in state.notes if "exited on its own" in n]
    clean = [n for n in state.notes if "exit code on SIGTERM" in n]
    checks.append(
        verify.Check(
            "no process died on its own; clean shutdown at the end",
            not crashes and all(n.endswith(": 0") for n in clean),
            "; ".join(crashes + clean),
        )
    )
    checks.extend(hostile_checks(state.faults))
    time_faults(chaos)
    checks.extend(timing_checks(state.faults))
    print_report(chaos, checks, log, acks_count=len(acks), started=started)
    return checks


def hostile_checks(faults: list[FaultRecord]) -> list[verify.Check]:
    checks = []
    for fault in faults:
        if Kind(fault.kind) is Kind.HOSTILE:
            out = json.loads(fault.notes)
            checks.append(
                verify.Check(
                    "hostile publisher refused (errors answered, 1003 binary, 1009 oversized, "
                    "1008 flood)",
                    out["open_after_garbage"]
                    and out["error_frames"] > 0
                    and out["binary_close_code"] == 1003
                    and out["oversized_close_code"] == 1009
                    and out["flood_close_code"] in (1008, None),
                    fault.notes,
                )
            )
        if Kind(fault.kind) is Kind.STALLED_VIEWER:
            out = json.loads(fault.notes)
            checks.append(
                verify.Check(
                    "stalled viewer does not grow the hub's memory (< 100 MiB)",
                    out["hub_rss_growth_mib"] < 100,
                    fault.notes,
                )
            )
    return checks


def print_report(
    chaos: Chaos, checks: list[verify.Check], log: verify.HubLog, *, acks_count: int,
    started: float,
) -> None:  # fmt: skip
    state = chaos.state
    print("\nFaults (detect = injection, or SIGCONT for a suspension -> app leaves "
          "'connected'; recover = fault undone or detected -> 'connected' again):")  # fmt: skip
    for fault in state.faults:
        detect = "-" if fault.detect_s is None else f"{fault.detect_s:5.1f} s"
        recover = "-" if fault.recover_s is None else f"{fault.recover_s:5.1f} s"
        print(f"  t+{fault.injected_at - started:6.1f} s  {fault.kind:48s} detect {detect:>8s}"
              f"  recover {recover:>8s}")  # fmt: skip
    by_kind: dict[str, list[FaultRecord]] = {}
    for fault in state.faults:
        by_kind.setdefault(fault.kind, []).append(fault)
    print("\nPer kind:")
    for kind, faults in by_kind.items():
        detects = [f.detect_s for f in faults if f.detect_s is not None]
        recovers = [f.recover_s for f in faults if f.recover_s is not None]
        print(f"  {kind:48s} detect {verify.p50_max(detects):24s} "
              f"recover {verify.p50_max(recovers)}")  # fmt: skip
    print(f"\nHub log: {len(log.updates)} updates (last seq {log.last_seq}); "
          f"{acks_count} acks to the harness's publishers; notes: {state.notes}")  # fmt: skip
    abandoned = Counter(
        u.source or "-" for u in log.updates if (u.error or "").startswith("abandoned:")
    )
    print(f"Operations the hub abandoned (no update for {chaos.config.abandon_after_s:g} s), "
          f"by source: {dict(abandoned.most_common()) or 'none'}")  # fmt: skip
    print("\nChecks:")
    for check in checks:
        print(f"  [{'PASS' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    report = {
        "config": {k: str(v) for k, v in asdict(chaos.config).items()},
        "faults": [asdict(f) for f in state.faults],
        "checks": [c._asdict() for c in checks],
        "hub_updates": len(log.updates),
        "acks": acks_count,
        "notes": state.notes,
        "abandoned_by_source": dict(abandoned),
        "rss_samples": state.rss,
    }
    (chaos.config.run_dir / "report.json").write_text(json.dumps(report, indent=2))
