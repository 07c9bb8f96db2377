"""Writing the audit trail to CSV or JSON, streamed row by row.

A million events never sit in memory: rows come from the database cursor in pages and
go straight to the file. The file is written under a temporary name and renamed at the
end, so a failed or interrupted export never leaves a half-written file behind under
the name the user chose.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TypeAlias

import orjson

from syncwatch.client.store.rows import EventRow

ExportFormat: TypeAlias = Literal["csv", "json"]
FORMATS: Final = ("csv", "json")
#: Columns in the order they are written; ``time`` is the ISO 8601 form of ``at``.
HEADER: Final = ("time", *EventRow._fields)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def export_events(rows: Iterable[EventRow], path: Path, fmt: ExportFormat) -> int:
    """Write ``rows`` to ``path`` in ``fmt`` ("csv" or "json"); returns rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    tmp = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            if fmt == "csv":
                writer = csv.writer(out)
                writer.writerow(HEADER)
                for row in rows:
                    writer.writerow((_iso(row.at), *row))
                    written += 1
            else:
                out.write("[")
                for row in rows:
                    record = dict(zip(HEADER, (_iso(row.at), *row), strict=True))
                    out.write(("\n" if written == 0 else ",\n") + orjson.dumps(record).decode())
                    written += 1
                out.write("\n]\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written
