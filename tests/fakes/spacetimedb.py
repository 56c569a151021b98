"""A contract fake of SpacetimeDB for test-1, running spacetimedb/'s reducers on an in-memory table.

It follows the published client protocol in its text form: a WebSocket at
``/v1/database/<name>/subscribe`` that selects the subprotocol ``v1.json.spacetimedb`` (and is
refused, HTTP 404, for an unknown database); the server's first message is ``IdentityToken``; a
client message ``{"CallReducer": {"reducer", "args" (the arguments as a JSON text), "request_id",
"flags"}}`` runs the reducer as one transaction and is answered with ``{"TransactionUpdate":
{"status": {"Committed": {"tables": [...]}} | {"Failed": "message"}, "timestamp", "caller_identity",
"caller_connection_id", "reducer_call": {"reducer_name", "reducer_id", "args", "request_id"},
"energy_quanta_used", "total_host_execution_duration"}}`` (SATS JSON: sums as one-key objects).
Over HTTP: ``POST /v1/database/<name>/call/<reducer>`` with a JSON array of arguments,
``POST /v1/database/<name>/sql`` with the query text (answered ``[{"schema", "rows"}]``),
``GET /v1/database/<name>/schema`` and the Prometheus counters at ``GET /v1/metrics``.
``drop_after``: once that many transfers ran, every open WebSocket is closed (the client must
reconnect); ``unsolicited``: an unrelated message is sent before each reply (the client must skip it).
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import WSMsgType, web

SUBPROTOCOL = "v1.json.spacetimedb"
STATE = web.AppKey("state", dict)
ACCOUNTS = web.AppKey("accounts", dict)
REDUCER_IDS = {"seed": 0, "transfer": 1, "verify": 2}


class ReducerError(Exception):
    pass


def make_app(database: str = "loadbench-test1", drop_after: int = 0, unsolicited: bool = False,
             metrics_answers: int | None = None) -> web.Application:
    """``metrics_answers``: after this many answers, /v1/metrics accepts requests and never answers."""
    app = web.Application()
    accounts: dict[int, int] = {}
    state = {"committed": 0, "failed": 0, "transfers": 0, "sockets": set(), "connections": 0, "dropped": False,
             "verification": None, "bad_messages": 0}
    app[STATE], app[ACCOUNTS] = state, accounts

    def seed(n: int, initial: int) -> None:
        accounts.clear()
        accounts.update({i: initial for i in range(1, n + 1)})

    def transfer(source: int, target: int, amount: int) -> None:
        if source == target or amount <= 0:
            return
        if source not in accounts or target not in accounts:
            raise ReducerError("account_missing")
        if accounts[source] < amount:
            raise ReducerError("insufficient_funds")
        accounts[source] -= amount
        accounts[target] += amount

    def verify() -> None:
        state["verification"] = [0, len(accounts), sum(accounts.values()), sum(1 for b in accounts.values() if b < 0)]

    reducers = {"seed": (seed, 2), "transfer": (transfer, 3), "verify": (verify, 0)}

    def run_reducer(name: str, args: list) -> None:
        fn, arity = reducers[name]
        if not isinstance(args, list) or len(args) != arity or not all(isinstance(a, int) for a in args):
            raise ReducerError(f"invalid arguments for reducer {name}")
        fn(*args)

    def check_database(request: web.Request) -> None:
        if request.match_info["name"] != database:
            raise web.HTTPNotFound(text=f"no such database: {request.match_info['name']}")

    async def subscribe(request: web.Request) -> web.StreamResponse:
        check_database(request)
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
        await ws.prepare(request)
        if ws.ws_protocol != SUBPROTOCOL:
            await ws.close(code=1002, message=b"unsupported protocol")
            return ws
        state["connections"] += 1
        state["sockets"].add(ws)
        connection_id = state["connections"]
        await ws.send_str(json.dumps({"IdentityToken": {
            "identity": {"__identity__": f"0x{connection_id:064x}"}, "token": "fake-token",
            "connection_id": {"__connection_id__": connection_id}}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    state["bad_messages"] += 1
                    continue
                reply = handle_message(msg.data, connection_id)
                if unsolicited:
                    await ws.send_str(json.dumps({"SubscriptionError": {
                        "total_host_execution_duration_micros": 0, "request_id": None, "query_id": None,
                        "table_id": None, "error": "not subscribed"}}))
                if reply is not None:
                    await ws.send_str(reply)
                if drop_after and state["transfers"] >= drop_after and not state["dropped"]:
                    state["dropped"] = True
                    for other in list(state["sockets"]):
                        await other.close(code=1012, message=b"restarting")
        finally:
            state["sockets"].discard(ws)
        return ws

    def handle_message(text: str, connection_id: int) -> str | None:
        try:
            message = json.loads(text)
            call = message["CallReducer"]
            name, request_id, flags = call["reducer"], call["request_id"], call["flags"]
            args = json.loads(call["args"])  # the arguments travel as JSON text
            if name not in reducers or not isinstance(request_id, int) or flags not in (0, 1):
                raise KeyError(name)
        except (ValueError, KeyError, TypeError):
            state["bad_messages"] += 1
            return None
        if name == "transfer":
            state["transfers"] += 1
        try:
            run_reducer(name, args)
            status = {"Committed": {"tables": []}}
            state["committed"] += name == "transfer"
        except ReducerError as exc:
            status = {"Failed": str(exc)}
            state["failed"] += name == "transfer"
        return json.dumps({"TransactionUpdate": {
            "status": status,
            "timestamp": {"__timestamp_micros_since_unix_epoch__": int(time.time() * 1e6)},
            "caller_identity": {"__identity__": f"0x{connection_id:064x}"},
            "caller_connection_id": {"__connection_id__": connection_id},
            "reducer_call": {"reducer_name": name, "reducer_id": REDUCER_IDS[name], "args": call["args"],
                             "request_id": request_id},
            "energy_quanta_used": {"quanta": 0},
            "total_host_execution_duration": {"__time_duration_micros__": 5},
        }})

    async def call(request: web.Request) -> web.Response:
        check_database(request)
        name = request.match_info["reducer"]
        if name not in reducers:
            return web.Response(status=404, text=f"No such reducer {name}")
        try:
            args = json.loads(await request.text())
            run_reducer(name, args)
        except ValueError:
            return web.Response(status=400, text="invalid JSON arguments")
        except ReducerError as exc:
            return web.Response(status=530, text=str(exc))
        return web.Response(status=200)

    async def sql(request: web.Request) -> web.Response:
        check_database(request)
        query = (await request.text()).strip().rstrip(";")
        if query.lower() != "select * from verification":
            return web.Response(status=400, text=f"unsupported query in the fake: {query}")
        rows = [state["verification"]] if state["verification"] else []
        names = ("id", "accounts", "total", "negative")
        types = ({"U32": []}, {"U64": []}, {"I64": []}, {"U64": []})
        schema = {"elements": [{"name": {"some": n}, "algebraic_type": t} for n, t in zip(names, types)]}
        return web.json_response([{"schema": schema, "rows": rows, "total_duration_micros": 3,
                                   "stats": {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 0}}])

    async def schema(request: web.Request) -> web.Response:
        check_database(request)
        return web.json_response({"typespace": {"types": []}, "tables": [{"name": "accounts"}, {"name": "verification"}],
                                  "reducers": [{"name": n} for n in reducers]})

    async def metrics(request: web.Request) -> web.Response:
        state["metrics_reads"] = state.get("metrics_reads", 0) + 1
        if metrics_answers is not None and state["metrics_reads"] > metrics_answers:
            await asyncio.sleep(3600)  # a stalled metrics endpoint
        return web.Response(text=(
            "# HELP spacetime_num_txns_total The cumulative number of transactions\n"
            "# TYPE spacetime_num_txns_total counter\n"
            f'spacetime_num_txns_total{{committed="false",db="{database}",reducer="transfer",txn_type="Reducer"}} '
            f'{state["failed"]}\n'
            f'spacetime_num_txns_total{{committed="true",db="{database}",reducer="transfer",txn_type="Reducer"}} '
            f'{state["committed"]}\n'), content_type="text/plain")

    app.router.add_get("/v1/database/{name}/subscribe", subscribe)
    app.router.add_post("/v1/database/{name}/call/{reducer}", call)
    app.router.add_post("/v1/database/{name}/sql", sql)
    app.router.add_get("/v1/database/{name}/schema", schema)
    app.router.add_get("/v1/metrics", metrics)
    return app
