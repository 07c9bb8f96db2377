"""max_uncommitted_updates: a burst waits in the publisher's socket, not in the hub."""

from __future__ import annotations

from pathlib import Path

from syncwatch.core.protocol import Ack
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import batch_json, publisher, recv_frame, run, update_json

BATCH = 250
BATCHES = 40


def test_a_burst_never_has_more_than_the_bound_waiting_for_the_log(tmp_path: Path) -> None:
    """A publisher sends 10,000 updates without waiting for acks; the hub stops reading it
    whenever 500 wait for the log's commit, and still acks every one, in order."""
    bound = 500

    async def body() -> None:
        config = HubConfig(data_dir=tmp_path / "hub", port=0, max_uncommitted_updates=bound)
        async with Hub(config) as hub, publisher(hub.url) as pub:
            for start in range(0, BATCH * BATCHES, BATCH):
                await pub.send(
                    batch_json(
                        update_json(f"op-{i}", counter=1, status="queued", progress=0.0)
                        for i in range(start, start + BATCH)
                    )
                )
            acks = [await recv_frame(pub) for _ in range(BATCH * BATCHES)]
            assert all(isinstance(a, Ack) and not a.duplicate for a in acks)
            seqs = [a.seq for a in acks if isinstance(a, Ack)]
            assert seqs == list(range(1, BATCH * BATCHES + 1)), "every update acked, in order"
            # The check runs before a frame is taken in: at most one batch past the bound.
            assert hub.counters.uncommitted_peak <= bound - 1 + BATCH
            assert hub.counters.publisher_reads_held > 0, "the burst never met the bound"
            peak = hub.counters.uncommitted_peak
            assert f"syncwatch_hub_uncommitted_updates_peak {peak}" in hub.metrics_text()

    run(body(), timeout=60)
