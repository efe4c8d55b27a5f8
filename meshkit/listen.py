"""PostgreSQL LISTEN on a dedicated connection: how the outbox relays wake
on new events and how Notifications follows changes for its watchers."""

from __future__ import annotations

import contextlib
import logging
import select
import time
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("meshkit.listen")

# A quiet connection is probed this often, so that a dead one is noticed.
PING_EVERY = 5.0


class ConnectionLost(Exception):
    pass


class Listener:
    def __init__(self, engine: Engine, channel: str) -> None:
        self._engine = engine
        self._channel = channel
        self._connection: Any = None
        self._active_at = 0.0

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def connect(self) -> bool:
        """(Re)connect and LISTEN; False, with a warning logged, if the
        database cannot be reached."""
        self.close()
        try:
            raw = self._engine.raw_connection()
            # Read before detaching: a detached pool entry no longer knows it.
            connection: Any = raw.driver_connection
            raw.detach()  # ours for good; never handed back to the pool
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'LISTEN "{self._channel}"')
        except Exception:
            log.warning("cannot LISTEN", extra={"channel": self._channel}, exc_info=True)
            return False
        self._connection = connection
        self._active_at = time.monotonic()
        return True

    def receive(self, timeout: float) -> list[str]:
        """Payloads that arrive within `timeout` seconds (often none).
        Raises ConnectionLost when the connection broke; connect() again."""
        if self._connection is None:
            raise ConnectionLost("not connected")
        try:
            ready, _, _ = select.select([self._connection], [], [], timeout)
            if ready:
                self._connection.poll()
                self._active_at = time.monotonic()
            elif time.monotonic() - self._active_at >= PING_EVERY:
                with self._connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                self._active_at = time.monotonic()
            payloads = [n.payload for n in self._connection.notifies]
            self._connection.notifies.clear()
            return payloads
        except Exception as error:
            self.close()
            raise ConnectionLost(str(error)) from error

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
