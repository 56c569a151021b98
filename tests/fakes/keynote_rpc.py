"""A keynote-style JSON RPC server (POST /rpc) whose failures carry no kind: as keynote's PostgreSQL
server, it answers a failed transfer HTTP 500 ``{"ok": false, "error": "internal server error"}``,
whatever the cause. ``fail_every``: every n-th transfer fails (1: all); ``kind``: a kind to add to
the failures' answers (as loadbench's own server does), None for none; ``seed_fails``: seed answers
an error (prep fails)."""

from __future__ import annotations

from aiohttp import web


def make_app(fail_every: int = 2, kind: str | None = None, seed_fails: bool = False) -> web.Application:
    state = {"accounts": 0, "initial": 0, "transfers": 0}

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        name, args = body.get("name"), body.get("args") or {}
        if name == "health":
            return web.json_response({"ok": True})
        if name == "seed" and seed_fails:
            return web.json_response({"ok": False, "error": "disk full"}, status=500)
        if name == "seed":
            state["accounts"], state["initial"] = int(args["accounts"]), int(args["initialBalance"])
            return web.json_response({"ok": True})
        if name == "verify":  # no transfer moves money here: the seeded total is always kept
            total = state["accounts"] * state["initial"]
            return web.json_response({"ok": True, "result": {"accounts": state["accounts"], "total": total,
                                                             "expected": total, "negative": 0, "passed": True}})
        if name == "transfer":
            state["transfers"] += 1
            if state["transfers"] % fail_every == 0:
                answer = {"ok": False, "error": "internal server error"}
                if kind is not None:
                    answer["kind"] = kind
                return web.json_response(answer, status=500)
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": f"unknown method: {name}"}, status=500)

    app = web.Application()
    app.router.add_post("/rpc", rpc)
    return app
