"""The Swift SDK as a light dependency: a package that depends on this repository for the SDK (`traits: []`)
resolves only what the SDK's products need, builds from a clean scratch path and runs; the server's packages
(GRDB, postgres-nio, Mustache, Prometheus, …) stay out of its graph."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What Spyglass, SpyglassLogging and SpyglassTesting need: swift-log, swift-service-lifecycle, and AsyncHTTPClient
# with the SwiftNIO family it brings.
SDK_PACKAGES = {
    "async-http-client", "swift-algorithms", "swift-asn1", "swift-async-algorithms", "swift-atomics",
    "swift-certificates", "swift-collections", "swift-configuration", "swift-crypto", "swift-distributed-tracing",
    "swift-http-structured-headers", "swift-http-types", "swift-log", "swift-nio", "swift-nio-extras",
    "swift-nio-http2", "swift-nio-ssl", "swift-nio-transport-services", "swift-numerics", "swift-service-context",
    "swift-service-lifecycle", "swift-system",
}
# The middleware's trait adds Hummingbird, and swift-metrics, which Hummingbird uses.
HUMMINGBIRD_PACKAGES = SDK_PACKAGES | {"hummingbird", "swift-metrics"}
# Packages only the server uses: none may reach an SDK user's graph.
SERVER_ONLY = {
    "grdb.swift", "postgres-nio", "hummingbird-auth", "swift-mustache", "swift-prometheus", "swift-argument-parser",
}

PROBE = """\
import Spyglass
import SpyglassLogging
import SpyglassTesting

let transport = TestTransport()
_ = SpyglassSDK.start { options in
    options.dsn = "http://public@127.0.0.1:9/1"
    options.transport = transport
}
SpyglassSDK.capture(message: "probe")
await SpyglassSDK.flush(timeout: .seconds(10))
print("events:", transport.events.count, SpyglassLogHandler.self)
"""


def write_probe(directory: Path, traits: str, products: list[str]) -> Path:
    (directory / "Sources" / "Probe").mkdir(parents=True)
    (directory / "Sources" / "Probe" / "main.swift").write_text(PROBE)
    dependencies = ", ".join(f'.product(name: "{name}", package: "spyglass")' for name in products)
    (directory / "Package.swift").write_text(f"""\
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "probe",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "spyglass", path: {json.dumps(str(ROOT))}, traits: {traits})],
    targets: [.executableTarget(name: "Probe", dependencies: [{dependencies}])]
)
""")
    return directory


def swift(directory: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["swift", *args, "--package-path", str(directory), "--scratch-path", str(directory / ".build")],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "SWIFTPM_NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def resolved(directory: Path) -> set[str]:
    pins = json.loads((directory / "Package.resolved").read_text())["pins"]
    return {pin["identity"] for pin in pins}


@pytest.mark.xdist_group("swift-build")
def test_a_package_using_the_sdk_resolves_builds_and_runs_with_the_sdks_packages_only(tmp_path):
    probe = write_probe(tmp_path / "probe", "[]", ["Spyglass", "SpyglassLogging", "SpyglassTesting"])
    swift(probe, "package", "resolve", timeout=600)
    packages = resolved(probe)
    assert not packages & SERVER_ONLY, f"server packages in an SDK user's graph: {sorted(packages & SERVER_ONLY)}"
    assert packages == SDK_PACKAGES, f"unexpected: {sorted(packages - SDK_PACKAGES)}, missing: {sorted(SDK_PACKAGES - packages)}"

    swift(probe, "build", timeout=1800)
    binary = Path(swift(probe, "build", "--show-bin-path", timeout=120).stdout.strip()) / "Probe"
    ran = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("events: 1 "), ran.stdout


def test_the_hummingbird_trait_adds_hummingbird_and_nothing_of_the_server(tmp_path):
    probe = write_probe(tmp_path / "probe", '["Hummingbird"]', ["Spyglass", "SpyglassHummingbird"])
    swift(probe, "package", "resolve", timeout=600)
    packages = resolved(probe)
    assert packages == HUMMINGBIRD_PACKAGES, (
        f"unexpected: {sorted(packages - HUMMINGBIRD_PACKAGES)}, missing: {sorted(HUMMINGBIRD_PACKAGES - packages)}"
    )


def test_without_traits_the_package_brings_the_server_as_before(tmp_path):
    # The default (the Server trait) is what `swift build` here uses: every package, the server's included.
    probe = write_probe(tmp_path / "probe", "[.defaults]", ["Spyglass"])
    swift(probe, "package", "resolve", timeout=600)
    assert SERVER_ONLY <= resolved(probe)
