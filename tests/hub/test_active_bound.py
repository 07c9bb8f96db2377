"""The hub holds at most ``max_active_operations`` active operations.

An update that would start one more is refused with a ``too_many_active`` error naming it
(after the acks of the updates before it); updates about the operations already held, and
updates that finish an operation, still go in, so the refusals end as soon as some finish.
A Reporter sees the refusal as an UpdateRejectedError for that update alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncwatch.client.reporter import Reporter, UpdateRejectedError
from syncwatch.core.protocol import Ack, ErrorFrame, Snapshot, Status
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import batch_json, publish, publisher, recv_frame, run, update_json, viewer


async def _states(hub: Hub) -> dict[str, Status]:
    async with viewer(hub.url) as (ws, _):
        snapshot = await recv_frame(ws)
        assert isinstance(snapshot, Snapshot)
        return {u.operation_id: u.status for u in snapshot.operations}


def test_updates_starting_operations_beyond_the_bound_are_refused_one_by_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        config = HubConfig(data_dir=tmp_path / "hub", port=0, max_active_operations=3)
        async with Hub(config) as hub, publisher(hub.url, source="nas") as pub:
            await pub.send(
                batch_json(update_json(f"op-{i}", counter=i, progress=10.0) for i in range(1, 6))
            )
            answers = [await recv_frame(pub) for _ in range(5)]
            # In order: three acks, then one error per refused update, naming it.
            assert [type(a) for a in answers] == [Ack, Ack, Ack, ErrorFrame, ErrorFrame]
            refused = answers[3:]
            assert all(isinstance(e, ErrorFrame) for e in refused)
            assert [(e.code, e.operation_id, e.counter) for e in refused] == [  # type: ignore[union-attr]
                ("too_many_active", "op-4", 4),
                ("too_many_active", "op-5", 5),
            ]
            assert "3 active operations" in refused[0].detail  # type: ignore[union-attr]
            assert hub.seq == 3, "nothing refused was stored"
            warnings = [r for r in caplog.records if "active operations" in r.getMessage()]
            assert len(warnings) == 1, "one warning when the bound is reached, not per update"
            assert warnings[0].levelno == logging.WARNING

            # Known operations report on; one that was never held may still arrive finished.
            answers = await publish(
                pub,
                [
                    update_json("op-1", counter=10, progress=90.0),
                    update_json("late", counter=1, status="completed", progress=100.0),
                    update_json("op-2", counter=11, status="completed", progress=100.0),
                ],
            )
            assert all(isinstance(a, Ack) for a in answers), answers
            # op-2 finished: there is room for one again, and only one.
            answers = await publish(
                pub, [update_json("op-4", counter=12), update_json("op-6", counter=13)]
            )
            assert isinstance(answers[0], Ack)
            assert isinstance(answers[1], ErrorFrame)
            assert answers[1].operation_id == "op-6"

            assert await _states(hub) == {
                "op-1": Status.IN_PROGRESS,
                "op-2": Status.COMPLETED,
                "op-3": Status.IN_PROGRESS,
                "op-4": Status.IN_PROGRESS,
                "late": Status.COMPLETED,
            }
            assert "syncwatch_hub_updates_refused_active_limit_total 3" in hub.metrics_text()

    with caplog.at_level(logging.WARNING, logger="syncwatch.hub"):
        run(body())


def test_a_reporter_gets_the_refusal_for_that_update_alone(tmp_path: Path) -> None:
    async def body() -> None:
        config = HubConfig(data_dir=tmp_path / "hub", port=0, max_active_operations=2)
        async with Hub(config) as hub, Reporter(hub.url, source="camera") as reporter:
            for name in ("a", "b"):
                await reporter.update(
                    operation_id=name,
                    operation_type="upload",
                    status="queued",
                    progress=0,
                    wait=True,
                )
            with pytest.raises(UpdateRejectedError, match="too_many_active"):
                await reporter.update(
                    operation_id="c",
                    operation_type="upload",
                    status="queued",
                    progress=0,
                    wait=True,
                )
            ack = await reporter.update(
                operation_id="a", operation_type="upload", status="completed", progress=100,
                wait=True,
            )  # fmt: skip
            assert isinstance(ack, Ack)
            ack = await reporter.update(
                operation_id="c", operation_type="upload", status="queued", progress=0, wait=True
            )
            assert isinstance(ack, Ack), "room again once one finished"
            assert reporter.pending == 0

    run(body())


def test_the_bound_is_checked_at_configuration() -> None:
    from syncwatch.hub import HubConfigError

    with pytest.raises(HubConfigError, match="max_active_operations: must be at least 1"):
        HubConfig(data_dir=Path("x"), max_active_operations=0)
