"""Systems that cannot be installed natively, as containers: ``loadbench services up|down NAME
--docker`` with the ``compose.yaml`` shipped in this package (cockroachdb, supabase, spacetimedb,
convex).

``up`` checks for an engine (``docker`` on PATH, ``docker info`` answering, ``docker compose``
present; else one line, exit 1: the command was right, the machine lacks what it needs), then
runs ``docker compose -f <compose.yaml> -p loadbench up -d --wait --wait-timeout 300
<services>``, which returns once every health check passes. The secrets the file needs (database
password, JWT secret, anon key, Convex instance secret) are generated once, kept in the state
file, and given to ``docker compose`` in its environment, never on its command line. ``down``
runs ``docker compose ... rm --stop --force --volumes <services>`` (the data goes with them).

Not exercised against a real engine here: the tests run these commands on a stand-in ``docker``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from loadbench.connectors import local_servers
from loadbench.connectors.postgrest_server import hs256_jwt
from loadbench.errors import ConfigError, RunFailed
from loadbench.secrets import redact, remember, scrub_all

COMPOSE_FILE = Path(__file__).resolve().with_name("compose.yaml")
PROJECT = "loadbench"
WAIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class DockerService:
    """A system ``services up NAME --docker`` brings up: its compose services (the ones ``up``
    names; their dependencies come with them), the secrets it generates, the settings that reach
    it, and its URL to print."""

    compose_services: tuple[str, ...]   # all of them, for down; the last one is named to up
    secrets: Callable[[], dict[str, str]]  # LOADBENCH_* variables compose.yaml interpolates
    settings: Callable[[dict[str, str]], dict[str, str]]  # connector settings, from those secrets
    url: str
    note: str = ""


def _supabase_secrets() -> dict[str, str]:
    jwt_secret = secrets.token_urlsafe(48)
    return {"LOADBENCH_SUPABASE_DB_PASSWORD": secrets.token_urlsafe(24), "LOADBENCH_SUPABASE_JWT_SECRET": jwt_secret,
            "LOADBENCH_SUPABASE_ANON_KEY": hs256_jwt({"role": "anon"}, jwt_secret)}


def _supabase_settings(env: dict[str, str]) -> dict[str, str]:
    return {"SUPABASE_URL": "http://127.0.0.1:54321/rest/v1", "SUPABASE_ANON_KEY": env["LOADBENCH_SUPABASE_ANON_KEY"],
            "SUPABASE_DB_URL": f"postgresql://postgres:{env['LOADBENCH_SUPABASE_DB_PASSWORD']}@127.0.0.1:54322/postgres"}


_CRDB_URL = "postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable"

DOCKER_SERVICES: dict[str, DockerService] = {
    "cockroachdb": DockerService(("cockroachdb",), dict, lambda env: {"CRDB_URL": _CRDB_URL}, _CRDB_URL),
    "supabase": DockerService(("supabase-db", "supabase-rest", "supabase-kong"), _supabase_secrets, _supabase_settings,
                              "http://127.0.0.1:54321/rest/v1"),
    "spacetimedb": DockerService(("spacetimedb",), dict, lambda env: {"STDB_URL": "ws://127.0.0.1:3000"},
                                 "ws://127.0.0.1:3000", "publish the module in spacetimedb/ and set STDB_MODULE"),
    "convex": DockerService(("convex",), lambda: {"LOADBENCH_CONVEX_INSTANCE_SECRET": secrets.token_hex(32)},
                            lambda env: {"CONVEX_URL": "http://127.0.0.1:3210"}, "http://127.0.0.1:3210",
                            "deploy convex-app/ to it (npx convex deploy, with an admin key from the container)"),
}


def _state_name(name: str) -> str:
    return f"docker-{name}"


def _service(name: str) -> DockerService:
    if name not in DOCKER_SERVICES:
        raise ConfigError(f"{name!r} has no --docker service (those are: {', '.join(DOCKER_SERVICES)})")
    return DOCKER_SERVICES[name]


def _docker(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env={**os.environ, **(env or {})}, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"`docker {' '.join(args[:2])}` did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise RunFailed(f"cannot run docker: {exc.strerror or exc}") from None


def _why(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return scrub_all(lines[-1]) if lines else f"exit code {result.returncode}"


def check_engine() -> None:
    """A Docker engine answers and Compose v2 is installed, else RunFailed in one line."""
    if shutil.which("docker") is None:
        raise RunFailed("no Docker engine here: `docker` is not on PATH")
    info = _docker(["info", "--format", "{{.ServerVersion}}"])
    if info.returncode != 0:
        raise RunFailed(f"no Docker engine here: `docker info` failed: {_why(info)}")
    version = _docker(["compose", "version"])
    if version.returncode != 0:
        raise RunFailed(f"Docker Compose v2 is not installed: `docker compose version` failed: {_why(version)}")


def _compose(*args: str) -> list[str]:
    return ["compose", "-f", str(COMPOSE_FILE), "-p", PROJECT, *args]


def _placeholders() -> dict[str, str]:
    # compose.yaml requires every service's secrets to be set whichever services a command names (it
    # reads the whole file): those of the services not being started may be anything.
    return {key: "unused" for service in DOCKER_SERVICES.values() for key in service.secrets()}


def up(name: str, services_dir: Path) -> tuple[str, Path]:
    """Brings ``name`` up and waits for its health checks; its URL and the env file holding its
    settings. The secrets of an earlier ``up`` are reused (the database volume keeps its password)."""
    service = _service(name)
    local_servers.check_services_dir(services_dir)
    check_engine()
    state = local_servers.read_state(services_dir, _state_name(name)) or {}
    env = state.get("compose_env") if isinstance(state.get("compose_env"), dict) else None
    env = {str(k): str(v) for k, v in env.items()} if env else service.secrets()
    remember(list(env.values()))
    done = _docker(_compose("up", "-d", "--wait", "--wait-timeout", str(WAIT_TIMEOUT_S), service.compose_services[-1]),
                   {**_placeholders(), **env}, timeout=WAIT_TIMEOUT_S + 120)
    if done.returncode != 0:
        raise RunFailed(f"docker compose up {name} failed: {_why(done)}")
    settings = service.settings(env)
    local_servers.write_state(services_dir, _state_name(name),
                              {"compose_file": str(COMPOSE_FILE), "project": PROJECT, "url": service.url,
                               "compose_env": env, "env": settings}, settings)
    return service.url, local_servers.env_file(services_dir, _state_name(name))


def down(name: str, services_dir: Path) -> None:
    """Stops and removes ``name``'s containers and their volumes."""
    service = _service(name)
    check_engine()
    done = _docker(_compose("rm", "--stop", "--force", "--volumes", *service.compose_services), _placeholders(),
                   timeout=180)
    if done.returncode != 0:
        raise RunFailed(f"docker compose rm {name} failed: {_why(done)}")
    local_servers.clear_state(services_dir, _state_name(name))


def started(services_dir: Path) -> dict[str, str]:
    """The --docker services ``up`` recorded (not asked of the engine), by name: their URLs, masked."""
    found = {}
    for name in DOCKER_SERVICES:
        state = local_servers.read_state(services_dir, _state_name(name))
        if state is not None and isinstance(state.get("url"), str):
            found[name] = redact(state["url"])
    return found
