"""URL checks shared by the connectors that reach a server over HTTP or WebSocket."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from loadbench.errors import ConfigError
from loadbench.secrets import redact, remember, secrets_of, userinfo_end

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
DEFAULT_PORTS = {"http": 80, "https": 443}


def has_scheme(text: str) -> bool:
    """Whether ``text`` starts with ``scheme://``."""
    return _SCHEME.match(text) is not None


def check_http_url(url: str, source: str, tls: bool = True) -> None:
    """An http:// (or, with ``tls``, https://) URL of a server, or a one-line ConfigError (that never
    shows a secret). User information is refused (keys go in their own settings), and so is any
    '@' that the redaction rule (:mod:`loadbench.secrets`) could read as ending one: write an '@'
    in a path or query as %40."""
    remember(secrets_of(url))
    shown = redact(url)
    scheme = url.partition("://")[0].lower() if has_scheme(url) else ""
    if scheme == "https" and not tls:
        raise ConfigError(f"{source}: {shown}: TLS is not supported for this connector yet (plain http:// only)")
    if scheme not in (("http", "https") if tls else ("http",)):
        raise ConfigError(f"{source}: {shown} must start with {'http:// or https://' if tls else 'http://'}")
    if userinfo_end(url) is not None:
        raise ConfigError(f"{source}: {shown}: credentials in the URL are not supported (keys go in their own "
                          "setting; write an '@' in a path or query as %40)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may quote the URL: not shown
        raise ConfigError(f"{source}: {shown} is not a valid URL (its host or port)") from None
    if not parts.hostname:
        raise ConfigError(f"{source}: {shown} names no host")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{source}: {shown} has an invalid port")


def url_endpoint(url: str) -> tuple[str, int] | None:
    """The host and port a URL connects to (the scheme's default port when it names none), or
    None when it names no port we know or does not parse."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # its text may quote part of the URL
        return None
    if port is None:
        return None
    return parts.hostname or "localhost", port
