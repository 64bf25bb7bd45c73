"""Schemathesis hooks for .ci/schemathesis (loaded through SCHEMATHESIS_HOOKS).

They keep the generated requests reaching the handlers. A header value is replaced only when it
matches the pattern the operation's spec publishes (so what the server takes); values it refuses
are sent as drawn, so that bad headers stay tested. Key reuse and stale versions are tested by
the API suite (tests/api/conventions.rs, tests/api/customers.rs)."""

import ast
import functools
import re
import threading
import uuid

import schemathesis

# CPython 3.11 keeps one AST recursion counter per interpreter, so `ast.parse` in two threads at
# once can fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython
# gh-106905). Hypothesis parses lambdas' source to describe strategies, and `--workers 2` runs
# it in two threads: a run on PostgreSQL ended in that error. One parse at a time avoids it.
_parse = ast.parse
_parse_lock = threading.Lock()


def _serialized_parse(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _serialized_parse

# Drawn keys repeat (the coverage phase sends the spec's example with every body), which the API
# answers 422 `idempotency_key_reused`; drawn versions are almost never the record's, which it
# answers 412 before reading the body.
REPLACEMENTS = {
    "Idempotency-Key": lambda: str(uuid.uuid4()),
    "If-Match": lambda: "*",
}


@functools.lru_cache(maxsize=None)
def compiled(pattern):
    return re.compile(pattern)


def published_pattern(operation, name):
    for parameter in operation.definition.raw.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name") == name:
            pattern = parameter.get("schema", {}).get("pattern")
            return compiled(pattern) if pattern else None
    return None


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """In every phase: a fresh Idempotency-Key, and `If-Match: *`, for a valid drawn one."""
    headers = case.headers
    if not headers:
        return
    for name, replacement in REPLACEMENTS.items():
        pattern = published_pattern(case.operation, name)
        if name in headers and pattern and pattern.search(headers[name]):
            headers[name] = replacement()
