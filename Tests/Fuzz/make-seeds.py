#!/usr/bin/env python3
"""Writes the committed fuzz seeds, Tests/Fuzz/seeds/<target>/, from what real clients send.

Needs `brotli` and `sentry-sdk` (the versions of Tests/e2e/requirements.txt):
    python3 -m venv /tmp/seeds && /tmp/seeds/bin/pip install brotli==1.2.0 sentry-sdk==2.75.0
    /tmp/seeds/bin/python Tests/Fuzz/make-seeds.py
Seeds are small on purpose: libFuzzer mutates them, and its default largest input is the largest seed.
"""

import gzip
import json
import pathlib
import shutil
import struct
import zlib

import brotli
import sentry_sdk
from sentry_sdk.transport import Transport

ROOT = pathlib.Path(__file__).resolve().parent / "seeds"

# Must stay byte for byte PayloadTarget.dictionary (Tests/Fuzz/Harness/PayloadTarget.swift): delta blobs carry
# its Adler-32.
DICTIONARY = (
    b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","level":"error","platform":"python","timestamp":1795000000.5,'
    b'"exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":'
    b'[{"filename":"app.py","function":"main","lineno":12,"in_app":true,"context_line":"    1 / 0"}]}}]},'
    b'"tags":[["tenant","acme"]],"sdk":{"name":"sentry.python","version":"2.75.0"}}'
)
DICTIONARY_ID = 7


def write(target: str, name: str, data: bytes) -> None:
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# --- What sentry-sdk 2.x sends -------------------------------------------------------------------------------

class Collect(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope.serialize())


def sdk_envelopes() -> list[bytes]:
    transport = Collect()
    sentry_sdk.init(
        dsn="https://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1",
        transport=transport,
        release="shop@1.0.0",
        environment="production",
        server_name="web-1",
        default_integrations=False,
        auto_session_tracking=False,
    )
    sentry_sdk.set_user({"id": "42", "email": "ada@example.com", "ip_address": "{{auto}}"})
    sentry_sdk.set_tag("tenant", "acme")
    sentry_sdk.set_context("order", {"id": 17, "total": 12.5})
    sentry_sdk.add_breadcrumb(category="http", message="GET /cart", level="info", data={"status": 200})
    sentry_sdk.add_breadcrumb(category="query", message="SELECT 1", level="debug")

    def checkout(cart):
        total = sum(cart) / len([])  # ZeroDivisionError, with locals and context lines
        return total

    try:
        checkout([1, 2, 3])
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    sentry_sdk.capture_message("payment provider slow", level="warning")
    with sentry_sdk.isolation_scope() as scope:
        scope.add_attachment(bytes=b"hello\nworld\n", filename="notes.txt", content_type="text/plain")
        sentry_sdk.capture_message("with an attachment")
    sentry_sdk.flush()
    return transport.envelopes


def items(envelope: bytes) -> list[tuple[dict, bytes]]:
    lines = envelope.split(b"\n", 1)[1]
    out = []
    while lines.strip():
        header_line, rest = lines.split(b"\n", 1)
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            payload, _, lines = rest.partition(b"\n")
        else:
            payload, lines = rest[:length], rest[length + 1:]
        out.append((header, payload))
    return out


def envelope(header: dict, *parts: tuple[dict, bytes]) -> bytes:
    out = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    for item_header, payload in parts:
        out += json.dumps(item_header, separators=(",", ":")).encode() + b"\n" + payload + b"\n"
    return out


# --- Events ---------------------------------------------------------------------------------------------------

def handmade_events() -> dict[str, bytes]:
    compact = lambda value: json.dumps(value, separators=(",", ":")).encode()
    return {
        "message-string.json": compact({"message": "hello world", "level": "warn", "timestamp": "2026-11-24T21:25:26.220336Z"}),
        "logentry.json": compact({"logentry": {"message": "user %s failed", "params": ["ada"]}, "level": "fatal",
                                  "timestamp": "2026-11-24 21:25:26", "release": "1.0", "environment": "none"}),
        "threads.json": compact({
            "event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC", "platform": "javascript", "timestamp": 1795000000,
            "threads": [{"name": "main", "stacktrace": {"frames": [
                {"abs_path": "https://shop.example/app.js", "function": "Object.<anonymous>", "lineno": 1, "colno": 99,
                 "pre_context": ["a", "b"], "context_line": "c", "post_context": ["d"]},
                {"module": "vendor", "function": "tick", "lineno": 9007199254740993}]}}],
            "breadcrumbs": [{"timestamp": "2026-11-24T21:25:26+01:00", "message": "click", "category": "ui.click"},
                            {"timestamp": 1795000000.123, "type": "http", "data": {"url": "/x", "status_code": 500}}],
            "tags": {"browser": "Firefox 130", "n": 3, "none": None},
            "request": {"method": "POST", "url": "https://shop.example/cart?id=1", "query_string": [["id", "1"]],
                        "headers": [["User-Agent", "Mozilla/5.0"], ["Cookie", "a=b"]], "data": {"item": 1},
                        "cookies": "a=b", "env": {"REMOTE_ADDR": "192.0.2.1"}},
            "contexts": {"os": {"type": "os", "name": "Linux"}, "browser": {"name": "Firefox", "version": "130"}},
            "extra": {"cart": [1, 2, 3]}, "user": {"ip_address": "{{auto}}"},
        }),
        "chained.json": compact({
            "exception": {"values": [
                {"type": "KeyError", "value": "'sku'", "module": "builtins",
                 "mechanism": {"type": "chained", "handled": True},
                 "stacktrace": {"frames": [{"filename": "cart.py", "function": "lookup", "lineno": 3, "in_app": True}]}},
                {"type": "ValueError", "value": "bad cart 0x7ffe12ab in 12ms", "mechanism": {"type": "excepthook", "handled": False},
                 "stacktrace": {"frames": [
                     {"filename": "lib/site-packages/django/core.py", "function": "get_response", "lineno": 47,
                      "vars": {"request": "<WSGIRequest>", "n": 1}},
                     {"filename": "shop/views.py", "function": "Cart.checkout", "lineno": 8, "in_app": True,
                      "context_line": "raise ValueError", "pre_context": ["def checkout(self):"], "post_context": []}]}}]},
            "fingerprint": ["{{ default }}", "cart"], "timestamp": "1795000000.25", "level": "ERROR",
            "release": "shop@2.0.0+abc", "server_name": "web-2", "user": {"username": "ada"},
        }),
        "odd.json": b'{"timestamp":NaN,"level":7,"tags":[["a",1],["b"],[2,"c"]],"message":{"message":"legacy"},'
                    b'"exception":[{"type":"E","value":"\\ud800x"}],"breadcrumbs":[{"timestamp":-1}],'
                    b'"threads":{"values":[{"stacktrace":{"frames":[{"lineno":-5,"context_line":"x"}]}}]},'
                    b'"release":"latest","environment":" prod ","user":{"id":12345678901234567890}}',
    }


# --- Seeds per target -----------------------------------------------------------------------------------------

def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    sdk = sdk_envelopes()
    events = handmade_events()
    sdk_event = next(payload for header, payload in items(sdk[0]) if header["type"] == "event")
    events["python-sdk-exception.json"] = sdk_event
    events["python-sdk-message.json"] = next(p for h, p in items(sdk[1]) if h["type"] == "event")

    # event: payloads as SDKs send them.
    for name, payload in events.items():
        write("event", name, payload)

    # json: the events, and small documents on the parser's edges.
    for name, payload in events.items():
        write("json", name, payload)
    edges = {
        "numbers.json": b'[0,-0,1.5e+3,-2E-2,123456789012345678901234567890,1e999,-Infinity,Infinity,NaN]',
        "strings.json": b'["\\u00e9\\ud83d\\ude00","\\ud800","\\udc00x","raw\ttab","\xff\xfe bad utf8","\\/\\b\\f\\n\\r\\t\\""]',
        "duplicates.json": b'{"a":1,"a":2,"b":{"a":[1,{"b":2,"c":{"a":3}}]},"c":{"a":1,"b":2},"\\u0061":4}',
        "nesting.json": b"[" * 40 + b"{}" + b"]" * 40,
        "many-keys.json": json.dumps({f"k{i}": i for i in range(20)} | {"k3": "again"}).encode(),
        "ingest-members.json": b'{"breadcrumbs":{"values":[]},"tags":{"extra":1,"vars":{"a":1}},"sdk":{},'
                               b'"exception":{"values":[{"stacktrace":{"frames":[{"vars":{"x":1},"pre_context":[]}]}}]}}',
        "log-lines.json": json.dumps({"items": [
            {"timestamp": 1795000000.5, "level": "info", "body": "order 42 paid", "trace_id": "0123456789ABCDEF0123456789abcdef",
             "span_id": "0123456789abcdef", "severity_number": 9, "attributes": {
                 "sentry.message.template": {"value": "order {id} paid", "type": "string"},
                 "sentry.release": {"value": "shop@1.0", "type": "string"}, "id": {"value": 42, "type": "integer"},
                 "ms": {"value": 1.5, "type": "double"}, "ok": {"value": True, "type": "boolean"},
                 "odd": {"value": [1], "type": "list"}, "id": {"value": "7", "type": "integer"}}},
            {"timestamp": "2026-11-24T21:25:26Z", "level": "WARNING", "body": "x", "attributes": None, "level": "warn"},
            {"timestamp": 1, "severity_number": 17, "body": "y", "attributes": {"sentry.severity_number": {"value": 21, "type": "integer"}}},
            7]}, separators=(",", ":")).encode(),
    }
    for name, payload in edges.items():
        write("json", name, payload)

    # envelope: sentry-sdk's, and both framings by hand, with item types the server keeps and skips.
    for index, data in enumerate(sdk):
        write("envelope", f"python-sdk-{index}.envelope", data)
    event = events["message-string.json"]
    write("envelope", "no-length.envelope", envelope({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}, ({"type": "event"}, event)))
    write("envelope", "dsn-header.envelope",
          b'{"dsn":"https://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1","sent_at":"2026-11-24T21:25:26Z"}\n'
          b'{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}\n'
          b'\xef\xbb\xbfHello\r\n\n'
          b'{"type":"event","content_type":"application/json","length":41}\n'
          b'{"message":"hello world","level":"error"}\n')
    write("envelope", "mixed.envelope",
          b'{}\n\n{"type":"session","length":0}\n\n'
          b'{"type":"sessions"}\n{"aggregates":[{"started":"2026-11-24T21:00:00Z","exited":3}]}\n'
          b'{"type":"client_report"}\n{"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":2}]}\n'
          b'{"type":"transaction","length":4}\n{}  \n{"type":"a","length":8}\n12345678\n'
          b'{"type":"user_report"}\n{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","name":"a","comments":"b"}')
    write("envelope", "truncated.envelope", b'{}\n{"type":"event","length":100}\n{"message":"x"}\n')

    # content: the first byte picks the decoder (byte % 3: gzip, deflate, brotli), the rest is the body.
    body = sdk[0]
    write("content", "gzip.bin", b"\x00" + gzip.compress(body, mtime=0))
    write("content", "gzip-two-members.bin", b"\x00" + gzip.compress(b"first\n", mtime=0) + gzip.compress(b"second\n", mtime=0))
    write("content", "gzip-trailing.bin", b"\x00" + gzip.compress(event, mtime=0) + b"\x00\x00garbage")
    write("content", "zlib.bin", b"\x01" + zlib.compress(body, 6))
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    write("content", "raw-deflate.bin", b"\x01" + raw.compress(event) + raw.flush())
    write("content", "zlib-empty.bin", b"\x01" + zlib.compress(b""))
    write("content", "brotli.bin", b"\x02" + brotli.compress(body))
    write("content", "brotli-text.bin", b"\x02" + brotli.compress(event, mode=brotli.MODE_TEXT, quality=5))

    # payload: stored blobs in every form (zlib JSON, request body, dictionary reference, delta), delta programs.
    write("payload", "zlib-json.blob", zlib.compress(sdk_event, 3))
    gz = gzip.compress(body, mtime=0)
    offset = body.index(sdk_event)
    write("payload", "body-gzip.blob", bytes([0, 1]) + struct.pack("<II", offset, len(sdk_event)) + gz)
    write("payload", "body-raw-deflate.blob", bytes([0, 3]) + struct.pack("<II", 0, len(event)) + raw_deflate(event))
    write("payload", "dictionary-reference.blob", bytes([1]) + struct.pack("<q", DICTIONARY_ID))
    changed = DICTIONARY.replace(b"1795000000.5", b"1795000100.25").replace(b"acme", b"initech")
    program = delta_program(changed, DICTIONARY)
    write("payload", "delta.blob",
          bytes([2]) + struct.pack("<qI", DICTIONARY_ID, zlib.adler32(DICTIONARY)) + zlib.compress(program, 3))
    write("payload", "delta.program", program)
    write("payload", "event.json", changed)

    # query: the search box.
    queries = [
        'is:unresolved level:error release:"1.0" !browser:firefox has:user age:-24h "quoted"',
        "is:resolved is:ignored level:fatal firstRelease:shop@1.0.0 environment:production assigned:me",
        "assigned:ADA@example.com firstSeen:-7d lastSeen:+1.5h server_name:web-1 tenant:acme TypeError",
        'first-release:"a b" lastseen:-30m firstseen:+2w assigned:none "unterminated',
        "level: :x a:b:c ü:ß\t\u00a0word",
    ]
    for index, query in enumerate(queries):
        write("query", f"query-{index}.txt", query.encode())

    # sourcemap: a real map (calmjs.parse's ES5 minifier, as SourceMapTests), an index map of it, and one with
    # sourceRoot, sourcesContent and a debug id.
    real = ('{"file": "app.min.js", "mappings": "AAAA,kBAAkBA,CAAI,CAAE,CACtB,IAAIC,CAAM,CAAE,aAAaD,CAAI,EAC7B,OAAOC,CAAK,'
            'CACd,CACA,sBAAsBD,CAAI,CAAE,CAC1B,oCAAqC,CAAEA,CAAI,WAC7C,CACA,gBAAiB", "names": ["cart", "total"], '
            '"sources": ["app.js"], "version": 3}')
    write("sourcemap", "real.map", real.encode())
    write("sourcemap", "index.map", ('{"version": 3, "sections": [{"offset": {"line": 0, "column": 0}, "map": %s}, '
                                     '{"offset": {"line": 1, "column": 10}, "map": %s}]}' % (real, real)).encode())
    write("sourcemap", "root.map", json.dumps({
        "version": 3, "sourceRoot": "webpack://shop/", "sources": ["src/a.js", "https://cdn.example/b.js", None],
        "sourcesContent": ["let a = 1;\n", None], "names": ["a"], "mappings": "AAAAA;AACA,CCAA;ACAA,gB",
        "debug_id": "c941d872-af1f-4f0c-a7ff-ad3d295fe153"}).encode())

    # bundle: first byte 0 a chunk form, 1 a ZIP archive, 2 an artifact bundle as symbolic writes it (SYSB header,
    # manifest.json, files/ deflated).
    import io
    import zipfile
    form = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + b"a" * 40 + b"\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\nchunk\r\n--b--\r\n")
    write("bundle", "form.bin", b"\x00" + form)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle_zip:
        bundle_zip.writestr("manifest.json", json.dumps({"files": {
            "_/_/app.min.js": {"url": "~/app.min.js", "type": "minified_source",
                               "headers": {"debug-id": "c941d872-af1f-4f0c-a7ff-ad3d295fe153", "Sourcemap": "app.min.js.map"}},
            "_/_/app.min.js.map": {"url": "~/app.min.js.map", "type": "source_map",
                                   "headers": {"debug-id": "c941d872-af1f-4f0c-a7ff-ad3d295fe153"}}}}))
        bundle_zip.writestr("files/_/_/app.min.js", "function a(){throw new Error()}a()")
        bundle_zip.writestr("files/_/_/app.min.js.map", real)
    write("bundle", "zip.bin", b"\x01" + archive.getvalue())
    write("bundle", "bundle.bin", b"\x02SYSB\x02\x00\x00\x00" + archive.getvalue())

    # dsn-auth: DSNs, auth headers, Content-Encoding values, ids.
    texts = [
        "https://0123456789abcdef0123456789abcdef@o1.ingest.example.com/1",
        "http://public:secret@[::1]:8000/prefix/sub/42",
        " HTTP://Key@127.0.0.1:9000// ",
        "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7, sentry_client=sentry.python/2.75.0",
        "sentry  sentry_key = abc ,sentry_secret=, =x,sentry_timestamp=1795000000.5",
        " x-gzip ",
        "9EC79C33-EC99-42AB-8353-589FCB2E04DC",
    ]
    for index, text in enumerate(texts):
        write("dsn-auth", f"text-{index}.txt", text.encode())


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def delta_program(payload: bytes, dictionary: bytes) -> bytes:
    """A PayloadDelta program: the longest common prefix and suffix copied, the middle as a literal."""
    prefix = 0
    while prefix < min(len(payload), len(dictionary)) and payload[prefix] == dictionary[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(payload), len(dictionary)) - prefix
           and payload[-1 - suffix] == dictionary[-1 - suffix]):
        suffix += 1
    middle = payload[prefix:len(payload) - suffix]
    program = b""
    if prefix:
        program += varint(0) + varint(prefix) + varint(0)
    if suffix:
        program += varint(len(middle)) + middle + varint(suffix) + varint(len(dictionary) - suffix)
        middle = b""
    return program + varint(len(middle)) + middle + varint(0)


if __name__ == "__main__":
    main()
