"""A throwaway PostgreSQL server for the tests, and a fresh schema per test.

:func:`throwaway_server` runs ``initdb`` in a temporary directory (as the ``postgres`` user when the
tests run as root: PostgreSQL refuses to run as root), starts the server on a Unix socket in that
directory with a free port number and no TCP listener, yields a ``postgresql+psycopg://`` URL of its
``postgres`` database, then stops it and deletes the directory. It takes well under a second.

The binaries are found in ``$BAYESGUARD_PG_BIN``, else Debian's ``/usr/lib/postgresql/<version>/bin``
(newest first), else on ``PATH``; when there are none, :class:`PgUnavailable` says so (the ``pg_url``
fixture then skips, or fails under ``BAYESGUARD_REQUIRE_PG=1``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (why is the message)."""


def find_bindir() -> str | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    env = os.environ.get("BAYESGUARD_PG_BIN")
    if env:
        candidates = [env]
    else:

        def version(path: str) -> float:
            try:
                return float(path.split("/")[-2])
            except ValueError:
                return 0.0

        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
        found = shutil.which("initdb")
        if found:
            candidates.append(os.path.dirname(os.path.realpath(found)))
    for path in candidates:
        if all(os.access(os.path.join(path, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def free_port() -> int:
    """A TCP port nothing listens on now (the socket file's name; the server opens no TCP port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psycopg_url(url: str) -> str:
    """``url`` with the psycopg 3 driver named (``postgresql://`` -> ``postgresql+psycopg://``)."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """``url`` as libpq (``psycopg.connect``) reads it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a private PostgreSQL server; yield the URL of its ``postgres`` database; stop and remove it.

    Raises:
        PgUnavailable: no binaries, or running as root without a ``postgres`` user.
        subprocess.CalledProcessError: the binaries are there but the server did not start.
    """
    bindir = find_bindir()
    if bindir is None:
        raise PgUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's `postgresql` package "
            "or set BAYESGUARD_PG_BIN, or point BAYESGUARD_TEST_PG at a server"
        )
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable("running as root and there is no `postgres` user to run the server") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="bgpg-")
    try:
        if owner is not None:
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
        data, port = os.path.join(tmp, "data"), free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
        subprocess.run(
            [*prefix, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"]
            + ["--locale=C", "--no-sync"],
            **quiet,
        )
        options = f"-k {tmp} -p {port} -c listen_addresses='' -c max_connections=60"
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", data, "-l", f"{tmp}/server.log", "-w", "-t", "60"]
            + ["-o", options, "start"],
            **quiet,
        )
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={tmp}&port={port}"
        finally:
            subprocess.run(
                [*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """Create an empty schema in the database of ``server_url``; yield a URL (``postgresql+psycopg://``)
    whose connections work in it (``options=-csearch_path=<schema>``); drop it, and all in it, afterwards.
    A schema costs milliseconds where a database costs tenths of a second."""
    name = f"bgtest_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        url = make_url(psycopg_url(server_url))
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
