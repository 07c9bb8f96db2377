"""The HTTP side of the hub's port: /healthz, /metrics, auth and Origin checks at the handshake."""

from __future__ import annotations

import asyncio
import http.client
import logging
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from syncwatch.core.protocol import Ack, Hello, Snapshot
from syncwatch.hub import Role
from tests.hub.wire import publish, publisher, recv_frame, run, update_json, viewer
from tests.support.hubproc import running_hub

TOKENS = {"pub-s3cr3t-token": Role.PUBLISHER, "view-s3cr3t-token": Role.VIEWER}


def _get(port: int, path: str) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def test_healthz_and_metrics_over_plain_http(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def traffic() -> None:
            async with viewer(hub.url) as (ws, _), publisher(hub.url) as pub:
                assert isinstance(await recv_frame(ws), Snapshot)  # live from here on
                answers = await publish(pub, [update_json("a"), update_json("b"), "{oops"])
                assert [type(a).__name__ for a in answers] == ["Ack", "Ack", "ErrorFrame"]
                _status, _, body = await asyncio.to_thread(_get, hub.hub.port, "/metrics")
                assert 'syncwatch_hub_connections{role="viewer"} 1' in body
                assert 'syncwatch_hub_connections{role="publisher"} 1' in body

        run(traffic())
        assert _get(hub.hub.port, "/healthz")[:1] == (200,)
        status, content_type, body = _get(hub.hub.port, "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=0.0.4")
        metrics = dict(
            line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#")
        )
        assert metrics["syncwatch_hub_updates_accepted_total"] == "2"
        assert metrics["syncwatch_hub_updates_rejected_total"] == "1"
        assert metrics["syncwatch_hub_seq"] == "2"
        assert int(metrics["syncwatch_hub_event_log_bytes"]) > 0
        assert int(metrics["syncwatch_hub_broadcast_frames_total"]) >= 1
        # Where the hub's memory is: the process's RSS, glibc's heap, SQLite (this test
        # process is the hub's here, so its RSS is well above 10 MiB).
        assert int(metrics['syncwatch_hub_memory_bytes{kind="rss"}']) > 10 * 2**20
        heap = int(metrics['syncwatch_hub_memory_bytes{kind="heap_in_use"}'])
        assert 0 < heap < int(metrics['syncwatch_hub_memory_bytes{kind="rss"}'])
        assert int(metrics['syncwatch_hub_memory_bytes{kind="sqlite"}']) > 0
        assert _get(hub.hub.port, "/nope")[0] == 404


def _status_of_handshake(url: str, **kwargs: object) -> int:
    async def attempt() -> int:
        try:
            async with connect(url, **kwargs) as ws:  # type: ignore[arg-type]
                assert isinstance(await recv_frame(ws), Hello)
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return run(attempt())


def test_tokens_decide_who_may_subscribe_and_publish(tmp_path: Path) -> None:
    with running_hub(tmp_path, tokens=TOKENS) as hub:
        sub, pub = hub.url + "/v1/subscribe", hub.url + "/v1/publish"
        bearer = {"additional_headers": {"Authorization": "Bearer view-s3cr3t-token"}}
        assert _status_of_handshake(sub) == 401
        assert _status_of_handshake(sub + "?token=wrong") == 401
        assert _status_of_handshake(sub + "?token=view-s3cr3t-token") == 101
        assert _status_of_handshake(sub, **bearer) == 101
        assert _status_of_handshake(pub, **bearer) == 403
        assert _status_of_handshake(pub + "?token=view-s3cr3t-token") == 403
        assert _status_of_handshake(pub + "?token=pub-s3cr3t-token") == 101
        # A publisher token may also subscribe.
        assert _status_of_handshake(sub + "?token=pub-s3cr3t-token") == 101


def test_browser_origins_must_be_loopback_or_listed(tmp_path: Path) -> None:
    with running_hub(tmp_path, origins=("https://ops.example.com",)) as hub:
        sub = hub.url + "/v1/subscribe"
        assert _status_of_handshake(sub, origin="http://localhost:5173") == 101
        assert _status_of_handshake(sub, origin="http://127.0.0.1") == 101
        assert _status_of_handshake(sub, origin="https://ops.example.com") == 101
        assert _status_of_handshake(sub, origin="https://evil.example.net") == 403
        assert _status_of_handshake(sub, origin="null") == 403


def test_tokens_never_reach_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_hub(tmp_path, tokens=TOKENS) as hub:
        sub = hub.url + "/v1/subscribe"
        assert _status_of_handshake(sub + "?token=view-s3cr3t-token") == 101
        assert _status_of_handshake(sub + "?token=wrong-s3cr3t-token") == 401
        headers = {"additional_headers": {"Authorization": "Bearer pub-s3cr3t-token"}}
        assert _status_of_handshake(hub.url + "/v1/publish", **headers) == 101

        async def acked() -> Ack:
            async with connect(hub.url + "/v1/publish?token=pub-s3cr3t-token&source=agent-7") as ws:
                await recv_frame(ws)
                answer = (await publish(ws, [update_json()]))[0]
                assert isinstance(answer, Ack)
                return answer

        assert run(acked()).seq == 1
    # The test's own client logs its request lines too; everything else is the hub's.
    hub_lines = [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("websockets.client")
    ]
    assert any("GET /v1/subscribe?token=<redacted>" in line for line in hub_lines)
    assert any("Authorization: Bearer <redacted>" in line for line in hub_lines)
    assert not [line for line in hub_lines if "s3cr3t" in line]


def test_viewer_token_gets_snapshot_but_cannot_publish_through_subscribe(tmp_path: Path) -> None:
    with running_hub(tmp_path, tokens=TOKENS) as hub:

        async def body() -> None:
            async with viewer(hub.url + "", additional_headers=_bearer("view-s3cr3t-token")) as (
                ws,
                _,
            ):
                assert isinstance(await recv_frame(ws), Snapshot)
                await ws.send(update_json())
                error = await recv_frame(ws)
                assert type(error).__name__ == "ErrorFrame"
                assert getattr(error, "code", None) == "unexpected_type"
            assert hub.hub.seq == 0

        run(body())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
