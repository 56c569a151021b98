"""Keeping secrets out of reports, logs and errors.

Connection URLs are shown with their password replaced, and every message that leaves the
program passes through :func:`scrub` with the secrets of every configured connector.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_QUERY_KEYS = {"password", "sslpassword", "apikey", "api_key", "token", "access_token", "key", "secret"}


def redact_url(url: str) -> str:
    """``scheme://user:secret@host/db?password=x`` -> ``scheme://user:***@host/db?password=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The secret strings inside a URL (its password and secret query values), to scrub elsewhere."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() in _SECRET_QUERY_KEYS and value:
                found.append(value)
    except ValueError:
        found.append(url)
    return found


def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replaces every occurrence of every secret (longest first) in ``text``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    # A URL with an inline password that we did not know about is still masked.
    return re.sub(r"(\w+://[^/\s:@]+:)[^@\s/]+@", r"\1" + MASK + "@", text)
