"""Structured log lines: `message key=value ...` with delivery, tracker and ticket; secrets masked."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterable, Iterator, Mapping, TextIO

from plugin.config import Config, ConfigError

_context: ContextVar[dict[str, Any]] = ContextVar("pilotgate_log_context", default={})
MASK = "***"
LEVEL_ENV = "PILOTGATE_LOG_LEVEL"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Fields added to every line logged inside the block (delivery, tracker, ticket, epic)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def line(message: str, **fields: Any) -> str:
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return " ".join([message, *(f"{k}={_value(v)}" for k, v in merged.items())])


def _value(value: Any) -> str:
    text = str(value.value if hasattr(value, "value") else value)
    return text if text and not any(c in text for c in ' "=\n') else json.dumps(text)


def debug(logger: logging.Logger, message: str, **fields: Any) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(line(message, **fields))


def info(logger: logging.Logger, message: str, **fields: Any) -> None:
    if logger.isEnabledFor(logging.INFO):
        logger.info(line(message, **fields))


def warning(logger: logging.Logger, message: str, **fields: Any) -> None:
    logger.warning(line(message, **fields))


def error(logger: logging.Logger, message: str, *, exc_info: bool = False, **fields: Any) -> None:
    logger.error(line(message, **fields), exc_info=exc_info)


def secrets_of(config: Config | None) -> list[str]:
    """Every credential in the configuration: these must never reach a log line."""
    if config is None:
        return []
    found: list[str | None] = []
    if config.jira is not None:
        found += [config.jira.token, config.jira.webhook_secret]
    if config.github is not None:
        found += [config.github.token, config.github.webhook_secret, config.github.private_key]
    return [s for s in found if s and len(s) >= 4]


class Redactor(logging.Filter):
    """Masks known secrets in the final text of a record: a last line of defence, the code logs none."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.mask(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.mask(record.exc_text)
        return True


def level_from_env(env: Mapping[str, str] = os.environ) -> int:
    """PILOTGATE_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR), INFO when unset."""
    name = env.get(LEVEL_ENV, "INFO").strip().upper()
    if name not in LEVELS:
        raise ConfigError(f"{LEVEL_ENV}={name!r}: must be one of {', '.join(LEVELS)}")
    return LEVELS[name]


def configure_logging(config: Config | None = None, *, level: int | None = None,
                      stream: TextIO | None = None) -> logging.Handler:
    """One handler for Pilot Gate's loggers (and huey's), masking the configuration's secrets;
    `level` defaults to PILOTGATE_LOG_LEVEL's."""
    level = level_from_env() if level is None else level
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(Redactor(secrets_of(config)))
    for name in ("pilotgate", "huey"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "pilotgate", False)]:
            logger.removeHandler(old)
        handler.pilotgate = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(level)
    return handler
