"""schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

- Path parameters named `id` or `name` point at real objects half of the time (the
  fixtures fuzz.sh created, passed as JSON in FUZZ_FIXTURES, by path prefix), so operations
  get past "No such container" and their bodies and queries meet real state.
- A 501 in Docker's error shape is dockbridge saying "not implemented" on purpose (image
  search, URL imports, remote build contexts): not a server fault.
- A pull (`POST /images/create?fromImage=…`) that cannot reach the registry is a 500 with
  the dial error, exactly as dockerd answers it: this machine reaches no registry, so that
  is the network's answer, not a client error mishandled. Every other 5xx fails.
"""
import json
import os
import random

import schemathesis

FIXTURES = json.loads(os.environ.get("FUZZ_FIXTURES", "{}"))
_rng = random.Random(int(os.environ.get("FUZZ_SEED", "1")))


def _fixture_for(path: str):
    for prefix, value in FIXTURES.items():
        if path.startswith(prefix):
            return value
    return None


@schemathesis.serializer("application/x-tar")
def tar_serializer(ctx, value):
    """`docker load`/`build`/`cp` bodies: whatever was generated, as raw bytes (the daemon
    must refuse what is not a tar)."""
    value = getattr(value, "data", value)  # schemathesis wraps generated binary data
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode()


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    op = context.operation
    fixture = _fixture_for(op.path) if op is not None else None
    if fixture is None or not path_parameters:
        return path_parameters
    for key in ("id", "name"):
        if key in path_parameters and _rng.random() < 0.5:
            path_parameters[key] = fixture
    return path_parameters


def _unreachable_registry(case, status, message):
    return (
        status == 500
        and case.path == "/images/create"
        and ("dial tcp" in message or "no such host" in message)
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if response is None or response.status_code not in (500, 501):
        return True
    try:
        message = json.loads(response.content).get("message", "")
    except (ValueError, AttributeError):
        return True
    if not message:
        return True
    if response.status_code == 500 and not _unreachable_registry(case, 500, message):
        return True
    # A deliberate refusal or an unreachable registry: recorded for the report, not a failure.
    log = os.environ.get("FUZZ_FILTERED_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{case.method} {case.path} {response.status_code}: {message[:100]}\n")
    return False
