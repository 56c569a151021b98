"""A contract fake of Supabase's REST interface (PostgREST) for test-1's transfer.

It follows PostgREST's published behaviour for what the supabase-rest connector uses:
``POST /rest/v1/rpc/<function>`` with a JSON object of named arguments, the ``apikey`` header and
``Authorization: Bearer <key>`` (Supabase's API gateway refuses requests without them: HTTP 401
``{"message": "Invalid API key"}``), a scalar function's result as a bare JSON value, errors as
``{"code", "details", "hint", "message"}`` with the SQLSTATE as code (PGRSTnnn for PostgREST's
own, e.g. PGRST202: no such function), and ``GET /rest/v1/`` answering the OpenAPI description.
The function itself runs on a real PostgreSQL (the one SUPABASE_DB_URL names), as PostgREST would.
"""

from __future__ import annotations

import asyncio
import json

import psycopg
from aiohttp import web

STATE = web.AppKey("state", dict)

ARGS = {"p_from", "p_to", "p_amount"}
# PostgREST's mapping of SQLSTATE classes to HTTP statuses (the ones this test can meet).
STATUS = {"40001": 409, "40P01": 409, "23": 409, "57014": 500}


def _error(status: int, code: str, message: str, hint: str | None = None) -> web.Response:
    body = {"code": code, "details": None, "hint": hint, "message": message}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def make_app(db_url: str, anon_key: str, conflicts: int = 0, connections: int = 4) -> web.Application:
    """``conflicts``: the first N transfers fail with a serialization failure (SQLSTATE 40001)."""
    app = web.Application()
    state = {"transfers": 0, "bad_headers": 0, "conflicts_left": conflicts, "content_types": set()}
    app[STATE] = state
    pool: asyncio.Queue = asyncio.Queue()

    async def startup(app: web.Application) -> None:
        for _ in range(connections):
            await pool.put(await psycopg.AsyncConnection.connect(db_url, autocommit=True))

    async def cleanup(app: web.Application) -> None:
        while not pool.empty():
            await (pool.get_nowait()).close()

    def authorized(request: web.Request) -> bool:
        ok = (request.headers.get("apikey") == anon_key
              and request.headers.get("Authorization") == f"Bearer {anon_key}")
        if not ok:
            state["bad_headers"] += 1
        return ok

    async def root(request: web.Request) -> web.Response:
        if not authorized(request):
            return _error(401, "", "Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")
        return web.json_response({"swagger": "2.0", "info": {"title": "PostgREST API"}, "paths": {}})

    async def rpc(request: web.Request) -> web.Response:
        if not authorized(request):
            return _error(401, "", "Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")
        state["content_types"].add(request.content_type)
        if request.content_type != "application/json":
            return _error(415, "PGRST102", "Content-Type not acceptable")
        try:
            args = json.loads(await request.text())
        except ValueError:
            return _error(400, "PGRST102", "Empty or invalid json")
        name = request.match_info["function"]
        if name != "transfer" or not isinstance(args, dict) or set(args) != ARGS:
            keys = ", ".join(sorted(args)) if isinstance(args, dict) else ""
            return _error(404, "PGRST202", f"Could not find the function public.{name}({keys}) in the schema cache")
        state["transfers"] += 1
        if state["conflicts_left"] > 0:
            state["conflicts_left"] -= 1
            return _error(409, "40001", "could not serialize access due to concurrent update")
        conn = await pool.get()
        try:
            cur = await conn.execute("SELECT transfer(%s, %s, %s)", (args["p_from"], args["p_to"], args["p_amount"]))
            (moved,) = await cur.fetchone()
        except psycopg.Error as exc:
            code = exc.sqlstate or "XX000"
            return _error(STATUS.get(code, STATUS.get(code[:2], 400)), code, str(exc).splitlines()[0])
        finally:
            pool.put_nowait(conn)
        return web.Response(text=json.dumps(moved), content_type="application/json")

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/rest/v1/", root)
    app.router.add_post("/rest/v1/rpc/{function}", rpc)
    return app
