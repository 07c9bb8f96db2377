"""The Syncwatch wire format (docs/protocol.md), as typed immutable frames.

This module is the one place that turns bytes from the network into frames and frames
into bytes. It never does I/O: the hub, the client engine and the Reporter feed it the
text of each WebSocket message and send what it encodes.

Every malformed input raises :class:`ProtocolError`, naming the field and the reason,
and nothing else: the hub answers a publisher with that message, a client drops the
frame and resynchronises. A property test feeds it arbitrary bytes to hold it to that.

Speed matters (the hub parses every update it accepts, the client every update it
receives): frames are decoded with orjson, which already refuses NaN/Infinity and
invalid UTF-8, and validated by hand-written code rather than a schema library. JSON
objects with a repeated key (``{"status": "failed", "status": "completed"}``) are
ambiguous and refused; detecting them costs one ``bytes.count`` on the fast path (see
:func:`_check_duplicate_keys`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple, TypeAlias

import orjson

PROTOCOL_VERSION: Final = 1

#: Frames from publishers and viewers larger than this are refused (the hub closes with
#: 1009 before parsing).
MAX_FRAME_BYTES: Final = 64 * 1024
#: The hub's own frames may be larger: a snapshot carries every live operation (about
#: 250 bytes each). Clients accept up to this much from the hub.
MAX_HUB_FRAME_BYTES: Final = 64 * 1024 * 1024
#: Upper bound on updates in one batch frame from a publisher.
MAX_BATCH_UPDATES: Final = 1000

MAX_OPERATION_ID_LEN: Final = 256
MAX_OPERATION_TYPE_LEN: Final = 32
MAX_ITEM_LEN: Final = 4096
MAX_ERROR_LEN: Final = 4096
MAX_SOURCE_LEN: Final = 128
MAX_HUB_ID_LEN: Final = 64
MAX_DETAIL_LEN: Final = 4096
#: Largest integer accepted for seq, counters and byte counts (JSON-safe in every language).
MAX_SAFE_INT: Final = 2**53 - 1


class Status(StrEnum):
    """Where an operation is in its life. Terminal statuses may still be followed by a
    retry (``failed -> in_progress``), which the reducer counts as a new attempt."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL: Final = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
_STATUSES: Final[dict[str, Status]] = {s.value: s for s in Status}

#: The operation types the product knows by name; any other short lowercase name is allowed.
KNOWN_OPERATION_TYPES: Final = ("upload", "download", "delete", "metadata", "scan")


class ProtocolError(ValueError):
    """A frame that does not follow docs/protocol.md.

    ``field`` is the JSON path of the offending value (``"progress"``,
    ``"updates[3].status"``) or None when the frame as a whole is wrong; ``code`` is a
    stable machine-readable word sent back to publishers in ``error`` frames.
    """

    def __init__(self, reason: str, *, field: str | None = None, code: str = "invalid") -> None:
        self.field = field
        self.reason = reason
        self.code = code
        super().__init__(f"{field}: {reason}" if field else reason)


# --------------------------------------------------------------------------- frames


class SyncUpdate(NamedTuple):
    """One report about one operation.

    From a publisher ``seq`` is None (the hub assigns it); from the hub it is the
    update's position in the hub's event log, +1 per accepted update. ``counter`` is
    the publisher's own monotonically increasing number for this update: the hub uses
    (operation_id, counter) to acknowledge a resent update once instead of storing it
    twice. ``timestamp_us`` is microseconds since the Unix epoch, UTC, so that an update
    survives an encode/parse round trip unchanged.

    A NamedTuple rather than a frozen dataclass: it is just as immutable and typed, and
    building one costs a quarter of the time, which matters at 20,000 updates a second.
    """

    operation_id: str
    operation_type: str
    status: Status
    progress: float
    timestamp_us: int
    seq: int | None = None
    item: str | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    error: str | None = None
    source: str | None = None
    counter: int | None = None

    @property
    def timestamp(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        return self.timestamp_us / 1_000_000


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame from the hub on every connection: which log it serves and how far it is."""

    hub_id: str
    seq: int
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A viewer's request for everything after ``since`` in the log named ``hub_id``.

    ``since=None`` (or a hub_id that is not the hub's) asks for a snapshot."""

    since: int | None = None
    hub_id: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The current state of every non-expired operation, as of log position ``seq``.

    Each operation is the latest update about it (its ``seq`` is that update's)."""

    seq: int
    operations: tuple[SyncUpdate, ...]
    hub_id: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Several updates in one frame: publishers send them to save round trips, the hub to
    viewers when traffic is high."""

    updates: tuple[SyncUpdate, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    """The hub's answer to a publisher: the update is durably in the log at ``seq``.

    ``duplicate`` is true when the update had been accepted before (same operation_id
    and counter): it is not stored again."""

    seq: int
    operation_id: str
    counter: int | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """The hub's answer to an invalid frame; the connection stays open."""

    code: str
    detail: str
    field: str | None = None
    operation_id: str | None = None
    counter: int | None = None


Frame: TypeAlias = Hello | Subscribe | Snapshot | SyncUpdate | Batch | Ack | ErrorFrame


# --------------------------------------------------------------------------- parsing


def parse_frame(
    data: str | bytes | bytearray | memoryview, *, max_bytes: int = MAX_FRAME_BYTES
) -> Frame:
    """Parse one WebSocket text message into a frame, or raise ProtocolError.

    ``max_bytes`` is the size limit: the default suits frames a hub receives; clients
    reading the hub's frames pass MAX_HUB_FRAME_BYTES (snapshots can be large)."""
    raw = _as_bytes(data)
    obj = _loads(raw, max_bytes)
    if not isinstance(obj, dict):
        raise ProtocolError("a frame must be a JSON object", code="invalid_json")
    frame_type = obj.get("type")
    parse = _PARSERS.get(frame_type) if isinstance(frame_type, str) else None
    if parse is None:
        if "type" not in obj:
            raise ProtocolError("missing", field="type")
        raise ProtocolError(
            f"unknown frame type {_show(frame_type)}", field="type", code="unknown_type"
        )
    counter = _KeyCounter()
    frame = parse(obj, counter)
    _check_duplicate_keys(raw, counter.quotes)
    return frame


def parse_update(
    data: str | bytes | bytearray | memoryview, *, from_publisher: bool = False
) -> SyncUpdate:
    """Parse a message that must be a single ``sync_update``."""
    frame = parse_frame(data)
    if not isinstance(frame, SyncUpdate):
        raise ProtocolError("expected a sync_update frame", field="type", code="unexpected_type")
    if from_publisher and frame.seq is not None:
        raise ProtocolError("assigned by the hub; publishers must not send it", field="seq")
    return frame


def update_from_dict(obj: Mapping[str, Any], *, path: str = "") -> SyncUpdate:
    """Validate an already-decoded JSON object as a sync_update (used for stored states)."""
    if not isinstance(obj, dict):
        raise ProtocolError("must be an object", field=path or None)
    return _parse_update(obj, _KeyCounter(), path)


def _as_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise ProtocolError("text is not valid UTF-8", code="invalid_json") from exc
    return bytes(data)


def _loads(raw: bytes, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise ProtocolError(
            f"frame of {len(raw)} bytes exceeds the {max_bytes}-byte limit", code="too_big"
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON ({exc})", code="invalid_json") from None
    except RecursionError:  # pragma: no cover - orjson limits depth itself
        raise ProtocolError("JSON nested too deeply", code="invalid_json") from None


class _KeyCounter:
    """Counts, while validating, how many quote characters the raw text must contain if
    no key is repeated (see _check_duplicate_keys)."""

    __slots__ = ("quotes",)

    def __init__(self) -> None:
        self.quotes = 0

    def add_object(self, obj: dict[str, Any]) -> None:
        quotes = 0
        for key, value in obj.items():
            quotes += 2 + key.count('"')
            if isinstance(value, str):
                quotes += 2 + value.count('"')
        self.quotes += quotes


def _check_duplicate_keys(raw: bytes, quotes: int) -> None:
    """Refuse JSON objects that repeat a key, at the cost of one bytes.count.

    orjson (like json) silently keeps the last of repeated keys. A validated frame whose
    decoded keys and string values account for every quote character in the raw text
    cannot have lost a key to repetition (a lost key takes its two quotes with it), unless
    a ``\\u0022`` escape adds a decoded quote that the raw text lacks. Only when the counts
    differ or the text has a ``\\u`` escape do we pay for a second, pair-preserving parse
    that says which key was repeated.
    """
    if raw.count(b'"') == quotes and b"\\u" not in raw:
        return
    import json  # noqa: PLC0415 - only on the rare slow path

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ProtocolError("repeated key in a JSON object", field=_key_name(key))
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=hook)
    except ProtocolError:
        raise
    except (ValueError, RecursionError):  # pragma: no cover - orjson accepted it already
        raise ProtocolError("not valid JSON", code="invalid_json") from None


# Field readers: each returns the validated value or raises ProtocolError naming the field.


#: Longest key name echoed back in an error; longer (hostile) names are shortened.
_MAX_KEY_SHOWN: Final = 64


def _key_name(key: str) -> str:
    """A key from the wire, safe to put in an error frame's ``field``: a hostile key (control
    characters, kilobytes long) is shown escaped and shortened, so the error frame that
    names it is itself a valid frame."""
    if len(key) <= _MAX_KEY_SHOWN and key.isprintable():
        return key
    shown = ascii(key)[1:-1]
    return shown if len(shown) <= _MAX_KEY_SHOWN else shown[: _MAX_KEY_SHOWN - 3] + "..."


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _req_str(obj: dict[str, Any], key: str, path: str, max_len: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        if value is None and key not in obj:
            raise ProtocolError("missing", field=path + key)
        raise ProtocolError(f"must be a string, got {_kind(value)}", field=path + key)
    return _check_str(value, key, path, max_len)


def _opt_str(obj: dict[str, Any], key: str, path: str, max_len: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"must be a string or null, got {_kind(value)}", field=path + key)
    return _check_str(value, key, path, max_len)


_CONTROL_CHARS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_str(value: str, key: str, path: str, max_len: int) -> str:
    if len(value) > max_len:
        raise ProtocolError(
            f"string of {len(value)} characters exceeds the {max_len}-character limit",
            field=path + key,
        )
    if _CONTROL_CHARS.search(value):
        raise ProtocolError("contains control characters", field=path + key)
    return value


def _int(value: object, key: str, path: str, *, minimum: int = 0) -> int:
    # bool is an int subclass: true/false are not numbers on the wire.
    if type(value) is not int:
        raise ProtocolError(f"must be an integer, got {_kind(value)}", field=path + key)
    if not minimum <= value <= MAX_SAFE_INT:
        raise ProtocolError(f"{value} is outside {minimum}..{MAX_SAFE_INT}", field=path + key)
    return value


def _req_int(obj: dict[str, Any], key: str, path: str, *, minimum: int = 0) -> int:
    if key not in obj:
        raise ProtocolError("missing", field=path + key)
    return _int(obj[key], key, path, minimum=minimum)


def _opt_int(obj: dict[str, Any], key: str, path: str, *, minimum: int = 0) -> int | None:
    value = obj.get(key)
    return None if value is None else _int(value, key, path, minimum=minimum)


def _kind(value: object) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


_OPERATION_TYPE: Final = re.compile(r"[a-z][a-z0-9_.-]{0,31}\Z")
_OPERATION_TYPE_CHECK: Final = _OPERATION_TYPE.match

# RFC 3339 date-time: a 'T' (or space, which RFC 3339 allows), seconds, an offset or Z.
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str, *, field: str = "timestamp") -> int:
    """Parse an RFC 3339 date-time into microseconds since the epoch (UTC).

    Fractions beyond microseconds are truncated; a leap second (``:60``) is read as the
    last microsecond of its minute rather than refused, as RFC 3339 permits it.

    Updates arrive many to a second with UTC timestamps, so the whole-second part of
    ``...Z`` timestamps is memoised (a bounded dict): the fast path only checks and adds
    the fraction.
    """
    if len(text) >= 20 and text[-1] in "Zz":
        base = _SECONDS_CACHE.get(text[:19])
        if base is not None:
            fraction = text[19:-1]
            if not fraction:
                return base
            digits = fraction[1:]
            if (
                fraction[0] == "."
                and 0 < len(digits) <= 9
                and digits.isascii()
                and digits.isdigit()
            ):
                return base + int((digits + "00000")[:6])
    return _parse_timestamp_slow(text, field)


def _parse_timestamp_slow(text: str, field: str) -> int:
    match = _RFC3339.match(text)
    if match is None:
        raise ProtocolError(f"{_show(text)} is not an RFC 3339 date-time", field=field)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    micros = int((fraction + "00000")[:6]) if fraction else 0
    leap = second == 60
    if leap:
        second, micros = 59, 999_999
    try:
        moment = datetime(year, month, day, hour, minute, second, 0, tzinfo=UTC)
    except ValueError as exc:
        raise ProtocolError(
            f"{_show(text)} is not a valid date-time ({exc})", field=field
        ) from None
    offset_min = 0
    if not zulu:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            raise ProtocolError(f"{_show(text)} has an invalid UTC offset", field=field)
        offset_min = (oh * 60 + om) * (1 if sign == "+" else -1)
    delta = moment - _EPOCH
    whole = (delta.days * 86_400 + delta.seconds - offset_min * 60) * 1_000_000
    if zulu and not leap:
        if len(_SECONDS_CACHE) >= _SECONDS_CACHE_SIZE:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[text[:19]] = whole
    return whole + micros


_SECONDS_CACHE: dict[str, int] = {}
_SECONDS_CACHE_SIZE: Final = 4096


def format_timestamp(timestamp_us: int) -> str:
    """Format microseconds since the epoch as RFC 3339 UTC with millisecond or microsecond
    precision (the shortest that is exact)."""
    seconds, micros = divmod(timestamp_us, 1_000_000)
    days, rem = divmod(seconds, 86_400)
    date = datetime.fromordinal(_EPOCH_ORDINAL + days)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    frac = f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}T{hh:02d}:{mm:02d}:{ss:02d}{frac}Z"


_EPOCH_ORDINAL: Final = _EPOCH.toordinal()

_UPDATE_KEYS: Final = frozenset(
    {
        "type",
        "seq",
        "operation_id",
        "operation_type",
        "status",
        "progress",
        "timestamp",
        "item",
        "bytes_done",
        "bytes_total",
        "error",
        "source",
        "counter",
    }
)


def _parse_update(obj: dict[str, Any], counter: _KeyCounter, path: str = "") -> SyncUpdate:
    """Validate one update object. Written for speed: the common all-valid case runs
    straight through with inline checks; each failing check hands over to the readers
    above, which build the precise error."""
    if not _UPDATE_KEYS.issuperset(obj):
        for key in obj:
            if key not in _UPDATE_KEYS:
                raise ProtocolError("unknown field", field=path + _key_name(key))
    get = obj.get
    operation_id = get("operation_id")
    if type(operation_id) is not str or not 0 < len(operation_id) <= MAX_OPERATION_ID_LEN:
        operation_id = _req_str(obj, "operation_id", path, MAX_OPERATION_ID_LEN)
        raise ProtocolError("must not be empty", field=path + "operation_id")
    operation_type = get("operation_type")
    if type(operation_type) is not str or _OPERATION_TYPE_CHECK(operation_type) is None:
        operation_type = _req_str(obj, "operation_type", path, MAX_OPERATION_TYPE_LEN)
        raise ProtocolError(
            f"{_show(operation_type)} is not a short lowercase name (upload, download, ...)",
            field=path + "operation_type",
        )
    status_value = get("status")
    status = _STATUSES.get(status_value) if type(status_value) is str else None
    if status is None:
        status_text = _req_str(obj, "status", path, 16)
        raise ProtocolError(
            f"unknown status {_show(status_text)} (expected one of {', '.join(_STATUSES)})",
            field=path + "status",
        )
    progress = get("progress")
    if type(progress) is not float or not 0.0 <= progress <= 100.0:
        progress = _progress(obj, path)
    timestamp = get("timestamp")
    if type(timestamp) is not str or len(timestamp) > 40:
        timestamp = _req_str(obj, "timestamp", path, 40)
    timestamp_us = parse_timestamp(timestamp, field=path + "timestamp")
    seq = get("seq")
    if seq is not None and (type(seq) is not int or not 0 < seq <= MAX_SAFE_INT):
        seq = _int(seq, "seq", path, minimum=1)
    bytes_done = get("bytes_done")
    if bytes_done is not None and (
        type(bytes_done) is not int or not 0 <= bytes_done <= MAX_SAFE_INT
    ):
        bytes_done = _int(bytes_done, "bytes_done", path)
    bytes_total = get("bytes_total")
    if bytes_total is not None:
        if type(bytes_total) is not int or not 0 <= bytes_total <= MAX_SAFE_INT:
            bytes_total = _int(bytes_total, "bytes_total", path)
        if bytes_done is not None and bytes_done > bytes_total:
            raise ProtocolError(
                f"{bytes_done} exceeds bytes_total {bytes_total}", field=path + "bytes_done"
            )
    update_counter = get("counter")
    if update_counter is not None and (
        type(update_counter) is not int or not 0 <= update_counter <= MAX_SAFE_INT
    ):
        update_counter = _int(update_counter, "counter", path)
    item = get("item")
    error = get("error")
    source = get("source")
    # Strings that can carry free text are checked for length and control characters.
    quotes = 2 * len(obj)
    for key, text, limit in (
        ("operation_id", operation_id, MAX_OPERATION_ID_LEN),
        ("item", item, MAX_ITEM_LEN),
        ("error", error, MAX_ERROR_LEN),
        ("source", source, MAX_SOURCE_LEN),
    ):
        if text is None:
            continue
        if type(text) is not str:
            _opt_str(obj, key, path, limit)
        if len(text) > limit or _CONTROL_CHARS.search(text) is not None:
            _check_str(text, key, path, limit)
        quotes += 2 + (text.count('"') if '"' in text else 0)
    frame_type = get("type")
    if frame_type is not None:
        quotes += 2
    counter.quotes += quotes + 6  # the values of operation_type, status and timestamp
    return SyncUpdate(
        operation_id,
        operation_type,
        status,
        progress,
        timestamp_us,
        seq,
        item,
        bytes_done,
        bytes_total,
        error,
        source,
        update_counter,
    )


def _progress(obj: dict[str, Any], path: str) -> float:
    if "progress" not in obj:
        raise ProtocolError("missing", field=path + "progress")
    progress = obj["progress"]
    if type(progress) is int:
        progress = float(progress)
    elif type(progress) is not float:
        raise ProtocolError(f"must be a number, got {_kind(progress)}", field=path + "progress")
    if not 0.0 <= progress <= 100.0:
        raise ProtocolError(f"{progress} is outside 0..100", field=path + "progress")
    return float(progress)


def _updates_list(obj: dict[str, Any], key: str, counter: _KeyCounter) -> tuple[SyncUpdate, ...]:
    items = obj.get(key)
    if not isinstance(items, list):
        if key not in obj:
            raise ProtocolError("missing", field=key)
        raise ProtocolError(f"must be an array, got {_kind(items)}", field=key)
    updates = []
    for index, item in enumerate(items):
        item_path = f"{key}[{index}]."
        if not isinstance(item, dict):
            raise ProtocolError(f"must be an object, got {_kind(item)}", field=item_path[:-1])
        update_type = item.get("type", "sync_update")
        if update_type != "sync_update":
            raise ProtocolError("must be 'sync_update' or absent", field=item_path + "type")
        updates.append(_parse_update(item, counter, item_path))
    return tuple(updates)


def _only(obj: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise ProtocolError("unknown field", field=_key_name(key))


def _parse_hello(obj: dict[str, Any], counter: _KeyCounter) -> Hello:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "protocol", "hub_id", "seq"}))
    return Hello(
        hub_id=_hub_id(_req_str(obj, "hub_id", "", MAX_HUB_ID_LEN), "hub_id"),
        seq=_req_int(obj, "seq", ""),
        protocol=_req_int(obj, "protocol", "", minimum=1),
    )


def _hub_id(value: str, field: str) -> str:
    if not value:
        raise ProtocolError("must not be empty", field=field)
    return value


def _parse_subscribe(obj: dict[str, Any], counter: _KeyCounter) -> Subscribe:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "since", "hub_id"}))
    hub_id = _opt_str(obj, "hub_id", "", MAX_HUB_ID_LEN)
    return Subscribe(since=_opt_int(obj, "since", ""), hub_id=hub_id or None)


def _parse_snapshot(obj: dict[str, Any], counter: _KeyCounter) -> Snapshot:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "seq", "operations", "hub_id"}))
    return Snapshot(
        seq=_req_int(obj, "seq", ""),
        operations=_updates_list(obj, "operations", counter),
        hub_id=_opt_str(obj, "hub_id", "", MAX_HUB_ID_LEN),
    )


def _parse_batch(obj: dict[str, Any], counter: _KeyCounter) -> Batch:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "updates"}))
    updates = _updates_list(obj, "updates", counter)
    if not updates:
        raise ProtocolError("must not be empty", field="updates")
    return Batch(updates=updates)


def _parse_single_update(obj: dict[str, Any], counter: _KeyCounter) -> SyncUpdate:
    return _parse_update(obj, counter)


def _parse_ack(obj: dict[str, Any], counter: _KeyCounter) -> Ack:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "seq", "operation_id", "counter", "duplicate"}))
    duplicate = obj.get("duplicate", False)
    if not isinstance(duplicate, bool):
        raise ProtocolError(f"must be a boolean, got {_kind(duplicate)}", field="duplicate")
    return Ack(
        seq=_req_int(obj, "seq", "", minimum=1),
        operation_id=_req_str(obj, "operation_id", "", MAX_OPERATION_ID_LEN),
        counter=_opt_int(obj, "counter", ""),
        duplicate=duplicate,
    )


def _parse_error(obj: dict[str, Any], counter: _KeyCounter) -> ErrorFrame:
    counter.add_object(obj)
    _only(obj, frozenset({"type", "code", "detail", "field", "operation_id", "counter"}))
    return ErrorFrame(
        code=_req_str(obj, "code", "", 64),
        detail=_req_str(obj, "detail", "", MAX_DETAIL_LEN),
        field=_opt_str(obj, "field", "", 256),
        operation_id=_opt_str(obj, "operation_id", "", MAX_OPERATION_ID_LEN),
        counter=_opt_int(obj, "counter", ""),
    )


_PARSERS: Final[dict[str, Callable[[dict[str, Any], _KeyCounter], Frame]]] = {
    "sync_update": _parse_single_update,
    "batch": _parse_batch,
    "hello": _parse_hello,
    "subscribe": _parse_subscribe,
    "snapshot": _parse_snapshot,
    "ack": _parse_ack,
    "error": _parse_error,
}


# --------------------------------------------------------------------------- encoding


def update_to_dict(update: SyncUpdate, *, with_type: bool = True) -> dict[str, Any]:
    """The JSON object of an update; optional fields that are None are left out."""
    out: dict[str, Any] = {"type": "sync_update"} if with_type else {}
    if update.seq is not None:
        out["seq"] = update.seq
    out["operation_id"] = update.operation_id
    out["operation_type"] = update.operation_type
    out["status"] = update.status.value
    out["progress"] = update.progress
    out["timestamp"] = format_timestamp(update.timestamp_us)
    if update.item is not None:
        out["item"] = update.item
    if update.bytes_done is not None:
        out["bytes_done"] = update.bytes_done
    if update.bytes_total is not None:
        out["bytes_total"] = update.bytes_total
    if update.error is not None:
        out["error"] = update.error
    if update.source is not None:
        out["source"] = update.source
    if update.counter is not None:
        out["counter"] = update.counter
    return out


def frame_to_dict(frame: Frame) -> dict[str, Any]:
    """The JSON object of any frame."""
    if isinstance(frame, SyncUpdate):
        return update_to_dict(frame)
    if isinstance(frame, Batch):
        return {"type": "batch", "updates": [update_to_dict(u) for u in frame.updates]}
    if isinstance(frame, Hello):
        return {
            "type": "hello",
            "protocol": frame.protocol,
            "hub_id": frame.hub_id,
            "seq": frame.seq,
        }
    if isinstance(frame, Subscribe):
        return {"type": "subscribe", "since": frame.since, "hub_id": frame.hub_id}
    if isinstance(frame, Snapshot):
        out: dict[str, Any] = {
            "type": "snapshot",
            "seq": frame.seq,
            "operations": [update_to_dict(u) for u in frame.operations],
        }
        if frame.hub_id is not None:
            out["hub_id"] = frame.hub_id
        return out
    if isinstance(frame, Ack):
        ack: dict[str, Any] = {"type": "ack", "seq": frame.seq, "operation_id": frame.operation_id}
        if frame.counter is not None:
            ack["counter"] = frame.counter
        if frame.duplicate:
            ack["duplicate"] = True
        return ack
    error: dict[str, Any] = {"type": "error", "code": frame.code, "detail": frame.detail}
    for key in ("field", "operation_id", "counter"):
        value = getattr(frame, key)
        if value is not None:
            error[key] = value
    return error


def encode_frame(frame: Frame) -> bytes:
    """UTF-8 JSON of a frame, ready to send as a WebSocket *text* message."""
    return _exact_size(orjson.dumps(frame_to_dict(frame)))


def encode_update(update: SyncUpdate) -> bytes:
    """UTF-8 JSON of one sync_update frame (the hot path of the hub's broadcast)."""
    return _exact_size(orjson.dumps(update_to_dict(update)))


def _exact_size(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size.

    orjson returns a short result inside the 4 KiB buffer it wrote it in: a 250-byte
    update costs 4,097 bytes for as long as it is held (measured with tracemalloc). Updates
    and acks are held by the thousand - a publisher's unacked updates, a hub's updates
    waiting for their group commit and their acks - so a 14,000-update burst held 57 MiB
    instead of 4. The copy costs ~0.1 us against ~1 us for the encoding."""
    return bytes(memoryview(data))


def encode_batch(updates: Sequence[SyncUpdate]) -> bytes:
    return orjson.dumps({"type": "batch", "updates": [update_to_dict(u) for u in updates]})


def encode_prepared_batch(encoded_updates: Sequence[bytes]) -> bytes:
    """A batch frame from updates already encoded with encode_update, without re-encoding
    them: the hub encodes each update once and reuses the bytes for every viewer."""
    return b'{"type":"batch","updates":[' + b",".join(encoded_updates) + b"]}"


def updates_of(frame: Frame) -> tuple[SyncUpdate, ...]:
    """The updates a frame carries: one for sync_update, all for batch, none otherwise."""
    if isinstance(frame, SyncUpdate):
        return (frame,)
    if isinstance(frame, Batch):
        return frame.updates
    return ()


def with_seq(update: SyncUpdate, seq: int, source: str | None = None) -> SyncUpdate:
    """The update as the hub stores it: with its log position and the publisher's id."""
    return SyncUpdate(
        operation_id=update.operation_id,
        operation_type=update.operation_type,
        status=update.status,
        progress=update.progress,
        timestamp_us=update.timestamp_us,
        seq=seq,
        item=update.item,
        bytes_done=update.bytes_done,
        bytes_total=update.bytes_total,
        error=update.error,
        source=update.source if update.source is not None else source,
        counter=update.counter,
    )
