"""JavaScript source maps as a team moving from Sentry uses them: minify a program with a real minifier
(calmjs.parse, with a Source Map v3), `sentry-cli sourcemaps inject` and `upload` (chunk upload, artifact bundle
assembly), run the minified code with `node` so it throws, send the error shaped as Sentry's JavaScript SDK shapes
it (frames from `Error.stack`, `debug_meta` from the injected `_sentryDebugIds`), then read the event back: the API
and the issue page show the original functions, lines and source, with the minified frames kept as "raw"."""

import io
import json
import re
import subprocess
import time
import uuid

import pytest
import requests
import sentry_sdk

from test_hostile_input import session_for
from test_sentry_cli import cli  # noqa: F401 (fixture)

# Bundles and their files live in storage: both backends.
pytestmark = pytest.mark.backends

PROGRAM = """(function () {%s
    function parsePrice(text) {
        var value = Number(text);
        if (isNaN(value)) {
            throw new Error("not a price: " + text);
        }
        return value;
    }

    function computeTotal(items) {
        var total = 0;
        for (var i = 0; i < items.length; i++) {
            total += parsePrice(items[i]);
        }
        return total;
    }

    computeTotal(["1.50", "2.25", "abc"]);
})();
"""
# A second build: one more function first, so the minifier names and places everything differently.
EXTRA = """
    function formatPrice(value) {
        return "$" + value.toFixed(2);
    }
"""

RUNNER = """
try { require(process.argv[2]); } catch (error) {
  console.log(JSON.stringify({stack: error.stack, message: error.message, debugIds: globalThis._sentryDebugIds || {}}));
}
"""

STACK_LINE = re.compile(r"^\s*at (?:(?P<function>.+?) \()?(?P<path>[^()]+?):(?P<line>\d+):(?P<column>\d+)\)?$")


def build(directory, extra=""):
    """app.js minified into directory/app.min.js with its map (sourcesContent embedded), as a bundler leaves them."""
    from calmjs.parse import es5
    from calmjs.parse.rules import minify, obfuscate
    from calmjs.parse.sourcemap import encode_sourcemap, write
    from calmjs.parse.unparsers.es5 import Unparser

    directory.mkdir(parents=True)
    source = PROGRAM % extra
    out = io.StringIO()
    mappings, _, names = write(Unparser(rules=(minify(), obfuscate()))(es5(source)), out)
    source_map = encode_sourcemap("app.min.js", mappings, ["app.js"], names)
    source_map["sourcesContent"] = [source]
    (directory / "app.min.js").write_text(out.getvalue() + "\n//# sourceMappingURL=app.min.js.map\n")
    (directory / "app.min.js.map").write_text(json.dumps(source_map))
    return source


def run_node(tmp_path, script):
    runner = tmp_path / "runner.js"
    runner.write_text(RUNNER)
    result = subprocess.run(["node", str(runner), str(script)], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def js_event(thrown, platform="node", abs_path=None, release=None):
    """The event Sentry's JavaScript SDK sends for `thrown`: frames parsed from the V8 stack, oldest first, and a
    `sourcemap` image per file the injected snippet registered."""
    frames = []
    for line in thrown["stack"].splitlines()[1:]:
        match = STACK_LINE.match(line)
        assert match, line
        path = match["path"]
        frames.append({
            "function": match["function"] or "?", "filename": path, "abs_path": abs_path or path,
            "lineno": int(match["line"]), "colno": int(match["column"]),
            "in_app": not path.startswith("node:"),
        })
    frames.reverse()
    images = []
    for stack, debug_id in thrown["debugIds"].items():
        path = next(STACK_LINE.match(line)["path"] for line in stack.splitlines()[1:] if STACK_LINE.match(line))
        images.append({"type": "sourcemap", "code_file": abs_path or path, "debug_id": debug_id})
    event = {
        "event_id": uuid.uuid4().hex, "platform": platform, "level": "error",
        "exception": {"values": [{"type": "Error", "value": thrown["message"], "stacktrace": {"frames": frames},
                                  "mechanism": {"type": "onuncaughtexception", "handled": False}}]},
    }
    if images:
        event["debug_meta"] = {"images": images}
    if release:
        event["release"] = release
    return event


def send(server, event):
    sentry_sdk.init(dsn=server.dsn, default_integrations=False)
    sentry_sdk.capture_event(event)
    sentry_sdk.flush()
    return event["event_id"]


def stored(api, event_id):
    for _ in range(50):
        response = api.get(f"projects/spyglass/default/events/{event_id}/")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"event {event_id} was not stored")


def exception_value(event):
    entry = next(entry for entry in event["entries"] if entry["type"] == "exception")
    return entry["data"]["values"][0]


def in_app(frames):
    return [frame for frame in frames if frame.get("in_app")]


def test_uploaded_maps_turn_minified_frames_into_the_original_functions_lines_and_source(cli, tmp_path):
    api, server = cli.api, cli.server
    source = build(tmp_path / "dist")
    injected = cli("sourcemaps", "inject", str(tmp_path / "dist")).stdout
    debug_id = re.search(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ", injected).group(1)
    uploaded = cli("sourcemaps", "upload", "--release", "shop@1.0.0", str(tmp_path / "dist"))
    assert "File processing complete" in uploaded.stdout, uploaded.stdout + uploaded.stderr
    bundles = api.get("projects/spyglass/default/files/artifact-bundles/").json()
    assert [(bundle["release"], bundle["fileCount"]) for bundle in bundles] == [("shop@1.0.0", 2)]
    # Uploading the same files again finds the bundle stored: nothing is sent twice.
    assert "Nothing to upload" in cli("sourcemaps", "upload", "--release", "shop@1.0.0", str(tmp_path / "dist")).stdout

    thrown = run_node(tmp_path, tmp_path / "dist" / "app.min.js")
    assert list(thrown["debugIds"].values()) == [debug_id]
    event = stored(api, send(server, js_event(thrown)))
    value = exception_value(event)
    frames = in_app(value["stacktrace"]["frames"])
    lines = source.splitlines()
    # Oldest first: the anonymous wrapper's call, computeTotal's loop, parsePrice's throw.
    assert [(frame["function"], frame["filename"], frame["lineno"]) for frame in frames[-2:]] == [
        ("computeTotal", "app.js", lines.index("            total += parsePrice(items[i]);") + 1),
        ("parsePrice", "app.js", lines.index('            throw new Error("not a price: " + text);') + 1),
    ]
    top = frames[-1]
    assert top["context_line"] == '            throw new Error("not a price: " + text);'
    assert top["pre_context"][-1] == "        if (isNaN(value)) {" and top["post_context"][0] == "        }"
    assert top["data"]["sourcemap"] == f"debug-id:{debug_id}"
    # The frames as sent stay readable: minified names, positions in app.min.js.
    raw = in_app(value["rawStacktrace"]["frames"])
    assert raw[-1]["abs_path"].endswith("dist/app.min.js") and raw[-1]["function"] != "parsePrice"
    assert [frame["lineno"] for frame in raw] == [3] * len(raw)
    issue = api.get(f"issues/{event['groupID']}/").json()
    assert "parsePrice" in issue["culprit"] and issue["title"] == "Error: not a price: abc"

    page = session_for(server, password=cli.password).get(
        f"{server.url}/organizations/spyglass/issues/{event['groupID']}/", timeout=10).text
    # The frames' function names, not only the source lines around them.
    assert '<span class="function">parsePrice</span>' in page and '<span class="function">computeTotal</span>' in page
    assert "throw new Error(&quot;not a price: &quot; + text);" in page or 'throw new Error("not a price: " + text);' in page
    raw_section = page[page.index("Raw: the frames as sent"):]
    assert "app.min.js" in raw_section.split("</details>")[0]


def test_a_new_build_of_the_same_code_groups_into_the_same_issue(cli, tmp_path):
    api, server = cli.api, cli.server
    events = []
    for name, extra in (("one", ""), ("two", EXTRA)):
        build(tmp_path / name, extra)
        cli("sourcemaps", "inject", str(tmp_path / name))
        cli("sourcemaps", "upload", str(tmp_path / name))
        events.append(stored(api, send(server, js_event(run_node(tmp_path, tmp_path / name / "app.min.js")))))
    first, second = (in_app(exception_value(event)["rawStacktrace"]["frames"]) for event in events)
    # The builds differ in their files' paths (as a bundler's hashed names do) and where the minifier put things...
    assert {f["filename"] for f in first}.isdisjoint({f["filename"] for f in second})
    assert [f["colno"] for f in first] != [f["colno"] for f in second]
    # ...yet the mapped frames are one function and line: one issue.
    assert events[0]["groupID"] == events[1]["groupID"]
    assert len(api.issues()) == 1


def test_clients_without_debug_ids_are_mapped_by_release_and_url(cli, tmp_path):
    """Older SDKs send no debug_meta: the bundle uploaded for the event's release is searched for the frame's URL
    (`~/app.min.js` matches any scheme and host), then for the map its sourceMappingURL names."""
    api, server = cli.api, cli.server
    build(tmp_path / "dist")
    cli("sourcemaps", "upload", "--release", "web@2.0.0", str(tmp_path / "dist"))
    thrown = run_node(tmp_path, tmp_path / "dist" / "app.min.js")
    url = "https://shop.example.com/app.min.js"
    without_release = stored(api, send(server, js_event(thrown, platform="javascript", abs_path=url)))
    assert "rawStacktrace" not in exception_value(without_release)
    assert in_app(exception_value(without_release)["stacktrace"]["frames"])[-1]["abs_path"] == url
    mapped = stored(api, send(server, js_event(thrown, platform="javascript", abs_path=url, release="web@2.0.0")))
    top = in_app(exception_value(mapped)["stacktrace"]["frames"])[-1]
    assert (top["function"], top["filename"]) == ("parsePrice", "app.js")
    assert top["data"]["sourcemap"] == "~/app.min.js.map"


def test_chunk_upload_refuses_what_is_not_what_it_claims(cli):
    api, server = cli.api, cli.server
    options = api.get("organizations/spyglass/chunk-upload/").json()
    assert options["hashAlgorithm"] == "sha1" and options["compression"] == ["gzip"] and options["chunkSize"] > 0
    url = f"{server.url}/api/0/{options['url']}"
    wrong = requests.post(url, headers=api.headers, files=[("file", ("0" * 40, b"not this"))], timeout=10)
    assert wrong.status_code == 400 and "SHA-1" in wrong.json()["detail"]
    not_form = requests.post(url, headers=api.headers, data=b"x", timeout=10)
    assert not_form.status_code == 400 and "multipart/form-data" in not_form.json()["detail"]
    # A bundle whose chunk is not a ZIP archive: assembled, checked, refused with the reason.
    import hashlib
    data = b"this is no zip archive"
    checksum = hashlib.sha1(data).hexdigest()
    ok = requests.post(url, headers=api.headers, files=[("file", (checksum, data))], timeout=10)
    assert ok.status_code == 200, ok.text
    body = {"checksum": checksum, "chunks": [checksum], "projects": ["default"]}
    answer = api.post_json("organizations/spyglass/artifactbundle/assemble/", body).json()
    assert answer["state"] == "error" and "not a ZIP file" in answer["detail"]
    missing = api.post_json("organizations/spyglass/artifactbundle/assemble/", {**body, "chunks": ["1" * 40]}).json()
    assert missing == {"state": "not_found", "missingChunks": ["1" * 40]}
    bad = api.post_json("organizations/spyglass/artifactbundle/assemble/", {**body, "checksum": "nope"})
    assert bad.status_code == 400 and "checksum" in bad.json()["detail"]

