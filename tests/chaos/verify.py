"""The end-of-run checks: each returns a :class:`Check` that says what held or what broke.

They read the real files the processes left behind: the hub's event log
(``events.sqlite3``), the app's history (``history.db``) and the logs. Nothing here
trusts a process's own opinion of itself.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from syncwatch.core.protocol import MAX_HUB_FRAME_BYTES, Ack, SyncUpdate, parse_frame


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# --------------------------------------------------------------------------- hub log


@dataclass(frozen=True)
class HubLog:
    """The hub's event log, decoded: every update in seq order."""

    updates: tuple[SyncUpdate, ...]
    #: (operation_id, counter) -> seqs stored for it (exactly one each, or a duplicate).
    by_counter: dict[tuple[str, int], list[int]]
    last_seq: int
    oldest_seq: int | None


def read_hub_log(path: Path) -> HubLog:
    with _open_ro(path) as db:
        rows = db.execute("SELECT seq, operation_id, counter, body FROM events ORDER BY seq")
        updates: list[SyncUpdate] = []
        by_counter: dict[tuple[str, int], list[int]] = defaultdict(list)
        for seq, operation_id, counter, body in rows:
            frame = parse_frame(body, max_bytes=MAX_HUB_FRAME_BYTES)
            assert isinstance(frame, SyncUpdate), f"seq {seq} is not an update"
            updates.append(frame._replace(seq=seq))
            if counter is not None:
                by_counter[(operation_id, counter)].append(seq)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    last = max(int(meta.get("last_seq", 0)), updates[-1].seq or 0 if updates else 0)
    oldest = updates[0].seq if updates else None
    return HubLog(tuple(updates), dict(by_counter), last, oldest)


def check_acks(acks: Sequence[Ack], log: HubLog) -> Check:
    """Every ack a publisher received names an update that is in the log exactly once,
    at the acknowledged seq."""
    missing = wrong_seq = 0
    for ack in acks:
        seqs = log.by_counter.get((ack.operation_id, ack.counter or -1), [])
        if not seqs:
            missing += 1
        elif seqs != [ack.seq]:
            wrong_seq += 1
    duplicated = sum(1 for seqs in log.by_counter.values() if len(seqs) > 1)
    ok = not (missing or wrong_seq or duplicated) and bool(acks)
    return Check(
        "acked updates in the hub log exactly once",
        ok,
        f"{len(acks)} acks: {missing} missing, {wrong_seq} at another seq; "
        f"{duplicated} (operation, counter) stored twice in the whole log",
    )


# --------------------------------------------------------------------------- history


class _OpTrail(NamedTuple):
    final_status: str
    last_seq: int
    transitions: frozenset[int]


def hub_trails(log: HubLog) -> dict[str, _OpTrail]:
    """Per operation what the history must hold: its final status and last seq, and the
    seq of every status change (first sight included) - the audit trail's rows."""
    status: dict[str, str] = {}
    last: dict[str, int] = {}
    transitions: dict[str, set[int]] = defaultdict(set)
    for update in log.updates:
        assert update.seq is not None
        op = update.operation_id
        if status.get(op) != update.status.value:
            transitions[op].add(update.seq)
        status[op] = update.status.value
        last[op] = update.seq
    return {op: _OpTrail(status[op], last[op], frozenset(transitions[op])) for op in status}


def check_history(history_db: Path, log: HubLog) -> list[Check]:
    """The app's history against the hub's log: same operations, same final status and
    last seq, the same transition rows (none missing, none twice); gaps only where the
    hub's retention had already dropped the updates."""
    expected = hub_trails(log)
    with _open_ro(history_db) as db:
        ops = {
            op: (status, last_seq)
            for op, status, last_seq in db.execute(
                "SELECT operation_id, status, last_seq FROM sync_operations"
            )
        }
        rows = db.execute(
            "SELECT operation_id, seq FROM sync_operation_events WHERE kind = 'transition'"
        ).fetchall()
        gaps = db.execute("SELECT hub_id, from_seq, to_seq, reason FROM sync_gaps").fetchall()
        cursor = db.execute("SELECT hub_id, seq FROM resume_cursor").fetchone()
    counts = Counter((op, seq) for op, seq in rows)
    missing_ops = sorted(set(expected) - set(ops))
    extra_ops = sorted(set(ops) - set(expected))
    wrong_final = [
        op
        for op, trail in expected.items()
        if op in ops and ops[op] != (trail.final_status, trail.last_seq)
    ]
    app_transitions: dict[str, set[int]] = defaultdict(set)
    for op, seq in counts:
        app_transitions[op].add(seq)
    lost = sum(len(t.transitions - app_transitions.get(op, set())) for op, t in expected.items())
    invented = sum(
        len(seqs - expected[op].transitions) for op, seqs in app_transitions.items()
        if op in expected
    )  # fmt: skip
    doubled = sum(1 for n in counts.values() if n > 1)
    checks = [
        Check(
            "history has the hub's operations (no loss, none invented)",
            not missing_ops and not extra_ops,
            f"{len(expected)} in the hub log, {len(ops)} in the history; "
            f"missing {missing_ops[:5]}{'...' if len(missing_ops) > 5 else ''} "
            f"({len(missing_ops)}), extra {extra_ops[:5]} ({len(extra_ops)})",
        ),
        Check(
            "history's final status and last seq equal the hub's",
            not wrong_final,
            f"{len(wrong_final)} differ {wrong_final[:5]}",
        ),
        Check(
            "history's transitions equal the hub's (none lost, none doubled)",
            not (lost or invented or doubled),
            f"{sum(len(t.transitions) for t in expected.values())} transitions in the hub "
            f"log; {lost} missing, {invented} not in the log, {doubled} stored twice",
        ),
        Check(
            "resume cursor reached the hub's last seq",
            cursor is not None and cursor[1] == log.last_seq,
            f"cursor {cursor}, hub last seq {log.last_seq}",
        ),
    ]
    oldest = log.oldest_seq or 1
    unjustified = [g for g in gaps if g[3] != "gap" or (g[1] or 0) + 1 >= oldest]
    checks.append(
        Check(
            "gaps only where retention made resume impossible",
            not unjustified,
            f"{len(gaps)} gap rows; unjustified: {unjustified[:5]}",
        )
    )
    return checks


# --------------------------------------------------------------------------- files


def check_integrity(paths: Iterable[Path]) -> Check:
    results = []
    for path in paths:
        with sqlite3.connect(path) as db:
            results.append(f"{path.name}: {db.execute('PRAGMA integrity_check').fetchone()[0]}")
    return Check(
        "databases pass PRAGMA integrity_check",
        all(r.endswith(": ok") for r in results),
        "; ".join(results),
    )


#: An unhandled exception, a crash, or a Qt warning (Qt prints those on stderr, which the
#: harness captures: "qt.qpa.xcb: ...", "QObject::...", "QWidget::..." and the like).
_BAD_LINE = re.compile(
    r"Traceback \(most recent call last\)|Fatal Python error|Segmentation fault"
    r"|^qt\.[\w.]+:|^Q[A-Z]\w+::\w+|^QWARN|^Warning: |task ended with an error"
    r"|Exception in callback|Task exception was never retrieved",
    re.MULTILINE,
)


def bad_log_lines(text: str) -> list[str]:
    return [m.string[m.start() : m.string.find("\n", m.start())] for m in _BAD_LINE.finditer(text)]


def check_logs(paths: Iterable[Path]) -> Check:
    found: list[str] = []
    for path in paths:
        for line in bad_log_lines(path.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{path.name}: {line[:160]}")
    return Check(
        "no unhandled exception or Qt warning in any log",
        not found,
        f"{len(found)} found" + ("".join(f"\n      {line}" for line in found[:10])),
    )


# --------------------------------------------------------------------------- figures


def check_rss(name: str, baseline_kib: int | None, final_kib: int | None) -> Check:
    if baseline_kib is None or final_kib is None:
        return Check(f"{name} RSS within 20% of warm-up", False, "no measurement")
    ratio = final_kib / baseline_kib
    return Check(
        f"{name} RSS within 20% of warm-up",
        ratio <= 1.2,
        f"{baseline_kib / 1024:.0f} MiB after warm-up -> {final_kib / 1024:.0f} MiB at the end "
        f"({(ratio - 1) * 100:+.0f}%)",
    )


def p50_max(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {statistics.median(values):.1f} s, max {max(values):.1f} s"
