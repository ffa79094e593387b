"""The Swift SDK against the real server: the example command-line tool's events, and the disk spool."""

import os
import socket
import subprocess
from pathlib import Path

import sentry_sdk

from conftest import BIN, clean_env, query, stored_events
from test_hostile_input import PASSWORD, session_for
from test_issues_api import API

# The examples are packages of their own (sdk-examples/*/Package.swift); scripts/test builds them into .build-examples.
EXAMPLES_BIN = Path(__file__).resolve().parents[2] / ".build-examples" / "debug"
EXAMPLE_CLI = os.environ.get("SPYGLASS_EXAMPLE_CLI") or str(EXAMPLES_BIN / "spyglass-example-cli")


def run_example(dsn: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [EXAMPLE_CLI, *args], env=clean_env(SENTRY_DSN=dsn, SPYGLASS_SDK_DEBUG="1", **env),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_example_sends_its_error_chain_with_swift_frames_and_log_breadcrumbs(tmp_path, start_server):
    server = start_server(data_dir=tmp_path)
    result = run_example(server.dsn, "error")
    assert "sent" in result.stdout

    events = stored_events(tmp_path)
    assert len(events) == 1
    event = events[0]["payload"]
    assert event["platform"] == "swift" and event["release"] == "example-cli@1.0.0"
    assert event["logger"] == "inventory" and event["logentry"]["formatted"] == "inventory sync failed"
    assert ["warehouse", "berlin-1"] in event["tags"] and event["user"]["id"] == "cron"  # normalized tags are pairs
    assert event["sdk"]["name"] == "spyglass.swift" and "swift-log" in event["sdk"]["integrations"]
    assert event["contexts"]["runtime"]["name"] == "swift" and event["contexts"]["device"]["arch"]

    cause, outer = event["exception"]["values"]  # innermost first, as Sentry orders a chain
    assert cause["type"] == "SpyglassExampleCLI.InventoryError" and cause["value"] == "inventory line 2 has no quantity"
    assert outer["type"] == "SpyglassExampleCLI.SyncFailed" and outer["mechanism"] == {"type": "logging", "handled": True}

    # Where the cause was thrown: the newest frame is parseLine, with its file, line and source.
    frames = cause["stacktrace"]["frames"]
    newest = frames[-1]
    assert "Inventory.parseLine" in newest["function"]
    assert newest["filename"] == "Sources/SpyglassExampleCLI/main.swift" and newest["lineno"] > 0
    assert newest["in_app"] is True and "SpyglassSDK.trace" in newest["context_line"]
    assert any("Inventory.sync" in f.get("function", "") and f["in_app"] for f in frames)
    # The runtime's and the standard library's frames are not the app's.
    assert any(not f["in_app"] for f in frames)
    assert all(not f["in_app"] for f in frames if "libswift" in f.get("package", ""))

    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert crumbs == ["loading inventory", "parsed header"]

    # The server grouped it into an issue titled by the outermost error.
    from conftest import query
    titles = [row[0] for row in query(tmp_path, "SELECT title FROM issue")]
    assert titles and titles[0].startswith("SpyglassExampleCLI.SyncFailed: ")


def test_events_wait_in_the_spool_while_the_server_is_down_and_arrive_once(tmp_path, start_server):
    port = free_port()
    data = tmp_path / "data"
    spool = tmp_path / "spool"
    server = start_server(data_dir=data, args=("--port", str(port)))
    dsn = server.dsn
    assert server.stop() == 0

    # Server down: the event goes to the spool.
    down = run_example(dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    assert "spooled" in down.stderr
    assert len(list(spool.glob("*.envelope"))) == 1

    # Server up again: the next start sends the spool first, then its own event.
    start_server(data_dir=data, args=("--port", str(port)))
    run_example(dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    assert list(spool.glob("*.envelope")) == []
    events = stored_events(data)
    assert len(events) == 2 and len({e["event_id"] for e in events}) == 2
    assert all(e["payload"]["logentry"]["formatted"] == "inventory sync skipped: nothing to do" for e in events)

    # Nothing is sent twice: another run adds only its own event.
    run_example(dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    assert len(stored_events(data)) == 3


EXAMPLE_SERVICE = os.environ.get("SPYGLASS_EXAMPLE_SERVICE") or str(EXAMPLES_BIN / "spyglass-example-service")


def test_hummingbird_example_reports_5xx_errors_with_the_request_and_not_4xx(tmp_path, start_server):
    import time

    import requests

    server = start_server(data_dir=tmp_path, env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))
    # The in-process sentry-sdk's stdlib integration would add one sentry-trace header to every request made here
    # (and the middleware would rightly continue that one trace): without it each request starts its own.
    sentry_sdk.init(dsn=None, default_integrations=False)
    port = free_port()
    service = subprocess.Popen(
        [EXAMPLE_SERVICE, "--port", str(port)], env=clean_env(SENTRY_DSN=server.dsn),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and service.poll() is None, "the example service did not start"
            time.sleep(0.1)

        assert requests.post(f"{base}/orders/7/pay", timeout=5).status_code == 200
        assert requests.get(f"{base}/orders/5", timeout=5).status_code == 404
        failed = requests.post(
            f"{base}/orders/13/pay?retry=1", timeout=5,
            headers={"Cookie": "session=secret", "Authorization": "Bearer secret", "X-Request-Id": "req-42"},
        )
        assert failed.status_code == 500

        deadline = time.monotonic() + 15
        while not (events := stored_events(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # nothing else may arrive (the 404 and the 200 are not reported)
        events = stored_events(tmp_path)
        assert len(events) == 1
        event = events[0]["payload"]
        exception = event["exception"]["values"][-1]
        assert exception["type"] == "SpyglassExampleService.OrderNotPayable"
        assert exception["mechanism"] == {"type": "hummingbird", "handled": False}
        assert "Payments.charge" in exception["stacktrace"]["frames"][-1]["function"]
        request = event["request"]
        assert request["method"] == "POST" and request["url"].endswith(f"/orders/13/pay")
        assert request["query_string"] in ("retry=1", [["retry", "1"]])
        headers = {k.lower(): v for k, v in (request["headers"].items() if isinstance(request["headers"], dict) else request["headers"])}
        assert headers["x-request-id"] == "req-42"
        assert "cookie" not in headers and "authorization" not in headers
        assert event["transaction"] == "POST /orders/{id}/pay"
        crumbs = [(c.get("category"), c.get("message")) for c in event["breadcrumbs"]["values"]]
        assert ("http.server", "POST /orders/13/pay") in crumbs and ("payments", "charging order") in crumbs
        # Each request has its own scope: the 200 request's log is not among this event's breadcrumbs.
        assert all(c.get("data", {}).get("order") != "7" for c in event["breadcrumbs"]["values"])

        # The request's swift-log lines went as structured logs in the request's trace, beside its error.
        trace = event["contexts"]["trace"]["trace_id"]
        api = API(server, tmp_path)
        deadline = time.monotonic() + 15
        while len(lines := api.get("projects/spyglass/default/logs/", query="charging").json()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        by_order = {line["attributes"]["order"]["value"]: line for line in lines}
        assert set(by_order) == {"7", "13"}, lines
        charged = by_order["13"]
        assert charged["traceId"] == trace and charged["level"] == "info" and charged["release"] == "example-service@1.0.0"
        assert charged["attributes"]["amount_cents"] == {"type": "integer", "value": 1250}
        assert charged["attributes"]["logger.name"]["value"] == "payments"
        assert charged["sdk"].startswith("spyglass.swift")
        assert by_order["7"]["traceId"] != trace, "each request has its own trace"
        # A caller's sentry-trace header continues its trace.
        incoming = "4bf92f3577b34da6a3ce929d0e0e4736"
        assert requests.post(f"{base}/orders/21/pay", timeout=5, headers={"sentry-trace": f"{incoming}-00f067aa0ba902b7-1"}).status_code == 200
        deadline = time.monotonic() + 15
        while not (continued := api.get("projects/spyglass/default/logs/", trace=incoming).json()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [line["attributes"]["order"]["value"] for line in continued] == ["21"]
        # The event's page shows the request's line.
        issue = api.get("projects/spyglass/default/issues/").json()[0]
        page = session_for(server).get(f"{server.url}/organizations/spyglass/issues/{issue['id']}/", timeout=10).text
        assert "charging order" in page and "Logs of this trace" in page

        # The SDK runs as a service of the application's ServiceGroup: SIGTERM stops the HTTP server, then the
        # SDK's service, which sends what is still queued before the process exits.
        assert requests.post(f"{base}/orders/13/pay?last=1", timeout=5).status_code == 500
        service.terminate()
        assert service.wait(timeout=15) == 0, service.stderr.read()
        assert len(stored_events(tmp_path)) == 2
    finally:
        service.terminate()
        service.wait(timeout=15)


def test_python_example_reports_logging_errors(tmp_path, start_server):
    import sys

    server = start_server(data_dir=tmp_path)
    script = Path(__file__).resolve().parents[2] / "sdk-examples" / "python" / "app.py"
    result = subprocess.run(
        [sys.executable, str(script)], env=clean_env(SENTRY_DSN=server.dsn), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    events = {e["payload"]["logentry"]["formatted"] if "logentry" in e["payload"] else "": e["payload"] for e in stored_events(tmp_path)}
    failed = events["monthly report failed"]
    assert failed["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert failed["exception"]["values"][-1]["stacktrace"]["frames"][-1]["function"] == "monthly_total"
    assert [c["message"] for c in failed["breadcrumbs"]["values"]] == ["building the monthly report"]
    assert events["disk quota at 97%"]["level"] == "error"


import pytest


@pytest.mark.parametrize(
    ("mode", "signal", "function"),
    [
        ("crash-nil", "SIGILL", "Crash.unwrapMissingPrice"),
        ("crash-index", "SIGILL", "Crash.readPastTheEnd"),
        ("crash-fatal", "SIGILL", "Crash.giveUp"),
        ("crash-segv", "SIGSEGV", "Crash.dereferenceNull"),
        ("crash-overflow", "SIGSEGV", "Crash.recurse"),
        # On a thread of the task pool, not the one that called start: it got its alternate stack when the
        # task called into the SDK.
        ("crash-overflow-task", "SIGSEGV", "Crash.recurse"),
    ],
)
# Symbolicating a crash report costs seconds of CPU in a debug build: these run one at a time, on one worker.
@pytest.mark.xdist_group("crash-reports")
def test_a_crash_is_reported_on_the_next_start_with_its_frames(tmp_path, start_server, mode, signal, function):
    server = start_server(data_dir=tmp_path / "data")
    spool = tmp_path / "spool"
    # The runtime's own crash report is off here only to save time; the handler chains to it otherwise.
    env = clean_env(SENTRY_DSN=server.dsn, SPYGLASS_SDK_SPOOL=str(spool), SWIFT_BACKTRACE="enable=no")
    crashed = subprocess.run([EXAMPLE_CLI, mode], env=env, capture_output=True, text=True, timeout=60)
    assert crashed.returncode < 0, f"{mode} did not crash: {crashed.stdout} {crashed.stderr}"
    assert stored_events(tmp_path / "data") == []  # nothing could be sent while crashing

    run_example(server.dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    events = stored_events(tmp_path / "data")
    fatal = [e["payload"] for e in events if e["level"] == "fatal"]
    assert len(fatal) == 1 and len(events) == 2
    exception = fatal[0]["exception"]["values"][-1]
    assert exception["type"] == signal
    assert exception["mechanism"] == {"type": "signalhandler", "handled": False}
    frames = exception["stacktrace"]["frames"]
    crashing = [f for f in frames if function in f.get("function", "")]
    assert crashing, [f.get("function") for f in frames]
    assert crashing[-1]["in_app"] is True and crashing[-1]["filename"] == "Sources/SpyglassExampleCLI/main.swift"
    assert crashing[-1]["lineno"] > 0
    # Reported once: a further start sends nothing more about it.
    run_example(server.dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    assert len([e for e in stored_events(tmp_path / "data") if e["level"] == "fatal"]) == 1


def test_the_crash_handler_chains_to_the_runtime_backtracer(tmp_path, start_server):
    server = start_server(data_dir=tmp_path)
    crashed = subprocess.run(
        [EXAMPLE_CLI, "crash-segv"], env=clean_env(SENTRY_DSN=server.dsn, SPYGLASS_SDK_SPOOL=str(tmp_path / "spool")),
        capture_output=True, text=True, timeout=60,
    )
    assert crashed.returncode < 0
    # The Swift runtime's own report still appears (our handler ran first and handed over).
    assert "Crash.dereferenceNull" in crashed.stderr + crashed.stdout
    assert list((tmp_path / "spool").glob("crash-*.bin"))


def test_signals_the_process_survives_are_not_reported_as_crashes(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data")
    spool = tmp_path / "spool"
    survived = run_example(server.dsn, "survive-signals", SPYGLASS_SDK_SPOOL=str(spool))
    assert "sent" in survived.stdout
    assert not list(spool.glob("crash-*.bin"))
    run_example(server.dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    events = stored_events(tmp_path / "data")
    assert sorted(e["level"] for e in events) == ["info", "warning"], [e["payload"].get("exception") for e in events]


# With the runtime's backtracer on (the default), abort() goes through it too: it resets the handlers and returns,
# and abort() raises again; the record must survive that.
@pytest.mark.xdist_group("crash-reports")
@pytest.mark.parametrize("backtracer", ["enable=no", "enable=yes"])
def test_an_abort_is_reported_with_the_frames_that_called_it(tmp_path, start_server, backtracer):
    server = start_server(data_dir=tmp_path / "data")
    spool = tmp_path / "spool"
    env = clean_env(SENTRY_DSN=server.dsn, SPYGLASS_SDK_SPOOL=str(spool), SWIFT_BACKTRACE=backtracer)
    crashed = subprocess.run([EXAMPLE_CLI, "crash-abort"], env=env, capture_output=True, text=True, timeout=60)
    assert crashed.returncode < 0
    run_example(server.dsn, "message", SPYGLASS_SDK_SPOOL=str(spool))
    fatal = [e["payload"] for e in stored_events(tmp_path / "data") if e["level"] == "fatal"]
    exception = fatal[0]["exception"]["values"][-1]
    assert exception["type"] == "SIGABRT"
    functions = [f.get("function", "") for f in exception["stacktrace"]["frames"]]
    assert any("abort" in f for f in functions) and any(f == "async_Main" or "main" in f.lower() for f in functions), functions
    assert any(f["in_app"] for f in exception["stacktrace"]["frames"])


def test_exit_flushes_what_is_queued(tmp_path, start_server):
    server = start_server(data_dir=tmp_path)
    run_example(server.dsn, "exit-now", SPYGLASS_SDK_SPOOL=str(tmp_path / "spool"))
    events = stored_events(tmp_path)
    assert [e["payload"]["logentry"]["formatted"] for e in events] == ["exiting right after capturing"]
    # The log line did not wait for its batch (100 lines or 5 s): the exit hook queued it.
    rows = query(tmp_path, "SELECT body, attributes FROM log_entry")
    assert [body for body, _ in rows] == ["exiting before the batch is full"] and '"code":0' in rows[0][1], rows
