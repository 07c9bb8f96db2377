"""The client side of Syncwatch: the viewer link, the agents' Reporter, the history store.

``from syncwatch.client import Reporter`` is the API for sync agents; it is loaded on
first use so that importing, say, the store does not pull in the WebSocket stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncwatch.client.reporter import Reporter

__all__ = ["Reporter"]


def __getattr__(name: str) -> Any:
    if name == "Reporter":
        from syncwatch.client.reporter import Reporter  # noqa: PLC0415 - lazy by design

        return Reporter
    raise AttributeError(f"module 'syncwatch.client' has no attribute {name!r}")
