"""Secrets never appear in any output: a fuzz over random printable passwords and tokens.

Every setting that takes a URL or a secret gets its own random secret (all of string.printable but
whitespace, the troublesome ``@ : / ? # % ' " \\ = &`` forced in, and blanks in keyword=value
strings), written in each form a user may write it: raw in a URL, %-encoded in a URL, in a URL's
query, in libpq's keyword=value pairs. Then the commands run for real (bench on every connector
that can be configured here, prep, verify, report, report --csv, export --hlog, plot --format svg,
compare, services status, rpc-server), on the right secrets, on wrong ones (a PostgreSQL role that asks for
its password), on an unreachable host (a free loopback port) and on URLs libpq would misread, and
every output is searched: stdout, stderr, reports, results.jsonl, the .hlog, the CSV, the figures'
SVG text.

A leak is the secret, or any piece of it 4 characters or longer that is not also in the setting's
other parts. Every secret holds a marker character (`` ` `` or ``~``, which no output holds
otherwise) at every third place, so every such piece holds a marker and a hit is never a
coincidence with a number or a word. The seed is fixed (LOADBENCH_FUZZ_SEED replays another).

The unit tests below also compare :mod:`loadbench.pg_conninfo` with libpq's own ``PQconninfoParse``
on random strings, and check that every redacted connection string still reads the same with libpq.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import random
import re
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from loadbench import connectors, pg_conninfo
from loadbench.connectors import postgres
from loadbench.errors import ConfigError
from loadbench.secrets import MASK, redact, scrub, secrets_of
from loadbench.settings import Settings
from tests.conftest import clean_env, free_port

SEED = int(os.environ.get("LOADBENCH_FUZZ_SEED", "20240612"))
MARKERS = "`~"
TROUBLE = "@:/?#%'\"\\=&"
PRINTABLE = "".join(c for c in string.printable if not c.isspace())


def make_secret(rng: random.Random, length: int = 13, alphabet: str = PRINTABLE, blanks: bool = False) -> str:
    """A random secret with a marker at every third place; the other places draw the troublesome
    characters first (those ``alphabet`` has), then anything in ``alphabet`` (and blanks)."""
    pool = [c for c in TROUBLE if c in alphabet]
    rng.shuffle(pool)
    chars = []
    for i in range(length):
        if i % 3 == 0:
            chars.append(rng.choice(MARKERS))
        elif pool and rng.random() < 0.6:
            chars.append(pool.pop())
        else:
            chars.append(rng.choice(alphabet + (" " * 3 if blanks else "")))
    return "".join(chars)


def kv_quote(value: str) -> str:
    """libpq's keyword=value quoting: single quotes, ' and \\ escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def near_markers(text: str, reach: int = 40) -> str:
    """The parts of ``text`` within ``reach`` characters of a marker (the only places a piece of a
    secret can be), joined by NULs."""
    return "\0".join(text[max(0, m.start() - reach):m.end() + reach] for m in re.finditer(f"[{MARKERS}]", text))


def leaks(text: str, secret: str, public: str = "", hay: str | None = None) -> list[str]:
    """Pieces of ``secret`` (4 characters or longer, each holding a marker) found in ``text`` and
    not in ``public``; the longest at each start. ``hay``: near_markers(text), when already known."""
    hay = near_markers(text) if hay is None else hay
    found: list[str] = []
    if not hay:
        return found
    for i in range(len(secret) - 3):
        for j in range(len(secret), i + 3, -1):
            piece = secret[i:j]
            if any(m in piece for m in MARKERS) and piece in hay and piece not in public:
                if not any(piece in longer for longer in found):
                    found.append(piece)
                break
    return found


# --- libpq itself, for comparison -------------------------------------------------------------------

class _Option(ctypes.Structure):
    _fields_ = [("keyword", ctypes.c_char_p), ("envvar", ctypes.c_char_p), ("compiled", ctypes.c_char_p),
                ("val", ctypes.c_char_p), ("label", ctypes.c_char_p), ("dispchar", ctypes.c_char_p),
                ("dispsize", ctypes.c_int)]


def _libpq():
    name = ctypes.util.find_library("pq")
    if name is None:
        pytest.skip("libpq is not found by ctypes")
    lib = ctypes.CDLL(name)
    lib.PQconninfoParse.restype = ctypes.POINTER(_Option)
    lib.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    lib.PQconninfoFree.argtypes = [ctypes.POINTER(_Option)]
    lib.PQfreemem.argtypes = [ctypes.c_void_p]
    return lib


def libpq_parse(lib, text: str) -> dict[str, str] | str:
    """libpq's PQconninfoParse: the options it sets, or its error message."""
    error = ctypes.c_char_p()
    options = lib.PQconninfoParse(text.encode("utf-8", "surrogateescape"), ctypes.byref(error))
    if not options:
        return (error.value or b"?").decode("utf-8", "replace")
    found = {}
    i = 0
    while options[i].keyword:
        if options[i].val is not None:
            found[options[i].keyword.decode()] = options[i].val.decode("utf-8", "surrogateescape")
        i += 1
    lib.PQconninfoFree(options)
    return found


def _random_conninfo(rng: random.Random) -> str:
    """A random connection string, either form, often malformed."""
    keys = ["host", "port", "user", "password", "dbname", "sslmode", "application_name", "hostaddr", "requiressl"]
    alphabet = PRINTABLE + "  "

    def word(k: int = 8) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, k)))

    if rng.random() < 0.5:
        parts = [rng.choice(["postgresql://", "postgres://"])]
        if rng.random() < 0.7:
            parts.append(word() + (":" + word() if rng.random() < 0.7 else "") + "@")
        parts.append(rng.choice(["127.0.0.1", "h", "[::1]", "", "h1,h2", word(5)]))
        if rng.random() < 0.5:
            parts.append(":" + rng.choice(["5432", "", word(3)]))
        if rng.random() < 0.7:
            parts.append("/" + word(5))
        if rng.random() < 0.5:
            keys_uri = keys + ["ssl"]
            parts.append("?" + "&".join(f"{rng.choice(keys_uri)}={word(5)}" for _ in range(rng.randint(0, 3))))
        if rng.random() < 0.2:
            parts.append(word(6))
        return "".join(parts)
    pairs = []
    for _ in range(rng.randint(0, 4)):
        value = word()
        form = rng.random()
        if form < 0.4:
            value = kv_quote(value)
        elif form < 0.5:
            value = "'" + value
        pairs.append(f"{rng.choice(keys)}{rng.choice(['=', ' = ', '='])}{value}")
    text = " ".join(pairs)
    return text + " " + word(5) if rng.random() < 0.2 else text


def test_pg_conninfo_reads_connection_strings_as_libpq_does():
    lib = _libpq()
    rng = random.Random(SEED)
    compared = 0
    for _ in range(4000):
        text = _random_conninfo(rng)
        want = libpq_parse(lib, text)
        if isinstance(want, str) and ("invalid connection option" in want or "invalid URI query parameter" in want):
            continue  # libpq's keyword list, which pg_conninfo leaves to libpq
        try:
            got: dict[str, str] | str = pg_conninfo.parse(text).options
        except pg_conninfo.ConninfoError as exc:
            got = str(exc)
            assert isinstance(want, str), (text, want, got)
        else:
            assert got == want, text
        compared += 1
    assert compared > 3000


def test_redacting_any_accepted_connection_string_keeps_what_libpq_reads_but_the_password():
    lib = _libpq()
    rng = random.Random(SEED + 1)
    accepted = 0
    for _ in range(4000):
        text = _random_conninfo(rng)
        try:
            postgres.check_pg_url(text, "PG_URL")
        except ConfigError:
            continue
        want = libpq_parse(lib, text)
        if isinstance(want, str):
            continue  # a keyword libpq does not know: refused when the connector starts
        accepted += 1
        shown = redact(text)
        got = libpq_parse(lib, shown)
        assert isinstance(got, dict), (text, shown, got)
        for secret in ("password", "sslpassword"):
            if want.get(secret):
                want[secret] = MASK
        assert got == want, (text, shown)
    assert accepted > 300


@pytest.mark.parametrize("url, shown", [
    # issue 12's cases: raw '@', '/', '#' and '?' in the password.
    ("postgresql://u:p@ss:w0rd@127.0.0.1:5/db", "postgresql://u:***@127.0.0.1:5/db"),
    ("postgresql://u:s3cr/etPW@127.0.0.1:5/db", "postgresql://u:***@127.0.0.1:5/db"),
    ("postgresql://u:s3cr#etPW@127.0.0.1:5/db", "postgresql://u:***@127.0.0.1:5/db"),
    ("postgresql://u:s3cr?etPW@127.0.0.1:5/db", "postgresql://u:***@127.0.0.1:5/db"),
    ("postgresql:///db?host=/dir", "postgresql:///db?host=/dir"),
    ("postgresql://u:pw@/db?host=/dir&port=5", "postgresql://u:***@/db?host=/dir&port=5"),
    ("host=127.0.0.1 user=u password=s3cr3tPW dbname=db", "host=127.0.0.1 user=u password=*** dbname=db"),
    ("host=h password='a b\\'c' dbname=d", "host=h password=*** dbname=d"),
    ("host=h password=abc def=ghi user=u", "host=h password=*** user=u"),
    ("postgresql://h/db?user=u&password=a&bcdefgh=c&sslmode=disable",
     "postgresql://h/db?user=u&password=***&sslmode=disable"),
    ("http://127.0.0.1:8080/?token=s3cr3t&x=1", "http://127.0.0.1:8080/?token=***&x=1"),
])
def test_issue_cases_are_masked_whole(url, shown):
    assert redact(url) == shown
    for secret in secrets_of(url):
        assert secret not in shown


@pytest.mark.parametrize("url, accepted", [
    ("postgresql://u:p@ss:w0rd@127.0.0.1:5/db", False),  # libpq: host "ss", port "w0rd@127.0.0.1:5"
    ("postgresql://u:s3cr/etPW@127.0.0.1:5/db", False),  # libpq: host "u", port "s3cr"
    ("postgresql://u:s3cr#etPW@127.0.0.1:5/db", True),
    ("postgresql://u:s3cr?etPW@127.0.0.1:5/db", True),
    ("postgresql://u:p%40ss%2Fw0rd@127.0.0.1:5/db", True),
    ("postgresql:///db?host=/dir", True),
    ("host=127.0.0.1 user=u password='s3cr et' dbname=db", True),
    ("host=127.0.0.1 user=u password=s3cr et dbname=db", False),  # 'et' has no '='
    ("host=127.0.0.1 password=s3cr longpiece=x", False),  # libpq would quote 'longpiece'
    ("dbname=db password=x", False),  # no host
    ("s3cr3tpassword", False),  # neither form: not shown at all
])
def test_both_postgresql_forms_are_checked_without_showing_the_password(url, accepted):
    try:
        postgres.check_pg_url(url, "PG_URL")
    except ConfigError as exc:
        assert not accepted, exc
        for secret in ("w0rd", "etPW", "s3cr", "longpiece", "s3cr3tpassword"):
            assert secret not in str(exc)
    else:
        assert accepted


def test_rpc_server_with_a_wrong_database_password_fails_at_start(cli, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own, to make it ask for passwords")
    url = postgres.require_password("lb_rpc_pw_user", "right-horse")
    result = cli("rpc-server", "--backend", "postgres", "--port", "0", env={"PG_URL": url.replace("right", "wrong")},
                 timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("loadbench: error: rpc-server: postgres: ") and len(result.stderr.splitlines()) == 1
    assert "password authentication failed" in result.stderr and "wrong-horse" not in result.stderr


def _intended(rng: random.Random, blanks: bool = False) -> dict[str, str]:
    return {"user": rng.choice(["bob", "lb_user", "u"]),
            "password": make_secret(rng, rng.randint(7, 16), blanks=blanks),
            "host": rng.choice(["127.0.0.1", "db.example.com", "[::1]"]), "port": str(rng.randint(1, 65535)),
            "dbname": rng.choice(["app", "postgres", "d_1"])}


def _written(form: str, p: dict[str, str]) -> str:
    if form == "raw":
        return f"postgresql://{p['user']}:{p['password']}@{p['host']}:{p['port']}/{p['dbname']}"
    if form == "encoded":
        return f"postgresql://{p['user']}:{quote(p['password'], safe='')}@{p['host']}:{p['port']}/{p['dbname']}"
    if form == "query":
        return (f"postgres://{p['host']}:{p['port']}/{p['dbname']}?user={p['user']}&sslmode=disable"
                f"&password={quote(p['password'], safe='')}")
    host = p["host"].strip("[]")
    return f"host={host} port={p['port']} user={p['user']} password={kv_quote(p['password'])} dbname={p['dbname']}"


@pytest.mark.parametrize("form", ["raw", "encoded", "query", "pairs"])
def test_every_form_of_a_password_is_masked_and_libpq_reads_the_rest(form):
    """Raw, a password holding '@' or '/' is refused (libpq would read part of it as the host),
    with a message that shows none of it; every accepted string reads as intended, before and after
    redaction, and no piece of its password is shown, in its redaction or in a message quoting it."""
    lib = _libpq()
    rng = random.Random(f"{SEED}-{form}")
    refused = 0
    for _ in range(400):
        p = _intended(rng, blanks=form == "pairs")
        text = _written(form, p)
        public = text.replace(p["password"], "").replace(quote(p["password"], safe=""), "")
        shown = redact(text)
        assert not leaks(shown, p["password"], public), (text, shown)
        message = f'could not connect to "{text}": password "{p["password"]}" or "{p["password"][2:9]}" rejected'
        assert not leaks(scrub(message, secrets_of(text)), p["password"], public), message
        try:
            postgres.check_pg_url(text, "PG_URL")
        except ConfigError as exc:
            assert form == "raw" and ("@" in p["password"] or "/" in p["password"] or "%" in p["password"]), (text, exc)
            assert not leaks(str(exc), p["password"], public), str(exc)
            refused += 1
            continue
        want = dict(p, host=p["host"].strip("[]"))
        assert {k: v for k, v in libpq_parse(lib, text).items() if k in want} == want, text
        assert {k: v for k, v in libpq_parse(lib, shown).items() if k in want} == dict(want, password=MASK), shown
        assert pg_conninfo.parse(text).options["password"] == p["password"]
    assert form != "raw" or refused > 100


# Connectors whose servers this file does not start: their passwords of odd characters (in the URL,
# refused by the server) are checked never to appear in any output by their own tests
# (tests/test_mariadb.py, tests/test_redis.py: the wrong-password tests).
OWN_SERVER_TESTS = {"mysql", "redis"}
HTTP_SETTINGS = ("PG_RPC_URL", "CRDB_RPC_URL", "SQLITE_RPC_URL", "PLANETSCALE_RPC_URL", "BUN_URL", "CONVEX_URL",
                 "SUPABASE_URL", "STDB_URL", "STDB_METRICS_URL")
PG_SETTINGS = ("PG_URL", "CRDB_URL", "SUPABASE_DB_URL", "PLANETSCALE_PG_URL")


def _http_env(setting: str, url: str) -> dict[str, str]:
    env = {setting: url}
    if setting in ("SUPABASE_URL",):
        env.update(SUPABASE_ANON_KEY="k", SUPABASE_DB_URL="postgresql://u@127.0.0.1:1/d")
    if setting.startswith("STDB"):
        env.update(STDB_MODULE="m", STDB_URL=env.get("STDB_URL", "http://127.0.0.1:1"))
        if setting == "STDB_METRICS_URL":
            env["USE_SPACETIME_METRICS_ENDPOINT"] = "1"
    return env


def test_credentials_in_a_server_url_are_refused_without_showing_them(tmp_path):
    rng = random.Random(SEED + 2)
    for setting in HTTP_SETTINGS:
        for _ in range(20):
            secret = make_secret(rng)
            for url in (f"http://user:{secret}@127.0.0.1:8080/x", f"http://user:{quote(secret, safe='')}@h:1"):
                settings = Settings(_http_env(setting, url), {}, None)
                with pytest.raises(ConfigError) as raised:
                    connectors.configured(settings, tmp_path)
                assert setting in str(raised.value) and "credentials" in str(raised.value)
                assert not leaks(str(raised.value), secret), (url, raised.value)
            # A token in the query is allowed, and shown masked.
            url = f"http://127.0.0.1:8080/?token={quote(secret, safe='')}"
            spec = connectors.configured(Settings(_http_env(setting, url), {}, None), tmp_path)
            shown = " ".join(f"{s.target} {s.settings}" for s in spec.values())
            assert not leaks(shown, secret) and not leaks(shown, quote(secret, safe="")), shown


def test_a_dotenv_line_that_does_not_parse_is_not_shown(cli):
    secret = make_secret(random.Random(SEED + 4), alphabet=RAW_ALPHABET.replace("'", "").replace('"', ""))
    (cli.cwd / ".env").write_text(f"SEED_ACCOUNTS=50\nPG_URL='postgresql://u:{secret}@127.0.0.1:1/db\n")
    result = cli("verify", "--connectors", "postgres")
    assert result.returncode == 2
    assert result.stderr.strip() == "loadbench: error: .env:2: cannot parse the value of PG_URL (an unclosed quote?)"


def test_a_unix_socket_url_and_keyword_pairs_are_recorded_as_libpq_reads_them(cli, postgres):
    """The report's target is the setting as written, password masked, and libpq still reads it."""
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own (its socket directory)")
    lib = _libpq()
    secret = make_secret(random.Random(SEED + 5), blanks=True)
    socket_dir, port = postgres.cluster.data_dir, postgres.cluster.port
    for url in (f"postgresql:///postgres?host={socket_dir}&port={port}&user=postgres&password={quote(secret, safe='')}",
                f"host={socket_dir} port={port} user=postgres dbname=postgres password={kv_quote(secret)}"):
        report = cli.bench("--connectors", "postgres", "--seconds", "0.2", "--accounts", "50", env={"PG_URL": url})
        target = json.loads(report.read_text())["connectors"][0]["target"]
        assert target == redact(url) and not leaks(target, secret)
        assert target.startswith(url[:url.index("password=") + len("password=")])
        read = libpq_parse(lib, target)
        assert read == dict(libpq_parse(lib, url), password=MASK), (target, read)
        assert read["host"] == str(socket_dir)


# --- the commands, end to end -------------------------------------------------------------------------

class Fuzz:
    """Runs loadbench commands in one directory and keeps every output, with every secret used."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.outputs: list[tuple[str, str]] = []  # (what, text)
        self.secrets: list[tuple[str, str, str]] = []  # (setting, secret as written, the setting's text)
        self.took: list[tuple[float, str]] = []  # (seconds, command)

    def secret(self, setting: str, secret: str, value: str | None = None) -> str:
        """Records ``secret`` of ``setting`` (whose whole text is ``value``; None: the secret is the
        setting); returns the setting's text."""
        self.secrets.append((setting, secret, secret if value is None else value))
        return secret if value is None else value

    def run(self, *args: str, env: dict[str, str], expect: int | tuple[int, ...] = 0,
            timeout: float = 60) -> subprocess.CompletedProcess:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "loadbench", *args], cwd=self.cwd, env=clean_env(env),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        self.took.append((time.monotonic() - began, " ".join(args)[:60]))
        self.outputs.append((f"`{' '.join(args)}` stdout", done.stdout))
        self.outputs.append((f"`{' '.join(args)}` stderr", done.stderr))
        codes = expect if isinstance(expect, tuple) else (expect,)
        assert done.returncode in codes, (args, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def files(self) -> None:
        for path in sorted(self.cwd.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".jsonl", ".hlog", ".csv", ".svg", ".txt", ""):
                self.outputs.append((str(path.relative_to(self.cwd)), path.read_text(errors="replace")))

    def assert_no_leaks(self) -> None:
        found = []
        hays = [(what, near_markers(text)) for what, text in self.outputs]
        for setting, secret, value in self.secrets:
            assert len(secret) < 40  # near_markers' reach
            public = value.replace(secret, "")
            for what, hay in hays:
                for piece in leaks("", secret, public, hay):
                    found.append(f"{setting}: {piece!r} of {secret!r} in {what}")
        assert not found, "\n".join(found[:20])


def _role(postgres, role: str, password: str) -> None:
    """A PostgreSQL role that logs in with ``password`` over TCP (scram-sha-256)."""
    literal = "'" + password.replace("'", "''") + "'"
    postgres.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN SUPERUSER PASSWORD {literal}")
    hba = postgres.cluster.data_dir / "pg_hba.conf"
    line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    if line not in hba.read_text():
        hba.write_text(line + hba.read_text())
        postgres.sql("SELECT pg_reload_conf()")


def _pg_forms(fuzz: Fuzz, rng: random.Random, port: int, roles: dict[str, str] | None) -> dict[str, str]:
    """The four PostgreSQL settings, each in another form, with fresh secrets (the roles' when given,
    else wrong ones)."""
    def password(setting: str, alphabet: str = PRINTABLE, blanks: bool = False) -> str:
        if roles is not None:
            return roles[setting]
        return make_secret(rng, alphabet=alphabet, blanks=blanks)

    role = {s: f"lb_fuzz_{i}" for i, s in enumerate(PG_SETTINGS)}
    raw = password("PG_URL", RAW_ALPHABET)
    pairs = password("SUPABASE_DB_URL", blanks=True)
    encoded = password("PLANETSCALE_PG_URL")
    query = password("CRDB_URL")
    host = f"127.0.0.1:{port}"
    return {
        "PG_URL": fuzz.secret("PG_URL", raw, f"postgresql://{role['PG_URL']}:{raw}@{host}/postgres"),
        "SUPABASE_DB_URL": fuzz.secret("SUPABASE_DB_URL", pairs,
                                       f"host=127.0.0.1 port={port} user={role['SUPABASE_DB_URL']} "
                                       f"password={kv_quote(pairs)} dbname=postgres"),
        "PLANETSCALE_PG_URL": fuzz.secret("PLANETSCALE_PG_URL", encoded,
                                          f"postgresql://{role['PLANETSCALE_PG_URL']}:{quote(encoded, safe='')}"
                                          f"@{host}/postgres"),
        "CRDB_URL": fuzz.secret("CRDB_URL", query, f"postgres://{host}/postgres?user={role['CRDB_URL']}"
                                                   f"&password={quote(query, safe='')}&sslmode=disable"),
    }


# libpq reads a raw password in a URL up to the first '@', and a '/' before it ends the host: a
# raw password that works holds neither, nor a '%' (libpq %-decodes userinfo).
RAW_ALPHABET = "".join(c for c in PRINTABLE if c not in "@/%")


def _register_encoded(fuzz: Fuzz) -> None:
    """Each secret also as written in its setting (%-encoded, quoted), a leak just as much."""
    for setting, secret, value in list(fuzz.secrets):
        for written in (quote(secret, safe=""), kv_quote(secret)):
            if written != secret and written in value:
                fuzz.secrets.append((setting, written, value))


def test_no_output_of_any_command_shows_a_secret(tmp_path, postgres):
    if postgres.cluster is None:
        pytest.skip("needs a cluster of our own, to make it ask for passwords")
    pytest.importorskip("aiohttp")
    from tests.fakes import convex, spacetimedb, supabase
    from tests.fakes.server import FakeServer

    began = time.monotonic()
    rng = random.Random(SEED + 3)
    fuzz = Fuzz(tmp_path)
    port = postgres.cluster.port
    roles = {"PG_URL": make_secret(rng, alphabet=RAW_ALPHABET), "SUPABASE_DB_URL": make_secret(rng, blanks=True),
             "PLANETSCALE_PG_URL": make_secret(rng), "CRDB_URL": make_secret(rng)}
    for i, setting in enumerate(PG_SETTINGS):
        _role(postgres, f"lb_fuzz_{i}", roles[setting])
    pg = _pg_forms(fuzz, rng, port, roles)
    anon_key = fuzz.secret("SUPABASE_ANON_KEY", make_secret(rng))
    stdb_token = fuzz.secret("STDB_TOKEN", make_secret(rng))
    window = ("--seconds", "0.2", "--warmup", "0", "--accounts", "60", "--concurrency", "2")

    def token_url(setting: str, base: str) -> str:
        """``base`` with a secret token in its query (the core drops the query; it is there to be kept
        out of outputs)."""
        token = make_secret(rng)
        slash = "" if base.endswith("metrics") else "/"  # the core takes a base URL's path up to '?'
        return fuzz.secret(setting, token, f"{base}{slash}?token={quote(token, safe='')}")

    # The right secrets: an rpc-server on PostgreSQL (its banner), then every connector there is.
    server_port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "loadbench", "rpc-server", "--backend", "postgres", "--port",
                               str(server_port), "--threads", "1", "--pool", "2"], cwd=tmp_path,
                              env=clean_env({"PG_URL": pg["PG_URL"]}), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()
        assert f":{server_port}" in banner and "postgresql://lb_fuzz_0:***@" in banner, banner
        fuzz.outputs.append(("rpc-server banner", banner))
        rpc = f"http://127.0.0.1:{server_port}"
        # The fake's gateway takes this key of any characters; its PostgREST checks no JWT (jwt_secret=None).
        with FakeServer(supabase.make_app(pg["SUPABASE_DB_URL"], anon_key, jwt_secret=None)) as rest, \
                FakeServer(convex.make_app()) as convex_fake, FakeServer(spacetimedb.make_app()) as stdb:
            env = {**pg, "SUPABASE_ANON_KEY": anon_key, "STDB_TOKEN": stdb_token, "STDB_MODULE": "loadbench-test1",
                   "USE_SPACETIME_METRICS_ENDPOINT": "1",
                   "SUPABASE_URL": token_url("SUPABASE_URL", rest.url),
                   "CONVEX_URL": token_url("CONVEX_URL", convex_fake.url),
                   "STDB_URL": token_url("STDB_URL", stdb.url),
                   "STDB_METRICS_URL": token_url("STDB_METRICS_URL", stdb.url + "/v1/metrics"),
                   **{s: token_url(s, rpc) for s in ("PG_RPC_URL", "CRDB_RPC_URL", "SQLITE_RPC_URL",
                                                     "PLANETSCALE_RPC_URL", "BUN_URL")}}
            everything = ",".join(n for n in connectors.CONNECTOR_TYPES if n not in OWN_SERVER_TESTS)
            fuzz.run("bench", "--connectors", everything, *window, "--quiet", env=env)
            fuzz.run("prep", "--connectors", everything, "--accounts", "60", env=env)
            fuzz.run("verify", "--connectors", everything, "--accounts", "60", env=env)
            fuzz.run("services", "status", env=env)
            wrong_key = fuzz.secret("SUPABASE_ANON_KEY", make_secret(rng))
            done = fuzz.run("services", "status", env={**env, "SUPABASE_ANON_KEY": wrong_key}, expect=2)
            assert "supabase-rest: NOT usable" in done.stdout, done.stdout
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
        fuzz.outputs += [("rpc-server stdout", out), ("rpc-server stderr", err)]
    (report,) = sorted((tmp_path / "runs").glob("*.json"))
    statuses = {e["name"]: e["status"] for e in json.loads(report.read_text())["connectors"]}
    assert set(statuses) == set(connectors.CONNECTOR_TYPES) - OWN_SERVER_TESTS and set(statuses.values()) == {"ok"}, \
        statuses

    # Wrong secrets (the PostgreSQL roles ask for their passwords), nobody listening (a free loopback
    # port for every setting), and raw '@' and '/' in a URL's password (libpq would take part of it
    # for the host): each command reads the report or nothing, so they run at once.
    wrong = _pg_forms(fuzz, rng, port, None)
    nobody = free_port()
    down = {**_pg_forms(fuzz, rng, nobody, None),
            "SUPABASE_ANON_KEY": fuzz.secret("SUPABASE_ANON_KEY", make_secret(rng)),
            "STDB_TOKEN": fuzz.secret("STDB_TOKEN", make_secret(rng)), "STDB_MODULE": "m",
            "USE_SPACETIME_METRICS_ENDPOINT": "1",
            **{s: token_url(s, f"http://127.0.0.1:{nobody}") for s in HTTP_SETTINGS}}
    misread = {"STDB_MODULE": "m", "SUPABASE_ANON_KEY": "k", "USE_SPACETIME_METRICS_ENDPOINT": "1"}
    for setting in PG_SETTINGS:
        secret = make_secret(rng, alphabet=PRINTABLE.replace("%", ""))
        secret = secret[:4] + "@" + secret[5:7] + "/" + secret[8:]
        misread[setting] = fuzz.secret(setting, secret, f"postgresql://u:{secret}@127.0.0.1:{port}/postgres")
    for setting in HTTP_SETTINGS:
        secret = make_secret(rng)
        misread[setting] = fuzz.secret(setting, secret, f"http://user:{secret}@127.0.0.1:{nobody}")
    csv = tmp_path / "report.csv"
    commands = [
        (("report", str(report)), {}, 0),
        (("report", "--csv", str(report)), {}, 0),
        (("export", "--hlog", str(report), "--out", str(tmp_path / "report.hlog")), {}, 0),
        (("compare", str(report), str(report)), {}, 0),
        (("plot", str(report), "--format", "svg", "--out", str(tmp_path / "plots")), {}, 0),  # SVG: text searched
        (("services", "status"), wrong, 2),
        (("bench", "--connectors", "postgres,supabase,planetscale,cockroachdb", *window), wrong, 2),
        (("rpc-server", "--backend", "postgres", "--port", "0"), wrong, 2),
        (("services", "status"), down, 1),
        (("bench", "--connectors", "postgres", *window), down, 1),
        (("rpc-server", "--backend", "postgres", "--port", "0"), down, 1),
        (("services", "status"), misread, 2),
        (("bench", "--connectors", "postgres"), {"PG_URL": misread["PG_URL"]}, 2),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda c: fuzz.run(*c[0], env=c[1], expect=c[2]), commands))
    csv.write_text(done[1].stdout)
    assert "password authentication failed" in done[6].stderr
    assert len(done[7].stderr.splitlines()) == 1 and "password authentication failed" in done[7].stderr
    assert len(done[10].stderr.splitlines()) == 1 and "cannot connect" in done[10].stderr
    for name in connectors.CONNECTOR_TYPES:  # every connector with a URL (STDB_METRICS_URL: the unit test above)
        if name in ("sqlite", "null"):  # embedded or no database: status has nothing to reach
            assert not any(line.startswith(f"{name}:") for line in done[11].stdout.splitlines()), name
        elif name not in OWN_SERVER_TESTS:
            assert f"{name}: NOT usable" in done[11].stdout, name

    fuzz.files()
    _register_encoded(fuzz)
    assert len(fuzz.secrets) > 40
    fuzz.assert_no_leaks()
    assert time.monotonic() - began < 120, fuzz.took  # the budget of tests/faults: keep this test short


@pytest.mark.parametrize("message, secret, shown", [
    # Found by review: masking any 4-character piece garbled words and told which pieces a
    # password holds. Pieces of letters and digits inside a longer word are left alone now.
    ("loadbench: error: interrupted", "Zq9hunter42", "loadbench: error: interrupted"),
    ("FATAL:  password authentication failed", "wrongpass", "FATAL:  password authentication failed"),
    ('connection to server at "127.0.0.1", port 1 failed', "report",
     'connection to server at "127.0.0.1", port 1 failed'),
    ("postgresql://u:p@127.0.0.1:0/db: a port is not a number", "p",
     "postgresql://u:***@127.0.0.1:0/db: a port is not a number"),
    # ... while what a misreading quotes is still masked: a piece cut at a delimiter, and any run
    # holding punctuation.
    ('invalid port number: "w0rd@127.0.0.1:5"', "p@ss:w0rd", 'invalid port number: "***@127.0.0.1:5"'),
    ('password "x" or "?~\'#`:Z" rejected', "`K?~'#`:Z~K(`%'`", 'password "x" or "***" rejected'),
    ("the password Zq9hunter42 was refused", "Zq9hunter42", "the password *** was refused"),
])
def test_scrub_masks_secrets_and_leaves_ordinary_words_alone(message, secret, shown):
    assert scrub(message, [secret]) == shown
