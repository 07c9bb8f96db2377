"""The fuzz targets' properties, shared by ``make fuzz`` (atheris, 100,000+ inputs) and the
short hypothesis run in ``make test`` (tests/fuzz/).

:func:`check_parse` holds the parser to its contract; :class:`HubProbe` holds a real hub
to its: every frame a publisher sends gets an ack or an error, or a close with a
protocol code, and the hub keeps serving.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from syncwatch.core.protocol import (
    MAX_HUB_FRAME_BYTES,
    Ack,
    ErrorFrame,
    Hello,
    ProtocolError,
    SyncUpdate,
    encode_frame,
    parse_frame,
)

#: Close codes a hub may use on a hostile publisher: unsupported data (binary), invalid
#: payload, policy (rate), message too big.
PROTOCOL_CLOSE_CODES: Final = frozenset({1003, 1007, 1008, 1009})

#: Valid frames of every kind, the seeds the mutator starts from.
SEEDS: Final[tuple[str, ...]] = (
    '{"type":"sync_update","operation_id":"op-1","operation_type":"upload",'
    '"status":"in_progress","progress":42.5,"timestamp":"2026-12-03T10:00:00.123456Z",'
    '"item":"/photos/a.jpg","bytes_done":10,"bytes_total":100,"source":"nas","counter":7}',
    '{"type":"sync_update","operation_id":"op-2","operation_type":"scan","status":"failed",'
    '"progress":100,"timestamp":"2026-12-03T10:00:00Z","error":"disk full"}',
    '{"type":"batch","updates":[{"type":"sync_update","operation_id":"b","operation_type":'
    '"delete","status":"queued","progress":0,"timestamp":"2026-12-03T10:00:00+00:00"}]}',
    '{"type":"subscribe","since":12,"hub_id":"abc"}',
    '{"type":"hello","protocol":1,"hub_id":"h","seq":3}',
    '{"type":"ack","seq":4,"operation_id":"op-1","counter":7,"duplicate":false}',
    '{"type":"error","code":"invalid","detail":"progress: out of range","field":"progress"}',
    '{"type":"snapshot","seq":9,"operations":[]}',
)


def check_parse(data: bytes) -> None:
    """parse_frame returns a frame or raises ProtocolError; an accepted frame survives an
    encode/parse round trip unchanged. Anything else raises (a crash for the fuzzer)."""
    try:
        frame = parse_frame(data)
    except ProtocolError:
        return
    again = parse_frame(encode_frame(frame), max_bytes=MAX_HUB_FRAME_BYTES)
    if again != frame:
        raise AssertionError(f"round trip changed the frame: {frame!r} -> {again!r}")


class HubProbe:
    """A publisher connection to a real hub that checks the answer to every frame.

    After the frame under test it sends a valid sentinel update and reads until the
    sentinel's ack: everything before it must be acks or error frames."""

    def __init__(self, url: str) -> None:
        self._url = url + "/v1/publish"
        self._ws: ClientConnection | None = None
        #: Holds the open connection (websockets wants connect() used as a context).
        self._stack = contextlib.ExitStack()
        self._sentinels = 0
        self._greeted = False
        #: Frames answered by an error, acked, and connections closed by the hub.
        self.errors = self.acks = self.closes = 0
        #: Error frames the protocol itself refuses (the hub echoed a hostile field name).
        self.unparseable_errors = 0

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            self._greeted = False
            self._stack.close()  # what is left of a connection the hub closed
            self._ws = self._stack.enter_context(
                connect(self._url, proxy=None, max_size=MAX_HUB_FRAME_BYTES)
            )
        return self._ws

    def close(self) -> None:
        self._stack.close()
        self._ws = None

    def send(self, text: str) -> None:
        ws = self._connection()
        self._sentinels += 1
        sentinel = f"fuzz-sentinel-{self._sentinels}"
        try:
            ws.send(text)
            ws.send(encode_frame(_sentinel_update(sentinel)).decode())
            while True:
                raw = ws.recv(timeout=10)
                try:
                    frame = parse_frame(raw, max_bytes=MAX_HUB_FRAME_BYTES)
                except ProtocolError:
                    if _echoes_a_hostile_field(raw):
                        self.unparseable_errors += 1  # known: tests/fuzz/test_regressions.py
                        continue
                    raise
                if isinstance(frame, Ack) and frame.operation_id == sentinel:
                    return
                if isinstance(frame, Ack):
                    self.acks += 1
                elif isinstance(frame, ErrorFrame):
                    self.errors += 1
                elif isinstance(frame, Hello) and not self._greeted:
                    self._greeted = True  # every connection opens with one
                else:
                    raise AssertionError(f"the hub answered a publisher with {frame!r}")
        except ConnectionClosed as closed:
            self._ws = None
            code = closed.rcvd.code if closed.rcvd is not None else None
            if code not in PROTOCOL_CLOSE_CODES:
                raise AssertionError(f"the hub closed with {code} after {text[:200]!r}") from None
            self.closes += 1
        except TimeoutError:
            raise AssertionError(f"no answer within 10 s to {text[:200]!r}") from None


def _echoes_a_hostile_field(raw: str | bytes) -> bool:
    """An error frame whose ``field`` is the publisher's own unknown key, echoed raw
    (control characters, over 256 characters): the known hub bug pinned by
    tests/fuzz/test_regressions.py, counted rather than stopping the run."""
    import orjson

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(obj, dict) or obj.get("type") != "error":
        return False
    field = obj.get("field")
    return isinstance(field, str) and obj.get("detail") == "unknown field"


def _sentinel_update(operation_id: str) -> SyncUpdate:
    from syncwatch.core.protocol import Status

    return SyncUpdate(operation_id, "scan", Status.QUEUED, 0.0, 1_796_000_000_000_000)


@contextlib.contextmanager
def probed_hub() -> Iterator[tuple[HubProbe, Path]]:
    """A real hub in-process on 127.0.0.1 (no tokens) and a probe connected to it; on exit
    every stored update must parse as a valid sync_update."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.hubproc import running_hub

    with tempfile.TemporaryDirectory(prefix="fuzz-hub-") as tmp, running_hub(Path(tmp)) as hub:
        probe = HubProbe(hub.url)
        try:
            yield probe, hub.data_dir
        finally:
            probe.close()
        check_stored_updates(hub.data_dir / "events.sqlite3")


def check_stored_updates(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as db:
        for seq, body in db.execute("SELECT seq, body FROM events"):
            frame = parse_frame(body, max_bytes=MAX_HUB_FRAME_BYTES)
            if not isinstance(frame, SyncUpdate):
                raise AssertionError(f"seq {seq} holds {frame!r}, not an update")


# --------------------------------------------------------------------------- atheris


def _corpus() -> str:
    directory = tempfile.mkdtemp(prefix="fuzz-corpus-")
    for number, seed in enumerate(SEEDS):
        Path(directory, f"seed-{number}").write_text(seed, encoding="utf-8")
    return directory


def _instrument(modules: tuple[str, ...]) -> bool:
    """Add atheris's coverage instrumentation to the loaded code (``modules`` imported
    first); False when atheris is not installed."""
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return False
    for module in modules:
        __import__(module)
    atheris.instrument_all()  # the modules are imported already (this file imports them)
    return True


def _fuzz(runs: int, one_input: Callable[[bytes], None], *, atheris_ready: bool) -> int:
    if not atheris_ready:
        return _fuzz_with_hypothesis(runs, one_input)
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    atheris.Setup(
        [sys.argv[0], f"-runs={runs}", "-max_len=8192", "-print_final_stats=1", _corpus()],
        one_input,
    )
    atheris.Fuzz()  # exits the process: 0 after `runs` inputs, non-zero on a crash
    return 0


def _fuzz_with_hypothesis(runs: int, one_input: Callable[[bytes], None]) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    inputs = st.one_of(st.binary(max_size=2048), st.sampled_from(SEEDS).map(str.encode))

    @settings(max_examples=runs, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(inputs)
    def run(data: bytes) -> None:
        one_input(data)

    run()
    return 0


def fuzz_parser(runs: int) -> int:
    ready = _instrument(("syncwatch.core.protocol",))
    return _fuzz(runs, check_parse, atheris_ready=ready)


#: The hub's stored updates are checked every this many inputs (libFuzzer ends the
#: process after the last input, so there is no "after").
_STORE_CHECK_EVERY: Final = 10_000


def fuzz_hub(runs: int) -> int:
    ready = _instrument(("syncwatch.core.protocol", "syncwatch.hub"))
    with probed_hub() as (probe, data_dir):
        count = 0

        def one_input(data: bytes) -> None:
            nonlocal count
            probe.send(data.decode("utf-8", errors="replace"))
            count += 1
            if count % _STORE_CHECK_EVERY == 0 or count == runs:
                check_stored_updates(data_dir / "events.sqlite3")
                print(f"hub: {count} inputs, {probe.acks} acked, {probe.errors} errors, "
                      f"{probe.closes} closes, {probe.unparseable_errors} unparseable error "
                      "frames (known bug); every stored update valid", flush=True)  # fmt: skip

        return _fuzz(runs, one_input, atheris_ready=ready)


TARGETS: Final[dict[str, Callable[[int], int]]] = {"parser": fuzz_parser, "hub": fuzz_hub}
