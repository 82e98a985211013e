"""A webhook's one write: the delivery into the `intake` table, unless it is already there or queued.

Kept apart from the outbox: it runs in the web process on every delivery, on a DB-API connection of
its own per thread, and waits for SQLite's write lock itself (see `IntakeInsert.__call__`).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time

from sqlalchemy import Engine

LOCKED_WAIT_SECONDS = 30.0  # a webhook waits this long for SQLite's write lock, then answers 503


class IntakeInsert:
    """The webhook's one INSERT on a DB-API connection kept per thread (taken out of the pool once, see
    `_connection`): no pool checkout and no SQL compilation per request (SQLAlchemy's per-statement
    overhead doubled the cost of this path).

    The row goes into `intake` unless the delivery is already in `events`: a redelivery after the
    dispatcher moved the first copy is still answered "duplicate".
    """

    _columns = {"tracker": "text", "delivery": "text", "kind": "text", "ticket_key": "text", "payload": "text",
                "received_at": "double precision"}

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.local = threading.local()
        if engine.dialect.name == "postgresql":  # a bare parameter in a SELECT list has no type there
            mark = "%({})s"
            values = ", ".join(f"CAST({mark.format(column)} AS {kind})" for column, kind in self._columns.items())
        else:
            mark = ":{}"
            values = ", ".join(mark.format(column) for column in self._columns)
        self.sql = (f"INSERT INTO intake ({', '.join(self._columns)}) SELECT {values} WHERE NOT EXISTS "
                    f"(SELECT 1 FROM events WHERE tracker = {mark.format('tracker')} "
                    f"AND delivery = {mark.format('delivery')}) "
                    # No RETURNING: the row count says whether it went in, and RETURNING made SQLite
                    # collect the row in a scratch table, a third of this statement's time.
                    "ON CONFLICT (tracker, delivery) DO NOTHING")
        self.errors = (engine.dialect.loaded_dbapi.OperationalError, engine.dialect.loaded_dbapi.InterfaceError)
        self.closing_errors = engine.dialect.loaded_dbapi.Error
        self.sqlite = engine.dialect.name == "sqlite"

    def __call__(self, row: dict) -> bool:
        """True when the row went in, False when the delivery was there already."""
        connection = self._connection()
        waited_until = time.monotonic() + LOCKED_WAIT_SECONDS
        while True:
            try:
                return self._insert(connection, row)
            except self.errors as err:
                if not (self.sqlite and _is_busy(err)):
                    # A broken connection (database restarted) is dropped; the next request opens a new one.
                    self.local.connection = None
                    with contextlib.suppress(self.closing_errors):  # it is being thrown away either way
                        connection.close()
                    raise
                if time.monotonic() > waited_until:
                    raise
            # SQLite's own busy handler sleeps 1, 2, 5... ms between tries, while the other writer (the
            # worker's dispatcher or a pass) holds the lock for about a millisecond: small random steps
            # keep a delivery that collides with it from waiting several times that.
            time.sleep(random.uniform(20e-6, 200e-6))

    def _connection(self):
        """This thread's DB-API connection, taken out of the pool for good: its settings must not reach
        the pool's other users. It runs in autocommit, because the one INSERT is a whole transaction:
        no BEGIN and COMMIT statements around it (a sixth of its time on SQLite), and no transaction
        left open or failed when it raises."""
        connection = getattr(self.local, "connection", None)
        if connection is None:
            pooled = self.engine.raw_connection()
            connection = pooled.driver_connection
            pooled.detach()
            try:
                self._configure(connection)
            except BaseException:
                connection.close()  # detached: nothing else would close it
                raise
            self.local.connection = connection
        return connection

    def _configure(self, connection) -> None:
        if self.sqlite:
            connection.isolation_level = None
            connection.execute("PRAGMA busy_timeout=0")  # busy: raise at once, __call__ waits
        else:
            connection.autocommit = True

    def _insert(self, connection, row: dict) -> bool:
        cursor = connection.execute(self.sql, row)
        try:
            return cursor.rowcount == 1
        finally:
            cursor.close()


def _is_busy(err: Exception) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY and its extended codes): another writer holds the lock."""
    return (getattr(err, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
