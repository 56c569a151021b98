"""The supabase-rest connector on the real PostgREST 12.0.2 (tests/servers.py starts it on the
throwaway PostgreSQL: a jwt-secret, an ``anon`` role, an HS256 anon key with {"role": "anon"}).

Three groups:
- contract tests run against both the real PostgREST and the fake (tests/fakes/supabase.py,
  without its gateway): the same requests get the same replies, and loadbench reads them the
  same way, so the fake cannot drift from what it models;
- the connector end to end on the real server: prep, bench, verify with the money counted by psql,
  both URL forms (PostgREST's own root; behind a /rest/v1 prefix, through a small reverse proxy);
- the gateway's own behaviour (the apikey check), which only the fake models.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from loadbench.connectors.supabase_rest import rest_root
from loadbench.report import store
from tests.servers import PostgrestServer, ServerUnavailable, hs256_jwt

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

from tests.fakes import supabase  # noqa: E402
from tests.fakes.server import FakeServer  # noqa: E402

ACCOUNTS = 500
BENCH = ("bench", "--seconds", "1", "--warmup", "0", "--accounts", str(ACCOUNTS), "--concurrency", "8", "--quiet")


@pytest.fixture(scope="session")
def postgrest(postgres):
    """The real PostgREST on the tests' PostgreSQL."""
    try:
        server = PostgrestServer.create(postgres.url, postgres.sql)
    except ServerUnavailable as e:
        pytest.skip(str(e))
    yield server
    server.destroy()


class Target:
    """A REST root to test against: ``url``, the ``anon_key`` it accepts, ``jwt_secret``."""

    def __init__(self, name: str, url: str, anon_key: str, jwt_secret: str):
        self.name, self.url, self.anon_key, self.jwt_secret = name, url, anon_key, jwt_secret

    def env(self, postgres, **extra: str) -> dict[str, str]:
        return {"SUPABASE_REST_URL": self.url, "SUPABASE_ANON_KEY": self.anon_key, "SUPABASE_DB_URL": postgres.url,
                **extra}

    def post(self, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, object]:
        """(status, parsed JSON body) of a POST with the anon key as the Bearer token (unless
        ``headers`` replaces the headers)."""
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {self.anon_key}"} if headers is None \
            else {"Content-Type": "application/json", **headers}
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def fake(postgres):
    key = supabase.anon_key()
    with FakeServer(supabase.make_app(postgres.url, key, gateway=False)) as server:
        yield Target("fake", server.url, key, supabase.JWT_SECRET)


@pytest.fixture(params=["postgrest", "fake"])
def target(request, postgres) -> Target:
    """Each shared behaviour is tested on the real PostgREST and on the fake."""
    if request.param == "fake":
        return request.getfixturevalue("fake")
    server = request.getfixturevalue("postgrest")
    return Target("postgrest", server.url, server.anon_key, PostgrestServer.JWT_SECRET)


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def money(postgres) -> tuple[int, int, int]:
    """(accounts, total balance, negative balances), counted by psql."""
    count, total, negative = postgres.sql(
        "SELECT count(*), sum(balance), count(*) FILTER (WHERE balance < 0) FROM accounts").split("|")
    return int(count), int(total), int(negative)


def reload_schema(postgres, target: Target, present: bool = True) -> None:
    """NOTIFY pgrst, then wait until PostgREST finds transfer() (or, ``present=False``, no longer
    does); the fake asks PostgreSQL each time and needs no reload."""
    postgres.sql("NOTIFY pgrst, 'reload schema'")
    deadline = time.monotonic() + 20
    want = (200, False) if present else (404, "PGRST202")  # (before the reload, a dropped one is 404 42883)
    while (reply := target.post("/rpc/transfer", {"p_from": 0, "p_to": 0, "p_amount": 0})) != want:
        if not present:
            reply = reply[0], reply[1].get("code") if isinstance(reply[1], dict) else None
            if reply == want:
                break
        assert time.monotonic() < deadline, f"PostgREST did not reload its schema cache: {reply}"
        time.sleep(0.05)


def inject(postgres, target: Target, sqlstate: str, times: int) -> None:
    """After prep: the first ``times`` transfers that move money raise ``sqlstate`` inside the
    function (in the database, so PostgREST and the fake meet the same error), the rest run the
    real transfer. ``lb_fault_calls`` counts the calls that moved money or tried to."""
    postgres.sql(f"""
        DROP FUNCTION IF EXISTS lb_transfer_real(bigint, bigint, bigint);
        ALTER FUNCTION transfer(bigint, bigint, bigint) RENAME TO lb_transfer_real;
        DROP SEQUENCE IF EXISTS lb_fault_calls; CREATE SEQUENCE lb_fault_calls;
        CREATE FUNCTION transfer(p_from bigint, p_to bigint, p_amount bigint) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          IF p_amount > 0 AND nextval('lb_fault_calls') <= {times} THEN
            RAISE EXCEPTION 'injected {sqlstate}' USING ERRCODE = '{sqlstate}';
          END IF;
          RETURN lb_transfer_real(p_from, p_to, p_amount);
        END $$;
        GRANT USAGE ON SEQUENCE lb_fault_calls TO anon;
        GRANT EXECUTE ON FUNCTION transfer(bigint, bigint, bigint), lb_transfer_real(bigint, bigint, bigint) TO anon""")
    reload_schema(postgres, target)


def fault_calls(postgres) -> int:
    return int(postgres.sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM lb_fault_calls"))


def prep(cli, postgres, target: Target) -> None:
    result = cli("prep", "--connectors", "supabase-rest", "--accounts", str(ACCOUNTS), env=target.env(postgres))
    assert result.returncode == 0, result.stderr


# --- the same requests get the same replies from PostgREST and the fake ------------------------

PROBE_FUNCTIONS = """
DROP TABLE IF EXISTS lb_pair; CREATE TABLE lb_pair (id bigint PRIMARY KEY, v bigint);
INSERT INTO lb_pair VALUES (1, 0), (2, 0); GRANT SELECT, UPDATE ON lb_pair TO anon;
DROP SEQUENCE IF EXISTS lb_raise_calls; CREATE SEQUENCE lb_raise_calls; GRANT USAGE ON SEQUENCE lb_raise_calls TO anon;
CREATE OR REPLACE FUNCTION lb_raise(p_code text, p_times bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('lb_raise_calls') <= p_times THEN RAISE EXCEPTION 'injected %', p_code USING ERRCODE = p_code; END IF;
  RETURN true;
END $$;
-- Locks the two rows in the order given, with a pause between: two calls in opposite orders deadlock.
CREATE OR REPLACE FUNCTION lb_lock_pair(p_a bigint, p_b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE lb_pair SET v = v + 1 WHERE id = p_a;
  PERFORM pg_sleep(0.5);
  UPDATE lb_pair SET v = v + 1 WHERE id = p_b;
  RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION lb_raise(text, bigint), lb_lock_pair(bigint, bigint) TO anon;
NOTIFY pgrst, 'reload schema';
"""


@pytest.fixture(scope="module")
def probes(postgres, postgrest):
    postgres.sql(PROBE_FUNCTIONS)
    deadline = time.monotonic() + 20
    while postgrest.get("/rpc/lb_raise?p_code=P0001&p_times=0")[0] == 404:  # the schema cache reloads
        assert time.monotonic() < deadline
        time.sleep(0.05)


def raised(target: Target, postgres, sqlstate: str, times: int = 1) -> tuple[int, object, int]:
    """(status, body, calls) for lb_raise: ``times`` calls raise ``sqlstate``, then it returns true."""
    postgres.sql("SELECT setval('lb_raise_calls', 1, false)")
    status, body = target.post("/rpc/lb_raise", {"p_code": sqlstate, "p_times": times})
    return status, body, int(postgres.sql("SELECT last_value FROM lb_raise_calls"))


def error(code: str, message: str, details: str | None = None, hint: str | None = None) -> dict:
    return {"code": code, "details": details, "hint": hint, "message": message}


# What PostgREST 12.0.2 answers a function that raises each SQLSTATE (measured: these are the real
# server's replies; the fake must give the same).
RAISED = {
    "40P01": (500, error("40P01", "injected 40P01")),  # deadlock_detected
    "53300": (503, error("53300", "injected 53300")),  # too_many_connections
    "P0001": (400, error("P0001", "injected P0001")),  # RAISE EXCEPTION's default
    "55P03": (500, error("55P03", "injected 55P03")),  # lock_not_available
    "57014": (500, error("57014", "injected 57014")),  # query_canceled (statement_timeout)
    "23505": (409, error("23505", "injected 23505")),  # unique_violation
}


@pytest.mark.parametrize("sqlstate", sorted(RAISED))
def test_an_error_raised_in_the_function_gets_postgrests_status_and_body(target, postgres, probes, sqlstate):
    assert raised(target, postgres, sqlstate) == (*RAISED[sqlstate], 1)


def test_serialization_failures_are_rerun_by_the_server_without_limit(target, postgres, probes):
    # 200 re-runs, and still the client sees only the answer: PostgREST retries 40001 itself.
    assert raised(target, postgres, "40001", times=200) == (200, True, 201)


def test_a_real_deadlock_is_http_500_with_sqlstate_40P01(target, postgres, probes):
    replies: dict[tuple[int, int], tuple[int, object]] = {}

    def lock(a: int, b: int) -> None:
        replies[(a, b)] = target.post("/rpc/lb_lock_pair", {"p_a": a, "p_b": b})

    threads = [threading.Thread(target=lock, args=pair) for pair in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    outcomes = sorted(replies.values(), key=lambda r: r[0])
    assert outcomes[0] == (200, True)
    status, body = outcomes[1]
    assert status == 500 and body["code"] == "40P01" and body["message"] == "deadlock detected"
    assert body["hint"] == "See server log for query details." and "waits for ShareLock" in body["details"]


def test_the_apikey_header_means_nothing_to_postgrest(target, probes):
    ok = (200, True)
    assert target.post("/rpc/lb_raise", {"p_code": "P0001", "p_times": 0}, {}) == ok  # no key at all: anon
    assert target.post("/rpc/lb_raise", {"p_code": "P0001", "p_times": 0}, {"apikey": "not-a-key"}) == ok
    assert target.post("/rpc/lb_raise", {"p_code": "P0001", "p_times": 0},
                       {"apikey": "not-a-key", "Authorization": f"Bearer {target.anon_key}"}) == ok


def test_a_jwt_signed_with_another_secret_is_401_pgrst301(target, probes):
    forged = hs256_jwt({"role": "anon"}, "another-secret-of-at-least-32-characters!")
    assert target.post("/rpc/lb_raise", {"p_code": "P0001", "p_times": 0}, {"Authorization": f"Bearer {forged}"}) == \
        (401, error("PGRST301", "JWSError JWSInvalidSignature"))
    assert target.post("/rpc/lb_raise", {"p_code": "P0001", "p_times": 0}, {"Authorization": "Bearer not-a-jwt"}) == \
        (401, error("PGRST301", "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)"))


def test_an_unknown_function_or_other_arguments_is_404_pgrst202(target, probes):
    def without_hint(reply: tuple[int, dict]) -> tuple[int, dict]:
        # PostgREST's hint names a function of a similar name ("Perhaps you meant to call the
        # function public.lb_raise"), when there is one; the fake gives none.
        return reply[0], {k: v for k, v in reply[1].items() if k != "hint"}

    assert without_hint(target.post("/rpc/lb_nothing", {"p_from": 1, "p_to": 2, "p_amount": 3})) == (404, {
        "code": "PGRST202",
        "message": "Could not find the function public.lb_nothing(p_amount, p_from, p_to) in the schema cache",
        "details": "Searched for the function public.lb_nothing with parameters p_amount, p_from, p_to or with a "
                   "single unnamed json/jsonb parameter, but no matches were found in the schema cache."})
    assert without_hint(target.post("/rpc/lb_raise", {"x": 1})) == (404, {
        "code": "PGRST202", "message": "Could not find the function public.lb_raise(x) in the schema cache",
        "details": "Searched for the function public.lb_raise with parameter x or with a single unnamed json/jsonb "
                   "parameter, but no matches were found in the schema cache."})


# --- loadbench reads those replies the same way on both -----------------------------------------


def test_prep_bench_verify_conserve_money(cli, postgres, target):
    env = target.env(postgres)
    prep(cli, postgres, target)
    assert money(postgres) == (ACCOUNTS, ACCOUNTS * 1000, 0)
    result = cli(*BENCH, "--skip-prep", "--connectors", "supabase-rest", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["errors"] == {} and entry["retried_errors"] == {}
    assert entry["verification"]["passed"]
    assert money(postgres) == (ACCOUNTS, ACCOUNTS * 1000, 0)  # psql's count, not loadbench's
    moved = int(postgres.sql("SELECT count(*) FROM accounts WHERE balance <> 1000"))
    assert moved > 0  # the transfers reached the table
    verified = cli("verify", "--connectors", "supabase-rest", "--accounts", str(ACCOUNTS), env=env)
    assert verified.returncode == 0, verified.stderr
    assert target.anon_key not in cli.reports()[0].read_text()


def test_prep_works_where_anon_may_not_touch_the_table_yet(cli, postgres, postgrest):
    """The check before prep calls the function: on a database where another connector left the
    accounts table and the function without anon's grants, PostgREST answers 401 with SQLSTATE
    42501. That is the database's refusal, not the key's: prep grants it, and runs."""
    target = Target("postgrest", postgrest.url, postgrest.anon_key, PostgrestServer.JWT_SECRET)
    prep(cli, postgres, target)
    postgres.sql("REVOKE ALL ON accounts FROM anon")
    assert target.post("/rpc/transfer", {"p_from": 0, "p_to": 0, "p_amount": 0})[0] == 401  # what the check meets
    prep(cli, postgres, target)
    assert money(postgres) == (ACCOUNTS, ACCOUNTS * 1000, 0)


def bench_with(cli, postgres, target: Target, sqlstate: str, times: int) -> dict:
    prep(cli, postgres, target)
    inject(postgres, target, sqlstate, times)
    result = cli(*BENCH, "--skip-prep", "--connectors", "supabase-rest", env=target.env(postgres))
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["verification"]["passed"]
    assert money(postgres) == (ACCOUNTS, ACCOUNTS * 1000, 0)
    return entry


def test_serialization_failures_never_reach_loadbench(cli, postgres, target):
    entry = bench_with(cli, postgres, target, "40001", 5)
    assert entry["retried_errors"] == {} and entry["errors"] == {}  # the server re-ran them
    # The function ran 5 more times than loadbench's transfers could account for.
    assert fault_calls(postgres) >= entry["committed"] + entry["rejected"] + 5


def test_a_deadlock_is_retried_and_counted(cli, postgres, target):
    entry = bench_with(cli, postgres, target, "40P01", 3)
    assert entry["retried_errors"] == {"deadlock": 3}
    assert entry["errors"] == {}


def test_too_many_connections_is_busy_and_retried(cli, postgres, target):
    entry = bench_with(cli, postgres, target, "53300", 3)
    assert entry["retried_errors"] == {"busy": 3}
    assert entry["errors"] == {}


def test_an_exception_raised_in_the_function_is_a_final_error(cli, postgres, target):
    entry = bench_with(cli, postgres, target, "P0001", 4)
    assert entry["errors"] == {"other": 4}
    assert entry["retried_errors"] == {}
    assert entry["error_examples"]["other"] == "P0001: injected P0001"


def test_a_bad_jwt_signature_is_bad_input_before_any_load(cli, postgres, target):
    forged = hs256_jwt({"role": "anon"}, "another-secret-of-at-least-32-characters!")
    result = cli(*BENCH, "--connectors", "supabase-rest", env=target.env(postgres, SUPABASE_ANON_KEY=forged))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "refused the key (HTTP 401 PGRST301: JWSError JWSInvalidSignature)" in result.stderr
    assert forged not in result.stderr and forged.split(".")[2] not in result.stderr
    assert cli.reports() == []


def test_a_missing_function_fails_the_run_naming_pgrst202(cli, postgres, target):
    prep(cli, postgres, target)
    postgres.sql("DROP FUNCTION transfer(bigint, bigint, bigint)")
    reload_schema(postgres, target, present=False)
    result = cli(*BENCH, "--skip-prep", "--no-verify", "--connectors", "supabase-rest", env=target.env(postgres))
    assert result.returncode == 1
    assert "PGRST202: Could not find the function public.transfer(p_amount, p_from, p_to) in the schema cache" in \
        result.stderr
    entry = only_entry(cli)
    assert entry["committed"] == 0 and set(entry["errors"]) == {"other"}


# --- the URL forms, on the real PostgREST ----------------------------------------------------------


class PrefixProxy:
    """A reverse proxy that serves ``upstream`` under /rest/v1, as Supabase's gateway serves
    PostgREST (it forwards every header; the gateway's key check is the fake's to model)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests = 0
        self.apikeys: set[str | None] = set()
        self.session: aiohttp.ClientSession | None = None
        app = web.Application()
        app.router.add_route("*", "/rest/v1/{tail:.*}", self.forward)
        app.on_cleanup.append(self.close)
        self.app = app

    async def close(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def forward(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.apikeys.add(request.headers.get("apikey"))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.request(
                request.method, f"{self.upstream}/{request.match_info['tail']}", headers=headers,
                data=await request.read()) as reply:
            return web.Response(status=reply.status, body=await reply.read(),
                                 content_type=reply.content_type)


@pytest.fixture(scope="module")
def gateway_prefix(postgrest):
    proxy = PrefixProxy(postgrest.url)
    with FakeServer(proxy.app) as server:
        proxy.url = server.url  # type: ignore[attr-defined]
        yield proxy


@pytest.mark.parametrize("form", ["SUPABASE_URL=project", "SUPABASE_URL=rest root", "SUPABASE_REST_URL=rest root",
                                  "both set: SUPABASE_REST_URL wins"])
def test_the_connector_reaches_postgrest_behind_a_rest_v1_prefix(cli, postgres, postgrest, gateway_prefix, form):
    if form.startswith("both"):
        settings = {"SUPABASE_URL": "http://127.0.0.1:1", "SUPABASE_REST_URL": gateway_prefix.url + "/rest/v1"}
    else:
        setting, url = form.split("=")
        settings = {setting: gateway_prefix.url + ("/" if url == "project" else "/rest/v1/")}
    env = {**settings, "SUPABASE_ANON_KEY": postgrest.anon_key, "SUPABASE_DB_URL": postgres.url}
    before = gateway_prefix.requests
    result = cli(*BENCH, "--connectors", "supabase-rest", env=env)
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50 and entry["errors"] == {}
    assert entry["verification"]["passed"]
    assert money(postgres) == (ACCOUNTS, ACCOUNTS * 1000, 0)
    assert gateway_prefix.requests - before > entry["committed"]  # every transfer went through the prefix
    assert gateway_prefix.apikeys == {postgrest.anon_key}  # the header Supabase's gateway checks is sent


def test_postgrests_own_root_given_as_a_project_url_is_bad_input(cli, postgres, postgrest):
    # SUPABASE_URL gets /rest/v1 appended: a bare PostgREST has nothing there.
    env = {"SUPABASE_URL": postgrest.url, "SUPABASE_ANON_KEY": postgrest.anon_key, "SUPABASE_DB_URL": postgres.url}
    result = cli(*BENCH, "--connectors", "supabase-rest", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "no REST API at the URL (POST /rest/v1/rpc/transfer: HTTP 404" in result.stderr
    assert "SUPABASE_REST_URL" in result.stderr


@pytest.mark.parametrize(("project", "root"), [
    ("https://x.supabase.co", "https://x.supabase.co/rest/v1"),
    ("https://x.supabase.co/", "https://x.supabase.co/rest/v1"),
    ("https://x.supabase.co/rest/v1", "https://x.supabase.co/rest/v1"),
    ("https://x.supabase.co/rest/v1/", "https://x.supabase.co/rest/v1"),
    ("http://127.0.0.1:8000/?token=abc", "http://127.0.0.1:8000/rest/v1?token=abc"),
    ("http://127.0.0.1:8000/gateway", "http://127.0.0.1:8000/gateway/rest/v1"),
])
def test_a_project_url_becomes_its_rest_root(project, root):
    assert rest_root(project) == root


# --- Supabase's gateway: the fake's alone ------------------------------------------------------


def test_the_gateway_refuses_a_request_without_a_project_key_in_apikey(postgres):
    key = supabase.anon_key()
    with FakeServer(supabase.make_app(postgres.url, key)) as server:
        gateway = Target("fake gateway", server.url + "/rest/v1", key, supabase.JWT_SECRET)
        call = ("/rpc/lb_nothing", {"p_from": 0})
        assert gateway.post(*call, {"Authorization": f"Bearer {key}"}) == (401, {
            "message": "No API key found in request", "hint": "No `apikey` request header or url param was found."})
        assert gateway.post(*call, {"apikey": "not-a-key", "Authorization": f"Bearer {key}"})[1]["message"] == \
            "Invalid API key"
        # With the key the request reaches PostgREST, which answers for itself.
        assert gateway.post(*call, {"apikey": key, "Authorization": f"Bearer {key}"})[1]["code"] == "PGRST202"
