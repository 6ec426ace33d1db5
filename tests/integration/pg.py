"""A throwaway PostgreSQL server for integration tests.

tests/pgserver.sh does the work: a server of its own in a temporary
directory, on a Unix socket there only, removed when it stops (as root it
runs as the postgres user). Several runs at once never collide.

    from pg import Server

    with Server() as pg:
        db = pg.database("t_restart")    # a fresh database: its URI
        daemon = Daemon(workdir, db=db)  # harvestd --db <URI>
        ...
        pg.query(db, "SELECT count(*) FROM results")

Server() raises when no server can be started: a test that needs
PostgreSQL fails, it does not skip (CI installs PostgreSQL).
"""
import os
import re
import shutil
import subprocess
import urllib.parse

SRCDIR = os.environ.get("HARVESTD_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(SRCDIR, "tests", "pgserver.sh")


def _psql():
    """psql: on PATH, or next to the server binaries."""
    found = shutil.which("psql")
    if found:
        return found
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], check=True,
                                capture_output=True, text=True).stdout.strip()
        if os.access(os.path.join(bindir, "psql"), os.X_OK):
            return os.path.join(bindir, "psql")
    except (OSError, subprocess.CalledProcessError):
        pass
    raise RuntimeError("psql not found: apt-get install postgresql-client")


class Server:
    """One throwaway server; a context manager that stops it on exit."""

    def __init__(self, timeout=120):
        self.timeout = timeout
        self.uri = None     # the database "harvest", user postgres
        self.dir = None

    def start(self):
        out = subprocess.run(["sh", SCRIPT, "start"], capture_output=True,
                             text=True, timeout=self.timeout)
        if out.returncode != 0:
            raise RuntimeError("tests/pgserver.sh start failed:\n" +
                               out.stderr)
        self.uri = out.stdout.strip().splitlines()[-1]
        m = re.search(r"[?&]host=([^&]*)", self.uri)
        self.dir = urllib.parse.unquote(m.group(1))
        return self

    def stop(self):
        if self.dir is not None:
            subprocess.run(["sh", SCRIPT, "stop", self.dir],
                           capture_output=True, timeout=self.timeout)
            self.dir = None

    def restart(self):
        """pg_ctl restart: every connection is cut, the data stays."""
        out = subprocess.run(["sh", SCRIPT, "restart", self.dir],
                             capture_output=True, text=True,
                             timeout=self.timeout)
        if out.returncode != 0:
            raise RuntimeError("tests/pgserver.sh restart failed:\n" +
                               out.stderr)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def uri_of(self, dbname):
        """The URI of another database of this server."""
        return re.sub(r"^(postgresql://[^/]*/)[^?]*", r"\g<1>" + dbname,
                      self.uri)

    def database(self, name):
        """Creates a database (dropped first if it exists): its URI."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError("database names here are plain identifiers")
        self.query(self.uri, "DROP DATABASE IF EXISTS %s" % name)
        self.query(self.uri, "CREATE DATABASE %s" % name)
        return self.uri_of(name)

    def query(self, uri, sql):
        """Runs sql with psql; its rows as lists of strings."""
        out = subprocess.run(
            [_psql(), "-X", "-q", "-A", "-t", "-F", "\t",
             "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
            capture_output=True, text=True, timeout=self.timeout)
        if out.returncode != 0:
            raise RuntimeError("psql: %s: %s" % (sql, out.stderr.strip()))
        return [line.split("\t") for line in out.stdout.splitlines()]

    def value(self, uri, sql):
        """The one value a query returns, as a string (None: no row)."""
        rows = self.query(uri, sql)
        return rows[0][0] if rows else None
