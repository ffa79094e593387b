"""docker/Dockerfile against what the build needs, read from the files that name it (no Docker engine runs here):
the apt packages of Package.swift's system libraries and of .ci/run, the runtime libraries they link, and the
directories Package.swift's targets live in."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "docker/Dockerfile").read_text()
PACKAGE = (ROOT / "Package.swift").read_text()
CI = (ROOT / ".ci/run").read_text()

# What .ci/run installs only to run the tests and the benchmark, not to build.
TEST_ONLY = {"python3-venv", "chromium", "chromium-driver", "wrk", "postgresql", "git"}
# The runtime library of each build package; a new build package without an entry here fails the test.
RUNTIME = {"libsqlite3-dev": "libsqlite3-0", "libssl-dev": "libssl3", "zlib1g-dev": "zlib1g", "libbrotli-dev": "libbrotli1",
           "libdeflate-dev": "libdeflate0"}


def stages():
    build, run = DOCKERFILE.split("\nFROM debian:", 1)
    return build, run


def apt_packages(text: str) -> set[str]:
    packages = set()
    for command in re.findall(r"apt-get install ([^&]+)", text):
        packages |= {word for word in command.replace("\\", " ").split() if not word.startswith("-")}
    return packages


def test_the_build_stage_installs_every_package_the_build_needs():
    declared = set()
    for providers in re.findall(r"\.apt\(\[([^\]]*)\]\)", PACKAGE):
        declared |= set(re.findall(r'"([^"]+)"', providers))
    ci = set(re.search(r"packages=\(([^)]*)\)", CI).group(1).split()) - TEST_ONLY
    build, _ = stages()
    assert declared and declared <= ci, "Package.swift's system libraries must be installed by .ci/run"
    assert apt_packages(build) == ci
    assert set(RUNTIME) == ci, "name the runtime library of each build package in RUNTIME"


def test_the_runtime_stage_has_each_library_the_binary_links():
    _, run = stages()
    assert {RUNTIME[package] for package in RUNTIME} <= apt_packages(run)


def test_the_build_context_has_every_directory_a_target_lives_in():
    build, _ = stages()
    copied = set(re.findall(r"^COPY (\S+) ", build, re.MULTILINE))
    needed = {"Package.swift", "Sources", "Tests", "web"}
    needed |= {path.split("/")[0] for path in re.findall(r'path: "([^"]+)"', PACKAGE)}
    assert needed <= copied


def test_the_image_runs_as_a_user_with_a_data_volume_and_a_health_check():
    _, run = stages()
    user = re.search(r"^USER (\S+)", run, re.MULTILINE).group(1)
    assert user not in ("root", "0")
    assert re.search(r"^VOLUME /data", run, re.MULTILINE)
    assert "HEALTHCHECK" in run and "/readyz" in run
