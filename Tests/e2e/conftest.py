"""Shared helpers: run the real `spyglass` binary on a free port in a temporary directory."""

import atexit
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest


def spyglass_binary() -> str:
    """The binary under test: $SPYGLASS_BIN (scripts/test sets it), else the debug build."""
    if os.environ.get("SPYGLASS_BIN"):
        return os.environ["SPYGLASS_BIN"]
    root = Path(__file__).resolve().parents[2]
    bin_dir = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(Path(bin_dir) / "spyglass")


BIN = spyglass_binary()
ROOT = Path(__file__).resolve().parents[2]


class PostgresCluster:
    """One throwaway PostgreSQL server per test process (each xdist worker has its own), started on first use by
    `scripts/postgres` from Debian's binaries and stopped when the process exits; each test gets a database of its
    own on it."""

    _dir = None
    _url = None

    @classmethod
    def url(cls) -> str:
        if cls._url is None:
            import tempfile

            cls._dir = Path(tempfile.mkdtemp(prefix="spyglass-pg-")) / "cluster"
            started = subprocess.run(
                [str(ROOT / "scripts/postgres"), "start", str(cls._dir), "--watch", str(os.getpid())],
                capture_output=True, text=True, timeout=120,
            )
            if started.returncode != 0:
                raise AssertionError(f"scripts/postgres start failed:\n{started.stdout}\n{started.stderr}")
            cls._url = started.stdout.strip()
            atexit.register(cls.stop)
        return cls._url

    @classmethod
    def stop(cls):
        if cls._dir is not None:
            subprocess.run([str(ROOT / "scripts/postgres"), "stop", str(cls._dir)], capture_output=True, timeout=60)
            # The cluster's files (a GB after a run of the suite) go with it.
            import shutil

            shutil.rmtree(cls._dir.parent, ignore_errors=True)

    @classmethod
    def fresh_database(cls) -> str:
        """The URL of a new, empty database on the server."""
        import uuid

        import psycopg

        server = cls.url()
        name = "e2e_" + uuid.uuid4().hex[:16]
        with psycopg.connect(server, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return server.replace("/postgres?", f"/{name}?")


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for this test."""
    return PostgresCluster.fresh_database()


# The storage backend of the running test. Modules whose behaviour depends on storage run on both backends
# (`pytestmark = pytest.mark.backends`); the others on SQLite, the default. On PostgreSQL each data directory a test
# names stands for a database of its own (created on first use), which servers and commands started for that
# directory get as SPYGLASS_DATABASE_URL.
BACKEND = {"name": "sqlite"}
_databases: dict = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "backends: run the test on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: the test checks SQLite's own files (in a module run on both)")
    config.addinivalue_line("markers", "postgres_only: the test needs PostgreSQL (several nodes on one database)")


def pytest_generate_tests(metafunc):
    marked = metafunc.definition.get_closest_marker("backends") is not None
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    only_postgres = metafunc.definition.get_closest_marker("postgres_only") is not None
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite", "postgres"] if marked and not only_sqlite else ["sqlite"]
        metafunc.parametrize("backend", ["postgres"] if only_postgres else backends, indirect=True)


@pytest.fixture(autouse=True)
def backend(request):
    """The storage backend this test runs on: `sqlite` or `postgres`."""
    BACKEND["name"] = getattr(request, "param", "sqlite")
    _databases.clear()
    yield BACKEND["name"]
    BACKEND["name"] = "sqlite"
    _databases.clear()


def database_url(data_dir=None, env=None):
    """On PostgreSQL, the database standing for `data_dir` (or for the data directory `env` or the working directory
    names); None on SQLite."""
    if BACKEND["name"] != "postgres":
        return None
    directory = data_dir or (env or {}).get("SPYGLASS_DATA_DIR") or "spyglass-data"
    key = str(Path(directory).resolve())
    if key not in _databases:
        _databases[key] = PostgresCluster.fresh_database()
    return _databases[key]


def backend_env(env, data_dir=None, cwd=None) -> dict:
    """`env` (default: clean_env()) with the test's database for `data_dir`, unless `env` names one itself."""
    env = dict(env or clean_env())
    if "SPYGLASS_DATABASE_URL" not in env:
        directory = data_dir
        if directory is None and "SPYGLASS_DATA_DIR" not in env:
            directory = Path(cwd or os.getcwd()) / "spyglass-data"
        url = database_url(directory, env)
        if url:
            env["SPYGLASS_DATABASE_URL"] = url
    return env


DSN_RE = re.compile(r"^http://([0-9a-f]{32})@127\.0\.0\.1:(\d+)/(\d+)$")


def clean_env(**extra: str) -> dict:
    """The environment without any SPYGLASS_* setting of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPYGLASS_")}
    env.update(extra)
    return env


def parse_logfmt(line: str) -> dict:
    """Parses one logfmt line (quoted values with JSON escapes)."""
    fields = {}
    for match in re.finditer(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        key, value = match.group(1), match.group(2)
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


class ServerProcess:
    """`spyglass serve` as a child process whose stdout lines are collected as they come."""

    def __init__(self, data_dir=None, cwd=None, args=(), env=None, log_format="logfmt"):
        self.log_format = log_format
        command = [BIN, "serve", "--port", "0", *args]
        if data_dir is not None:
            command += ["--data-dir", str(data_dir)]
        if log_format != "logfmt":
            command += ["--log-format", log_format]
        self.command = command
        self.proc = subprocess.Popen(
            command, cwd=cwd, env=backend_env(env, data_dir, cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.dsn_line = self.wait_for(lambda f: f.get("msg") == "send events to this DSN")
        # Where this process listens (the logged `url` is the public base URL, which may differ).
        self.url = "http://" + self.find("Spyglass is listening")["listen"]

    def _pump(self):
        for raw in self.proc.stdout:
            self.raw.append(raw)
            fields = json.loads(raw) if self.log_format == "json" else parse_logfmt(raw)
            self.lines.append(fields)
            self._queue.put(fields)
        self._queue.put(None)

    def wait_for(self, predicate, timeout=30.0) -> dict:
        """The first stdout line (parsed) that satisfies `predicate`, waiting for it if needed."""
        for fields in list(self.lines):
            if predicate(fields):
                return fields
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fields = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if fields is None:
                break
            if predicate(fields):
                return fields
        raise AssertionError(
            f"no matching line from {shlex.join(self.command)}; stdout:\n{''.join(self.raw)}\n"
            f"stderr:\n{self.proc.stderr.read() if self.proc.poll() is not None else '(running)'}"
        )

    def find(self, msg: str):
        return next((f for f in self.lines if f.get("msg") == msg), None)

    @property
    def dsn(self) -> str:
        return self.dsn_line["dsn"]

    def stop(self, sig=signal.SIGTERM, timeout=15.0) -> int:
        """Sends `sig`, waits for the exit and for the last stdout line; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._pump_thread.join(timeout=5)
        return code


@pytest.fixture
def start_server():
    """Starts servers for a test and makes sure each one is gone when it ends."""
    started: list[ServerProcess] = []

    def start(*args, **kwargs) -> ServerProcess:
        server = ServerProcess(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def load_envelope(event_id: str, message: str = "under load", padding: int = 2000) -> str:
    """An envelope of one error event, as the load tests send it."""
    return json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n" + json.dumps(
        {"message": message, "level": "error", "extra": {"padding": "x" * padding}})


def load_log_envelope(marker: str, lines: int) -> bytes:
    """An envelope of `lines` log lines whose bodies are "MARKER 0", "MARKER 1", …, as the load tests send them."""
    items = [{"timestamp": time.time(), "level": "info", "body": f"{marker} {n}"} for n in range(lines)]
    payload = json.dumps({"items": items}).encode()
    item = {"type": "log", "item_count": lines, "content_type": "application/vnd.sentry.items.log+json",
            "length": len(payload)}
    return b"{}\n" + json.dumps(item).encode() + b"\n" + payload + b"\n"


class Load:
    """Clients sending events to servers as fast as they answer (`clients` threads per server), each acknowledged
    event id kept; with `log_lines`, envelopes of that many log lines instead, each acknowledged envelope's marker
    kept (its lines' bodies are "MARKER N"). A client stops when its server is gone or does not answer in time, if
    that server is among `may_vanish` (all of them by default); any other client's failure is raised by `stop()`."""

    def __init__(self, *servers, clients: int = 16, padding: int = 2000, may_vanish=None, timeout: float = 5,
                 log_lines: int = 0):
        import requests

        self.requests = requests
        key, _, project = DSN_RE.match(servers[0].dsn).groups()
        self.project = project
        self.headers = {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}
        self.url = f"{servers[0].url}/api/{project}/envelope/"
        self.padding = padding
        self.timeout = timeout
        self.log_lines = log_lines
        self.may_vanish = servers if may_vanish is None else may_vanish
        self.acknowledged: list[str] = []
        self.failures: list[BaseException] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.send, args=(server,)) for server in servers for _ in range(clients)
        ]
        for thread in self.threads:
            thread.start()

    def send(self, server):
        session = self.requests.Session()
        url = f"{server.url}/api/{self.project}/envelope/"
        while not self.stopping.is_set():
            event_id = os.urandom(16).hex()
            if self.log_lines:
                body = load_log_envelope(event_id, self.log_lines)
            else:
                body = load_envelope(event_id, padding=self.padding)
            try:
                response = session.post(url, data=body, headers=self.headers, timeout=self.timeout)
            except self.requests.RequestException as error:
                if not any(server is gone for gone in self.may_vanish):
                    with self.lock:
                        self.failures.append(error)
                return  # the server is gone
            if response.status_code == 200:
                with self.lock:
                    if not self.log_lines and response.json() != {"id": event_id}:
                        self.failures.append(AssertionError(f"{event_id} answered {response.text}"))
                    self.acknowledged.append(event_id)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        assert self.failures == [], f"clients of servers that had to keep answering failed: {self.failures[:3]}"


def run_cli(*args: str, data_dir=None, env=None, check=True) -> subprocess.CompletedProcess:
    """Runs a `spyglass` administration command and returns its result."""
    command = [BIN, *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    result = subprocess.run(command, env=backend_env(env, data_dir), capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def stored_events(data_dir) -> list[dict]:
    """Every stored event's columns, oldest first, with its normalized payload as `spyglass event show` prints it."""
    rows = query(
        data_dir, "SELECT project_id, event_id, timestamp, received, level, platform, release, environment FROM event ORDER BY id"
    )
    keys = ["project_id", "event_id", "timestamp", "received", "level", "platform", "release", "environment"]
    events = [dict(zip(keys, row)) for row in rows]
    if events:
        out = run_cli("event", "show", *[e["event_id"] for e in events], data_dir=data_dir).stdout
        payloads = {p["event_id"]: p for p in map(json.loads, out.splitlines())}
        for event in events:
            event["payload"] = payloads[event["event_id"]]
    return events


def postgres_sql(sql: str) -> str:
    """A test's SQLite-flavoured SQL for PostgreSQL: `?` placeholders, and the `user` table quoted (a reserved word)."""
    return re.sub(r'(?<![."\w])user\b', '"user"', sql.replace("?", "%s"))


def execute(data_dir, sql: str, *args) -> None:
    """A change made behind the server's back, as another process would, on the data directory's database."""
    url = database_url(data_dir)
    if url:
        import psycopg

        with psycopg.connect(url) as db:
            db.execute(postgres_sql(sql), args)
        return
    with sqlite_database(data_dir) as db:
        db.execute(sql, args)


def sqlite_database(data_dir):
    """The data directory's SQLite database, with the log lines' own file (spyglass-logs.sqlite) attached: a query
    names `log_entry` as if it were in the main file."""
    import sqlite3

    db = sqlite3.connect(Path(data_dir) / "spyglass.sqlite")
    logs = Path(data_dir) / "spyglass-logs.sqlite"
    if logs.exists():
        db.execute("ATTACH DATABASE ? AS logs", (str(logs),))
    return db


def query(data_dir, sql: str, *args) -> list[tuple]:
    """Rows of a read-only query against the data directory's database (on PostgreSQL, the database standing for
    it: `?` placeholders and the `user` table are translated; blobs read as bytes on both)."""
    url = database_url(data_dir)
    if url:
        import psycopg

        with psycopg.connect(url) as db:
            rows = db.execute(postgres_sql(sql), args).fetchall()
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
    with sqlite_database(data_dir) as db:
        return db.execute(sql, args).fetchall()


@pytest.fixture(autouse=True)
def fresh_sentry_sdk():
    """Each test starts and ends with the in-process sentry-sdk closed and its scopes empty."""
    import sentry_sdk

    def reset():
        client = sentry_sdk.get_client()
        if client.is_active():
            client.close(timeout=5)
        sentry_sdk.init(dsn=None)
        for scope in (sentry_sdk.get_global_scope(), sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()):
            scope.clear()

    reset()
    yield
    reset()
