"""A contract fake of Convex's HTTP API running convex-app/'s functions on an in-memory table.

It follows the published HTTP API: ``POST /api/mutation`` and ``POST /api/query`` with
``{"path": "module:function", "args": {...}, "format": "json"}``; success is HTTP 200
``{"status": "success", "value": ..., "logLines": []}``; a function that throws is HTTP 560
``{"status": "error", "errorMessage": ..., "logLines": []}`` (the status Convex's own HTTP client
treats as a failed function); an unknown function is an error reply naming it. Mutations run one
at a time (serializable, as Convex's are); the first ``conflicts`` transfers report Convex's write
conflict, which a client retries.
"""

from __future__ import annotations

import json

from aiohttp import web

STATE = web.AppKey("state", dict)
ACCOUNTS = web.AppKey("accounts", dict)

CONFLICT = ('Documents read from or written to the "accounts" table changed while this mutation was being run and '
            "on every subsequent retry. Another call to this mutation changed the document.")
CLEAR_BATCH = 4000


class FunctionError(Exception):
    pass


def make_app(conflicts: int = 0) -> web.Application:
    app = web.Application()
    accounts: dict[int, int] = {}
    state = {"transfers": 0, "conflicts_left": conflicts, "calls": {}, "bad_requests": 0}
    app[STATE] = state
    app[ACCOUNTS] = accounts

    def transfer(args: dict):
        if set(args) != {"from_id", "to_id", "amount"}:
            raise FunctionError("ArgumentValidationError: Object is missing the required field or has extra fields")
        state["transfers"] += 1
        if state["conflicts_left"] > 0:
            state["conflicts_left"] -= 1
            raise FunctionError(CONFLICT)
        f, t, amount = args["from_id"], args["to_id"], args["amount"]
        if f == t or amount <= 0:
            return True
        if f not in accounts or t not in accounts:
            raise FunctionError(f"Uncaught Error: account_missing: {f} or {t}")
        if accounts[f] < amount:
            return False
        accounts[f] -= amount
        accounts[t] += amount
        return True

    def clear(args: dict):
        for key in list(accounts)[:CLEAR_BATCH]:
            del accounts[key]
        return not accounts

    def insert_batch(args: dict):
        for i in range(args["first_id"], args["first_id"] + args["count"]):
            accounts[i] = args["initial_balance"]
        return None

    def summary(args: dict):
        ids = sorted(accounts)
        start = int(args["cursor"] or 0)
        page = ids[start:start + args["numItems"]]
        end = start + len(page)
        return {"count": len(page), "total": sum(accounts[i] for i in page),
                "negative": sum(1 for i in page if accounts[i] < 0), "isDone": end >= len(ids),
                "continueCursor": str(end)}

    functions = {
        "mutation": {"transfer:transfer": transfer, "seed:clear": clear, "seed:insertBatch": insert_batch},
        "query": {"accounts:summary": summary},
    }

    def handler(kind: str):
        async def handle(request: web.Request) -> web.Response:
            try:
                body = json.loads(await request.text())
            except ValueError:
                state["bad_requests"] += 1
                return web.Response(status=400, text="InvalidJson")
            if not isinstance(body, dict) or not isinstance(body.get("path"), str) or body.get("format") != "json":
                state["bad_requests"] += 1
                return web.Response(status=400, text="BadJsonBody")
            path, args = body["path"], body.get("args", {})
            state["calls"][path] = state["calls"].get(path, 0) + 1
            fn = functions[kind].get(path)
            if fn is None:
                return web.json_response({"status": "error", "errorMessage": (
                    f"Could not find public function for '{path}'. Did you forget to run `npx convex dev` or "
                    "`npx convex deploy`?"), "logLines": []}, status=404)
            try:
                value = fn(args)
            except FunctionError as exc:
                return web.json_response({"status": "error", "errorMessage": str(exc), "logLines": []}, status=560)
            return web.json_response({"status": "success", "value": value, "logLines": []})

        return handle

    app.router.add_post("/api/mutation", handler("mutation"))
    app.router.add_post("/api/query", handler("query"))
    return app
