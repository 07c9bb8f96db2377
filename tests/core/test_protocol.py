"""The wire format: what is accepted, what is refused and why, and that encoding round-trips."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Batch,
    ErrorFrame,
    Hello,
    ProtocolError,
    Snapshot,
    Status,
    Subscribe,
    SyncUpdate,
    encode_frame,
    encode_prepared_batch,
    encode_update,
    format_timestamp,
    parse_frame,
    parse_timestamp,
    parse_update,
    update_from_dict,
    updates_of,
    with_seq,
)

VALID = {
    "type": "sync_update",
    "seq": 7,
    "operation_id": "op-1",
    "operation_type": "upload",
    "status": "in_progress",
    "progress": 42.5,
    "timestamp": "2026-12-03T13:21:35.123Z",
    "item": "Photos/2026/IMG_0042.HEIC",
    "bytes_done": 1024,
    "bytes_total": 4096,
}


def frame(**changes: object) -> bytes:
    obj = {**VALID, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


def refusal(data: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_frame(data)
    return info.value


def test_valid_update_parses_into_typed_fields() -> None:
    update = parse_frame(frame())
    assert isinstance(update, SyncUpdate)
    assert update.status is Status.IN_PROGRESS
    assert update.progress == 42.5
    assert update.seq == 7
    assert update.bytes_done == 1024
    assert format_timestamp(update.timestamp_us) == "2026-12-03T13:21:35.123Z"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"operation_id": ...}, "operation_id", "missing"),
        ({"operation_id": 5}, "operation_id", "must be a string"),
        ({"operation_id": ""}, "operation_id", "empty"),
        ({"status": "done"}, "status", "unknown status"),
        ({"status": None}, "status", "must be a string"),
        ({"progress": 100.5}, "progress", "outside 0..100"),
        ({"progress": -1}, "progress", "outside 0..100"),
        ({"progress": "50"}, "progress", "must be a number"),
        ({"progress": True}, "progress", "must be a number"),
        ({"progress": ...}, "progress", "missing"),
        ({"timestamp": "2026-12-03 13:21"}, "timestamp", "RFC 3339"),
        ({"timestamp": "2026-12-03T13:21:35"}, "timestamp", "RFC 3339"),
        ({"timestamp": "2026-02-30T00:00:00Z"}, "timestamp", "not a valid date-time"),
        ({"timestamp": 1733232095}, "timestamp", "must be a string"),
        ({"operation_type": "Upload!"}, "operation_type", "short lowercase name"),
        ({"item": "x" * 5000}, "item", "exceeds the 4096-character limit"),
        ({"item": "bad\u0000name"}, "item", "control characters"),
        ({"seq": 0}, "seq", "outside"),
        ({"seq": 1.5}, "seq", "must be an integer"),
        ({"bytes_done": 5000}, "bytes_done", "exceeds bytes_total"),
        ({"bytes_total": -1}, "bytes_total", "outside"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_malformed_update_names_field_and_reason(
    changes: dict[str, object], field: str, words: str
) -> None:
    error = refusal(frame(**changes))
    assert error.field == field
    assert words in error.reason


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"hello"', "JSON object"),
        (b'{"type":"sync_update","progress":NaN}', "not valid JSON"),
        (b'{"type":"sync_update","progress":Infinity}', "not valid JSON"),
        (b'{"type":"gossip"}', "unknown frame type"),
        (b'{"seq":1}', "missing"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_garbage_is_refused_with_a_reason(data: bytes, words: str) -> None:
    assert words in str(refusal(data))


def test_repeated_key_is_refused() -> None:
    data = frame().replace(b'"status": "in_progress"', b'"status": "failed", "status": "completed"')
    error = refusal(data)
    assert error.field == "status"
    assert "repeated key" in error.reason


def test_repeated_key_hidden_behind_unicode_escapes_is_still_refused() -> None:
    data = frame(item="\u0022\u0022").replace(b'"seq": 7', b'"seq": 1, "seq": 7')
    assert "repeated key" in refusal(data).reason


def test_escaped_quotes_in_values_are_not_mistaken_for_repeated_keys() -> None:
    update = parse_frame(frame(item='say "cheese".jpg', error='he said "\u0022no"'))
    assert isinstance(update, SyncUpdate)
    assert update.item == 'say "cheese".jpg'


def test_oversized_frame_is_refused_before_parsing() -> None:
    error = refusal(b" " * (MAX_FRAME_BYTES + 1))
    assert error.code == "too_big"


def test_publisher_updates_must_not_carry_seq() -> None:
    with pytest.raises(ProtocolError, match="assigned by the hub"):
        parse_update(frame(), from_publisher=True)
    assert parse_update(frame(seq=...), from_publisher=True).seq is None


def test_batch_errors_name_the_position() -> None:
    data = json.dumps({"type": "batch", "updates": [VALID, {**VALID, "status": "nope"}]})
    assert refusal(data).field == "updates[1].status"
    assert refusal('{"type":"batch","updates":[]}').field == "updates"
    assert refusal('{"type":"batch","updates":[3]}').field == "updates[0]"


def test_timestamps_with_offsets_are_normalised_to_utc() -> None:
    assert parse_timestamp("2026-12-03T15:21:35.5+02:00") == parse_timestamp(
        "2026-12-03T13:21:35.500Z"
    )
    assert format_timestamp(parse_timestamp("2026-12-03T13:21:35.123456Z")).endswith(".123456Z")
    # A leap second is read as the last microsecond of its minute, not refused.
    assert parse_timestamp("2016-12-31T23:59:60Z") == parse_timestamp("2016-12-31T23:59:59.999999Z")
    # The memoised fast path still checks the fraction.
    parse_timestamp("2026-12-03T13:21:35Z")
    with pytest.raises(ProtocolError):
        parse_timestamp("2026-12-03T13:21:35.x1Z")


def test_every_frame_kind_round_trips() -> None:
    update = parse_update(frame())
    frames = [
        update,
        Batch(updates=(update, with_seq(update, 8, source="nas"))),
        Hello(hub_id="h1", seq=9),
        Subscribe(since=3, hub_id="h1"),
        Subscribe(),
        Snapshot(seq=9, operations=(update,), hub_id="h1"),
        Ack(seq=8, operation_id="op-1", counter=3, duplicate=True),
        ErrorFrame(code="invalid", detail="progress: outside", field="progress", counter=3),
    ]
    for original in frames:
        assert parse_frame(encode_frame(original)) == original


def test_prepared_batch_equals_encoded_batch() -> None:
    update = parse_update(frame())
    prepared = encode_prepared_batch([encode_update(update), encode_update(update)])
    parsed = parse_frame(prepared)
    assert updates_of(parsed) == (update, update)


def test_update_from_dict_validates_stored_states() -> None:
    assert update_from_dict({**VALID}).operation_id == "op-1"
    with pytest.raises(ProtocolError):
        update_from_dict({**VALID, "status": "x"})


# ---------------------------------------------------------------- properties

updates = st.builds(
    SyncUpdate,
    operation_id=st.text(min_size=1, max_size=40).filter(lambda s: s.isprintable()),
    operation_type=st.sampled_from(["upload", "download", "delete", "metadata", "scan", "x-y"]),
    status=st.sampled_from(list(Status)),
    progress=st.floats(min_value=0, max_value=100, allow_nan=False),
    timestamp_us=st.integers(min_value=0, max_value=253_402_300_799_000_000),
    seq=st.none() | st.integers(min_value=1, max_value=2**53 - 1),
    item=st.none() | st.text(max_size=100).filter(lambda s: s.isprintable()),
    bytes_done=st.none(),
    bytes_total=st.none() | st.integers(min_value=0, max_value=2**53 - 1),
    error=st.none() | st.text(max_size=50).filter(lambda s: s.isprintable()),
    source=st.none() | st.text(max_size=20).filter(lambda s: s.isprintable()),
    counter=st.none() | st.integers(min_value=0, max_value=2**53 - 1),
)


@given(updates)
@settings(max_examples=300)
def test_encoding_round_trips(update: SyncUpdate) -> None:
    assert parse_frame(encode_update(update)) == update


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_parser_raises_only_protocol_error_on_any_bytes(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_frame(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


KEYS = [*sorted(VALID), "counter", "source", "x"]


@given(st.dictionaries(st.sampled_from(KEYS), json_values))
@settings(max_examples=500)
def test_parser_raises_only_protocol_error_on_any_json_object(obj: dict[str, object]) -> None:
    for candidate in (obj, {**VALID, **obj}):
        with contextlib.suppress(ProtocolError):
            parse_frame(json.dumps(candidate))


def test_encoded_updates_and_acks_take_their_own_size_in_memory() -> None:
    """orjson writes into a 4 KiB buffer; held by the thousand (unacked, pending commit),
    those buffers made a hub hold 57 MiB for a 14,000-update burst instead of 4."""
    import tracemalloc

    update = SyncUpdate("op-1", "upload", Status.IN_PROGRESS, 42.5, 1_800_000_000_000_000, seq=7)
    ack = Ack(seq=7, operation_id="op-1", counter=3)
    tracemalloc.start()
    try:
        held = [encode_update(update) for _ in range(1000)]
        held += [encode_frame(ack) for _ in range(1000)]
        per_frame = tracemalloc.get_traced_memory()[0] / len(held)
    finally:
        tracemalloc.stop()
    assert per_frame < 4 * max(len(frame) for frame in held), per_frame
