"""schemathesis hooks for the fuzz runs (tests/api/test_fuzz.py, `make fuzz`).

`positive_data_acceptance` expects every request that fits the OpenAPI document to be taken. The
document declares every rule a JSON Schema can state (country codes, patterns, required fields,
which fields a merge patch may clear, which role needs `partner_id`...). What remains are rules
about other data, which no schema of one request can state: those refusals are the contract, and
only those are accepted here, each by its problem `code`. Every other failure of every check stands.
"""

import re
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

# Refusals that depend on stored data, on other requests or on other fields of the request.
BEYOND_A_SCHEMA = {
    # RFC 9110 §13.1.1 and API.md: an If-Match that is not the current ETag is 412, and no change.
    "PRECONDITION_FAILED",
    # API.md: a cursor is opaque and signed; one the service did not issue (or issued for another
    # query) is 400. A schema cannot tell a signed token from any other string.
    "INVALID_CURSOR",
    "CURSOR_MISMATCH",
    # API.md: a reference to a record that does not exist is 422, pointing at it.
    "UNKNOWN_REFERENCE",
    # API.md and draft-ietf-httpapi-idempotency-key-header: the same key with another body is 422
    # (the fuzzer sends the same generated key with many bodies).
    "IDEMPOTENCY_KEY_REUSED",
    # A range that ends before it starts (the reporting calendar's `_from`/`_to` pairs).
    "INVALID_RANGE",
    # `q` is a small language (quotes in pairs, `*` ending a word, at least one word of letters or
    # digits of any script, 16 terms at most): JSON Schema's regular expressions (ECMA-262 without
    # the `u` flag) have no class for the letters of every script.
    "INVALID_SEARCH",
    # A webhook's target is checked where its name resolves to, which no schema of a URL can say.
    "TARGET_REFUSED",
    # A webhook's filter takes the filters of the lists of the types it names: one field bound by another.
    "INVALID_FILTER",
    # The IATI export of a plan whose stored activities IATI would not take as they stand (or that
    # has none). (Without an IATI organisation identifier, a setting, it is 409, which passes.)
    "IATI_NOT_PUBLISHABLE",
    # A webhook replay from a change_seq the feed has not reached: how far it has is stored data.
    "BEYOND_THE_FEED",
}
# VALIDATION_FAILED items that compare two values (`period_end` before `period_start`, or a
# `_to` filter before its `_from`): JSON Schema has no keyword relating one field to another.
# And a report's article named twice, with two assessments: `uniqueItems` compares whole items.
# And a ratification deposited before its instrument was adopted (a date bound by another field).
# And a key's `expires_at` in the past: what is past depends on the clock, not the request.
# And a ratification's `succession_effective_on` when its `action` is not a succession (a field
# allowed by another's value).
BETWEEN_VALUES = re.compile(
    r"must not be (before|below) .*|\w+ article \d+ appears twice|precedes the \w+'s adoption \(.*\)"
    r"|must be in the future|succession_effective_on is for a succession only"
)


def is_between_values(problem: dict[str, Any]) -> bool:
    errors = problem.get("errors") or []
    return bool(errors) and all(BETWEEN_VALUES.fullmatch(str(e.get("message", ""))) for e in errors)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a positive-data rejection that is one of the refusals above."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    try:
        problem = response.json()
    except ValueError:
        return True
    if not isinstance(problem, dict):
        return True
    code = problem.get("code")
    if code in BEYOND_A_SCHEMA:
        return False
    if code == "VALIDATION_FAILED" and is_between_values(problem):
        return False
    # A sort field named twice (`code,-code`): the pattern names the fields but cannot say "once".
    return not (code == "INVALID_SORT" and str(problem.get("detail", "")).endswith("appears twice in sort."))
