"""The sync-status hub: a WebSocket server with a durable SQLite event log.

Publishers (sync agents) report updates to ``/v1/publish``; viewers (the desktop app)
follow them on ``/v1/subscribe``. docs/protocol.md is the normative description.
"""

from syncwatch.hub.config import HubConfig, HubConfigError, Role, load_token_file, parse_token_file
from syncwatch.hub.eventlog import EventLog, EventLogError
from syncwatch.hub.server import PUBLISH_PATH, SUBSCRIBE_PATH, Hub, HubStartError

__all__ = [
    "PUBLISH_PATH",
    "SUBSCRIBE_PATH",
    "EventLog",
    "EventLogError",
    "Hub",
    "HubConfig",
    "HubConfigError",
    "HubStartError",
    "Role",
    "load_token_file",
    "parse_token_file",
]
