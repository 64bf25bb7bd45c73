"""Schemathesis hooks for .ci/schemathesis (loaded through SCHEMATHESIS_HOOKS).

Both keep the generated requests reaching the handlers. Values the server refuses are sent as
drawn, so that bad headers stay tested; key reuse and stale versions are tested by the API
suite (tests/api/conventions.rs, tests/api/customers.rs)."""

import re
import uuid

import schemathesis

# The patterns the spec publishes for these headers (crm-api middleware.rs and extract.rs).
IDEMPOTENCY_KEY = re.compile(r"^[!-~]([ -~]{0,253}[!-~])?$")
IF_MATCH = re.compile(r'^(\*|(W/)?("[0-9]{1,18}"|[0-9]{1,18}))$')


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """In every phase: a fresh Idempotency-Key, and `If-Match: *` for a valid one.

    Drawn keys repeat (the coverage phase sends the spec's example with every body), which the
    API answers 422 `idempotency_key_reused`; drawn versions are almost never the record's, which
    it answers 412 before reading the body."""
    headers = case.headers
    if not headers:
        return
    if IDEMPOTENCY_KEY.match(headers.get("Idempotency-Key", "")):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if IF_MATCH.match(headers.get("If-Match", "")):
        headers["If-Match"] = "*"
