"""Three prog-lang-api servers on one PostgreSQL behind haproxy (deploy/haproxy.cfg), under a
mixed load through pooled keep-alive clients, while one server is killed (SIGKILL), one is taken
out as deploy/README.md says (disabled in haproxy, then SIGTERM), and one is stopped with SIGTERM
alone; each is restarted. Run by deploy/test, which starts the database and hands its URL in
PROG_LANG_API_DATABASE_URL.

What it asserts: every create (each sent with an Idempotency-Key, and sent again with it until
answered) ends in one 201 and one language; no acknowledged write is lost, no language appears
that no client created, every read succeeds and sees the last acknowledged write, and no request
at all fails while a server is stopped gracefully. An update or delete whose request failed has
an unknown outcome: its name is left alone from then on, and either outcome is accepted at the
end.
"""

import asyncio
import collections
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LB_TEST_CONFIG: another configuration to try in the same conditions.
CONFIG = os.environ.get("LB_TEST_CONFIG", os.path.join(ROOT, "deploy", "haproxy.cfg"))

WORKERS = 24  # each one request at a time, on names of its own
CLIENTS = 4  # httpx clients (connection pools), the workers shared among them
RATE = 300  # requests per second, in all
MAX_REQUESTS = 12_000  # a bound on the count, whatever the timing
LOAD_SECONDS = 24  # at least; and 2 s past the last server's return
LOAD_SECONDS_MAX = 40
SERVERS = ("s1", "s2", "s3")
BURST = 60  # creates sent at once just before s1 is killed, so that some are inside s1 then

SEEDS = {
    "COBOL": (1960, "record data"),
    "ALGOL": (1958, "scoping and nested functions"),
    "APL": (1962, "array processing"),
    "BASIC": (1964, "runtime interpretation, office tooling"),
    "PL": (1966, "constants, function overloading, pointers"),
    "SIMULA67": (1967, "class/object split, subclassing, protected attributes"),
    "Pascal": (1970, "modern unary, binary, and assignment operator syntax expectations"),
    "CLU": (1975, "iterators, abstract data types, generics, checked exceptions"),
}

ABSENT = None  # a name's state when it does not exist; else (publication_year, contribution)

# How long a worker keeps sending a create again: past the 10 s a dead server's claim on its
# key may last (README, "Retries").
CREATE_RETRY_SECONDS = 20


def problem_type(response):
    try:
        return response.json().get("type")
    except ValueError:
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def path_of(name):
    return "/programming_languages/" + urllib.parse.quote(name, safe="")


class Record:
    """Every request: what was asked, when, and how it ended."""

    def __init__(self):
        # [op, method, path, start, end, outcome, ok, detail, request id]
        self.requests = []

    def add(self, op, method, path, start, end, outcome, ok, detail, request_id):
        entry = [op, method, path, start, end, outcome, ok, detail, request_id]
        self.requests.append(entry)
        return entry


class Lb:
    """haproxy and the servers behind it: processes, the runtime API, the logs."""

    def __init__(self, tmp, binary, database_url):
        self.tmp = tmp
        self.binary = binary
        self.database_url = database_url
        self.ports = {server: free_port() for server in SERVERS}
        self.lb_port = free_port()
        self.socket_path = os.path.join(tmp, "haproxy.sock")
        self.servers = {}
        self.haproxy = None
        self.haproxy_log = os.path.join(tmp, "haproxy.log")

    def start_server(self, name):
        env = dict(os.environ, PROG_LANG_API_DATABASE_URL=self.database_url)
        env.setdefault("RUST_LOG", "info")
        with open(os.path.join(self.tmp, f"{name}.log"), "ab") as log:
            self.servers[name] = subprocess.Popen(
                # As deploy/haproxy.cfg assumes: on SIGTERM, out of haproxy's rotation first.
                [self.binary, "--addr", f"127.0.0.1:{self.ports[name]}",
                 "--shutdown-delay", "3", "--trusted-proxies", "127.0.0.1"],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    def start_haproxy(self):
        env = dict(
            os.environ,
            LB_ADDR=f"127.0.0.1:{self.lb_port}",
            LB_STATS_SOCKET=self.socket_path,
            **{f"API_SERVER_{i + 1}": f"127.0.0.1:{self.ports[s]}" for i, s in enumerate(SERVERS)},
        )
        with open(self.haproxy_log, "ab") as log:
            self.haproxy = subprocess.Popen(
                ["haproxy", "-f", CONFIG, "-db"],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    async def command(self, line):
        """One command on haproxy's runtime API (its stats socket); returns the answer."""
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        writer.write(line.encode() + b"\n")
        await writer.drain()
        out = await reader.read()
        writer.close()
        return out.decode()

    async def stat(self):
        """{server: {field: value}} from "show stat", for the backend's servers."""
        lines = (await self.command("show stat")).strip().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "servers" and row.get("svname") in self.ports:
                rows[row["svname"]] = row
        return rows

    async def wait_status(self, server, want, timeout):
        """Polls every 20 ms until `server`'s status in haproxy is `want` (UP, DOWN, MAINT);
        returns when it was first seen, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = (await self.stat())[server]["status"]
            except (OSError, KeyError, IndexError):
                status = ""
            if status == want:
                return time.monotonic()
            await asyncio.sleep(0.02)
        return None

    async def wait_busy(self, server, requests, timeout):
        """Polls until haproxy has at least `requests` requests under way on `server`, or
        `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if int((await self.stat())[server]["scur"]) >= requests:
                    return
            except (OSError, KeyError, IndexError, ValueError):
                pass
            await asyncio.sleep(0.001)

    async def wait_healthy(self, server, timeout):
        """Until the server itself (not through haproxy) answers GET /healthz with 200."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.ports[server]}/healthz"
        async with httpx.AsyncClient(trust_env=False, timeout=1) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(url)).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        return False

    def stop_all(self):
        processes = [p for p in list(self.servers.values()) + [self.haproxy] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Worker:
    """One client of the API, one request at a time, on names only it writes, so that it knows
    what each of them must hold: the state acknowledged last, or, after a write that failed,
    either the state before it or the one it asked for (the name is then left alone)."""

    def __init__(self, index, client, record, run):
        self.index = index
        self.client = client
        self.record = record
        self.run = run
        self.known = {}  # name -> ABSENT or (year, contribution): acknowledged
        self.etags = {}  # name -> ETag of the acknowledged state
        self.unknown = {}  # name -> set of possible final states, after a failed write
        self.created = 0
        self.version = 0
        self.sent = 0
        self.last = None  # the record of this worker's last answered request
        self.page_token = None
        self.stale = []  # reads that did not see the acknowledged state
        self.creates = []  # (name, sent again by the client, answer replayed) per 201
        self.unsettled = []  # creates that did not end in their 201
        self.in_use = 0  # 409s "in use" its creates met

    def new_name(self):
        self.created += 1
        # Some names need percent-encoding in paths: a proxy must pass them as sent.
        decoration = random.choice(["", "", "", " C++", "/I", " Café", " 日本語", " #1", "%x"])
        return f"lb{self.run}-w{self.index}-{self.created}{decoration}"

    def contribution(self):
        self.version += 1
        return f"version {self.version} by worker {self.index}"

    async def request(self, op, method, path, headers=None, **kwargs):
        """Returns the response, or None when the request failed (no HTTP answer, or a 5xx)."""
        self.sent += 1
        request_id = f"lb{self.run}-w{self.index}-r{self.sent}"
        headers = dict(headers or {}, **{"X-Request-Id": request_id})
        start = time.monotonic()
        try:
            response = await self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            detail = str(error) or repr(error)
            self.record.add(op, method, path, start, time.monotonic(), type(error).__name__,
                            False, detail, request_id)
            return None
        end = time.monotonic()
        if response.status_code >= 500:
            self.record.add(op, method, path, start, end, f"HTTP {response.status_code}", False,
                            response.text, request_id)
            return None
        self.last = self.record.add(op, method, path, start, end,
                                    f"HTTP {response.status_code}", True, "", request_id)
        return response

    def unexpected(self, response, expected):
        """The request just answered got a status or a body its worker's knowledge rules out."""
        self.last[6] = False
        self.last[7] = f"expected {expected}, got {response.status_code}: {response.text}"

    def live(self):
        return [name for name, state in self.known.items() if state is not ABSENT]

    async def step(self):
        live = self.live()
        choice = random.random()
        if choice < 0.22 or not live:
            await self.create()
        elif choice < 0.50:
            await self.read(random.choice(live))
        elif choice < 0.58:
            await self.read(random.choice(list(SEEDS)))
        elif choice < 0.72:
            await self.update(random.choice(live))
        elif choice < 0.82:
            await self.delete(random.choice(live))
        elif choice < 0.86:
            gone = [name for name, state in self.known.items() if state is ABSENT]
            await self.read(random.choice(gone) if gone else random.choice(live))
        else:
            await self.list_page()

    async def create(self):
        """A create with an Idempotency-Key, sent again with the same key until it is answered
        (a generated client's retries): whatever failed on the way, it ends in one 201 and one
        language. haproxy itself replays it when a server closes its connection under it."""
        name = self.new_name()
        state = (random.randint(1800, 2100), self.contribution())
        body = {"name": name, "publication_year": state[0], "contribution": state[1]}
        headers = {"Idempotency-Key": f'"lb{self.run}-w{self.index}-c{self.created}"'}
        deadline = time.monotonic() + CREATE_RETRY_SECONDS
        sent = 0
        while True:
            response = await self.request("create retry" if sent else "create", "POST",
                                          "/programming_languages", json=body, headers=headers)
            sent += 1
            if response is not None and response.status_code == 409 and (
                    problem_type(response) == "/problems/idempotency-key-in-use"):
                # Its first try still holds the key (its server died under it): come back.
                self.in_use += 1
                delay = float(response.headers.get("retry-after", "1"))
            elif response is None:
                delay = 0.2
            else:
                break
            if time.monotonic() + delay > deadline:
                self.unsettled.append(name)
                self.unknown[name] = {ABSENT, state}
                return
            await asyncio.sleep(delay)
        if response.status_code == 201 and self.same(response, name, state):
            self.known[name] = state
            self.etags[name] = response.headers.get("etag")
            self.creates.append((name, sent > 1,
                                 response.headers.get("idempotent-replayed") == "true"))
        else:
            self.unexpected(response, "201 with the language")
            self.unknown[name] = {ABSENT, state}
            self.unsettled.append(name)

    async def read(self, name):
        response = await self.request("read", "GET", path_of(name))
        if response is None:
            return
        state = SEEDS.get(name, self.known.get(name))
        if state is ABSENT:
            if response.status_code != 404:
                self.unexpected(response, "404")
                self.stale.append((name, response.status_code))
        elif response.status_code != 200 or not self.same(response, name, state):
            self.unexpected(response, f"200 with {state}")
            self.stale.append((name, response.status_code))

    async def update(self, name):
        path = path_of(name)
        year, _ = self.known[name]
        contribution = self.contribution()
        state = (year, contribution)
        headers = {}
        if random.random() < 0.5 and self.etags.get(name):
            # The ETag a write got from one server must be good on every other.
            headers["If-Match"] = self.etags[name]
        if random.random() < 0.5:
            response = await self.request(
                "update", "PUT", path, json={"contribution": contribution}, headers=headers
            )
        else:
            headers["Content-Type"] = "application/merge-patch+json"
            response = await self.request(
                "update", "PATCH", path, headers=headers,
                content=f'{{"contribution": "{contribution}"}}'.encode(),
            )
        if response is None:
            self.unknown[name] = {self.known.pop(name), state}
        elif response.status_code == 200 and self.same(response, name, state):
            self.known[name] = state
            self.etags[name] = response.headers.get("etag")
        else:
            self.unexpected(response, "200 with the update")
            self.unknown[name] = {self.known.pop(name), state}

    async def delete(self, name):
        response = await self.request("delete", "DELETE", path_of(name))
        if response is None:
            self.unknown[name] = {self.known.pop(name), ABSENT}
        elif response.status_code == 200:
            self.known[name] = ABSENT
            self.etags.pop(name, None)
        else:
            self.unexpected(response, "200")
            self.unknown[name] = {self.known.pop(name), ABSENT}

    async def list_page(self):
        """Walks the list 25 at a time, one page per step: the token comes from whichever server
        answered the previous page, and the next page mostly goes to another one."""
        params = {"limit": 25}
        if self.page_token:
            params["page_token"] = self.page_token
        response = await self.request("list", "GET", "/programming_languages", params=params)
        if response is None:
            self.page_token = None
        elif response.status_code != 200:
            self.unexpected(response, "200")
            self.page_token = None
        else:
            self.page_token = response.json().get("next_page_token")

    @staticmethod
    def same(response, name, state):
        try:
            body = response.json()
        except ValueError:
            return False
        return body == {"name": name, "publication_year": state[0], "contribution": state[1]}


async def load(workers, until, budget):
    """Each worker steps at RATE / WORKERS requests a second until `until()` says stop or the
    budget of requests is spent."""
    interval = len(workers) / RATE

    async def run(worker):
        next_at = time.monotonic() + random.random() * interval
        while not until() and budget[0] > 0:
            budget[0] -= 1
            await worker.step()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = time.monotonic()  # behind: no burst to catch up

    await asyncio.gather(*(run(worker) for worker in workers))


async def walk(client):
    """Every language, through every page: ({name: (year, contribution)}, duplicates, error)."""
    found, duplicates, token = {}, [], None
    while True:
        params = {"limit": 1000}
        if token:
            params["page_token"] = token
        response = await client.get("/programming_languages", params=params)
        if response.status_code != 200:
            return found, duplicates, f"list page: {response.status_code} {response.text[:200]}"
        body = response.json()
        for item in body["programming_languages"]:
            if item["name"] in found:
                duplicates.append(item["name"])
            found[item["name"]] = (item["publication_year"], item["contribution"])
        token = body.get("next_page_token")
        if not token:
            return found, duplicates, None


async def chaos(lb, f):
    """The three stops, one after the other, into the figures `f` (times from time.monotonic,
    durations in seconds). A window runs from the stop's first step until the server is UP
    again, plus half a second."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(4)

    # s1: SIGKILL, with a burst of keyed creates under way; restarted once haproxy has marked it
    # DOWN.
    burst = asyncio.ensure_future(f.pop("burst")())
    await lb.wait_busy("s1", 8, 2)
    f["kill_start"] = time.monotonic()
    lb.servers["s1"].send_signal(signal.SIGKILL)
    await loop.run_in_executor(None, lb.servers["s1"].wait)
    down = await lb.wait_status("s1", "DOWN", 10)
    f["kill_down"] = down and down - f["kill_start"]
    await asyncio.sleep(0.5)
    restart = time.monotonic()
    lb.start_server("s1")
    up = await lb.wait_status("s1", "UP", 15)
    f["kill_up"] = up and up - restart
    f["kill_end"] = time.monotonic() + 0.5
    await burst
    await asyncio.sleep(2)

    # s2: deploy/README.md's procedure. Out of haproxy's rotation ("disable server": haproxy
    # lets the requests under way finish and sends no new one), SIGTERM, restart, and back into
    # the rotation once the server answers its health check itself.
    f["drain_start"] = time.monotonic()
    f["drain_answer"] = (await lb.command("disable server servers/s2")).strip()
    maint = await lb.wait_status("s2", "MAINT", 5)
    f["drain_maint"] = maint and maint - f["drain_start"]
    signalled = time.monotonic()
    lb.servers["s2"].send_signal(signal.SIGTERM)
    f["drain_exit"] = await loop.run_in_executor(None, lb.servers["s2"].wait)
    f["drain_exited"] = time.monotonic() - signalled
    await asyncio.sleep(0.5)
    restart = time.monotonic()
    lb.start_server("s2")
    await lb.wait_healthy("s2", 15)
    f["drain_healthy"] = time.monotonic() - restart
    await lb.command("enable server servers/s2")
    f["drain_enabled"] = time.monotonic() - restart
    # haproxy routes to it at once ("UP 1/2"); "UP" once its next check has passed.
    up = await lb.wait_status("s2", "UP", 15)
    f["drain_up"] = up and up - restart
    f["drain_end"] = time.monotonic() + 0.5
    await asyncio.sleep(2)

    # s3: SIGTERM alone: the server fails its health check for its --shutdown-delay, so that
    # haproxy's checks take it out, then stops accepting, drains and exits.
    f["term_start"] = time.monotonic()
    lb.servers["s3"].send_signal(signal.SIGTERM)
    exited = loop.run_in_executor(None, lb.servers["s3"].wait)
    down = await lb.wait_status("s3", "DOWN", 10)
    f["term_down"] = down and down - f["term_start"]
    f["term_exit"] = await exited
    f["term_exited"] = time.monotonic() - f["term_start"]
    await asyncio.sleep(0.5)
    restart = time.monotonic()
    lb.start_server("s3")
    up = await lb.wait_status("s3", "UP", 15)
    f["term_up"] = up and up - restart
    f["term_end"] = time.monotonic() + 0.5


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed.append(what)
            print(f"FAILED: {what}")


def describe(r, start):
    op, method, path, t_start, t_end, outcome, ok, detail, request_id = r
    detail = " ".join(detail.split())[:160]
    return (f"t={t_start - start:6.3f}..{t_end - start:6.3f} {method} {path} [{request_id}]: "
            f"{outcome}{' (' + detail + ')' if detail else ''}")


WINDOWS = {"kill": "SIGKILL s1", "drain": "disable + SIGTERM s2", "term": "SIGTERM s3"}


def window_of(r, f):
    for key in WINDOWS:
        start, end = f.get(f"{key}_start"), f.get(f"{key}_end")
        if start and end and r[4] >= start and r[3] <= end:
            return key
    return None


async def main():
    binary = os.environ.get("PROG_LANG_API_BIN",
                            os.path.join(ROOT, "target/release/prog-lang-api"))
    database_url = os.environ["PROG_LANG_API_DATABASE_URL"]
    tmp = tempfile.mkdtemp(prefix="lb-test-")
    # A copy of the binary, so that a rebuild meanwhile cannot change what a restart runs.
    shutil.copy(binary, os.path.join(tmp, "prog-lang-api"))
    lb = Lb(tmp, os.path.join(tmp, "prog-lang-api"), database_url)
    checks = Checks()
    try:
        await scenario(lb, checks)
    except Exception as error:  # a set-up that failed is a failed check, with its cause
        checks.check(False, f"the scenario ran to its end ({type(error).__name__}: {error})")
    finally:
        lb.stop_all()
        if checks.failed or os.environ.get("LB_TEST_KEEP") == "1":
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load balancer: {checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


async def scenario(lb, checks):
    t0 = time.monotonic()
    for server in SERVERS:
        lb.start_server(server)
    for server in SERVERS:
        if not await lb.wait_healthy(server, 30):
            raise RuntimeError(f"{server} did not start: see {lb.tmp}/{server}.log")
    lb.start_haproxy()
    up = [await lb.wait_status(server, "UP", 10) for server in SERVERS]
    checks.check(all(up), "haproxy has the three servers UP")
    if not all(up):
        return
    print(f"set up in {time.monotonic() - t0:.1f} s: haproxy on 127.0.0.1:{lb.lb_port}, "
          f"servers on {', '.join(str(port) for port in lb.ports.values())}")

    record = Record()
    run = random.randrange(1 << 30)
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{lb.lb_port}",
            trust_env=False,
            timeout=10,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        for _ in range(CLIENTS)
    ]
    workers = [Worker(i, clients[i % CLIENTS], record, run) for i in range(WORKERS)]
    # The burst: one create each, every one on a connection of its own.
    burst_client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{lb.lb_port}",
        trust_env=False,
        timeout=10,
        limits=httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST),
    )
    clients.append(burst_client)
    burst = [Worker(WORKERS + i, burst_client, record, run) for i in range(BURST)]
    f = {"burst": lambda: asyncio.gather(*(worker.create() for worker in burst))}
    done = asyncio.Event()
    start = time.monotonic()

    async def stops():
        try:
            await chaos(lb, f)
        finally:
            f["chaos_end"] = time.monotonic()
            done.set()

    def until():
        elapsed = time.monotonic() - start
        return elapsed >= LOAD_SECONDS_MAX or (
            elapsed >= LOAD_SECONDS and done.is_set() and time.monotonic() >= f["chaos_end"] + 2
        )

    stopping = asyncio.create_task(stops())
    await load(workers, until, [MAX_REQUESTS])
    await stopping
    elapsed = time.monotonic() - start

    # Every server back; then the whole list, through haproxy.
    final_up = [await lb.wait_status(server, "UP", 5) for server in SERVERS]
    found, duplicates, walk_error = await walk(clients[0])
    stats = await lb.stat()
    for client in clients:
        await client.aclose()

    report(lb, record, f, elapsed, stats, start)

    requests = record.requests
    checks.check(len(requests) >= 100 * LOAD_SECONDS,
                 f"{len(requests)} requests in {elapsed:.1f} s (at least {100 * LOAD_SECONDS})")
    checks.check(f.get("kill_down") is not None and f.get("kill_up") is not None,
                 "the killed server went DOWN in haproxy, and UP again after its restart")
    checks.check(f.get("drain_exit") == 0 and f.get("drain_up") is not None,
                 f"the disabled server exited 0 on SIGTERM (exit {f.get('drain_exit')}) and was "
                 f"UP again after its restart")
    checks.check(f.get("term_down") is not None and f.get("term_exited") is not None
                 and f["term_down"] < f["term_exited"],
                 "haproxy marked the server stopped with SIGTERM alone DOWN before it exited "
                 "(its --shutdown-delay)")
    checks.check(f.get("term_exit") == 0 and f.get("term_up") is not None,
                 f"the server stopped with SIGTERM alone exited 0 (exit {f.get('term_exit')}) "
                 f"and was UP again after its restart")
    checks.check(all(final_up), "all three servers UP at the end")

    for key in ("drain", "term"):
        inside = [r for r in requests if window_of(r, f) == key]
        failed = [r for r in inside if not r[6]]
        checks.check(inside and not failed,
                     f"no request failed during {WINDOWS[key]} ({len(inside)} requests, "
                     f"{len(failed)} failed)")
        for r in failed[:10]:
            print(f"    {describe(r, start)}")

    reads = [r for r in requests if r[1] == "GET"]
    bad_reads = [r for r in reads if not r[6]]
    checks.check(not bad_reads,
                 f"every read succeeded ({len(reads)} reads, {len(bad_reads)} failed)")
    for r in bad_reads[:10]:
        print(f"    {describe(r, start)}")
    stale = [s for w in workers for s in w.stale]
    checks.check(not stale, f"every read saw the last acknowledged write ({len(stale)} did not)")

    refused = [r for r in requests if r[1] != "GET" and not r[6] and r[5].startswith("HTTP 4")]
    checks.check(not refused, f"no write got an unexpected 4xx ({len(refused)} did)")
    for r in refused[:10]:
        print(f"    {describe(r, start)}")

    checks.check(walk_error is None and not duplicates,
                 f"the final list walk is whole ({len(found)} languages"
                 f"{', duplicates: ' + ', '.join(duplicates[:5]) if duplicates else ''}"
                 f"{', ' + walk_error if walk_error else ''})")

    # Each create ended in its 201 (no 409 for a retried create that had happened, no outcome
    # left unknown); that each 201's language is there once is the walk's and the next check's.
    for what, group in (("the load's", workers), (f"the {BURST} sent as s1 was killed", burst)):
        creates = [c for w in group for c in w.creates]
        unsettled = [name for w in group for name in w.unsettled]
        checks.check(not unsettled,
                     f"every create of {what}, sent with its key until answered, ended in its "
                     f"201 ({len(creates)} creates: {sum(c[1] for c in creates)} sent again by "
                     f"their client, {sum(w.in_use for w in group)} times told the key was in "
                     f"use; {sum(c[2] for c in creates)} answered as a replay; "
                     f"{len(unsettled)} did not)")
        for name in unsettled[:10]:
            print(f"    {name!r}")
    workers = workers + burst

    lost, wrong, phantoms, ours = [], [], [], {}
    for worker in workers:
        for name, state in worker.known.items():
            ours[name] = {state}
        for name, states in worker.unknown.items():
            ours[name] = states
    for name, states in ours.items():
        actual = found.get(name, ABSENT)
        if actual not in states:
            (lost if actual is ABSENT else wrong).append((name, states, actual))
    for name in found:
        if name not in ours and name not in SEEDS:
            phantoms.append(name)
    live = sum(1 for w in workers for s in w.known.values() if s is not ABSENT)
    unknown = sum(len(w.unknown) for w in workers)
    checks.check(not lost and not wrong,
                 f"no acknowledged write lost ({live} languages acknowledged live, {unknown} "
                 f"names with a write of unknown outcome; {len(lost)} missing, {len(wrong)} with "
                 f"another value)")
    for name, states, actual in (lost + wrong)[:10]:
        print(f"    {name!r}: expected one of {states}, found {actual}")
    checks.check(not phantoms, f"no phantom language ({len(phantoms)} found)")
    for name in phantoms[:10]:
        print(f"    {name!r}")
    checks.check(all(found.get(name) == state for name, state in SEEDS.items()),
                 "the eight seed languages are intact")


def report(lb, record, f, elapsed, stats, start):
    requests = record.requests
    print()
    print(f"requests: {len(requests)} in {elapsed:.1f} s ({len(requests) / elapsed:.0f}/s), "
          f"{WORKERS} workers on {CLIENTS} pooled keep-alive clients")
    by_op = collections.Counter(r[0] for r in requests)
    print("  by operation: " + ", ".join(f"{op} {n}" for op, n in sorted(by_op.items())))
    outcomes = collections.Counter(r[5] for r in requests)
    print("  by outcome: " + ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items())))
    failures = collections.Counter(
        (r[1], r[5], WINDOWS.get(window_of(r, f), "outside the stops"))
        for r in requests if not r[6]
    )
    print("  failures: " + (", ".join(f"{method} {outcome} during {window}: {n}"
                                      for (method, outcome, window), n in sorted(failures.items()))
                            or "none"))
    for r in [r for r in requests if not r[6]][:20]:
        print(f"    {describe(r, start)}")

    def s(key):
        value = f.get(key)
        return "never" if value is None else f"{value:.2f} s"

    print(f"SIGKILL s1: DOWN in haproxy after {s('kill_down')}; restarted: UP after "
          f"{s('kill_up')}")
    print(f"disable + SIGTERM s2: MAINT after {s('drain_maint')} ({f.get('drain_answer') or 'ok'}"
          f"); SIGTERM: exit {f.get('drain_exit')} after {s('drain_exited')}; restarted: healthy "
          f"after {s('drain_healthy')}, enabled after {s('drain_enabled')}, UP (checked) after "
          f"{s('drain_up')}")
    print(f"SIGTERM s3: exit {f.get('term_exit')} after {s('term_exited')}, DOWN in haproxy "
          f"after {s('term_down')}; restarted: UP after {s('term_up')}")
    print("haproxy, per server: requests (stot), retries (wretr), redispatches (wredis), "
          "connection errors (econ), response errors (eresp), failed checks (chkfail):")
    for server, row in sorted(stats.items()):
        print(f"  {server}: " + ", ".join(
            f"{k} {row.get(k, '?')}" for k in ("stot", "wretr", "wredis", "econ", "eresp",
                                             "chkfail")))
    with open(lb.haproxy_log, errors="replace") as log:
        lines = log.read().splitlines()
    for line in lines:
        if "[WARNING]" not in line and re.search(r"Server servers/s\d is", line):
            print(f"  {line.strip()[:150]}")
    # haproxy's request lines: how many it retried (the last of the five connection counts,
    # with "+" when the retry went to another server), and which ended abnormally (their
    # termination state is not "----"). A request haproxy ended by closing the client's
    # connection without an answer has no line.
    retried = redispatched = 0
    retried_by_method = collections.Counter()
    abnormal = []
    for line in lines:
        m = re.search(r" (-1|\d{3}) \d+ - - (\S{4}) \d+/\d+/\d+/\d+/(\+?)(\d+) ", line)
        if not m:
            continue
        if m.group(4) != "0":
            retried += 1
            redispatched += m.group(3) == "+"
            method = re.search(r'"([A-Z]+) ', line)
            retried_by_method[method.group(1) if method else "?"] += 1
        if m.group(2) != "----":
            abnormal.append(line.strip())
    print(f"haproxy log: {retried} requests retried ({redispatched} on another server; "
          + (", ".join(f"{m} {n}" for m, n in sorted(retried_by_method.items())) or "none")
          + f"), {len(abnormal)} ended abnormally")
    for line in abnormal[:20]:
        print(f"  {line[:240]}")
    print()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
