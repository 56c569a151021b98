"""PostgreSQL connection strings as libpq reads them: a URI (``postgresql://...``) or keyword=value
pairs (``host=... user=... password=... dbname=...``).

A port of libpq's own parsers (``fe-connect.c``, PostgreSQL 15: ``parse_connection_string``,
``conninfo_uri_parse_options``, ``conninfo_uri_parse_params``, ``conninfo_uri_decode``,
``conninfo_parse``), so that loadbench can check a connection string, find its host and port,
and know where its secrets are, with exactly libpq's reading and before libpq sees it. The tests
compare it with libpq's ``PQconninfoParse`` on random strings.

What this module does not refuse is an unknown keyword (libpq's list grows with its version):
libpq refuses it when the connector starts. The list here (:data:`KEYWORDS`) only tells whether a
word after a password's value is a keyword or the rest of that password.

:class:`ConninfoError` messages never contain any part of the string: the string may hold a
password, and a message that quotes it (as libpq's do) would leak it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

URI_PREFIXES = ("postgresql://", "postgres://")  # libpq's uri_prefix_length: case-sensitive
SECRET_KEYWORDS = frozenset({"password", "sslpassword"})
# libpq's keywords up to PostgreSQL 17 ("ssl": the URI form's JDBC alias).
KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding", "connect_timeout",
    "client_encoding", "options", "application_name", "fallback_application_name", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication", "gssencmode",
    "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert",
    "sslcrl", "sslcrldir", "sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "target_session_attrs",
    "load_balance_hosts", "service", "requiressl", "ssl",
})
_SPACE = " \t\n\v\f\r"  # C's isspace() in the C locale
_HEX = "0123456789abcdefABCDEF"
_PORT = re.compile(r"[0-9]{1,5}")


class ConninfoError(ValueError):
    """A connection string libpq would refuse; the message quotes nothing of the string."""


@dataclass(frozen=True)
class Param:
    """One keyword of a connection string: its decoded ``value``, and where the value is written
    (``start``, ``end``: indices into the string, quotes and escapes included)."""

    keyword: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Conninfo:
    """A parsed connection string. ``fields`` in the order written (a later keyword overrides an
    earlier one, as in libpq); ``userinfo_end``: for a URI with ``user[:password]@``, the index
    of that ``@`` (else -1)."""

    is_uri: bool
    fields: tuple[Param, ...]
    userinfo_end: int = -1
    options: dict[str, str] = field(default_factory=dict)


def check_after_secrets(parsed: "Conninfo") -> None:
    """Raises ConninfoError when a keyword that libpq does not know follows a secret's value: it is
    most likely the rest of a password that holds a blank or a '&' (libpq's refusal would quote it)."""
    for before, after in zip(parsed.fields, parsed.fields[1:]):
        if before.keyword in SECRET_KEYWORDS and after.keyword not in KEYWORDS:
            raise ConninfoError(f"an unknown keyword follows the {before.keyword}: put a value that holds "
                                "blanks in single quotes, and write a '&' in a URL's query as %26")


def is_uri(text: str) -> bool:
    """Whether libpq reads ``text`` as a URI (it starts with ``postgresql://`` or ``postgres://``)."""
    return text.startswith(URI_PREFIXES)


def parse(text: str) -> Conninfo:
    """``text`` as libpq reads it (a URI, else keyword=value pairs); raises ConninfoError."""
    fields, userinfo_end = _parse_uri(text) if is_uri(text) else (_parse_pairs(text), -1)
    options: dict[str, str] = {}
    for f in fields:
        keyword, value = f.keyword, f.value
        if keyword == "requiressl":  # libpq's conninfo_storeval: requiressl=1 is sslmode=require
            keyword, value = "sslmode", "require" if value.startswith("1") else "prefer"
        options[keyword] = value
    return Conninfo(is_uri(text), tuple(fields), userinfo_end, options)


def ports(options: dict[str, str]) -> list[int | None]:
    """The ports of a parsed connection string, one per comma-separated entry (None: empty, the
    default 5432); raises ConninfoError for one that is not a number in [1, 65535]."""
    found: list[int | None] = []
    for entry in options.get("port", "").split(","):
        if not entry:
            found.append(None)
        elif _PORT.fullmatch(entry) and 0 < int(entry) < 65536:
            found.append(int(entry))
        else:
            raise ConninfoError("a port is not a number in [1, 65535]")
    return found


def host_and_port(options: dict[str, str]) -> tuple[str, int]:
    """The first host libpq tries and its port (``hostaddr`` wins over ``host``; 5432 when no port
    is given); a host starting with ``/`` is a Unix socket directory, "" libpq's default socket."""
    host = (options.get("hostaddr") or options.get("host") or "").split(",")[0]
    return host, ports(options)[0] or 5432


def _decode(text: str, what: str) -> str:
    """libpq's conninfo_uri_decode: %XX sequences, nothing else (a '+' stays a '+')."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i]
        if c != 0x25:  # '%'
            out.append(c)
            i += 1
            continue
        digits = raw[i + 1:i + 3].decode("latin-1")
        if len(digits) < 2 or digits[0] not in _HEX or digits[1] not in _HEX:
            raise ConninfoError(f"the {what} holds a '%' that is not followed by two hex digits"
                                ": write a literal '%' as %25")
        value = int(digits, 16)
        if value == 0:
            raise ConninfoError(f"the {what} holds %00, which libpq forbids")
        out.append(value)
        i += 3
    return out.decode("utf-8", "surrogateescape")


def _parse_uri(text: str) -> tuple[list[Param], int]:
    """libpq's conninfo_uri_parse_options: the fields, and the index of the '@' that ends the
    user name and password (-1: none)."""
    fields: list[Param] = []
    start = len("postgresql://") if text.startswith("postgresql://") else len("postgres://")
    p = start
    n = len(text)
    userinfo_end = -1
    # User credentials: up to the first '@' that comes before any '/' (a '?' does not stop it).
    while p < n and text[p] not in "@/":
        p += 1
    if p < n and text[p] == "@":
        userinfo_end = p
        colon = text.find(":", start, p)
        user_end = colon if colon != -1 else p
        if user_end > start:
            fields.append(Param("user", _decode(text[start:user_end], "user name"), start, user_end))
        if colon != -1 and p > colon + 1:
            fields.append(Param("password", _decode(text[colon + 1:p], "password"), colon + 1, p))
        p += 1
    else:
        p = start
    # Hosts and ports: host[:port][,host[:port]]...; an IPv6 address in brackets.
    hosts: list[str] = []
    ports: list[str] = []
    host_start = p
    port_span = [-1, -1]
    while True:
        if p < n and text[p] == "[":
            p += 1
            close = text.find("]", p)
            if close == -1:
                raise ConninfoError("an IPv6 host has no closing ']'")
            if close == p:
                raise ConninfoError("an IPv6 host is empty ('[]')")
            host = text[p:close]
            p = close + 1
            if p < n and text[p] not in ":/?,":
                raise ConninfoError("an IPv6 host's ']' is not followed by ':', '/', '?' or ','")
        else:
            h = p
            while p < n and text[p] not in ":/?,":
                p += 1
            host = text[h:p]
        terminator = text[p] if p < n else ""
        hosts.append(host)
        port = ""
        if terminator == ":":
            p += 1
            q = p
            while p < n and text[p] not in "/?,":
                p += 1
            port = text[q:p]
            port_span = [q if port_span[0] == -1 else port_span[0], p]
            terminator = text[p] if p < n else ""
        ports.append(port)
        if terminator != ",":
            break
        p += 1
    host_text, port_text = ",".join(hosts), ",".join(ports)
    if host_text:
        fields.append(Param("host", _decode(host_text, "host"), host_start, p))
    if port_text:
        fields.append(Param("port", _decode(port_text, "port"), port_span[0], port_span[1]))
    terminator = text[p] if p < n else ""
    if terminator and terminator != "?":  # a '/': the database name, up to the query
        p += 1
        d = p
        while p < n and text[p] != "?":
            p += 1
        if p > d:
            fields.append(Param("dbname", _decode(text[d:p], "database name"), d, p))
        terminator = text[p] if p < n else ""
    if terminator:
        fields.extend(_parse_query(text, p + 1))
    return fields, userinfo_end


def _parse_query(text: str, p: int) -> list[Param]:
    """libpq's conninfo_uri_parse_params: key=value pairs separated by '&', both %-decoded."""
    fields = []
    n = len(text)
    while p < n:
        key_start, eq = p, -1
        while p < n and text[p] != "&":
            if text[p] == "=":
                if eq != -1:
                    raise ConninfoError("a query parameter holds a second '=': write it as %3D")
                eq = p
            p += 1
        if eq == -1:
            raise ConninfoError("a query parameter has no '=': write a '&' in a value as %26")
        keyword = _decode(text[key_start:eq], "query parameter name")
        value = _decode(text[eq + 1:p], "query value")
        if keyword == "ssl" and value == "true":  # libpq's JDBC compatibility
            keyword, value = "sslmode", "require"
        fields.append(Param(keyword, value, eq + 1, p))
        if p < n:
            p += 1  # past '&'
    return fields


def _parse_pairs(text: str) -> list[Param]:
    """libpq's conninfo_parse: keyword = value, blanks around '=' allowed; a value in single quotes
    may hold blanks; a backslash escapes the next character, quoted or not."""
    fields, stop, why = _read_pairs(text)
    if stop is not None:
        raise ConninfoError(why)
    return fields


def read_pairs(text: str) -> tuple[list[Param], int | None]:
    """Keyword=value pairs as far as libpq reads them: the fields, and the index where it stops
    (an unclosed quote's value, a word without '='; None: it reads them all)."""
    fields, stop, _ = _read_pairs(text)
    return fields, stop


def _read_pairs(text: str) -> tuple[list[Param], int | None, str | None]:
    fields: list[Param] = []
    n = len(text)
    p = 0
    while p < n:
        if text[p] in _SPACE:
            p += 1
            continue
        k = p
        while p < n and text[p] != "=" and text[p] not in _SPACE:
            p += 1
        keyword = text[k:p]
        while p < n and text[p] in _SPACE:
            p += 1
        if p >= n or text[p] != "=":
            return fields, k, ("a word has no '=' after it; quote a value that holds blanks (key='a value') and "
                               "write ' and \\ inside quotes as \\' and \\\\")
        p += 1
        while p < n and text[p] in _SPACE:
            p += 1
        v = p
        value = []
        if p < n and text[p] == "'":
            p += 1
            while True:
                if p >= n:
                    return fields, v, "a quoted value has no closing quote"
                c = text[p]
                if c == "\\":
                    p += 1
                    if p < n:
                        value.append(text[p])
                        p += 1
                    continue
                p += 1
                if c == "'":
                    break
                value.append(c)
        else:
            while p < n and text[p] not in _SPACE:
                if text[p] == "\\":
                    p += 1
                    if p >= n:
                        break
                value.append(text[p])
                p += 1
        if keyword == "":
            return fields, k, "a value has no keyword before its '='"
        fields.append(Param(keyword, "".join(value), v, p))
    return fields, None, None
