"""What both trackers' webhook parsers share: the "ignored" answer, the payload error, signature checks."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Ignored:
    """A delivery understood and deliberately dropped; `reason` goes into the 200 answer and the log."""

    reason: str


class PayloadError(ValueError):
    """A delivery whose body does not have the shape its event promises; the message names what and where."""


def verify_hmac_sha256(secret: str | bytes, body: bytes, header_value: str | None) -> bool:
    """True when `header_value` is `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time."""
    if not header_value or not secret:
        return False
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header_value.strip().encode("ascii", "replace"))
