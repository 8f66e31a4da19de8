"""A real PostgreSQL for the team tests (no mock stands in for it).

`pg_server` (one per test run) yields the URL of a fresh database, found the first way that works:

1. ``SEEDANCE_TEST_POSTGRES`` holds a URL: that server (a new database on it, or, without the
   right to create one, a new schema in the given database);
2. a server answers at 127.0.0.1:5432 (trust auth, as on CI): a new database ``seedance_test_*``;
3. otherwise a throwaway cluster from Debian's postgresql packages (installed when missing): initdb
   and the server run as the ``postgres`` user in a temporary directory on a free port.

Whatever it made is dropped or deleted afterwards. ``SEEDANCE_TEST_POSTGRES=throwaway`` skips
straight to the third way. `pg_url` gives each test a schema of its own in that database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCAL = ("127.0.0.1", 5432)
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections there."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def with_schema(url: str, schema: str) -> str:
    """`url` whose connections put `schema` first on the search_path."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new database on the server at `url` (or a new schema, without CREATEDB), dropped after."""
    import psycopg

    name = f"seedance_test_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        try:
            admin.execute(f"CREATE DATABASE {name}")
        except psycopg.errors.InsufficientPrivilege:
            admin.execute(f"CREATE SCHEMA {name}")
            try:
                yield with_schema(url, name)
            finally:
                admin.execute(f"DROP SCHEMA {name} CASCADE")
            return
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    return Path(found[-1]).parent if found else None


def _install() -> Path:
    """Debian's postgresql packages, installed if missing (needs root, as on CI and here)."""
    bin_dir = _binaries()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0:
        pytest.skip("no PostgreSQL server and not root to install one: set SEEDANCE_TEST_POSTGRES")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, capture_output=True
    )
    bin_dir = _binaries()
    assert bin_dir is not None, "apt-get installed postgresql but no initdb was found"
    return bin_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """initdb and a server in a temporary directory on a free port; the URL of its postgres db."""
    bin_dir = _install()
    home = Path(tempfile.mkdtemp(prefix="seedance-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(home, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=home)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(home / "log")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
        deadline = time.monotonic() + 30
        while not answers("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """The URL of a fresh database for this run, the first of the three ways that works."""
    given = os.environ.get("SEEDANCE_TEST_POSTGRES", "")
    if given and given != "throwaway":
        with fresh_database(given) as url:
            yield url
    elif not given and answers(*LOCAL):
        with fresh_database(LOCAL_URL) as url:
            yield url
    else:
        with throwaway_cluster() as cluster, fresh_database(cluster) as url:
            yield url


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (see the module's docstring)."""
    with server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A ledger URL of its own for one test: a new schema in the run's database."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield with_schema(pg_server, schema)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
