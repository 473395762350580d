"""What bench/saas_run.py prints: one block per phase."""

from __future__ import annotations

from typing import Any


def _post_line(post: dict[str, Any]) -> str:
    lat = post["latency_ms"]
    return (
        f"{post['per_s']} deliveries/s, latency ms p50 {lat['p50']} p90 {lat['p90']} "
        f"p99 {lat['p99']} max {lat['max']}; non-2xx {post['not_2xx']}, errors "
        f"{len(post['errors'])}; client {post['client_cpu_ms_per_delivery']} CPU ms/delivery"
    )


def _check_line(c: dict[str, Any]) -> str:
    verdict = "correct" if c["ok"] else "WRONG"
    return (
        f"check: {verdict} (exactly once: {c['exactly_once']}, inbox {c['inbox']}, "
        f"{c['mirror_differences']} mirror differences, {c['attempted_more_than_once']} "
        f"events attempted more than once)" + "".join(f"\n      {p}" for p in c["examples"])
    )


def report(r: dict[str, Any]) -> None:
    head = f"\n== {r['phase']}  (load {r.get('load_before')} -> {r.get('load_after')})"
    phase = r["phase"].split("/")[0]
    kinds = {"default": _default, "workers": _workers, "counts": _counts, "soak": _soak}
    lines = kinds.get(phase, _soak)(r)  # soak-rq: a soak
    print("\n".join([head, *lines]), flush=True)


def _default(r: dict[str, Any]) -> list[str]:
    return [
        f"  {r['server']}, concurrency {r['concurrency']}: {r['events_per_s']} events/s "
        f"({r['events']} events)",
        f"  post     {_post_line(r['post'])}",
        f"  CPU ms/delivery {r['cpu_ms_per_delivery']}",
        f"  peak RSS MB workers {r['memory']['workers_hwm_mb']}",
        f"  {_check_line(r['check'])}",
    ]


def _workers(r: dict[str, Any]) -> list[str]:
    rec, d, live = r["record"], r["drain"], r["while_draining"]
    return [
        f"  record   {rec['recorded_per_s']} events/s; {_post_line(rec['post'])}",
        f"           CPU ms/delivery {rec['cpu_ms_per_delivery']}",
        f"  drain    {d['mirrored_per_s']} events/s with {d['workers']} x batch "
        f"{d['batch_size']} ({d['processed']} processed, {d['wall_s_with_startup']} s wall "
        f"with start-up); CPU ms/event {d['cpu_ms_per_event']}; superseded "
        f"{d['superseded']}, rolled back {d['rolled_back']}, deadlocks {d['deadlocks']}",
        f"  end to end (record, then drain) {r['end_to_end_per_s']} events/s",
        f"  {_check_line(r['check'])}",
        f"  record while {live['drainers']} workers drain: {live['recorded_per_s']} events/s; "
        f"{_post_line(live['post'])}",
        f"           drained {live['drain_s']} s from the first delivery "
        f"({live['drain_after_posting_s']} s after the last); lag ms {live['lag_ms']}; "
        f"largest backlog {live['largest_backlog']}; CPU ms/event {live['cpu_ms_per_event']}"
        + _left(live),
        f"  {_check_line(live['check'])}",
    ]


def _counts(r: dict[str, Any]) -> list[str]:
    lines = ["  counted at libpq, in one process"]
    for name in ("default path", "record only", "worker"):
        c = r[name]
        unit = "event" if name == "worker" else "delivery"
        size = f" ({c['events']} events)" if "events" in c else ""
        lines.append(
            f"  {name:<12}{size} per {unit}: {c['statements']} statements, "
            f"{c['round_trips']} round trips, {c['commits']} commits (COMMITs and writes "
            "outside a transaction; "
            f"PostgreSQL counted {c['server_transactions']} transactions, reads included); "
            f"{c['by_kind']}"
        )
    return [*lines, f"  {_check_line(r['check'])}"]


def _left(r: dict[str, Any]) -> str:
    return f"; {r['due_left']} STILL DUE at --drain-timeout" if r.get("due_left") else ""


def _soak(r: dict[str, Any]) -> list[str]:
    kind = f"{r['drainers']} rqworker ({r['worker_class']})" if "queue" in r else r["drainers"]
    lines = [
        f"  ingest   {r['recorded_per_s']} events/s ({r['events']} events) while "
        f"{kind} workers drain; {_post_line(r['post'])}",
        f"  drained  {r['drain_s']} s from the first delivery ({r['drain_after_posting_s']} s "
        f"after the last); lag ms {r['lag_ms']}; largest backlog {r['largest_backlog']}" + _left(r),
        f"  CPU ms/event {r['cpu_ms_per_event']}"
        + (
            " (postgres_exited: backends that disconnected, of every database)"
            if "queue" in r
            else ""
        ),
    ]
    if "queue" in r:
        lines.append(f"  RQ jobs left once drained {r['queue']}")
    for name, m in r["memory"].items():
        short = f"; {m['short_lived']} short-lived left out" if m.get("short_lived") else ""
        lines.append(
            f"  RSS MB {name:<8} peak {m['peak_rss_mb'][:8]}, growth after 10 s "
            f"{m['rss_growth_mb'][:8]} (anonymous memory: {m['anon_growth_mb'][:8]}){short}"
        )
    return [*lines, f"  {_check_line(r['check'])}"]
