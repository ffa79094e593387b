"""The ingest benchmark: builds Spyglass and the load generator, runs them, prints a table and writes JSON.

    Benchmarks/run                 # release builds, 20 s per concurrency (1, 8, 32), ceilings, budget check
    Benchmarks/run --duration 60   # longer runs
    Benchmarks/run --smoke         # debug builds, 2 s runs: checks that everything works (CI), no budget
    Benchmarks/run --soak          # 10 minutes at a steady 1000 events/s: RSS and latency over time
    Benchmarks/run --database postgres --nodes 2   # two `serve` nodes on one PostgreSQL, the load split between them

With wrk, two log runs follow: log lines alone (envelopes of 100 lines, as Sentry's SDKs batch them) and the c=32
error load with a steady stream of log lines beside it (~7 000 lines/s unhindered, fewer while the server holds them
back for the errors; not for a --server binary from before structured logs); then,
for reference, the c=32 error load beside a busy loop at the lowest CPU priority.
"""

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "Benchmarks"

BUDGET = {  # the first step of the budget at concurrency 32 (issue: ingest benchmark)
    "events_per_second": 5000, "p99_ms": 50, "rss_mb": 150, "bytes_per_event": 4096, "p50_ms_c1": 2,
}
# The next step (issue: ingest at half the HTTP ceiling), SQLite: server CPU per stored event at c=32, c=32 events/s
# against the inflating HTTP ceiling of the same run, p99, RSS, bytes per event, c=1 p50.
TARGET = {"cpu_us_per_event": 250, "share_of_inflate_ceiling": 0.5, "p99_ms": 20, "rss_mb": 100,
          "bytes_per_event": 1024, "p50_ms_c1": 1}
# Structured logs (issue: structured logs): durable lines/s in envelopes of LOG_BATCH lines, alone.
LOG_BUDGET = {"lines_per_second": 50_000}
LOG_BATCH = 100
# Beside the c=32 error load: LOG_BESIDE_CONNECTIONS connections each pausing LOG_BESIDE_PAUSE_MS between
# envelopes, at most 4 × 1000/40 × 100 = 10 000 lines/s (about 7 000 with the envelopes' latency).
LOG_BESIDE_CONNECTIONS, LOG_BESIDE_PAUSE_MS = 4, 40
# PostgreSQL on this 2-core machine, sharing it with the server and the load generator (issue: PostgreSQL backend).
POSTGRES_BUDGET = dict(BUDGET, events_per_second=2500)


def build(configuration: str) -> tuple[Path, Path]:
    def swift(cwd, *args):
        subprocess.run(["swift", "build", "-c", configuration, *args], cwd=cwd, check=True)
        return Path(subprocess.run(["swift", "build", "-c", configuration, "--show-bin-path"], cwd=cwd, check=True,
                                   capture_output=True, text=True).stdout.strip())

    server = swift(ROOT, "--product", "spyglass") / "spyglass"
    swift(ROOT, "--product", "SpyglassEnvelopeBenchmark")
    swift(ROOT, "--product", "SpyglassPipelineBenchmark")
    load = swift(BENCH, "--product", "spyglass-load") / "spyglass-load"
    return server, load


class Server:
    def __init__(self, binary: Path, data: Path, compact: bool = True, database_url: str | None = None):
        self.log = open(data.parent / "server.log", "w+")
        env = {**os.environ, "SPYGLASS_BENCHMARK_ROUTES": "1", "SPYGLASS_ADMIN_PASSWORD": "benchmark-admin",
               "SPYGLASS_COMPACT_EVENTS": "1" if compact else "0"}
        if database_url:
            env["SPYGLASS_DATABASE_URL"] = database_url
        self.proc = subprocess.Popen([str(binary), "serve", "--port", "0", "--data-dir", str(data), "--log-level", "notice"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = Path(self.log.name).read_text()
            dsn = re.search(r"dsn=http://([0-9a-f]{32})@[^ ]+/(\d+)", text)
            listen = re.search(r"listen=(\S+)", text)
            if dsn and listen:
                self.key, self.project = dsn.groups()
                self.url = f"http://{listen.group(1)}"
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{Path(self.log.name).read_text()}")

    def cpu_seconds(self) -> float:
        """The process's user + system CPU time so far (/proc/PID/stat, fields 14 and 15, in clock ticks)."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kb(self, field: str) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def load(binary: Path, server: Server, templates: Path, **options) -> dict:
    """One load run with the Swift generator (AsyncHTTPClient); used for --rate (soak) and without wrk."""
    args = [str(binary), "load", "--url", server.url, "--key", server.key, "--project", server.project,
            "--templates", str(templates)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def write_parts(templates: Path, server: Server, parts: Path) -> Path:
    """The precompressed body parts wrk/ingest.lua sends (see there), from the recorded templates."""
    parts.mkdir(exist_ok=True)
    for index, template in enumerate(json.loads(templates.read_text())["templates"], start=1):
        tail = template["payload"].encode()[1:] + b"\n"
        (parts / f"tail-{index}.gz").write_bytes(gzip.compress(tail, 9))
        (parts / f"tail-{index}.len").write_text(str(len(tail)))
    (parts / "auth.txt").write_text(f"Sentry sentry_key={server.key}, sentry_version=7, sentry_client=spyglass-wrk/1.0")
    write_log_parts(parts, LOG_BATCH)
    return parts


LOG_TIMESTAMP_WIDTH = len(f"{time.time():.6f}")  # 17 digits and the point until 2286
LOG_TRACE_WIDTH = 32


def log_lines(count: int) -> list[dict]:
    """`count` log lines shaped as sentry-python 2.x sends them with enable_logs (a template and its typed parameters,
    the logger, release, environment and SDK as attributes), without their timestamp and trace id: wrk/logs.lua
    stamps each envelope's lines with the time of sending and a fresh trace id every ten lines, as an SDK's lines
    arrive (a fixed body would put its lines at the same hundred places of the time index again and again)."""
    kinds = [
        ("order {order_id} paid in {ms} ms", lambda n: {"order_id": 1000 + n, "ms": 12.5 + n}, "info", 9),
        ("cache miss for {key}", lambda n: {"key": f"user:{n}"}, "debug", 5),
        ("retrying payment {order_id}, attempt {attempt}", lambda n: {"order_id": 1000 + n, "attempt": n % 3 + 1}, "warn", 13),
    ]
    typed = {bool: "boolean", int: "integer", float: "double", str: "string"}
    lines = []
    for n in range(count):
        template, parameters, level, severity = kinds[n % len(kinds)]
        values = parameters(n)
        attributes = {
            "sentry.message.template": {"type": "string", "value": template},
            "logger.name": {"type": "string", "value": "shop.payments"},
            "sentry.release": {"type": "string", "value": "shop@1.4.2"},
            "sentry.environment": {"type": "string", "value": "production"},
            "sentry.sdk.name": {"type": "string", "value": "sentry.python"},
            "sentry.sdk.version": {"type": "string", "value": "2.40.0"},
            "server.address": {"type": "string", "value": "web-1"},
            "sentry.origin": {"type": "string", "value": "auto.logger.log"},
            **{f"sentry.message.parameter.{name}": {"type": typed[type(value)], "value": value} for name, value in values.items()},
        }
        lines.append({"level": level, "severity_number": severity, "body": template.format(**values), "attributes": attributes})
    return lines


def stamped_log_lines(count: int) -> list[dict]:
    """`count` log lines as wrk/logs.lua sends them: stamped now, a microsecond apart, a trace id every ten lines."""
    now = time.time()
    lines = []
    for n, line in enumerate(log_lines(count)):
        if n % 10 == 0:
            trace = os.urandom(16).hex()
        lines.append({"timestamp": round(now + n / 1e6, 6), "trace_id": trace, **line})
    return lines


def write_log_parts(parts: Path, count: int) -> None:
    """The parts wrk/logs.lua builds a `log` envelope of `count` lines from: each line is
    `{"timestamp":T,"trace_id":"X",` (stamped per request, in a stored gzip member) and the rest of its JSON (one
    precompressed gzip member a line, in logs-rest.gz with each member's length in logs-rest.len)."""
    lines = log_lines(count)
    rests = []
    for n, line in enumerate(lines):
        rest = json.dumps(line)[1:] + ("," if n + 1 < count else "]}\n")
        rests.append(rest + ('{"timestamp":' if n + 1 < count else ""))
    stamp = "0" * LOG_TIMESTAMP_WIDTH + ',"trace_id":"' + "0" * LOG_TRACE_WIDTH + '",'
    length = len('{"items":[{"timestamp":') + count * len(stamp) + sum(len(rest) for rest in rests) - 1  # no final "\n"
    members = [gzip.compress(rest.encode(), 9) for rest in rests]
    (parts / "logs-rest.gz").write_bytes(b"".join(members))
    (parts / "logs-rest.len").write_text(" ".join(str(len(member)) for member in members))
    item = {"type": "log", "item_count": count, "content_type": "application/vnd.sentry.items.log+json", "length": length}
    (parts / "logs-item.txt").write_text(json.dumps(item))


def wrk_load(parts: Path, server: Server, concurrency: int, duration: float, path: str = "envelope",
             new_ratio: float = 0.1, log_pause_ms: int | None = None) -> dict:
    """One load run with wrk (C, one thread, a Lua script): far less CPU per request than the Swift generator,
    so more of the 2 cores go to the server. Same result shape as `load`. With `log_pause_ms`, envelopes of
    LOG_BATCH log lines instead of events (wrk/logs.lua), each connection pausing that long between them."""
    url = f"{server.url}/api/{server.project}/{path}/"
    script, script_args = ("ingest.lua", [str(new_ratio)]) if log_pause_ms is None else ("logs.lua", [str(log_pause_ms)])
    result = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
                             "-s", str(BENCH / "wrk" / script), url, "--", str(parts), *script_args],
                            capture_output=True, text=True, check=True)
    line = next((line for line in result.stdout.splitlines() if line.startswith("WRK-RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("WRK-RESULT "))
    seconds = raw["duration_us"] / 1e6
    accepted = raw["statuses"].get("200", 0)
    errors = {status: count for status, count in raw["statuses"].items() if status != "200"}
    errors.update({kind: count for kind, count in raw["socket_errors"].items() if count})
    run = {"requests": raw["requests"], "accepted": accepted, "seconds": seconds,
           "events_per_second": accepted / seconds, "concurrency": concurrency, "path": path, "generator": "wrk",
           "latency_ms": {name: value / 1000 for name, value in raw["latency_us"].items()}, "errors": errors}
    if log_pause_ms is not None:
        run.update(events_per_second=0, lines_per_second=accepted * LOG_BATCH / seconds, log_batch=LOG_BATCH,
                   log_pause_ms=log_pause_ms)
    return run


def api_token(binary: Path, data: Path, database_url: str | None) -> str:
    env = {**os.environ, **({"SPYGLASS_DATABASE_URL": database_url} if database_url else {})}
    out = subprocess.run([str(binary), "token", "create", "--user", "admin@example.com", "--data-dir", str(data)],
                         capture_output=True, text=True, check=True, env=env).stdout
    return out.strip().splitlines()[-1]


def sqlite_file(data: Path, table: str) -> Path:
    """The SQLite file that holds `table`: log lines have a file of their own (spyglass-logs.sqlite) since the log
    writer; a server from before keeps them in the main file."""
    logs = data / "spyglass-logs.sqlite"
    return logs if table == "log_entry" and logs.exists() else data / "spyglass.sqlite"


def stored_events(data: Path, database_url: str | None, table: str = "event") -> int:
    if database_url:
        import psycopg
        with psycopg.connect(database_url) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with sqlite3.connect(sqlite_file(data, table)) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def has_table(data: Path, database_url: str | None, table: str) -> bool:
    if database_url:
        import psycopg
        with psycopg.connect(database_url) as db:
            return db.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
    with sqlite3.connect(sqlite_file(data, table)) as db:
        return db.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)).fetchone()[0] > 0


def database_bytes(data: Path, database_url: str | None) -> int:
    """The database's size on disk without the log lines' table and indexes (log runs store lines beside the
    events): the SQLite file (the lines' own file left out), or PostgreSQL's database (tables, indexes, TOAST; its
    WAL is the server's, not the database's)."""
    if database_url:
        import psycopg
        with psycopg.connect(database_url) as db:
            logs = "pg_total_relation_size('log_entry')" if has_table(data, database_url, "log_entry") else "0"
            return db.execute(f"SELECT pg_database_size(current_database()) - {logs}").fetchone()[0]
    path = data / "spyglass.sqlite"
    if sqlite_file(data, "log_entry") != path or not has_table(data, database_url, "log_entry"):
        return path.stat().st_size
    with sqlite3.connect(path) as db:
        logs = db.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
                          "(SELECT name FROM sqlite_schema WHERE tbl_name = 'log_entry')").fetchone()[0]
    return path.stat().st_size - logs


class Postgres:
    """A PostgreSQL server of its own for the run (scripts/postgres: Debian's binaries, 127.0.0.1, a free port), with
    its settings as Debian's initdb leaves them: synchronous_commit=on and fsync=on, so an acknowledged event is on
    disk, as with SQLite; wal_init_zero=off, as scripts/postgres says why."""

    SETTINGS = ("synchronous_commit", "fsync", "shared_buffers", "wal_level", "max_connections", "wal_init_zero")

    def __init__(self, work: Path):
        self.dir = work / "postgres"
        started = subprocess.run([str(ROOT / "scripts/postgres"), "start", str(self.dir), "--watch", str(os.getpid())],
                                 capture_output=True, text=True, check=True)
        import psycopg
        server = started.stdout.strip()
        with psycopg.connect(server, autocommit=True) as db:
            db.execute("CREATE DATABASE spyglass_bench")
            self.settings = {name: db.execute(f"SHOW {name}").fetchone()[0] for name in self.SETTINGS}
            self.version = db.execute("SHOW server_version").fetchone()[0].split()[0]
        self.url = server.replace("/postgres?", "/spyglass_bench?")

    def stop(self):
        subprocess.run([str(ROOT / "scripts/postgres"), "stop", str(self.dir)], capture_output=True)


def visibility_seconds(server: Server, token: str, expected: int, data: Path) -> float:
    """Time until the API shows every accepted event (the issue counts add up to it)."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() - started < 60:
        total, cursor = 0, None
        while True:
            params = {"query": "", "limit": 100, "statsPeriod": ""}
            if cursor:
                params["cursor"] = cursor
            response = requests.get(f"{server.url}/api/0/projects/spyglass/default/issues/", headers=headers,
                                    params=params, timeout=30)
            total += sum(int(issue["count"]) for issue in response.json())
            match = re.search(r'rel="next"; results="true"; cursor="([^"]+)"', response.headers.get("Link", ""))
            if not match:
                break
            cursor = match.group(1)
        if total >= expected:
            return time.monotonic() - started
        time.sleep(0.05)
    return float("inf")


def sample_rss(server: Server, samples: list, stop: threading.Event, every: float):
    while not stop.wait(every):
        try:
            samples.append((time.time(), server.memory_kb("VmRSS")))
        except (FileNotFoundError, StopIteration):
            return


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--soak", action="store_true")
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--generator", choices=("wrk", "swift"), default="wrk" if shutil.which("wrk") else "swift",
                        help="load generator for the fixed-concurrency runs (default: wrk when installed)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: a temp file)")
    parser.add_argument("--no-compact-events", dest="compact_events", action="store_false",
                        help="run the server with SPYGLASS_COMPACT_EVENTS=0 (each event stored on its own)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                        help="the storage backend: SQLite in the data directory (default) or a PostgreSQL server the run starts")
    parser.add_argument("--nodes", type=int, default=1,
                        help="`serve` processes on the one database (PostgreSQL only); each run's connections are split "
                             "evenly between them, as a load balancer would")
    parser.add_argument("--server", type=Path, default=None,
                        help="a spyglass binary to measure instead of this checkout's (A/B runs against another commit)")
    args = parser.parse_args()
    duration = 2 if args.smoke else args.duration
    if args.nodes < 1 or (args.nodes > 1 and args.database != "postgres"):
        parser.error("--nodes: 1, or more with --database postgres (several nodes share a PostgreSQL database only)")

    server_bin, load_bin = build("debug" if args.smoke else "release")
    # These two measure this checkout's code, also with --server.
    envelope_bin = server_bin.parent / "SpyglassEnvelopeBenchmark"
    pipeline_bin = server_bin.parent / "SpyglassPipelineBenchmark"
    if args.server:
        server_bin = args.server.resolve()
    work = Path(tempfile.mkdtemp(prefix="spyglass-bench-"))
    templates = work / "templates.json"
    subprocess.run([sys.executable, str(BENCH / "record_envelopes.py"), str(templates)], check=True)
    data = work / "data"
    postgres = Postgres(work) if args.database == "postgres" else None
    database_url = postgres.url if postgres else None
    server = Server(server_bin, data, compact=args.compact_events, database_url=database_url)
    nodes = [server] + [Server(server_bin, work / f"data-{n}", compact=args.compact_events, database_url=database_url)
                        for n in range(2, args.nodes + 1)]
    token = api_token(server_bin, data, database_url)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit, "machine": f"{os.cpu_count()} cores, {platform.machine()}",
               "build": "debug" if args.smoke else "release", "generator": args.generator,
               "compact_events": args.compact_events, "database": args.database, "nodes": args.nodes, "runs": []}
    if postgres:
        results["postgres"] = {"version": postgres.version, **postgres.settings}
    parts = None

    def run_on(node, **options):
        if parts is not None:
            return wrk_load(parts, node, **options)
        return load(load_bin, node, templates, **options)

    def run_load(**options):
        # The server processes' CPU time over the run, per request answered 200 (an event, or an envelope of log
        # lines): the figure the VM's speed swings disturb least (issue: ingest at half the HTTP ceiling).
        before = sum(node.cpu_seconds() for node in nodes)
        run = run_on(server, **options) if len(nodes) == 1 else split_load(nodes, run_on, **options)
        cpu = sum(node.cpu_seconds() for node in nodes) - before
        run["server_cpu_s"] = cpu
        run["cpu_us_per_request"] = 1e6 * cpu / max(run["accepted"], 1)
        return run

    try:
        if args.generator == "wrk":
            parts = write_parts(templates, server, work / "parts")
        # The 50 issues the load mostly belongs to.
        run_load(concurrency=1, duration=1 if args.smoke else 2, new_ratio=0)
        if args.soak:
            return soak(args, load_bin, server, templates, results)
        accepted_total = stored_events(data, database_url)
        # wrk ends a run with requests in flight: the server still stores them, unanswered (at most one per
        # connection); they are stored but not counted as accepted. The warm-up's one may commit after the count.
        unanswered = 1 if parts is not None else 0
        for concurrency in (1, 8, 32):
            run = run_load(concurrency=concurrency, duration=duration)
            accepted_total += run["accepted"]
            unanswered += concurrency if parts is not None else 0
            run["visible_after_s"] = visibility_seconds(server, token, accepted_total, data)
            run["rss_mb"] = server.memory_kb("VmRSS") / 1024
            results["runs"].append(run)
        results["http_ceiling"] = run_load(concurrency=32, duration=duration, path="null")
        # Read and inflated as ingest must before it can answer, nothing parsed or stored: the bar for c=32.
        results["inflate_ceiling"] = run_load(concurrency=32, duration=duration, path="inflate")
        if parts is not None and has_table(data, database_url, "log_entry"):
            # Log lines alone, then the c=32 error load with a steady stream of lines beside it.
            results["logs"] = run_load(concurrency=16, duration=duration, log_pause_ms=0)
            # The error load beside the lines is compared with the same load alone just before and after it, on
            # the same database and in the same phase of the VM (the c=32 row above ran on a smaller database).
            around = [run_load(concurrency=32, duration=duration)]
            beside: dict = {}
            thread = threading.Thread(target=lambda: beside.update(wrk_load(
                parts, server, concurrency=LOG_BESIDE_CONNECTIONS, duration=duration, log_pause_ms=LOG_BESIDE_PAUSE_MS)))
            thread.start()
            errors_run = run_load(concurrency=32, duration=duration)
            thread.join()
            if not beside:
                sys.exit("the log load beside the error load failed (its error is printed above)")
            around.append(run_load(concurrency=32, duration=duration))
            results["errors_around_logs"] = around
            accepted_total += errors_run["accepted"] + sum(run["accepted"] for run in around)
            unanswered += 3 * 32
            if shutil.which("chrt"):
                # A reference for what the lines cost: the same load beside a busy loop at the lowest CPU priority
                # (SCHED_IDLE), which takes only the CPU the error load leaves idle. Where that idle time is not
                # free (this VM: docs/performance.md, "What log lines beside cost the error load"), it costs too.
                loop = subprocess.Popen(["chrt", "--idle", "0", "sh", "-c", "while :; do :; done"])
                try:
                    looped = run_load(concurrency=32, duration=duration)
                finally:
                    loop.kill()
                    loop.wait()
                after_loop = run_load(concurrency=32, duration=duration)
                results["errors_beside_idle_loop"] = {"beside": looped, "after": after_loop}
                accepted_total += looped["accepted"] + after_loop["accepted"]
                unanswered += 2 * 32
            errors_run["beside_logs"] = beside
            results["errors_beside_logs"] = errors_run
            accepted_lines = (results["logs"]["accepted"] + beside["accepted"]) * LOG_BATCH
            # At most one envelope per connection cut off unanswered at the end of each run.
            unanswered_lines = (16 + LOG_BESIDE_CONNECTIONS) * LOG_BATCH
        if args.smoke and parts is not None:
            # The Swift generator serves --soak (a steady rate, which wrk cannot do): check it works too.
            check = load(load_bin, server, templates, concurrency=4, duration=1)
            if check["accepted"] == 0 or check["errors"]:
                sys.exit(f"the Swift load generator failed: {check}")
            accepted_total += check["accepted"]
        results["peak_rss_mb"] = max(node.memory_kb("VmHWM") for node in nodes) / 1024
    finally:
        for node in reversed(nodes):
            node.stop()
    stored = stored_events(data, database_url)
    results["stored_events"] = stored
    if "logs" in results:
        results["stored_log_lines"] = stored_events(data, database_url, table="log_entry")
        results["accepted_log_lines"] = accepted_lines
    results["accepted_events"] = accepted_total
    results["bytes_per_event"] = database_bytes(data, database_url) / max(stored, 1)
    if postgres:
        postgres.stop()
    results["storage_ceiling"] = json.loads(subprocess.run(
        [str(load_bin), "sqlite-ceiling", "--templates", str(templates), "--database", str(work / "ceiling.sqlite"),
         "--duration", str(min(duration, 5))], capture_output=True, text=True, check=True).stdout)
    # Envelope parsing by item size (MB/s stays flat when parsing is linear in the item's size).
    results.update(json.loads(subprocess.run(
        [str(envelope_bin), *(["1", "16"] if args.smoke else ["1", "16", "64"])],
        capture_output=True, text=True, check=True).stdout))
    # The request side alone (parse, normalize and group an event; read log lines): steadier than the load runs.
    log_item = work / "log-item.json"
    log_item.write_text(json.dumps({"items": stamped_log_lines(LOG_BATCH)}))
    results.update(json.loads(subprocess.run(
        [str(pipeline_bin), str(templates), str(log_item),
         *(["1", "200"] if args.smoke else ["5", "4000"])], capture_output=True, text=True, check=True).stdout))
    report(results, smoke=args.smoke)
    path = args.json or work / "results.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {path}")
    # Every acknowledged event must be stored; beyond those, only the requests cut off at the end of a run.
    if not accepted_total <= stored <= accepted_total + unanswered:
        sys.exit(f"accepted {accepted_total} events but {stored} are stored (at most {unanswered} were cut off unanswered)")
    if "logs" in results and not accepted_lines <= results["stored_log_lines"] <= accepted_lines + unanswered_lines:
        sys.exit(f"accepted {accepted_lines} log lines but {results['stored_log_lines']} are stored "
                 f"(at most {unanswered_lines} were cut off unanswered)")
    # The run's databases go (hundreds of MB each run; a failed check above keeps them to look at); the server's
    # log, the templates and the results stay.
    for leftover in [*work.glob("data*"), work / "postgres", *work.glob("ceiling.sqlite*")]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def split_load(nodes: list, run_on, concurrency: int, **options) -> dict:
    """One run spread over several nodes at once, its connections split evenly (as a load balancer would): the
    events/s are the nodes' sum, the latency percentiles each the worst node's (an upper bound of the whole)."""
    shares = [concurrency // len(nodes) + (1 if n < concurrency % len(nodes) else 0) for n in range(len(nodes))]
    runs: list = [None] * len(nodes)

    def run(index):
        runs[index] = run_on(nodes[index], concurrency=shares[index], **options)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(nodes)) if shares[n] > 0]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [run for run in runs if run is not None]
    errors: dict = {}
    for run in done:
        for kind, count in run["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return dict(done[0], requests=sum(run["requests"] for run in done), accepted=sum(run["accepted"] for run in done),
                seconds=max(run["seconds"] for run in done), events_per_second=sum(run["events_per_second"] for run in done),
                concurrency=concurrency, errors=errors, nodes=[run["events_per_second"] for run in done],
                latency_ms={name: max(run["latency_ms"][name] for run in done) for name in done[0]["latency_ms"]})


def report(results: dict, smoke: bool):
    print(f"\nSpyglass ingest benchmark — {results['date']}, commit {results['commit']}, {results['machine']}, "
          f"{results['build']} build, generator {results['generator']}, database {results['database']}"
          + (f", {results['nodes']} nodes (events/s summed, latencies the worst node's)" if results.get("nodes", 1) > 1 else ""))
    if "postgres" in results:
        settings = results["postgres"]
        print(f"PostgreSQL {settings['version']} on this machine: " + ", ".join(
            f"{name}={settings[name]}" for name in Postgres.SETTINGS))
    print(f"{'run':<18}{'events/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU µs':>8}{'errors':>16}"
          f"{'visible':>9}")
    rows = results["runs"] + [dict(results["http_ceiling"], label="HTTP ceiling (32)")]
    if "inflate_ceiling" in results:
        rows.append(dict(results["inflate_ceiling"], label="inflate ceiling"))
    if "errors_beside_logs" in results:
        before, after = results["errors_around_logs"]
        rows += [dict(before, label="c=32 before logs"), dict(results["errors_beside_logs"], label="c=32 + logs"),
                 dict(after, label="c=32 after logs")]
    if "errors_beside_idle_loop" in results:
        loop = results["errors_beside_idle_loop"]
        rows += [dict(loop["beside"], label="c=32 + idle loop"), dict(loop["after"], label="c=32 after loop")]
    for run in rows:
        latency = run["latency_ms"]
        label = run.get("label", f"ingest c={run['concurrency']}")
        errors = ",".join(f"{k}:{v}" for k, v in run["errors"].items()) or "-"
        visible = f"{run['visible_after_s']:.2f}s" if "visible_after_s" in run else ""
        cpu = f"{run['cpu_us_per_request']:.0f}" if "cpu_us_per_request" in run else ""
        print(f"{label:<18}{run['events_per_second']:>10.0f}{latency['p50']:>9.2f}{latency['p90']:>9.2f}"
              f"{latency['p99']:>9.2f}{latency['max']:>9.1f}{cpu:>8}{errors:>16}{visible:>9}")
    storage = results["storage_ceiling"]["events_per_second"]
    http = results["http_ceiling"]["events_per_second"]
    top = results["runs"][-1]
    ceiling = min(storage, http)
    print(f"{'SQLite ceiling':<18}{storage:>10.0f}   (batched inserts of the same payloads, WAL, synchronous=FULL)")
    print("(CPU µs: the server's user + system CPU time over the run per request answered; with logs beside, the "
          "lines' share included)")
    if "logs" in results:
        print(f"\n{'log run':<18}{'lines/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU µs':>8}{'errors':>16}")
        for label, run in [(f"logs c={results['logs']['concurrency']}", results["logs"]),
                           ("beside c=32", results["errors_beside_logs"]["beside_logs"])]:
            latency = run["latency_ms"]
            errors = ",".join(f"{k}:{v}" for k, v in run["errors"].items()) or "-"
            cpu = f"{run['cpu_us_per_request'] / LOG_BATCH:.1f}" if "cpu_us_per_request" in run else ""
            print(f"{label:<18}{run['lines_per_second']:>10.0f}{latency['p50']:>9.2f}{latency['p90']:>9.2f}"
                  f"{latency['p99']:>9.2f}{latency['max']:>9.1f}{cpu:>8}{errors:>16}")
        print(f"({LOG_BATCH} lines an envelope, durable before 200; {results['stored_log_lines']} lines stored of "
              f"{results['accepted_log_lines']} accepted; CPU µs per line)")
        print(f"the lines beside cost the c=32 error load {100 * (1 - beside_share(results)):.0f}% of its events/s "
              f"(against the mean of the c=32 runs just before and after it)")
        if "errors_beside_idle_loop" in results:
            print(f"a busy loop at the lowest CPU priority beside it costs {100 * (1 - idle_loop_share(results)):.0f}% "
                  f"(the same comparison, with the runs after the lines and after the loop): what the CPU the error "
                  f"load leaves idle is worth on this machine")
    print(f"\ningest at c=32: {top['events_per_second']:.0f} events/s = {100 * top['events_per_second'] / ceiling:.0f}% of the lower ceiling "
          f"({'HTTP' if http <= storage else 'SQLite'}, {ceiling:.0f}/s)")
    print(f"peak RSS {results['peak_rss_mb']:.0f} MB; {results['bytes_per_event']:.0f} bytes of database per event; "
          f"{results['stored_events']} stored of {results['accepted_events']} accepted")
    print("envelope parsing: " + ", ".join(
        f"{row['item_mib']} MiB item {row['mib_per_second']:.0f} MiB/s" for row in results["envelope_parse"]))
    pipeline = results["request_pipeline"]
    print(f"request side alone (one thread, best of {pipeline['rounds']}): an event parsed {pipeline['parse_us']:.1f} µs, "
          f"normalized and grouped {pipeline['normalize_us']:.1f} µs, freed {pipeline['free_us']:.1f} µs "
          f"(as a tree); read from its bytes as ingest reads it {pipeline['bytes_us']:.1f} µs, freed "
          f"{pipeline['bytes_free_us']:.1f} µs ({pipeline['from_bytes']} of {pipeline['events']} events without a "
          f"tree); a log line read {pipeline['log_line_us']:.2f} µs")
    if smoke:
        return
    budget = POSTGRES_BUDGET if results["database"] == "postgres" else BUDGET
    checks = [
        ("events/s at c=32", top["events_per_second"], ">=", budget["events_per_second"]),
        ("p99 ms at c=32", top["latency_ms"]["p99"], "<", budget["p99_ms"]),
        ("peak RSS MB", results["peak_rss_mb"], "<", budget["rss_mb"]),
        ("DB bytes/event", results["bytes_per_event"], "<", budget["bytes_per_event"]),
        ("p50 ms at c=1", results["runs"][0]["latency_ms"]["p50"], "<", budget["p50_ms_c1"]),
    ]
    if "logs" in results:
        beside = results["errors_beside_logs"]
        checks += [
            ("log lines/s", results["logs"]["lines_per_second"], ">=", LOG_BUDGET["lines_per_second"]),
            ("events/s at c=32 with logs beside", beside["events_per_second"], ">=", budget["events_per_second"]),
            ("p99 ms at c=32 with logs beside", beside["latency_ms"]["p99"], "<", budget["p99_ms"]),
        ]
    print("\nbudget (first step):")
    for name, value, op, limit in checks:
        ok = value >= limit if op == ">=" else value < limit
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {value:.1f} (budget {op} {limit})")
    if results["database"] != "sqlite" or "inflate_ceiling" not in results:
        return
    # The issue's figures are medians of three runs: the c=32 row and, when the logs ran, the c=32 runs without
    # lines just before and after them (on the grown database, in the same phase of the VM).
    alone = [top] + results.get("errors_around_logs", [])
    cpu_runs = sorted(run["cpu_us_per_request"] for run in alone)
    rate_runs = sorted(run["events_per_second"] for run in alone)
    cpu_median, rate_median = cpu_runs[len(alone) // 2], rate_runs[len(alone) // 2]
    targets = [
        (f"server CPU µs per event at c=32 (median of {', '.join(f'{v:.0f}' for v in cpu_runs)})", cpu_median, "<=",
         TARGET["cpu_us_per_event"]),
        (f"c=32 share of the inflate ceiling (median of {', '.join(f'{v:.0f}' for v in rate_runs)} events/s)",
         rate_median / results["inflate_ceiling"]["events_per_second"], ">=", TARGET["share_of_inflate_ceiling"]),
        ("p99 ms at c=32", top["latency_ms"]["p99"], "<", TARGET["p99_ms"]),
        ("peak RSS MB", results["peak_rss_mb"], "<", TARGET["rss_mb"]),
        ("DB bytes/event", results["bytes_per_event"], "<=", TARGET["bytes_per_event"]),
        ("p50 ms at c=1", results["runs"][0]["latency_ms"]["p50"], "<", TARGET["p50_ms_c1"]),
    ]
    print("targets (next step: half the inflate ceiling; the soak's p99 windows are checked by --soak):")
    for name, value, op, limit in targets:
        ok = {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {value:.2f} (target {op} {limit})")


def share(run: dict, *alone: dict) -> float:
    """`run`'s events/s as a share of the mean of the `alone` runs' (the same load without what ran beside it)."""
    return run["events_per_second"] / max(sum(other["events_per_second"] for other in alone) / len(alone), 1)


def beside_share(results: dict) -> float:
    """The c=32 error load's events/s with log lines beside it, as a share of the mean of the same load alone just
    before and after it."""
    return share(results["errors_beside_logs"], *results["errors_around_logs"])


def idle_loop_share(results: dict) -> float:
    """The c=32 error load's events/s beside a busy loop at the lowest CPU priority, as a share of the mean of the same
    load alone just before (after the lines) and after it."""
    loop = results["errors_beside_idle_loop"]
    return share(loop["beside"], results["errors_around_logs"][1], loop["after"])


def soak(args, load_bin, server, templates, results):
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(server, samples, stop, 10), daemon=True)
    sampler.start()
    seconds = args.soak_minutes * 60
    process = subprocess.Popen([str(load_bin), "load", "--url", server.url, "--key", server.key, "--project", server.project,
                                "--templates", str(templates), "--concurrency", "16", "--rate", "1000",
                                "--duration", str(seconds), "--window", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Each window's figures are over every request answered in it; "w0 p99" is worker 0's alone (1/16 of them),
    # which is all the soak reported before 2026-12-06's eighteenth session.
    print(f"{'minute':>7}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'w0 p99':>9}{'RSS MB':>9}")
    windows = []
    for line in process.stderr:
        window = json.loads(line)
        rss = samples[-1][1] / 1024 if samples else 0
        windows.append(dict(window, rss_mb=rss))
        print(f"{window['elapsed'] / 60:>7.1f}{window['events_per_second']:>10.0f}{window['latency_ms']['p50']:>9.2f}"
              f"{window['latency_ms']['p99']:>9.2f}{window['worker0_latency_ms']['p99']:>9.2f}{rss:>9.0f}")
    total = json.loads(process.stdout.read())
    stop.set()
    results["soak"] = {"summary": total, "windows": windows, "rss_samples": samples}
    print(f"total: {total['events_per_second']:.0f} events/s, p99 {total['latency_ms']['p99']:.2f} ms, errors {total['errors']}")
    if windows:
        # Issue "ingest at half the HTTP ceiling": every window's p99 within 2x of the first's, RSS < 100 MB throughout.
        first, worst = windows[0]["latency_ms"]["p99"], max(window["latency_ms"]["p99"] for window in windows)
        peak = max((rss for _, rss in samples), default=0) / 1024
        for name, ok, text in [("p99 windows", worst <= 2 * first, f"worst {worst:.2f} ms, first {first:.2f} ms (target <= 2x)"),
                               ("RSS", peak < TARGET["rss_mb"], f"peak {peak:.0f} MB (target < {TARGET['rss_mb']})")]:
            print(f"  {'ok  ' if ok else 'MISS'} {name}: {text}")
    path = args.json or Path(tempfile.mkdtemp()) / "soak.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
