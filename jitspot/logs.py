"""Logging set-up. Secrets never reach a log line, even at --debug."""

from __future__ import annotations

import logging
import re

# spotipy logs the Basic header and bearer tokens at DEBUG, and every HTTP
# error at ERROR; urllib3 logs request lines. Neither belongs in jitspot's
# output: we log what we do ourselves, without secrets.
NOISY_LOGGERS = ("spotipy", "urllib3", "requests")

_SECRETS = [
    # An Authorization value, with or without its scheme word.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:basic|bearer)\s+)?[^\s'\",}]+"),
    re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{8,}"),
    re.compile(
        r"(?i)((?:access_token|client_secret|refresh_token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"
    ),
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it would appear in a log line."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """`text` with credentials and tokens replaced by `***`."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
    for secret in _extra_secrets:
        text = text.replace(secret, "***")
    return text


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record: message, arguments, traceback and stack.

    A filter only sees the message; `log.exception` adds the exception's text
    (which may quote a URL with a token, or a credential) when formatting.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFilter(logging.Filter):
    """Rewrites every record's message with secrets redacted (for other handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(*, debug: bool, verbose: bool, quiet: bool) -> None:
    """jitspot's loggers to stderr: DEBUG with --debug, INFO with -v, WARNING else."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    if quiet and not debug:
        level = logging.ERROR
    handler = logging.StreamHandler()
    # Plain runs say "jitspot: …" like the error boundary; --debug says who logged it.
    layout = "%(levelname)s %(name)s: %(message)s" if debug else "jitspot: %(message)s"
    handler.setFormatter(RedactingFormatter(layout))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_jitspot", False):
            root.removeHandler(old)
    handler._jitspot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("jitspot").setLevel(level)
    for name in NOISY_LOGGERS:
        noisy = logging.getLogger(name)
        noisy.setLevel(logging.CRITICAL)
        noisy.addFilter(RedactingFilter())
