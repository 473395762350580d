"""Webhook throughput benchmark: the example site under a production server on PostgreSQL.

    scripts/bench.sh [options]                     (prepares .venv, then runs this file)
    .venv/bin/python bench/webhook.py --help

For each (server, mode): a fresh database, migrated; N unique ~4 KB signed events written to
files; the server started (DEBUG off, quiet logs); wrk posts the events at a fixed concurrency
for a warm-up, then for the measured duration; the rows that reached the inbox during the
measured run are counted, and the latency percentiles, non-2xx answers and peak RSS of the
server's processes reported. Deferred modes then drain the inbox with their worker.
Durability stays on throughout: PostgreSQL's own settings (fsync, synchronous_commit) are used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
#: The stripe_mirror package benchmarked: src/ of this checkout, or BENCH_SRC (to compare
#: with another commit: git archive <commit> src | tar -x -C /tmp/old; BENCH_SRC=/tmp/old/src).
SRC = Path(os.environ.get("BENCH_SRC") or ROOT / "src").resolve()
sys.path[:0] = [str(SRC), str(ROOT)]

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench import events  # noqa: E402

#: The example site's endpoint secret while benchmarked (a test value, not a credential).
SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105
MODES = ("immediate", "database", "record-only", "bare")
SERVERS = ("granian", "gunicorn")
BIN = Path(sys.executable).parent


@dataclass
class Options:
    database_url: str
    servers: list[str]
    modes: list[str]
    duration: int
    warmup: int
    concurrency: int
    wrk_threads: int
    workers: int
    threads: int
    gunicorn_class: str
    rate_cap: int
    drain_workers: int
    port: int
    micro: bool
    micro_only: bool
    profile: str | None
    keep_files: bool
    results: Path
    extra: dict[str, Any] = field(default_factory=dict)


# --- the machine and its load ----------------------------------------------------------------


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, granian, gunicorn, psycopg; print("
            "f'Django {django.get_version()}, granian {granian.__version__}, "
            "gunicorn {gunicorn.__version__}, psycopg {psycopg.__version__}')",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "packages": versions,
        "wrk": subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0:1],
    }


# --- the database ------------------------------------------------------------------------------


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def fresh_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_conninfo(_admin_url(url)), autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def db_settings(url: str) -> dict[str, str]:
    with psycopg.connect(_conninfo(url)) as conn:
        return {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
            for name in (
                "server_version",
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "full_page_writes",
                "commit_delay",
                "shared_buffers",
            )
        }


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_conninfo(url)) as conn:
        return conn.execute(statement).fetchall()  # type: ignore[arg-type]


def count_recorded(url: str, mode: str) -> int:
    table = "bench_bare_event" if mode == "bare" else "stripe_mirror_inbox"
    return int(query(url, f"SELECT count(*) FROM {table}")[0][0])


def status_counts(url: str) -> dict[str, int]:
    rows = query(url, "SELECT status, count(*) FROM stripe_mirror_inbox GROUP BY status")
    return {status: int(n) for status, n in rows}


# --- processes -------------------------------------------------------------------------------


def server_env_base() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT / "example"), str(ROOT)])
    return env


def server_env(opts: Options, mode: str) -> dict[str, str]:
    env = server_env_base()
    env.update(
        DATABASE_URL=opts.database_url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_MODE=mode,
        STRIPE_WEBHOOK_SECRET=SECRET,
    )
    return env


def manage_command(*args: str) -> list[str]:
    """``manage.py`` without example/manage.py's sys.path changes (PYTHONPATH decides)."""
    return [sys.executable, "-m", "django", *args]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        manage_command(*args),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def server_command(opts: Options, server: str) -> list[str]:
    app = "bench.wsgi:application"
    if server == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(opts.port),
            "--workers",
            str(opts.workers),
            "--blocking-threads",
            str(opts.threads),
            "--no-access-log",
            "--log-level",
            "warning",
            app,
        ]
    worker_class = opts.gunicorn_class
    return [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{opts.port}",
        "--workers",
        str(opts.workers),
        "--worker-class",
        worker_class,
        *(["--threads", str(opts.threads)] if worker_class == "gthread" else []),
        "--log-level",
        "warning",
        "--backlog",
        "2048",
        app,
    ]


@contextmanager
def running_server(opts: Options, server: str, env: dict[str, str], log: Path) -> Any:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server_command(opts, server),
            env=env,
            cwd=ROOT / "example",
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(proc, opts.port, log)
        yield proc
    finally:
        stop(proc)


def wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stripe/", timeout=2)
        except urllib.error.HTTPError:
            return  # 404: Django answered
        except OSError:
            time.sleep(0.2)
            continue
        return
    raise SystemExit("server did not come up in 60 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: its own process group (it was started in a new session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def memory_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time each process has used so far (those still alive)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots; a process first seen after started at 0."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def postgres_backends(url: str) -> list[int]:
    """The server processes serving connections to the benchmark's database."""
    name = urlsplit(url).path.lstrip("/")
    rows = query(
        url,
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )
    return [int(pid) for (pid,) in rows]


def server_memory(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    workers = {pid: memory_kb(pid) for pid in descendants(proc.pid)}
    return {
        "master_hwm_mb": round(memory_kb(proc.pid)["VmHWM"] / 1024, 1),
        "workers_hwm_mb": [round(m["VmHWM"] / 1024, 1) for m in workers.values()],
        "workers_hwm_total_mb": round(sum(m["VmHWM"] for m in workers.values()) / 1024, 1),
    }


# --- load -------------------------------------------------------------------------------------


def wrk(opts: Options, url: str, prefix: Path, seconds: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t",
        str(opts.wrk_threads),
        "-c",
        str(opts.concurrency),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "cycle.lua"),
        url,
        "--",
        str(prefix),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.stderr.strip():
        result["stderr"] = done.stderr.strip()[-2000:]
    return result


def profile(
    pids: list[int], seconds: int, folder: Path, kind: str
) -> list[subprocess.Popen[bytes]]:
    """py-spy on each worker for the measured run, as raw folded stacks. ``gil``: only the
    thread holding the GIL (where the Python CPU time goes); ``wall``: every thread, idle or
    waiting included (where a request's time goes)."""
    flag = "--gil" if kind == "gil" else "--idle"
    return [
        subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                flag,
                "--output",
                str(folder / f"profile-{kind}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


# --- draining ---------------------------------------------------------------------------------


def drain(opts: Options, mode: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the mode's worker(s) until the inbox is empty; rate from the rows' processed_at."""
    if mode == "database":
        command = ["db_worker", "--batch", "--no-startup-delay", "--no-reload"]
    else:
        command = ["stripe_mirror_worker", "--once", "--batch-size", "50"]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            manage_command(*command),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(opts.drain_workers)
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    wall = time.monotonic() - started
    if any(proc.returncode for proc in procs):
        raise SystemExit("drain failed:\n" + "\n".join(o[-2000:] for o in outputs))
    ((count, first, last),) = query(
        opts.database_url,
        "SELECT count(*), min(processed_at), max(processed_at) FROM stripe_mirror_inbox "
        "WHERE status = 'processed'",
    )
    span = (last - first).total_seconds() if count > 1 else 0.0
    return {
        "workers": opts.drain_workers,
        "processed": int(count),
        "events_per_s": round(count / span, 1) if span else None,
        "wall_s_with_startup": round(wall, 1),
        "statuses": status_counts(opts.database_url),
    }


# --- one run ----------------------------------------------------------------------------------


def run(opts: Options, server: str, mode: str, folder: Path) -> dict[str, Any]:
    env = server_env(opts, mode)
    fresh_database(opts.database_url)
    manage(env, "migrate", "--no-input")
    if mode == "bare":
        from bench.bare import CREATE_TABLE

        with psycopg.connect(_conninfo(opts.database_url)) as conn:
            conn.execute(CREATE_TABLE)  # type: ignore[arg-type]
    tag = f"{server[:2]}{mode[:2]}"
    warm = opts.rate_cap * opts.warmup
    main = opts.rate_cap * opts.duration
    events.write_request_files(folder, "warm", warm, opts.wrk_threads, SECRET, tag=tag + "w")
    events.write_request_files(folder, "run", main, opts.wrk_threads, SECRET, tag=tag + "r")
    path = "/bare/webhook/" if mode == "bare" else "/stripe/webhook/default/"
    url = f"http://127.0.0.1:{opts.port}{path}"
    result: dict[str, Any] = {"server": server, "mode": mode, "load_before": loadavg()}
    with running_server(opts, server, env, folder / f"server-{server}-{mode}.log") as proc:
        wrk(opts, url, folder / "warm", opts.warmup)
        before = count_recorded(opts.database_url, mode)
        spies = (
            profile(descendants(proc.pid) or [proc.pid], opts.duration, folder, opts.profile)
            if opts.profile
            else []
        )
        result["load_start"] = loadavg()
        workers = descendants(proc.pid)
        cpu_before = cpu_seconds(workers), cpu_seconds(postgres_backends(opts.database_url))
        load = wrk(opts, url, folder / "run", opts.duration)
        result["load_end"] = loadavg()
        time.sleep(1)  # let requests still in flight when wrk stopped finish
        recorded = count_recorded(opts.database_url, mode) - before
        cpu = (
            cpu_used(cpu_before[0], cpu_seconds(workers)),
            cpu_used(cpu_before[1], cpu_seconds(postgres_backends(opts.database_url))),
        )
        result["memory"] = server_memory(proc)
        for spy in spies:
            spy.wait()
    seconds = load["duration_us"] / 1e6
    result.update(
        requests=load["requests"],
        requests_per_s=round(load["requests"] / seconds, 1),
        recorded=recorded,
        recorded_per_s=round(recorded / seconds, 1),
        not_2xx=load["not_2xx"],
        socket_errors=sum(
            load[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        wrapped=load["wrapped"],
        cpu_ms_per_event={
            "server": round(1000 * cpu[0] / max(recorded, 1), 3),
            "postgres_backends": round(1000 * cpu[1] / max(recorded, 1), 3),
            "wrk": round(1000 * load["cpu_s"] / max(recorded, 1), 3),
        },
        latency_ms={
            p: round(load[f"{p}_us"] / 1000, 2) for p in ("p50", "p90", "p99", "p999", "max")
        },
    )
    if "stderr" in load:
        result["wrk_stderr"] = load["stderr"]
    if mode != "bare":
        result["statuses"] = status_counts(opts.database_url)
    if mode in ("database", "record-only"):
        result["drain"] = drain(opts, mode, env)
    return result


# --- micro-benchmark --------------------------------------------------------------------------


def micro() -> dict[str, float]:
    """Microseconds per 4 KB event: signature.verify, envelope.parse, and both."""
    from stripe_mirror import envelope, signature

    header, body = next(events.signed(1, SECRET, tag="micro"))
    secrets = (SECRET,)

    def verify() -> None:
        signature.verify(body, header, secrets)

    def parse() -> None:
        envelope.parse(body)

    def both() -> None:
        signature.verify(body, header, secrets)
        envelope.parse(body)

    out: dict[str, float] = {"body_bytes": len(body)}
    for name, func in (("verify_us", verify), ("parse_us", parse), ("verify_parse_us", both)):
        timer = timeit.Timer(func)
        number, _ = timer.autorange()
        out[name] = round(min(timer.repeat(repeat=7, number=number)) / number * 1e6, 2)
    return out


# --- output -----------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    mem = result["memory"]
    print(
        f"\n== {result['server']} / {result['mode']}  (load {result['load_before']} -> "
        f"{result['load_end']})\n"
        f"  recorded        {result['recorded_per_s']:>9.1f} events/s  "
        f"({result['recorded']} rows; {result['requests']} requests, "
        f"{result['requests_per_s']:.1f}/s)\n"
        f"  non-2xx         {result['not_2xx']:>9d}   socket errors {result['socket_errors']}"
        f"{'   WRAPPED: events reused' if result['wrapped'] else ''}\n"
        f"  latency ms      p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
        f"p99.9 {lat['p999']}  max {lat['max']}\n"
        f"  peak RSS MB     workers {mem['workers_hwm_total_mb']} = {mem['workers_hwm_mb']}"
        f"  (master {mem['master_hwm_mb']})"
    )
    cpu = result["cpu_ms_per_event"]
    print(
        f"  CPU ms/event    server {cpu['server']}  postgres backends "
        f"{cpu['postgres_backends']}  wrk {cpu['wrk']}"
    )
    if "statuses" in result:
        print(f"  inbox           {result['statuses']}")
    if "drain" in result:
        d = result["drain"]
        print(
            f"  drain           {d['events_per_s']} events/s with {d['workers']} worker(s) "
            f"({d['processed']} processed; {d['wall_s_with_startup']} s wall incl. start-up)"
            f"  {d['statuses']}"
        )
    if result.get("wrk_stderr"):
        print(f"  wrk said        {result['wrk_stderr']}")


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sm_bench"),
        help="PostgreSQL database to DROP and re-create for each run (env BENCH_DATABASE_URL)",
    )
    p.add_argument("--server", choices=(*SERVERS, "both"), default="granian")
    p.add_argument(
        "--mode",
        action="append",
        choices=(*MODES, "all"),
        help="run mode (repeatable; default: immediate, database, record-only)",
    )
    p.add_argument("--duration", type=int, default=30, help="measured seconds")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds (not measured)")
    p.add_argument("--concurrency", type=int, default=16, help="open connections")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="server worker processes")
    p.add_argument(
        "--threads",
        type=int,
        default=8,
        help="threads per worker (granian --blocking-threads, gunicorn gthread)",
    )
    p.add_argument("--gunicorn-class", choices=("gthread", "sync"), default="gthread")
    p.add_argument(
        "--rate-cap",
        type=int,
        default=3000,
        help="events generated per second of load (beyond it, events repeat)",
    )
    p.add_argument(
        "--drain-workers",
        type=int,
        default=2,
        help="worker processes draining the inbox in deferred modes",
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--no-micro",
        dest="micro",
        action="store_false",
        help="skip the verify+parse micro-benchmark",
    )
    p.add_argument("--micro-only", action="store_true", help="only the micro-benchmark")
    p.add_argument(
        "--profile",
        choices=("gil", "wall"),
        help="py-spy the server workers during the measured run (raw folded stacks "
        "kept with the files; summarise them with bench/profile_summary.py)",
    )
    p.add_argument(
        "--keep-files", action="store_true", help="keep the request files and server logs"
    )
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    a = p.parse_args(argv)
    modes = a.mode or ["immediate", "database", "record-only"]
    if "all" in modes:
        modes = list(MODES)
    if a.warmup + a.duration > 240:
        p.error(
            "warm-up + duration must stay under 240 s: the signatures must still be "
            "within the endpoint's 300 s tolerance when the last event is sent"
        )
    return Options(
        database_url=a.database_url,
        servers=list(SERVERS) if a.server == "both" else [a.server],
        modes=list(dict.fromkeys(modes)),
        duration=a.duration,
        warmup=a.warmup,
        concurrency=a.concurrency,
        wrk_threads=a.wrk_threads,
        workers=a.workers,
        threads=a.threads,
        gunicorn_class=a.gunicorn_class,
        rate_cap=a.rate_cap,
        drain_workers=a.drain_workers,
        port=a.port,
        micro=a.micro,
        micro_only=a.micro_only,
        profile=a.profile,
        keep_files=a.keep_files,
        results=a.results,
    )


def code_under_test() -> dict[str, str]:
    """Which stripe_mirror the servers import, and the commit of this checkout."""
    env = server_env_base()
    where = subprocess.run(
        [sys.executable, "-c", "import stripe_mirror; print(stripe_mirror.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"stripe_mirror": where, "checkout": commit}


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    opts.results.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "when": stamp,
        "machine": machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
    }
    summary["code"] = code_under_test()
    print(f"machine: {summary['machine']}\ncode: {summary['code']}\nload average: {loadavg()}")
    if opts.micro or opts.micro_only:
        summary["micro"] = micro()
        m = summary["micro"]
        print(
            f"\nverify + parse of one {m['body_bytes']}-byte event: {m['verify_parse_us']} us "
            f"(verify {m['verify_us']} us, parse {m['parse_us']} us)"
        )
    if not opts.micro_only:
        summary["postgresql"] = db_settings_after_create(opts.database_url)
        print(f"PostgreSQL: {summary['postgresql']}")
        print(
            f"server: {opts.workers} workers x {opts.threads} threads; wrk "
            f"{opts.wrk_threads} threads, {opts.concurrency} connections, "
            f"{opts.warmup} s warm-up + {opts.duration} s measured"
        )
        summary["runs"] = []
        for server in opts.servers:
            for mode in opts.modes:
                folder = Path(tempfile.mkdtemp(prefix=f"sm-bench-{server}-{mode}-"))
                try:
                    result = run(opts, server, mode, folder)
                finally:
                    if opts.keep_files or opts.profile:
                        print(f"  files kept in {folder}")
                    else:
                        shutil.rmtree(folder, ignore_errors=True)
                report(result)
                summary["runs"].append(result)
    out = opts.results / f"webhook-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")


def db_settings_after_create(url: str) -> dict[str, str]:
    fresh_database(url)
    return db_settings(url)


if __name__ == "__main__":
    main()
