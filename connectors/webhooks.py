"""What both trackers' webhook parsers share: the "ignored" answer, the payload error, signature checks."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

import msgspec

T = TypeVar("T")


@dataclass(frozen=True)
class Ignored:
    """A delivery understood and deliberately dropped; `reason` goes into the 200 answer and the log."""

    reason: str
    event: str = field(default="-", compare=False)  # the tracker's event name, for the metrics


class PayloadError(ValueError):
    """A delivery whose body does not have the shape its event promises; the message names what and where."""

    def __init__(self, message: str, event: str = "-") -> None:
        super().__init__(message)
        self.event = event  # the tracker's event name when it was read, for the metrics


class Unreadable(PayloadError):
    """The body is not JSON at all (or not UTF-8)."""


def as_json_bytes(body: bytes | Mapping[str, Any]) -> bytes:
    """The raw body as received, or a decoded JSON object encoded again (tests, the sandbox's recordings)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, Mapping):
        return json.dumps(body, separators=(",", ":")).encode("utf-8")
    raise PayloadError("the body must be a JSON object")


def decode(decoder: msgspec.json.Decoder, raw: bytes, where: str, event: str = "-") -> Any:
    """`raw` decoded into the decoder's type; a refusal says where, the field path and what was wrong."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as err:
        raise PayloadError(f"{where}: {_readable(str(err))}", event=event) from None
    except msgspec.DecodeError as err:
        raise Unreadable(f"body is not JSON ({err})", event=event) from None


_MISSING = "Object missing required field `"


def _readable(message: str) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.issue.key`": the path first, as the other errors do."""
    reason, _, path = message.partition(" - at `")
    path = path.rstrip("`").removeprefix("$").removeprefix(".")
    if reason.startswith(_MISSING):
        missing = reason.removeprefix(_MISSING).rstrip("`")
        path, reason = (f"{path}.{missing}" if path else missing), "missing, and it is required"
    return f"{path or '(body)'}: {reason}"


def verify_hmac_sha256(secret: str | bytes, body: bytes, header_value: str | None) -> bool:
    """True when `header_value` is `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time."""
    if not header_value or not secret:
        return False
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    method, _, given = header_value.strip().partition("=")
    if method.lower() != "sha256":
        return False
    try:
        digest = bytes.fromhex(given)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.digest(key, body, "sha256"), digest)
