"""Schemathesis hooks for .ci/schemathesis (loaded through SCHEMATHESIS_HOOKS)."""

import re
import uuid

import schemathesis

# What the server takes as a key; other values are sent as drawn, so that bad keys stay tested.
VALID_KEY = re.compile(r"^[!-~]([ -~]{0,253}[!-~])?$")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """A fresh Idempotency-Key for every case that sends a valid one, in every phase.

    The fuzzer sends the same few keys (the coverage phase: the spec's example) with many
    different bodies, which the API answers 422 `idempotency_key_reused` before any handler
    runs. Reuse itself is tested by the API suite (tests/api/conventions.rs)."""
    headers = case.headers
    if headers and VALID_KEY.match(headers.get("Idempotency-Key", "")):
        headers["Idempotency-Key"] = str(uuid.uuid4())
