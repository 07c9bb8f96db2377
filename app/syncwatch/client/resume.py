"""The delivery guarantee of the viewer connection: in order, no duplicate, no silent gap.

The hub numbers every update of its log (+1 per update, ``hub_id`` naming the log). A
``ResumeCursor`` remembers the last position handed to the listener; for each new
connection it decides what to subscribe from, and for each frame what may be delivered:

- updates at or below the position were seen already (a replay overlapping what was
  delivered, e.g. from a store cursor that lags behind): skipped;
- the next seq is delivered; a larger one means updates were lost: a full resync
  (a snapshot) is requested, and nothing is delivered until it arrives;
- a hub_id other than the position's (another hub, or a hub whose log was wiped) or a
  hub behind the position (a log restored from an older copy) also asks for a snapshot.

A snapshot that replaces a position reports ``gap_from`` (the last seq delivered before
it), so that the history can mark the stretch it knows nothing about instead of
inventing data. No I/O here: the connection feeds it parsed frames, tests feed it tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from syncwatch.core.protocol import Hello, Snapshot, Subscribe, SyncUpdate


class Position(NamedTuple):
    """A point in a hub's log: everything up to ``seq`` of log ``hub_id`` is known."""

    hub_id: str
    seq: int


class Delivery(NamedTuple):
    """What a batch of incoming updates yields: the fresh ones, and whether to resync."""

    updates: Sequence[SyncUpdate]
    resync: bool


class ResumeCursor:
    """Tracks the delivered position across the connections of one client's lifetime."""

    def __init__(self) -> None:
        #: Last position delivered to the listener (or taken from the durable store).
        self.position: Position | None = None
        #: True while a snapshot is needed before any update may be delivered.
        self.awaiting_snapshot = False
        #: The log served by the current connection (from its hello).
        self._hub_id: str | None = None

    def subscribe(self, hello: Hello, stored: tuple[str, int] | None) -> Subscribe:
        """The subscribe frame to answer ``hello`` with.

        ``stored`` is the durable store's cursor; it is used only before anything was
        delivered in this lifetime (afterwards our own position is never behind it).
        """
        if self.position is None and stored is not None:
            self.position = Position(stored[0], stored[1])
        self._hub_id = hello.hub_id
        position = self.position
        resumable = (
            position is not None
            and not self.awaiting_snapshot
            and position.hub_id == hello.hub_id
            and position.seq <= hello.seq
        )
        if not resumable:
            self.awaiting_snapshot = True
            return Subscribe(since=None, hub_id=None)
        assert position is not None
        return Subscribe(since=position.seq, hub_id=position.hub_id)

    def snapshot(self, snapshot: Snapshot) -> tuple[str, int | None]:
        """Accept a snapshot: returns (hub_id, gap_from) and moves the position to it."""
        hub_id = snapshot.hub_id or self._require_hub_id()
        old = self.position
        continuous = old is None or (old.hub_id == hub_id and old.seq == snapshot.seq)
        gap_from = None if continuous or old is None else old.seq
        self.position = Position(hub_id, snapshot.seq)
        self.awaiting_snapshot = False
        return hub_id, gap_from

    def updates(self, updates: Sequence[SyncUpdate]) -> Delivery:
        """The updates that may be delivered now, in order; ``resync`` on a gap."""
        if self.awaiting_snapshot:
            return Delivery((), resync=False)
        position = self.position
        hub_id = self._require_hub_id()
        last = position.seq if position is not None and position.hub_id == hub_id else None
        if last is None:
            # Updates with nothing to anchor them: only a snapshot can start the stream.
            self.awaiting_snapshot = True
            return Delivery((), resync=True)
        fresh: list[SyncUpdate] = []
        resync = False
        for update in updates:
            seq = update.seq
            if seq is None:
                resync = True  # a hub must number what it sends; treat as a lost update
                break
            if seq <= last:
                continue
            if seq != last + 1:
                resync = True
                break
            fresh.append(update)
            last = seq
        if fresh:
            self.position = Position(hub_id, last)
        if resync:
            self.awaiting_snapshot = True
        return Delivery(fresh, resync)

    def force_resync(self) -> None:
        """Ask for a snapshot at the next subscribe (after an unreadable frame)."""
        self.awaiting_snapshot = True

    def _require_hub_id(self) -> str:
        if self._hub_id is None:
            raise RuntimeError("subscribe() must be called with the hub's hello first")
        return self._hub_id
