"""PostgreSQL connections for the ledger: one pool per process and database, connections that
heal, and errors that never carry the password.

* **One `Hub` per DSN** in a process, shared by every `Ledger` and `Studio` there and counted:
  the last one to close it closes its pool (and an exit closes any left). A re-run cell that
  makes a new studio for the same database adds no sessions: one pool of `POOL_SIZE`
  connections and one LISTEN connection serve them all.
* **Healing.** The pool checks a connection before handing it out and replaces one the server
  ended (a restart, a failover, an idle timeout, ``pg_terminate_backend``).
* **Names.** Every session sets ``application_name`` to ``seedance_nb <owner id>`` (the first
  live owner registered in this process) or ``seedance_nb``, so a DBA sees who holds what.
* **Secrets.** `scrub` removes the password, in any form (raw, percent-encoded or decoded, or as
  libpq quotes it), from any text before it leaves: errors, logs, reprs.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from ._slots import CHANNEL

log = logging.getLogger("seedance_nb")
# connections per process and database, shared by every studio in it (re-run cells included):
# heartbeats, engine writes, views, slot grants that may wait on another studio's lock
POOL_SIZE = 8
# a session idle inside a transaction this long belongs to a process that stopped (SIGSTOP, a
# closed lid, a frozen VM): the server ends it so its row locks cannot hold every other studio
# up; under the owners' lease, so a paused owner's locks are gone before it is taken over
IDLE_IN_TRANSACTION = "10s"
CONNECT_TIMEOUT = 10  # seconds to reach the server before saying it cannot be reached
POOL_WAIT = 15  # seconds a call waits for a connection (the server may be restarting)
LISTEN_TICK = 0.2  # seconds between checks whether the listener should stop
APP = "seedance_nb"


def split(dsn: str) -> tuple[str, str, str, str]:
    """(scheme://, user, password, the rest after the userinfo) of a URL, robust to a raw
    '@', ':' or '/' in the password (the last '@' before any query ends the userinfo)."""
    scheme, _, rest = dsn.partition("://")
    head, mark, query = rest.partition("?")
    if "@" not in head:
        return f"{scheme}://", "", "", rest
    userinfo, _, host = head.rpartition("@")
    user, _, password = userinfo.partition(":")
    return f"{scheme}://", user, password, host + mark + query


def secrets_of(dsn: str) -> list[str]:
    """Every form the password may take in a message, longest first."""
    _, _, password, rest = split(dsn)
    found = {password} if password else set()
    for match in re.finditer(r"(?:^|[?&])password=([^&]*)", rest):
        found.add(match.group(1))
    forms: set[str] = set()
    for raw in found:
        for text in (raw, unquote(raw)):
            forms.update(
                {
                    text,
                    quote(text, safe=""),
                    text.replace("\\", "\\\\").replace("'", "\\'"),
                }
            )
    return sorted((f for f in forms if len(f) >= 1), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every form of the password replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return re.sub(r"(password\s*=\s*)('(?:\\.|[^'])*'|\S+)", r"\1***", text, flags=re.I)


def redact(dsn: str) -> str:
    """The URL without its password, for reprs and errors."""
    scheme, user, _, rest = split(dsn)
    host, mark, query = rest.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.lower().startswith("password="))
    userinfo = f"{user}@" if user else ""
    return f"{scheme}{userinfo}{host}{mark if kept else ''}{kept}"


class _Scrubber(logging.Filter):
    """Removes every known password from records of psycopg's loggers (the pool logs its
    connection errors, which quote the connection string)."""

    secrets: ClassVar[list[str]] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = scrub(record.getMessage(), self.secrets)
            record.args = None
        return True


_SCRUBBER = _Scrubber()
for _name in ("psycopg", "psycopg.pool"):
    logging.getLogger(_name).addFilter(_SCRUBBER)


def _configure(conn: Any) -> None:
    """Each new session: a stopped process's open transaction is ended by the server."""
    conn.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'")


class Hub:
    """One database's pool and LISTEN connection in this process, shared and counted."""

    def __init__(self, dsn: str) -> None:
        from psycopg_pool import ConnectionPool

        self.dsn = dsn
        self.secrets = secrets_of(dsn)
        _SCRUBBER.secrets = sorted({*_SCRUBBER.secrets, *self.secrets}, key=len, reverse=True)
        self.refs = 0
        self.owners: list[str] = []  # owners registered in this process, oldest first
        self.lock = threading.Lock()
        self.listeners: list[Callable[[str], Any]] = []
        self._listening: threading.Thread | None = None
        self._stopping = threading.Event()
        self._names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "application_name": APP,
            },
            check=ConnectionPool.check_connection,
            configure=_configure,
            timeout=POOL_WAIT,
            open=False,
            name="seedance-ledger",
            num_workers=1,
        )

    def open(self) -> None:
        self.pool.open(wait=False)

    @property
    def name(self) -> str:
        return f"{APP} {self.owners[0]}" if self.owners else APP

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            self._named(conn)
            yield conn

    def get(self) -> Any:
        """A checked connection, named, until `put` (for a transaction held across calls)."""
        conn = self.pool.getconn()
        try:
            self._named(conn)
        except BaseException:
            self.pool.putconn(conn)
            raise
        return conn

    def put(self, conn: Any) -> None:
        self.pool.putconn(conn)

    def _named(self, conn: Any) -> None:
        name = self.name
        with self.lock:
            known = self._names.get(conn)
        if known != name:  # set once per connection and name
            conn.execute("SELECT set_config('application_name', %s, false)", (name,))
            with self.lock:
                self._names[conn] = name

    # ---- one LISTEN connection for every listener in the process -------------------------------
    def listen(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        with self.lock:
            self.listeners.append(callback)
            if self._listening is None:
                ready = threading.Event()
                self._listening = threading.Thread(
                    target=self._listen, args=(ready,), name="seedance-ledger-listen", daemon=True
                )
                self._listening.start()
            else:
                ready = None
        if ready is not None:
            ready.wait(CONNECT_TIMEOUT)

        def stop() -> None:
            with self.lock:
                if callback in self.listeners:
                    self.listeners.remove(callback)

        return stop

    def _listen(self, ready: threading.Event) -> None:
        """LISTEN on a connection of its own; reconnects if the server goes away (then tells
        every listener "": anything may have changed meanwhile)."""
        import psycopg

        again = False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT,
                    application_name=f"{self.name} listen",
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    ready.set()
                    if again:
                        self._tell("")
                    again = True
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=LISTEN_TICK):
                            self._tell(note.payload)
            except psycopg.Error as exc:
                log.warning(
                    "ledger listener lost its connection (%s); retrying",
                    scrub(str(exc).strip(), self.secrets),
                )
                ready.set()
                self._stopping.wait(1.0)

    def _tell(self, account: str) -> None:
        with self.lock:
            listeners = list(self.listeners)
        for callback in listeners:
            try:
                callback(account)
            except Exception:  # a listener's bug must not stop the wake-ups of the others
                log.exception("ledger listener callback failed")

    def close(self) -> None:
        self._stopping.set()
        thread = self._listening
        if thread is not None and thread is not threading.current_thread():
            thread.join(CONNECT_TIMEOUT)
        self.pool.close()


_HUBS: dict[str, Hub] = {}
_HUBS_LOCK = threading.Lock()


def acquire(dsn: str, setup: Callable[[Any], None]) -> Hub:
    """This process's hub for `dsn`, counted until `release`. The first use connects once
    directly (so an unreachable server fails fast) and runs `setup(connection)` (the schema)
    before the pool opens; a failure there raises the driver's error and keeps no hub."""
    with _HUBS_LOCK:
        hub = _HUBS.get(dsn)
        if hub is None:
            import psycopg

            with psycopg.connect(
                dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=APP
            ) as conn:
                setup(conn)
            hub = _HUBS[dsn] = Hub(dsn)
            hub.open()
        hub.refs += 1
        return hub


def release(hub: Hub) -> None:
    """One user of `hub` is done; the last closes it."""
    with _HUBS_LOCK:
        hub.refs -= 1
        if hub.refs > 0:
            return
        if _HUBS.get(hub.dsn) is hub:
            del _HUBS[hub.dsn]
    hub.close()


@atexit.register
def _close_all() -> None:
    with _HUBS_LOCK:
        hubs = list(_HUBS.values())
        _HUBS.clear()
    for hub in hubs:
        try:
            hub.close()
        except Exception:  # at exit: nothing left to tell
            continue


__all__ = ["POOL_SIZE", "Hub", "acquire", "redact", "release", "scrub", "secrets_of"]
