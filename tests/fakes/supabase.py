"""A contract fake of Supabase's REST API for test-1's transfer: Supabase's API gateway in front of
PostgREST, each modelled only as far as the supabase-rest connector uses it. The function itself
runs on a real PostgreSQL (the one SUPABASE_DB_URL names), as PostgREST would run it.

PostgREST's part, as the real PostgREST 12.0.2 answers (tests/test_postgrest.py runs the same
contract tests against this fake and the real server, so the two cannot drift apart):

- ``POST /rpc/<function>`` with a JSON object of named arguments: the function of the ``public``
  schema with those argument names; a scalar result as a bare JSON value. A function it does not
  know, or other arguments: 404 ``PGRST202`` ("Could not find the function public.transfer(p_amount,
  p_from, p_to) in the schema cache"), without the hint PostgREST adds when a function of a
  similar name exists. (PostgREST reads its schema cache, reloaded on ``NOTIFY pgrst``; the fake
  asks PostgreSQL each time, so it needs no reload.)
- ``Authorization: Bearer <JWT>``: an HS256 JWT signed with the server's ``jwt_secret`` whose
  ``role`` claim names the role to run as (only ``anon`` exists here; another role: 400 ``22023``).
  A bad signature: 401 ``PGRST301`` "JWSError JWSInvalidSignature"; no Authorization header at
  all: the anonymous role. The ``apikey`` header means nothing to PostgREST.
- Errors as ``{"code", "details", "hint", "message"}``: the SQLSTATE and PostgreSQL's fields, with
  the HTTP status PostgREST gives the SQLSTATE (:func:`status_of`: 40P01 -> 500, 53300 -> 503,
  P0001 -> 400, ...).
- SQLSTATE 40001 (serialization failure) never reaches the client: PostgREST runs the transaction
  again, without limit (``state["serialization_retries"]`` counts the re-runs).
- ``GET /``: the OpenAPI description.

Supabase's gateway (``gateway=True``, the default; from Supabase's documentation, not verified
here: no gateway runs here):

- PostgREST is served under ``/rest/v1``.
- The ``apikey`` header must be one of the project's keys (``anon_key`` here): without it, 401
  ``{"message": "No API key found in request"}``; with another, 401 ``{"message": "Invalid API
  key"}``. The Authorization header goes through to PostgREST.

With ``gateway=False`` the fake is PostgREST alone, at its root, as tests/servers.py starts the
real one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import psycopg
import psycopg.sql
from aiohttp import web

from tests.servers import hs256_jwt

STATE = web.AppKey("state", dict)

JWT_SECRET = "loadbench-fake-jwt-secret-of-at-least-32-characters"
ROLES = {"anon"}
GATEWAY_PREFIX = "/rest/v1"

# PostgREST's translation of SQLSTATEs into HTTP statuses (its documentation's table, the exact
# codes before their classes); anything else is 400.
_STATUS_OF_CODE = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400, "42883": 404,
                   "42P01": 404, "42P17": 500}
_STATUS_OF_CLASS = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500,
                    "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500,
                    "F0": 500, "HV": 500, "P0": 500, "XX": 500}


def status_of(sqlstate: str) -> int:
    """The HTTP status PostgREST answers a function's SQLSTATE with."""
    return _STATUS_OF_CODE.get(sqlstate) or _STATUS_OF_CLASS.get(sqlstate[:2], 400)


def _error(status: int, code: str | None, message: str, details: str | None = None,
           hint: str | None = None) -> web.Response:
    body = {"code": code, "details": details, "hint": hint, "message": message}
    if code is None:  # the gateway's shape
        body = {"message": message, **({"hint": hint} if hint else {})}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwt_role(token: str, secret: str) -> tuple[str | None, str]:
    """(the role claim, "") for a JWT signed with ``secret``, else (None, PostgREST's message)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, f"JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got {len(parts)})"
    try:
        signature = _b64decode(parts[2])
        claims = json.loads(_b64decode(parts[1]))
    except ValueError:
        return None, "JWSError (CompactDecodeError Invalid Base64 encoding)"
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return None, "JWSError JWSInvalidSignature"
    return str(claims.get("role", "anon")), ""


def make_app(db_url: str, anon_key: str, jwt_secret: str | None = JWT_SECRET, gateway: bool = True,
             connections: int = 4) -> web.Application:
    """The fake on ``db_url``'s PostgreSQL. ``anon_key``: the key the gateway accepts (Supabase's
    anon key: an HS256 JWT with ``{"role": "anon"}`` signed with ``jwt_secret``). ``jwt_secret=None``
    leaves PostgREST's JWT check out (every request runs as ``anon``): not PostgREST's behaviour,
    for tests of the harness itself that need a key of any characters (the secrets fuzz)."""
    app = web.Application()
    state = {"transfers": 0, "serialization_retries": 0, "bad_keys": 0, "content_types": set(), "apikeys": set()}
    app[STATE] = state
    pool: asyncio.Queue = asyncio.Queue()
    prefix = GATEWAY_PREFIX if gateway else ""

    async def startup(app: web.Application) -> None:
        for _ in range(connections):
            await pool.put(await psycopg.AsyncConnection.connect(db_url, autocommit=True))

    async def cleanup(app: web.Application) -> None:
        while not pool.empty():
            await (pool.get_nowait()).close()

    def refused(request: web.Request) -> web.Response | None:
        """The gateway's and then PostgREST's verdict on the request's keys; None: let it through."""
        state["apikeys"].add(request.headers.get("apikey"))
        if gateway and "apikey" not in request.headers:
            state["bad_keys"] += 1
            return _error(401, None, "No API key found in request", hint="No `apikey` request header or url param "
                          "was found.")
        if gateway and request.headers["apikey"] != anon_key:
            state["bad_keys"] += 1
            return _error(401, None, "Invalid API key", hint="Double check your Supabase `anon` or `service_role` API key.")
        authorization = request.headers.get("Authorization")
        if authorization is None or jwt_secret is None:
            return None  # the anonymous role
        role, problem = _jwt_role(authorization.removeprefix("Bearer "), jwt_secret)
        if role is None:
            state["bad_keys"] += 1
            return _error(401, "PGRST301", problem)
        if role not in ROLES:
            return _error(400, "22023", f'role "{role}" does not exist')
        return None

    async def root(request: web.Request) -> web.Response:
        return refused(request) or web.json_response(
            {"swagger": "2.0", "info": {"title": "PostgREST API"}, "paths": {"/": {}, "/rpc/transfer": {}}})

    def no_function(name: str, args: object) -> web.Response:
        keys = sorted(args) if isinstance(args, dict) else []
        listed = ", ".join(keys)
        searched = (f"with parameter{'s' if len(keys) > 1 else ''} {listed} or with a single unnamed json/jsonb parameter"
                    if keys else "without parameters")
        return _error(404, "PGRST202", f"Could not find the function public.{name}({listed}) in the schema cache",
                      f"Searched for the function public.{name} {searched}, but no matches were found in the schema cache.")

    async def rpc(request: web.Request) -> web.Response:
        answer = refused(request)
        if answer is not None:
            return answer
        state["content_types"].add(request.content_type)
        try:
            args = json.loads(await request.text())
        except ValueError:
            return _error(400, "PGRST102", "Empty or invalid json")
        name = request.match_info["function"]
        if not isinstance(args, dict):
            return no_function(name, args)
        state["transfers"] += name == "transfer"
        # public.<name>(arg => value, ...): PostgreSQL finds the function by its name and named
        # arguments, as PostgREST's schema cache does.
        call = psycopg.sql.SQL("SELECT public.{}({})").format(
            psycopg.sql.Identifier(name),
            psycopg.sql.SQL(", ").join(psycopg.sql.SQL("{} => {}").format(psycopg.sql.Identifier(k), psycopg.sql.Placeholder())
                                       for k in args))
        conn = await pool.get()
        try:
            while True:
                try:
                    cur = await conn.execute(call, tuple(args.values()))
                    (moved,) = await cur.fetchone()
                    break
                except psycopg.Error as exc:
                    code = exc.sqlstate or "XX000"
                    if code == "40001":  # PostgREST's transaction runs again, as often as it takes
                        state["serialization_retries"] += 1
                        continue
                    if code == "42883":  # undefined_function: PostgREST's schema cache would not have it
                        return no_function(name, args)
                    diag = exc.diag
                    return _error(status_of(code), code, diag.message_primary or str(exc).splitlines()[0],
                                  diag.message_detail, diag.message_hint)
        finally:
            pool.put_nowait(conn)
        return web.Response(text=json.dumps(moved), content_type="application/json")

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_get(prefix + "/", root)
    app.router.add_post(prefix + "/rpc/{function}", rpc)
    return app


def anon_key(jwt_secret: str = JWT_SECRET, **claims: object) -> str:
    """An anon key for the fake: an HS256 JWT with ``{"role": "anon", **claims}``."""
    return hs256_jwt({"role": "anon", **claims}, jwt_secret)
