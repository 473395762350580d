"""Webhook throughput benchmark: the example site under a production server on PostgreSQL.

    scripts/bench.sh [options]                     (prepares .venv and wrk, then runs this)
    .venv/bin/python bench/webhook.py --help

For each (server, mode): a fresh database, migrated; unique ~4 KB signed events written to
files; the server started (DEBUG off, quiet logs); wrk posts the events at a fixed concurrency
for a warm-up, then for the measured duration. Reported: the rows that reached the inbox during
the measured run (and non-2xx answers, which must be 0), latency percentiles, peak RSS of the
server's processes and CPU per event; deferred modes then drain the inbox with their worker.
Durability stays on: PostgreSQL runs with its own settings (fsync, synchronous_commit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The stripe_mirror package benchmarked: src/ of this checkout, or BENCH_SRC (to compare
#: with another commit: git archive <commit> src | tar -x -C /tmp/old; BENCH_SRC=/tmp/old/src).
SRC = Path(os.environ.get("BENCH_SRC") or ROOT / "src").resolve()
sys.path[:0] = [str(SRC), str(ROOT)]

from bench import database, events, procs  # noqa: E402

#: The example site's endpoint secret while benchmarked (a test value, not a credential).
SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105
MODES = ("immediate", "database", "record-only", "bare")
DEFAULT_MODES = ("immediate", "database", "record-only", "bare")
SERVERS = ("granian", "gunicorn")
#: Deferred modes and the command that drains what their requests recorded.
DRAIN = {
    "database": ["db_worker", "--batch", "--no-startup-delay", "--no-reload"],
    "record-only": ["stripe_mirror_worker", "--once", "--batch-size", "50"],
}


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
    drain_seconds: int
    port: int
    micro: bool
    micro_only: bool
    profile: str | None
    keep_files: bool
    prepared: bool
    results: Path


# --- environment of the site's processes ---------------------------------------------------


def site_env(opts: Options | None = None, mode: str = "immediate") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT / "example"), str(ROOT)])
    env.update(DJANGO_SETTINGS_MODULE="bench.settings", BENCH_MODE=mode)
    env.update(STRIPE_WEBHOOK_SECRET=SECRET)
    if opts is not None:
        env["DATABASE_URL"] = opts.database_url
        if opts.prepared:
            env.update(BENCH_SERVER_SIDE_BINDING="1", BENCH_PREPARE_THRESHOLD="2")
    return env


def manage_command(*args: str) -> list[str]:
    """``manage.py`` without example/manage.py's sys.path changes: PYTHONPATH decides."""
    return [sys.executable, "-m", "django", *args]


def code_under_test() -> dict[str, str]:
    """Which stripe_mirror the servers import, and the commit of this checkout."""
    probe = "import stripe_mirror; print(stripe_mirror.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], env=site_env(), capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"stripe_mirror": where, "checkout": commit}


# --- one run -------------------------------------------------------------------------------


def prepare(opts: Options, server: str, mode: str, folder: Path) -> dict[str, str]:
    """A fresh, migrated database and the request files; returns the site's environment."""
    env = site_env(opts, mode)
    database.fresh(opts.database_url)
    subprocess.run(
        manage_command("migrate", "--no-input"), env=env, capture_output=True, check=True
    )
    if mode == "bare":
        from bench.bare import CREATE_TABLE

        database.execute(opts.database_url, CREATE_TABLE)
    tag = f"{server[:2]}{mode[:2]}"
    for name, seconds in (("warm", opts.warmup), ("run", opts.duration)):
        count = opts.rate_cap * seconds
        events.write_request_files(folder, name, count, opts.wrk_threads, SECRET, tag=tag + name)
    return env


def run(opts: Options, server: str, mode: str, folder: Path) -> dict[str, Any]:
    env = prepare(opts, server, mode, folder)
    spec = procs.ServerSpec(server, opts.port, opts.workers, opts.threads, opts.gunicorn_class)
    path = "/bare/webhook/" if mode == "bare" else "/stripe/webhook/default/"
    url = f"http://127.0.0.1:{opts.port}{path}"
    table = "bench_bare_event" if mode == "bare" else "stripe_mirror_inbox"
    load = {"threads": opts.wrk_threads, "connections": opts.concurrency}
    result: dict[str, Any] = {"server": server, "mode": mode, "load_before": procs.loadavg()}
    with procs.running(spec, env, folder / f"server-{server}-{mode}.log") as pid:
        procs.wrk(url, folder / "warm", opts.warmup, **load)
        before = database.count(opts.database_url, table)
        workers = procs.descendants(pid) or [pid]
        spies = procs.py_spy(workers, opts.duration, folder, opts.profile) if opts.profile else []
        cpu_before = (
            procs.cpu_seconds(workers),
            procs.cpu_seconds(database.backends(opts.database_url)),
        )
        measured = procs.wrk(url, folder / "run", opts.duration, **load)
        result["load_end"] = procs.loadavg()
        time.sleep(1)  # requests still in flight when wrk stopped finish
        recorded = database.count(opts.database_url, table) - before
        cpu = (
            procs.cpu_used(cpu_before[0], procs.cpu_seconds(workers)),
            procs.cpu_used(cpu_before[1], procs.cpu_seconds(database.backends(opts.database_url))),
            measured["cpu_s"],
        )
        result["memory"] = procs.server_memory(pid)
        for spy in spies:
            spy.wait()
    result.update(figures(measured, recorded, cpu))
    if mode != "bare":
        result["statuses"] = database.inbox_statuses(opts.database_url)
    if mode in DRAIN:
        result["drain"] = drain(opts, mode, env)
    return result


def figures(wrk: dict[str, Any], recorded: int, cpu: tuple[float, float, float]) -> dict[str, Any]:
    seconds = wrk["duration_us"] / 1e6
    per_event = 1000 / max(recorded, 1)
    errors = ("connect_errors", "read_errors", "write_errors", "timeouts")
    out = {
        "requests": wrk["requests"],
        "requests_per_s": round(wrk["requests"] / seconds, 1),
        "recorded": recorded,
        "recorded_per_s": round(recorded / seconds, 1),
        "not_2xx": wrk["not_2xx"],
        "socket_errors": sum(wrk[k] for k in errors),
        "wrapped": wrk["wrapped"],
        "latency_ms": {p: round(wrk[f"{p}_us"] / 1000, 2) for p in ("p50", "p90", "p99", "p999")},
        "cpu_ms_per_event": {
            name: round(seconds_used * per_event, 3)
            for name, seconds_used in zip(("server", "postgres", "wrk"), cpu, strict=True)
        },
    }
    out["latency_ms"]["max"] = round(wrk["max_us"] / 1000, 2)
    if "stderr" in wrk:
        out["wrk_stderr"] = wrk["stderr"]
    return out


def drain(opts: Options, mode: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the mode's worker(s) until nothing is due, or for at most ``--drain-seconds`` (then
    stop them with SIGTERM: they finish the current batch). The rate comes from the processed
    rows' ``processed_at`` span, so that start-up time does not count."""
    # Fresh tables have no planner statistics yet (autovacuum analyses them within a minute
    # or so in production); without them django-tasks-db's claim query sorts every ready row.
    database.execute(opts.database_url, "ANALYZE")
    started = time.monotonic()
    deadline = started + opts.drain_seconds
    workers = [
        subprocess.Popen(
            manage_command(*DRAIN[mode]),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(opts.drain_workers)
    ]
    outputs, stopped = [], False
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=max(0.1, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            worker.terminate()
            stopped = True
            outputs.append(worker.communicate()[0])
    wall = time.monotonic() - started
    if not stopped and any(worker.returncode for worker in workers):
        raise SystemExit("draining failed:\n" + "\n".join(o[-2000:] for o in outputs))
    processed, span = database.processed_span(opts.database_url)
    return {
        "workers": opts.drain_workers,
        "processed": processed,
        "events_per_s": round(processed / span, 1) if span else None,
        "wall_s_with_startup": round(wall, 1),
        "stopped_at_time_limit": stopped,
        "statuses": database.inbox_statuses(opts.database_url),
    }


# --- micro-benchmark -----------------------------------------------------------------------


def micro() -> dict[str, float]:
    """Microseconds per ~4 KB event for signature.verify + envelope.parse: timeit on one event
    (best of 7), and the mean over 2,000 different events (colder caches)."""
    from stripe_mirror.verification import envelope, signature

    signed = list(events.signed(2000, SECRET, tag="micro"))
    header, body = signed[0]
    secrets = (SECRET,)

    def verify() -> None:
        signature.verify(body, header, secrets)

    def parse() -> None:
        envelope.parse(body)

    def both() -> None:
        signature.verify(body, header, secrets)
        envelope.parse(body)

    def each() -> None:
        for sig, data in signed:
            signature.verify(data, sig, secrets)
            envelope.parse(data)

    out: dict[str, float] = {"body_bytes": len(body)}
    for name, func in (("verify_us", verify), ("parse_us", parse), ("verify_parse_us", both)):
        timer = timeit.Timer(func)
        number, _ = timer.autorange()
        out[name] = round(min(timer.repeat(repeat=7, number=number)) / number * 1e6, 2)
    out["verify_parse_2000_events_us"] = round(timeit.timeit(each, number=3) / 3 / 2000 * 1e6, 2)
    return out


# --- output --------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> None:
    lat, mem, cpu = r["latency_ms"], r["memory"], r["cpu_ms_per_event"]
    lines = [
        f"\n== {r['server']} / {r['mode']}  (load {r['load_before']} -> {r['load_end']})",
        f"  recorded        {r['recorded_per_s']:>9.1f} events/s  ({r['recorded']} rows; "
        f"{r['requests']} requests, {r['requests_per_s']:.1f}/s)",
        f"  non-2xx         {r['not_2xx']:>9d}   socket errors {r['socket_errors']}"
        + ("   WRAPPED: events were reused" if r["wrapped"] else ""),
        f"  latency ms      p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
        f"p99.9 {lat['p999']}  max {lat['max']}",
        f"  peak RSS MB     workers {mem['workers_hwm_total_mb']} = {mem['workers_hwm_mb']}"
        f"  (master {mem['master_hwm_mb']})",
        f"  CPU ms/event    server {cpu['server']}  postgres {cpu['postgres']}  wrk {cpu['wrk']}",
    ]
    if "statuses" in r:
        lines.append(f"  inbox           {r['statuses']}")
    if "drain" in r:
        d = r["drain"]
        lines.append(
            f"  drain           {d['events_per_s']} events/s with {d['workers']} worker(s) "
            f"({d['processed']} processed; {d['wall_s_with_startup']} s wall with start-up"
            + ("; stopped at the time limit)" if d["stopped_at_time_limit"] else ")")
        )
    if r.get("wrk_stderr"):
        lines.append(f"  wrk said        {r['wrk_stderr']}")
    print("\n".join(lines), flush=True)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add = p.add_argument
    add(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sm_bench"),
        help="PostgreSQL database to DROP and re-create for each run (env BENCH_DATABASE_URL)",
    )
    add("--server", choices=(*SERVERS, "both"), default="granian")
    add(
        "--mode",
        action="append",
        choices=(*MODES, "all"),
        help="repeatable; default: "
        f"{', '.join(DEFAULT_MODES)}; 'bare' is the floor: a minimal verify+parse+INSERT view",
    )
    add("--duration", type=int, default=30, help="measured seconds")
    add("--warmup", type=int, default=5, help="warm-up seconds (not measured)")
    add("--concurrency", type=int, default=16, help="open connections")
    add("--wrk-threads", type=int, default=2)
    add("--workers", type=int, default=2, help="server worker processes")
    add("--threads", type=int, default=4, help="threads per worker (granian blocking threads)")
    add("--gunicorn-class", choices=("gthread", "sync"), default="gthread")
    add(
        "--rate-cap",
        type=int,
        default=3000,
        help="events generated per second of load; beyond it, events repeat (as redeliveries)",
    )
    add("--drain-workers", type=int, default=2, help="workers draining deferred modes' inbox")
    add("--drain-seconds", type=int, default=60, help="time limit of a drain")
    add("--port", type=int, default=8765)
    add("--no-micro", dest="micro", action="store_false", help="skip the micro-benchmark")
    add("--micro-only", action="store_true", help="only the verify+parse micro-benchmark")
    add(
        "--profile",
        choices=("gil", "wall"),
        help="py-spy the server workers during the "
        "measured run; summarise the kept files with bench/profile_summary.py",
    )
    add(
        "--prepared",
        action="store_true",
        help="site tuning: psycopg server-side binding and prepared statements "
        "(DATABASES OPTIONS server_side_binding=True, prepare_threshold=2)",
    )
    add("--keep-files", action="store_true", help="keep the request files and server logs")
    add("--results", type=Path, default=ROOT / "bench" / "results", help="JSON results folder")
    a = p.parse_args(argv)
    modes = list(dict.fromkeys(a.mode or DEFAULT_MODES))
    if a.warmup + a.duration > 240:
        p.error(
            "warm-up + duration must stay under 240 s: the last event's signature must "
            "still be within the endpoint's 300 s tolerance"
        )
    return Options(
        servers=list(SERVERS) if a.server == "both" else [a.server],
        modes=list(MODES) if "all" in modes else modes,
        **{f.name: getattr(a, f.name) for f in fields(Options) if hasattr(a, f.name)},
    )


def run_all(opts: Options, summary: dict[str, Any]) -> None:
    database.fresh(opts.database_url)
    summary["postgresql"] = database.settings(opts.database_url)
    print(f"PostgreSQL: {summary['postgresql']}")
    sync = opts.servers == ["gunicorn"] and opts.gunicorn_class == "sync"
    threads = "sync workers" if sync else f"workers x {opts.threads} threads"
    print(
        f"server: {opts.workers} {threads}; wrk {opts.wrk_threads} threads, "
        f"{opts.concurrency} connections, {opts.warmup} s warm-up + {opts.duration} s measured"
        + ("; psycopg server-side binding + prepared statements" if opts.prepared else "")
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


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary: dict[str, Any] = {
        "when": stamp,
        "machine": procs.machine(),
        "code": code_under_test(),
        "options": json.loads(json.dumps(asdict(opts), default=str)),
    }
    print(f"machine: {summary['machine']}\ncode: {summary['code']}\nload: {procs.loadavg()}")
    if opts.micro or opts.micro_only:
        m = summary["micro"] = micro()
        print(
            f"\nverify + parse of one {m['body_bytes']}-byte event: {m['verify_parse_us']} us "
            f"(verify {m['verify_us']}, parse {m['parse_us']}; over 2,000 different events "
            f"{m['verify_parse_2000_events_us']} us each)",
            flush=True,
        )
    if not opts.micro_only:
        run_all(opts, summary)
    opts.results.mkdir(parents=True, exist_ok=True)
    out = opts.results / f"webhook-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")
    failed = [f"{r['server']}/{r['mode']}" for r in summary.get("runs", []) if r["not_2xx"]]
    if failed:
        raise SystemExit(f"non-2xx answers in {', '.join(failed)}: these figures do not count")


if __name__ == "__main__":
    main()
