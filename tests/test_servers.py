"""The test-server helpers (tests/servers.py) start their real servers and can talk to them: the
fixtures the MariaDB, Redis and PostgREST connector tests build on."""

from __future__ import annotations

import json

import pytest

from tests.servers import MariaDbServer, PostgrestServer, RedisServer, ServerUnavailable, hs256_jwt


def _create(factory, *args):
    try:
        return factory(*args)
    except ServerUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def mariadb():
    server = _create(MariaDbServer.create)
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def redis():
    server = _create(RedisServer.create)
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def postgrest(postgres):
    server = _create(PostgrestServer.create, postgres.url, postgres.sql)
    yield server
    server.destroy()


def test_mariadb_server_answers_sql_as_its_user_and_survives_a_kill(mariadb):
    assert mariadb.url.startswith("mysql://")
    mariadb.sql("DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT) "
                "ENGINE=InnoDB; INSERT INTO accounts VALUES (1, 100), (2, 50)")
    assert mariadb.sql("SELECT SUM(balance), CURRENT_USER() FROM accounts") == f"150\t{MariaDbServer.USER}@%"
    assert mariadb.sql("SELECT @@port, @@bind_address") == f"{mariadb.port}\t127.0.0.1"
    if not mariadb.owned:
        return
    mariadb.kill()
    with pytest.raises(RuntimeError):
        mariadb.sql("SELECT 1")
    mariadb.start()  # crash recovery: committed rows are back
    assert mariadb.sql("SELECT SUM(balance) FROM accounts") == "150"


def test_mariadb_server_refuses_a_wrong_password(mariadb):
    wrong = MariaDbServer(mariadb.url.replace(MariaDbServer.PASSWORD, "wrong"))
    with pytest.raises(RuntimeError, match="Access denied"):
        wrong.sql("SELECT 1")


def test_redis_server_answers_commands_and_survives_a_restart(redis):
    assert redis.cli("PING") == "PONG"
    assert redis.cli("INCRBY", "balance:1", "5") == "5"
    assert redis.cli("CONFIG", "GET", "port").splitlines() == ["port", str(redis.port)]
    if not redis.owned:
        return
    redis.kill()
    with pytest.raises(RuntimeError):
        redis.cli("PING")
    redis.start()
    assert redis.cli("GET", "balance:1") == ""  # --save '' --appendonly no: nothing survives a kill


def test_redis_server_with_a_password_refuses_other_passwords():
    server = _create(RedisServer.create, "s3cret pass")
    try:
        assert server.cli("PING") == "PONG"
        wrong = RedisServer(server.url.replace("s3cret%20pass", "wrong"))
        with pytest.raises(RuntimeError, match="WRONGPASS"):
            wrong.cli("PING")
    finally:
        server.destroy()


def test_postgrest_serves_its_root_and_checks_only_the_jwt_signature(postgrest):
    status, body = postgrest.get("/", {"Authorization": f"Bearer {postgrest.anon_key}"})
    assert status == 200
    assert json.loads(body)["swagger"] == "2.0"  # PostgREST's OpenAPI description of the schema
    # No key at all is anonymous too: the apikey header is the Supabase gateway's business, not PostgREST's.
    assert postgrest.get("/")[0] == 200
    forged = hs256_jwt({"role": "anon"}, "another-secret-of-at-least-32-characters!")
    status, body = postgrest.get("/", {"Authorization": f"Bearer {forged}"})
    assert status == 401
    assert json.loads(body)["code"] == "PGRST301"
