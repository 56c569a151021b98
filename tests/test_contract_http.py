"""Contract tests of the supabase-rest and convex connectors: Supabase and Convex cannot be
installed here, so each connector runs a bench against a small local fake that follows the
service's published request and reply formats (tests/fakes/). Verified by contract only: for
supabase-rest, Supabase's gateway in front of PostgREST (PostgREST itself is verified for real in
tests/test_postgrest.py)."""

from __future__ import annotations

import json

import pytest

from loadbench.report import store

pytest.importorskip("aiohttp")

from tests.fakes import convex, supabase  # noqa: E402
from tests.fakes.server import FakeServer  # noqa: E402

BENCH = ("bench", "--seconds", "1", "--warmup", "0", "--accounts", "500", "--concurrency", "8", "--quiet")
KEY = supabase.anon_key()


def only_entry(cli) -> dict:
    report = cli.only_report()
    store.validate(report)
    (entry,) = report["connectors"]
    return entry


def test_supabase_rest_transfers_through_the_gateway_and_conserves_money(cli, postgres):
    with FakeServer(supabase.make_app(postgres.url, KEY)) as fake:
        env = {"SUPABASE_URL": fake.url, "SUPABASE_ANON_KEY": KEY, "SUPABASE_DB_URL": postgres.url}
        result = cli(*BENCH, "--connectors", "supabase-rest", env=env)
        state = fake.app[supabase.STATE]
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["errors"] == {} and entry["retried_errors"] == {}
    assert entry["verification"]["passed"]
    # Every request carried the key in the header the gateway checks, and JSON.
    assert state["bad_keys"] == 0 and state["apikeys"] == {KEY} and state["content_types"] == {"application/json"}
    assert state["transfers"] >= entry["committed"]
    assert KEY not in cli.reports()[0].read_text()


def test_supabase_rest_with_a_key_the_gateway_does_not_know_is_bad_input(cli, postgres):
    with FakeServer(supabase.make_app(postgres.url, KEY)) as fake:
        env = {"SUPABASE_URL": fake.url, "SUPABASE_ANON_KEY": "not-the-key", "SUPABASE_DB_URL": postgres.url}
        result = cli(*BENCH, "--connectors", "supabase-rest", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "refused the key (HTTP 401: Invalid API key)" in result.stderr
    assert "not-the-key" not in result.stderr


def test_supabase_rest_needs_the_database_url(cli):
    result = cli(*BENCH, "--connectors", "supabase-rest",
                 env={"SUPABASE_URL": "http://127.0.0.1:1", "SUPABASE_ANON_KEY": KEY})
    assert result.returncode == 2
    assert "SUPABASE_DB_URL" in result.stderr


def test_convex_runs_the_transfer_mutation_and_conserves_money(cli):
    with FakeServer(convex.make_app(conflicts=2)) as fake:
        result = cli(*BENCH, "--connectors", "convex", env={"CONVEX_URL": fake.url})
        state, accounts = fake.app[convex.STATE], dict(fake.app[convex.ACCOUNTS])
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["retried_errors"] == {"serialization": 2}  # Convex's write conflict is retried
    assert entry["errors"] == {}
    assert entry["verification"]["passed"]
    assert state["bad_requests"] == 0
    assert state["calls"]["seed:insertBatch"] == 1 and state["calls"]["accounts:summary"] >= 2  # check + verify
    assert (len(accounts), sum(accounts.values())) == (500, 500 * 1000)


def test_convex_without_the_app_deployed_says_so(cli):
    app = convex.make_app()
    with FakeServer(app) as fake:
        result = cli(*BENCH, "--connectors", "convex", "--skip-prep", env={"CONVEX_URL": fake.url + "/nothing"})
    assert result.returncode == 1
    assert "convex" in result.stderr


def test_convex_function_errors_are_counted_with_the_message(cli):
    with FakeServer(convex.make_app()) as fake:
        # Seed fewer accounts than the bench draws from: transfers to missing ids fail in the function.
        assert cli("prep", "--connectors", "convex", "--accounts", "10", env={"CONVEX_URL": fake.url}).returncode == 0
        result = cli(*BENCH, "--connectors", "convex", "--skip-prep", "--no-verify", env={"CONVEX_URL": fake.url})
    # Nearly every transfer fails: a failed connector, its one line naming the function's error.
    assert result.returncode == 1, result.stderr
    entry = only_entry(cli)
    assert entry["errors"].get("other", 0) > 0
    assert "account_missing" in json.dumps(entry["error_examples"])
    assert entry["status"] == "failed" and entry["failure"]["most_common_error"]["kind"] == "other"
    assert f"most common error: other x {entry['errors']['other']:,}, e.g. 'Uncaught Error: account_missing" in \
        result.stderr


# --- TLS (https://) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost: (certificate file, key file)."""
    import subprocess

    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def tls_context(certificate):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_convex_over_https_verifies_the_servers_certificate(cli, certificate):
    with FakeServer(convex.make_app(), tls_context(certificate)) as fake:
        assert fake.url.startswith("https://localhost:")
        result = cli(*BENCH, "--connectors", "convex", env={"CONVEX_URL": fake.url, "SSL_CERT_FILE": str(certificate[0])})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50 and entry["errors"] == {}
    assert entry["verification"]["passed"]


def test_an_untrusted_certificate_is_refused_in_one_line(cli, certificate, tmp_path):
    other = tmp_path / "empty-ca.pem"
    other.write_text("")
    with FakeServer(convex.make_app(), tls_context(certificate)) as fake:
        result = cli(*BENCH, "--connectors", "convex", env={"CONVEX_URL": fake.url, "SSL_CERT_FILE": str(other)})
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr
    assert result.stderr.count("\n") == 1


# --- SpacetimeDB (WebSocket) ------------------------------------------------------------------

from tests.fakes import spacetimedb  # noqa: E402


def stdb_env(fake, **extra) -> dict[str, str]:
    return {"STDB_URL": fake.url, "STDB_MODULE": "loadbench-test1", **extra}


def test_spacetimedb_calls_the_transfer_reducer_over_the_websocket_protocol(cli):
    with FakeServer(spacetimedb.make_app(unsolicited=True)) as fake:
        result = cli(*BENCH, "--alpha", "1.5", "--connectors", "spacetimedb",
                     env=stdb_env(fake, USE_SPACETIME_METRICS_ENDPOINT="1"))
        state = fake.app[spacetimedb.STATE]
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50
    assert entry["errors"] == {}
    assert entry["verification"]["passed"]
    assert state["bad_messages"] == 0
    assert state["connections"] == 8
    # The server's own count covers warmup and the window; here there is no warmup.
    assert entry["server_committed"] >= entry["committed"]
    assert state["committed"] >= entry["committed"] and state["transfers"] >= entry["samples"]


def test_spacetimedb_insufficient_funds_is_a_rejection(cli):
    with FakeServer(spacetimedb.make_app()) as fake:
        result = cli(*BENCH, "--alpha", "2", "--initial-balance", "5", "--connectors", "spacetimedb",
                     env=stdb_env(fake))
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["rejected"] > 0
    assert entry["errors"] == {}
    assert entry["verification"]["passed"]


def test_spacetimedb_dropped_websockets_are_reopened_and_counted(cli):
    with FakeServer(spacetimedb.make_app(drop_after=100)) as fake:
        result = cli(*BENCH, "--connectors", "spacetimedb", env=stdb_env(fake))
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["reconnects"] >= 8
    assert set(entry["errors"]) <= {"connection"}
    assert entry["verification"]["passed"]


def test_spacetimedb_unknown_module_is_bad_input(cli):
    with FakeServer(spacetimedb.make_app()) as fake:
        result = cli(*BENCH, "--connectors", "spacetimedb", env={"STDB_URL": fake.url, "STDB_MODULE": "nope"})
    assert result.returncode == 2
    assert "no database 'nope'" in result.stderr


def test_spacetimedb_over_wss_verifies_the_servers_certificate(cli, certificate):
    with FakeServer(spacetimedb.make_app(), tls_context(certificate)) as fake:
        url = fake.url.replace("https://", "wss://")
        result = cli(*BENCH, "--connectors", "spacetimedb",
                     env={"STDB_URL": url, "STDB_MODULE": "loadbench-test1", "SSL_CERT_FILE": str(certificate[0])})
    assert result.returncode == 0, result.stderr
    entry = only_entry(cli)
    assert entry["committed"] > 50 and entry["errors"] == {}
    assert entry["verification"]["passed"]
