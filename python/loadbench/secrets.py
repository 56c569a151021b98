"""Keeping secrets out of every output: tables, reports, results lines, logs, errors, figures.

Two tools, used together:

- :func:`redact` shows a connection setting with its secrets masked, **by position in the text,
  before any parsing** (parsers disagree on a URL with a raw ``@ / ? #`` in its password, and
  each disagreement leaked part of one):

  - a URL (``scheme://...``): everything between the first ``:`` after ``//`` and the ``@`` that
    ends the user information is masked; the user name (which holds no ``:``) stays. That ``@``
    is the *last* of: libpq's (the first ``@`` before any ``/``), RFC 3986's (the last ``@``
    before the first ``/ ? #``), and, when the URL starts ``user:`` (the user name may hold an
    ``@``), the last ``@`` in the URL that is followed by a host list (``host[:port]``, comma-
    separated, possibly empty) and then ``/``, ``?``, ``#`` or the end. So a password that holds
    ``@ / ? #`` raw is masked whole, whoever reads it. The value of every secret query parameter
    (``password``, ``sslpassword``, ``apikey``, ``token``, ...; the name compared %-decoded, in
    any case) is masked up to the next ``&``, and in a PostgreSQL URL so is every parameter after
    it whose name libpq does not know (the rest of a password with a raw ``&``).
  - a PostgreSQL keyword=value string (``host=h password='x y'``), read as libpq reads it: the
    value of ``password`` and ``sslpassword`` (quoted or not, backslash escapes), every pair
    after it whose keyword libpq does not know (the rest of a password with a blank, unquoted),
    and the secrets of any value that is itself a URL; where libpq would stop reading (an
    unclosed quote, a word without ``=``), everything from there on.

  A setting the connectors accept reads the same by every rule above (the checks in
  :mod:`loadbench.connectors` refuse one that reads two ways, e.g. a raw ``@`` or ``/`` in a
  password), so its redaction masks exactly the secrets, is still a connection string the same
  client reads (the mask is plain text), and shows where it connects (host, port, database,
  user). In a refusal's message a setting that reads two ways is masked by the widest reading.
- :func:`scrub` cleans a message that may quote a secret in part (libpq and Beast errors quote
  the host, port or parameter they could not use, which is part of a password when a URL was
  misread). It masks:

  - every occurrence of a secret, and of every piece of one cut at a delimiter a misreading cuts
    at (``@ : / ? # & = , ;``, quotes, ``%``, blanks; pieces of 4 characters or longer), where it
    stands as a token of its own (not inside a longer run of letters and digits);
  - every run of 4 or more characters that is part of a secret and holds a character other than
    a letter or digit, wherever it stands (no ordinary word is such a run);
  - then every URL's password and ``password=...`` left in the message.

  Masking any piece of letters and digits wherever it stands would garble ordinary words
  ("i***rupted" for a password holding "nter") and so tell the reader which fragments the
  password holds.

Every secret a connector is configured with is also remembered here (:func:`remember`), so the
last-resort paths (an error line, a traceback) are scrubbed of all of them.
"""

from __future__ import annotations

import re
import sys
import traceback
from types import TracebackType
from urllib.parse import unquote, unquote_plus

from loadbench import pg_conninfo

MASK = "***"
MIN_PIECE = 4  # pieces of a secret (cut at URL and keyword=value delimiters) this long or longer are masked
_PIECE_CUT = re.compile(r"[@:/?#&=,;'\"%\\\s]+")
SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "passwd", "pwd", "apikey", "api_key", "token",
                               "access_token", "auth", "key", "secret", "client_secret"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOST = r"(?:\[[\w.:%-]*\]|[\w.~%-]*)(?::[0-9]*)?"
_HOST_LIST = re.compile(rf"{_HOST}(?:,{_HOST})*(?=[/?#]|\Z)")
_USER_COLON = re.compile(r"[^:/?#\[]*:")  # a user name (it may hold a raw '@'), then ':'
_QUERY_PARAM = re.compile(r"(?<=[?&])([^&=?#]*)=([^&]*)")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]*")
_PAIR_IN_TEXT = re.compile(r"\b(password|sslpassword)(\s*=\s*)(?!\*\*\*)('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)+)",
                           re.IGNORECASE)

_remembered: set[str] = set()


def redact(value: str) -> str:
    """A connection setting shown with its secrets masked (see the module's rule): a URL, a
    PostgreSQL keyword=value string, or anything else (shown as is when it holds no ``@``)."""
    return _apply(value, _spans(value))


# The historical name: every connection setting goes through it, URL or not.
redact_url = redact


def secrets_of(value: str) -> list[str]:
    """The secret strings of a connection setting, to scrub from messages: each masked part as
    written, and as a client would decode it (%-decoded; libpq's keyword=value unescaping)."""
    found: list[str] = []
    for start, end in _spans(value):
        raw = value[start:end]
        found += [raw, unquote(raw), unquote_plus(raw)]
    if not _SCHEME.match(value) and "=" in value:  # keyword=value: also the values as libpq unescapes them
        fields, _ = pg_conninfo.read_pairs(value)
        for f in fields:
            if f.keyword.lower() in pg_conninfo.SECRET_KEYWORDS:
                found.append(f.value)
            elif _SCHEME.match(f.value):
                found += secrets_of(f.value)
    return list(dict.fromkeys(s for s in found if s))


url_secrets = secrets_of


def userinfo_end(url: str) -> int | None:
    """The index of the '@' that ends a URL's user information by the module's rule (the last of
    libpq's, RFC 3986's and the raw-password reading's), or None when the URL has none. A URL whose
    masked parts cover that '@' (a secret query value holding it) returns -1: it reads two ways."""
    m = _SCHEME.match(url)
    at = _userinfo_end(url, m.end()) if m else None
    if at is not None and any(start <= at < end for start, end in _spans(url)):
        return -1
    return at


def remember(secrets: list[str] | tuple[str, ...]) -> None:
    """Adds secrets to those every last-resort output (:func:`scrub_all`) is scrubbed of."""
    _remembered.update(s for s in secrets if s)


def scrub_all(text: str) -> str:
    """``text`` scrubbed of every secret :func:`remember` was given."""
    return scrub(text, tuple(_remembered))


def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with secrets masked (``***``) by the module's rule: each secret and each piece of
    one cut at a delimiter (``MIN_PIECE`` characters or longer) where it stands as a token; any
    run of ``MIN_PIECE`` or more characters of a secret that holds a character other than a letter
    or digit, wherever it stands; then every URL's password and every ``password=...`` left in it
    (secrets nobody told us about)."""
    whole = {s for s in secrets if s}
    tokens = set(whole)
    for secret in whole:
        tokens.update(piece for piece in _PIECE_CUT.split(secret) if len(piece) >= MIN_PIECE)
    for secret in sorted(tokens, key=len, reverse=True):
        text = _token(secret).sub(MASK, text)
    long_enough = [s for s in whole if len(s) >= MIN_PIECE]
    if long_enough:
        text = _mask_pieces(text, long_enough)
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    return _PAIR_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


def _token(secret: str) -> re.Pattern[str]:
    """Matches ``secret`` where it is not part of a longer run of letters and digits."""
    before = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
    return re.compile(before + re.escape(secret) + after)


def install_excepthook() -> None:
    """Tracebacks (of a bug, never of bad input) are printed scrubbed of every remembered secret."""
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(scrub_all("".join(traceback.format_exception(kind, value, tb))))

    sys.excepthook = hook


# --- where the secrets are -----------------------------------------------------------------------

def _spans(value: str) -> list[tuple[int, int]]:
    """The [start, end) index ranges of ``value`` to mask, sorted and merged."""
    m = _SCHEME.match(value)
    if m:
        spans = _url_spans(value, m.end())
    elif "=" in value:
        spans = _pair_spans(value)
    elif "@" in value:  # no scheme, no keyword: user:password@host at most
        spans = _userinfo_spans(value, 0)
    else:
        spans = []
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


def _url_spans(url: str, rest: int) -> list[tuple[int, int]]:
    spans = _userinfo_spans(url, rest)
    postgres = pg_conninfo.is_uri(url)
    continued = False  # the previous parameter was a secret (or the rest of one)
    for m in _QUERY_PARAM.finditer(url, rest):
        key = unquote(m.group(1)).strip().lower()
        if continued and postgres and key not in pg_conninfo.KEYWORDS:
            spans[-1] = (spans[-1][0], m.end())  # most likely the rest of the password: '&' written raw
        elif key in SECRET_QUERY_KEYS and m.group(2):
            spans.append(m.span(2))
            continued = True
            continue
        else:
            continued = False
    return spans


def _userinfo_spans(url: str, rest: int) -> list[tuple[int, int]]:
    """The password of ``user:password@``: from the first ':' (a user name holds none) to the '@'
    the rule picks."""
    at = _userinfo_end(url, rest)
    if at is None:
        return []
    colon = url.find(":", rest, at)
    return [] if colon == -1 else [(colon + 1, at)]


def _userinfo_end(url: str, rest: int) -> int | None:
    """The index of the '@' that ends the user information (the module's rule), or None."""
    candidates = []
    first_slash = url.find("/", rest)
    first_at = url.find("@", rest)
    if first_at != -1 and (first_slash == -1 or first_at < first_slash):
        candidates.append(first_at)  # libpq's
    authority_end = len(url)
    for c in "/?#":
        i = url.find(c, rest)
        if i != -1:
            authority_end = min(authority_end, i)
    rfc = url.rfind("@", rest, authority_end)
    if rfc != -1:
        candidates.append(rfc)  # RFC 3986's (Python's urlsplit)
    if _USER_COLON.match(url, rest):
        # user:password, where the password may hold a raw '@ / ? #': the last '@' followed by a host.
        at = url.rfind("@", rest)
        while at != -1:
            if _HOST_LIST.match(url, at + 1):
                candidates.append(at)
                break
            at = url.rfind("@", rest, at)
    return max(candidates) if candidates else None


def _pair_spans(text: str) -> list[tuple[int, int]]:
    """The values of secret keywords (quotes included), through any pair after one whose keyword
    libpq does not know (the rest of a password with a blank, unquoted); in a value that is itself a
    URL, its own secrets (the whole value when it is quoted or escaped); where libpq stops reading
    (an unclosed quote, a word without '='), everything from there on: it may be the rest of a
    password."""
    fields, stop = pg_conninfo.read_pairs(text)
    spans: list[tuple[int, int]] = []
    continued = False  # the previous pair was a secret (or the rest of one)
    for f in fields:
        if continued and f.keyword not in pg_conninfo.KEYWORDS:
            spans[-1] = (spans[-1][0], f.end)  # most likely the rest of the password: a blank unquoted
            continue
        continued = False
        if f.keyword.lower() in pg_conninfo.SECRET_KEYWORDS:
            if f.value:  # an empty one stays empty, as in a URL
                spans.append((f.start, f.end))
                continued = True
        elif _SCHEME.match(f.value) and (inner := _spans(f.value)):
            verbatim = text[f.start:f.end] == f.value
            spans += [(f.start + a, f.start + b) for a, b in inner] if verbatim else [(f.start, f.end)]
    if stop is not None:
        spans.append((stop, len(text)))
    return spans


def _apply(value: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [value[last:start], MASK]
        last = end
    out.append(value[last:])
    return "".join(out)


def _mask_pieces(text: str, secrets: list[str]) -> str:
    """Masks, left to right, the longest run at each place that is a piece of a secret
    (``MIN_PIECE`` or more characters) holding a character other than a letter or digit."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        best = 0
        for secret in secrets:
            j = i + MIN_PIECE
            if j > n or text[i:j] not in secret:
                continue
            while j < n and text[i:j + 1] in secret:
                j += 1
            if not text[i:j].isalnum():
                best = max(best, j - i)
        if best:
            if not out or out[-1] != MASK:
                out.append(MASK)
            i += best
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
