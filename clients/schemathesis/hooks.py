"""Schemathesis hooks for the Aftercare run (loaded through SCHEMATHESIS_HOOKS by run.sh).

An `Idempotency-Key` is documented as unique per request ("a UUID, say"): a retry with the
same key and body gets the first response back, by design, even if what it created has
since been deleted. The generator draws keys from the documented pattern and so reuses
short ones (`!`) across requests, which turns later "creations" into replays of earlier
ones. Each well-formed key is therefore made unique as it is generated; malformed
keys (the negative cases) are sent as generated, so their refusal is still tested.
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def map_headers(ctx, headers):
    if headers and isinstance(headers.get("Idempotency-Key"), str):
        if WELL_FORMED.match(headers["Idempotency-Key"]):
            headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers
