"""Secrets never reach output: which values are secret, URLs shown without their password, and
a scrubber that removes every known secret from a message or a log record.

A secret is the value of an environment variable whose name says so (it contains PASSWORD,
PASSWD, KEY, TOKEN, SECRET or CREDENTIAL) and the password inside any URL an environment
variable holds (`HUBS_POSTGRES_URL`, any `*_URL` / `*_URI`), both as written and %-decoded.
The scrubber knows these from the environment at the moment it runs, so a message quoting a
password in any spelling a driver may echo (libpq quotes the token it could not decode, say)
comes out with `***` in its place.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

MASK = "***"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|KEY|TOKEN|SECRET|CREDENTIAL", re.IGNORECASE)
# Shorter values would mask common words and digits all over the output; no real password is.
MIN_SECRET_LENGTH = 4
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# `password=...` in a URL's query or a libpq keyword string (`host=x password='a b'`).
PASSWORD_PARAM = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's whole value is a secret."""
    return bool(SECRET_NAME.search(name))


def _userinfo_end(url: str) -> tuple[int, int]:
    """(start, end) of the userinfo of a URL, or (-1, -1). Lenient on purpose: the last '@'
    ends it, so a password with an unencoded '@', '/' or '?' is still taken whole."""
    start = SCHEME.match(url)
    begin = start.end() if start else 0
    end = url.rfind("@")
    return (begin, end) if end >= begin else (-1, -1)


def url_passwords(url: str) -> list[str]:
    """The passwords a URL (or libpq keyword string) carries, as written (still %-encoded)."""
    found = [m.group(2).strip("'") for m in PASSWORD_PARAM.finditer(url)]
    begin, end = _userinfo_end(url)
    if begin >= 0:
        _, colon, password = url[begin:end].partition(":")
        found.append(password if colon else "")
    return [password for password in found if password]


def redact(url: str) -> str:
    """The URL with its password shown as ***, for messages and summaries. Copes with URLs no
    parser accepts (a malformed %-escape, an unencoded '@' or '/'): whatever could be part of
    a password is hidden rather than echoed."""
    begin, end = _userinfo_end(url)
    if begin >= 0:
        user, colon, _ = url[begin:end].partition(":")
        url = f"{url[:begin]}{user}{':' + MASK if colon else ''}{url[end:]}"
    return PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, url)


def _spellings(value: str) -> set[str]:
    """The ways a secret may be written in a message: as given, %-decoded, %-encoded, escaped
    for JSON, a Python repr or a libpq keyword string."""
    forms = {value, unquote(value)}
    for form in list(forms):
        forms |= {
            quote(form, safe=""),
            json.dumps(form)[1:-1],
            repr(form)[1:-1],
            form.replace("\\", "\\\\").replace("'", "\\'"),
        }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Every spelling of every secret the environment holds (worked out again only when the
    environment changed: every log record and Dagster event goes through `scrub`)."""
    items = tuple((os.environ if environ is None else environ).items())
    if items != _known[0]:
        _known[:] = [items, _secrets_in(items)]
    return set(_known[1])


_known: list = [None, set()]  # the environment last seen, and its secrets


def _secrets_in(items: Iterable[tuple[str, str]]) -> set[str]:
    found: set[str] = set()
    for name, value in items:
        value = value.strip()
        if not value:
            continue
        if is_secret_name(name):
            found |= _spellings(value)
        for password in url_passwords(value):
            found |= _spellings(password)
    return found


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """The text with every known secret (and the passwords of the URLs in `extra`) masked."""
    secrets = secret_values()
    for url in extra:
        for password in url_passwords(url):
            secrets |= _spellings(password)
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def shown(name: str, value: str) -> str:
    """An environment variable's value as `hubs env` shows it."""
    if is_secret_name(name):
        return MASK
    return scrub(redact(value))


class ConnectionFailed(RuntimeError):
    """A server could not be reached: the message names it, its URL (password hidden) and why."""


def connection_error(server: str, url: str, exc: BaseException) -> ConnectionFailed:
    """The error to raise (`from None`: the driver's own exception may quote the secret) when
    opening `server` at `url` failed with `exc`."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return ConnectionFailed(f"cannot connect to {server} at {redact(url)}: {scrub(detail, extra=[url])}")


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not fit fails where it is formatted, as before
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = scrub(text)
        if clean != text:
            record.exc_text = clean  # formatters print exc_text instead of formatting exc_info


def install_log_scrubber() -> None:
    """From now on every log record made in this process (Python logging and Dagster's
    context.log, whose records also feed its event log) carries no known secret."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "scrubs_secrets", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    factory.scrubs_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
