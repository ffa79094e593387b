"""A Python service's errors and `logging` records reaching Spyglass through the official sentry-sdk.

    SENTRY_DSN=http://<key>@127.0.0.1:8000/1 python app.py
"""

import logging
import os

import sentry_sdk

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    release=os.environ.get("SENTRY_RELEASE", "example-python@1.0.0"),
    environment="production",
)
logging.basicConfig(level=logging.INFO)
log = logging.getLogger("reports")


def monthly_total(rows):
    return sum(row["amount"] for row in rows) / len(rows)


log.info("building the monthly report")  # a breadcrumb
try:
    monthly_total([])
except ZeroDivisionError:
    log.exception("monthly report failed")  # an event, with the exception and its stack
log.error("disk quota at %d%%", 97)  # an event without exception: a message
sentry_sdk.flush(timeout=10)
