"""Every input a fuzzer crashed on, replayed for ever (``make fuzz`` writes ``crash-*``).

Found by ``python -m benchmarks.fuzz`` (atheris) on 2026-12-03: a publisher's frame with
an unknown key that holds a control character (or is longer than 256 characters) makes
the hub answer with an ``error`` frame whose ``field`` is that key, raw - and
``parse_frame`` refuses that error frame ("field: contains control characters"), so a
well-behaved client cannot read the hub's answer. Root cause: ``_only()`` in
app/syncwatch/core/protocol.py raises ``ProtocolError("unknown field", field=key)`` with
the hostile key; app/syncwatch/hub/server.py copies ``exc.field`` into the ErrorFrame.
Fixed in core.protocol: such keys are named escaped and shortened (``_key_name``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.sync.client import connect

from syncwatch.core.protocol import MAX_HUB_FRAME_BYTES, ErrorFrame, Hello, parse_frame
from tests.support.hubproc import running_hub

CRASHES = (
    # crash-78b858a300003ec810398399d6ade93031101b60: DEL in a key
    b'{"type":"sync_update","operation_id":"op-2","\x7fperation_type":"scan","status":'
    b'"failed","progress":500,"timestamp":"2026-12-03T10:00:00Z","error":"dfui skll"}',
    # crash-3e8a562908fcc7b418bf31c0a6797d0e4ca67460 (bytes 0xff arrive as U+FFFD)
    '{"type":"ack","seq":4,"op\ufffd\ufffd\x7f\ufffderation_id":"op-2","counter":7}'.encode(),
    # the same bug through the length limit of ErrorFrame.field
    b'{"type":"sync_update","' + b"k" * 300 + b'":1}',
)


@pytest.mark.parametrize("data", CRASHES, ids=["del-in-key", "ack-with-del", "long-key"])
def test_the_hubs_answer_to_a_hostile_key_is_a_readable_error_frame(
    tmp_path: Path, data: bytes
) -> None:
    with running_hub(tmp_path) as hub, connect(hub.url + "/v1/publish", proxy=None) as ws:
        assert isinstance(parse_frame(ws.recv(timeout=10), max_bytes=MAX_HUB_FRAME_BYTES), Hello)
        ws.send(data.decode("utf-8", errors="replace"))
        answer = parse_frame(ws.recv(timeout=10), max_bytes=MAX_HUB_FRAME_BYTES)
        assert isinstance(answer, ErrorFrame)
        assert answer.detail == "unknown field"
