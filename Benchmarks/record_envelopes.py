"""Records the envelopes the benchmark sends, with the real Python sentry-sdk.

50 error events of 50 different issues (a ~10 KB event each: a 20-frame stack trace with local variables,
breadcrumbs, user, tags, contexts, modules), captured by a transport that keeps the serialized envelope
instead of sending it. Writes {"templates": [{"item_header": ..., "payload": "<json>"}, ...]}. The payload has no
"timestamp" and no "event_id": the load generators put the time of sending and the request's fresh event id first,
as an SDK stamps an event when it captures it (a replayed old timestamp would put every event in the middle of the
time indexes instead of at their end, and a replayed id would make the stored payloads more alike than an SDK's).
"""

import json
import os
import sys

import sentry_sdk
from sentry_sdk.transport import Transport

captured = []


class Recorder(Transport):
    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.headers.get("type") == "event":
                payload = json.loads(item.get_bytes())
                del payload["timestamp"]
                del payload["event_id"]
                text = json.dumps(payload, separators=(",", ":"))
                captured.append({"item_header": dict(item.headers, length=len(text.encode())), "payload": text})


# (blank lines keep the frames' source context small, as in typical short functions)




def deep(error_type, depth, order):
    if depth:
        return deep(error_type, depth - 1, order)
    raise error_type(f"payment for order {order} failed: card declined")







def main(path):
    sentry_sdk.init(
        dsn="http://00000000000000000000000000000000@127.0.0.1/1", transport=Recorder, release="shop@1.4.2",
        environment="production", server_name="web-3", max_breadcrumbs=20,
        # The SDK marks frames under the project root in-app, and the root defaults to the working directory: fixed
        # here, so the events (and the grouping work they cost) are the same wherever the benchmark is started from.
        project_root=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    sentry_sdk.set_user({"id": "u-4711", "email": "buyer@example.com", "ip_address": "203.0.113.9"})
    sentry_sdk.set_tag("tenant", "acme")
    sentry_sdk.set_tag("region", "eu-west-1")
    for n in range(8):
        sentry_sdk.add_breadcrumb(category="http", message=f"GET /api/cart/{n} 200", level="info", data={"status_code": 200})
    for variant in range(50):
        error_type = type(f"PaymentError{variant}", (RuntimeError,), {})
        try:
            deep(error_type, 18, 1000 + variant)
        except RuntimeError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush()
    assert len(captured) == 50, len(captured)
    sizes = sorted(len(t["payload"]) for t in captured)
    print(f"recorded {len(captured)} events, payload {sizes[0]}-{sizes[-1]} bytes", file=sys.stderr)
    with open(path, "w") as out:
        json.dump({"templates": captured}, out)


if __name__ == "__main__":
    main(sys.argv[1])
