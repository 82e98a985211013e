"""Access to shared/upstream (official API descriptions and payloads), or a clear skip where it is absent."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

ENV = "PILOTGATE_UPSTREAM"


def upstream_dir() -> Path | None:
    candidates = [os.environ.get(ENV)] if os.environ.get(ENV) else []
    candidates.append(str(Path(__file__).resolve().parents[2] / "shared" / "upstream"))
    for candidate in candidates:
        path = Path(candidate)
        if path.is_dir():
            return path
    return None


def upstream(relative: str) -> Path:
    """The path of a file in shared/upstream; skips the calling test where it is not available."""
    base = upstream_dir()
    if base is None:
        pytest.skip(f"shared/upstream not found (set {ENV} to its folder to run this check)")
    path = base / relative
    if not path.exists():
        pytest.skip(f"{path} is missing from shared/upstream")
    return path


@functools.lru_cache(maxsize=None)
def _load_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def upstream_json(relative: str) -> Any:
    """Parsed JSON from shared/upstream, cached across tests (the OpenAPI files are large)."""
    return _load_json(str(upstream(relative)))
