"""What every benchmark shares: CPU pinning, server processes, wrk runs, ratios, results.

Absolute numbers drift on shared machines, so each benchmark measures a baseline in the
same run and reports the ratio. Throughput runs alternate baseline and subject rounds
(B S B S …) and compare medians, so a neighbour's load spike hits both sides.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WRK_SCRIPTS = BENCH / "wrk"
SERVER_CPU = 0  # the server under test
LOAD_CPU = 1  # the load generator (and fakes)
PG_URL = os.environ.get(
    "XINFANG_BENCH_PG_URL",
    os.environ.get("XINFANG_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
)


def pinned(cpu: int) -> list[str]:
    """A command prefix pinning a process to one CPU (nothing when that is impossible)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu)]
    return []


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "kernel": platform.release(),
        "pinned": bool(pinned(LOAD_CPU)),
    }


@dataclass
class Proc:
    """A server subprocess with its log file."""

    popen: subprocess.Popen[bytes]
    log: Path
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop the process (and wait for it)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (all threads), from /proc."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """Resident set size now, from /proc."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def start(
    cmd: Sequence[str],
    *,
    port: int,
    log: Path,
    env: dict[str, str] | None = None,
    cpu: int | None = SERVER_CPU,
    ready_path: str = "/readyz",
    timeout: float = 60.0,
) -> Proc:
    """Start a server and wait until ``ready_path`` answers 200."""
    log.parent.mkdir(parents=True, exist_ok=True)
    prefix = pinned(cpu) if cpu is not None else []
    popen = subprocess.Popen(
        [*prefix, *cmd],
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{cmd} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + ready_path, timeout=2) as resp:
                if resp.status == 200:
                    return Proc(popen, log, url)
        except OSError:
            pass
        time.sleep(0.1)
    popen.kill()
    raise RuntimeError(f"{cmd} did not become ready:\n{log.read_text()[-3000:]}")


def bare_server(log_dir: Path) -> Proc:
    """The baseline: a bare aiohttp POST handler that reads the body."""
    port = free_port()
    return start(
        [sys.executable, "-m", "bench.bare_server", "--port", str(port)],
        port=port,
        log=log_dir / "bare.log",
    )


def xinfang_server(log_dir: Path, database_url: str, **env: str) -> Proc:
    """`xinfang serve` with production logging (JSON lines, level info)."""
    port = free_port()
    data_dir = log_dir / f"data-{port}"
    return start(
        [sys.executable, "-m", "bot", "serve"],
        port=port,
        log=log_dir / f"serve-{port}.log",
        env={
            "XINFANG_DATABASE_URL": database_url,
            "XINFANG_DATA_DIR": str(data_dir),
            "XINFANG_PORT": str(port),
            "XINFANG_LOG_JSON": "true",
            **env,
        },
    )


def wrk(
    url: str,
    script: str,
    args: Sequence[str] = (),
    *,
    connections: int = 50,
    seconds: float = 10.0,
    threads: int = 1,
    timeout: float = 10.0,
    wechat_token: str = "",
) -> dict[str, Any]:
    """Run wrk on the load CPU with a script from bench/wrk; the script's done() prints JSON.

    ``wechat_token``: the WeChat scripts get a pool of signed paths (one per request).
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench` (installs Debian's wrk)")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="xf-wrk-") as tmp:
        if wechat_token:
            count = max(20_000, round(seconds * WECHAT_PATHS_PER_SECOND))
            pool = wechat_path_pool(wechat_token, count, Path(tmp))
            env.update(XF_BENCH_WECHAT_PATHS=str(pool), XF_BENCH_WRK_THREADS=str(threads))
        return _wrk(url, script, args, connections, seconds, threads, timeout, env)


def _wrk(
    url: str,
    script: str,
    args: Sequence[str],
    connections: int,
    seconds: float,
    threads: int,
    timeout: float,
    env: dict[str, str],
) -> dict[str, Any]:
    cmd = [
        *pinned(LOAD_CPU),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout:g}s",
        "-s",
        str(WRK_SCRIPTS / script),
        url,
        *(["--", *args] if args else []),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
            data["errors"] = errors
            data["ok"] = data["requests"] - data["status"] - data["timeout"]
            data["rps"] = data["ok"] / (data["duration_us"] / 1e6)
            return data
    raise RuntimeError(f"wrk printed no result:\n{out}")


@dataclass
class Rounds:
    """Alternating measurements of a baseline and a subject."""

    baseline: list[float] = field(default_factory=list)
    subject: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """median(subject) / median(baseline)."""
        return statistics.median(self.subject) / statistics.median(self.baseline)


def wechat_query(token: str) -> str:
    """A signed /wechat query string (plaintext mode), valid for the server's skew window.

    Every call has its own nonce: the webhook accepts a (timestamp, nonce) pair once.
    """
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


WECHAT_PATHS_PER_SECOND = 5000  # signed queries prepared per second of a wrk run


def wechat_path_pool(token: str, count: int, directory: Path) -> Path:
    """A file of ``count`` signed /wechat paths, one per line, for the wrk scripts.

    wrk's Lua has no SHA-1, and the webhook refuses a signed query used twice with
    another body, so each request takes a path of its own from this pool.
    """
    path = directory / f"wechat-paths-{secrets.token_hex(4)}.txt"
    with path.open("w", encoding="ascii") as fh:
        for _ in range(count):
            fh.write(f"/wechat?{wechat_query(token)}\n")
    return path


def run_id() -> str:
    """Digits that keep message ids of different runs apart."""
    return str(int(time.time()) % 10_000)


@contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    """A scratch directory for databases and logs."""
    path = Path(tempfile.mkdtemp(prefix="xinfang-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    """Print a result table and save it as bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine()}
    doc.update(extra or {})
    doc["results"] = rows
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"\n== {name} ({doc['machine']['cpus']} CPUs, load {doc['machine']['load_avg']})")
    for row in rows:
        print("  " + "  ".join(f"{k}={_fmt(v)}" for k, v in row.items()))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def pg_available(url: str = PG_URL) -> bool:
    """True when the benchmark PostgreSQL server answers."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def databases(choice: str) -> list[str]:
    """The databases a ``--db sqlite|postgresql|both`` choice runs on (unreachable PG skipped)."""
    wanted = ["sqlite", "postgresql"] if choice == "both" else [choice]
    if "postgresql" in wanted and not pg_available():
        print("PostgreSQL unreachable: skipped", file=sys.stderr)
        wanted.remove("postgresql")
    return wanted


@contextmanager
def pg_database(url: str = PG_URL) -> Iterator[str]:
    """A throwaway PostgreSQL database next to ``url``, dropped afterwards."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"xinfang_bench_{os.getpid()}_{int(time.time()) % 100000}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def loadgen(
    url: str,
    kind: str,
    count: int,
    *,
    rate: float = 0.0,
    connections: int = 50,
    run: str = "",
    text: str = "你好",
) -> dict[str, Any]:
    """Run bench.loadgen on the load CPU; returns its JSON result."""
    cmd = [
        *pinned(LOAD_CPU),
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--kind",
        kind,
        "--count",
        str(count),
        "--rate",
        str(rate),
        "--connections",
        str(connections),
        "--run",
        run or run_id(),
        "--text",
        text,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return result
    raise RuntimeError(f"loadgen printed no result:\n{out}")
