#!/usr/bin/env python3
"""Helpers of bench/run.sh (standard library only).

  report.py wrk FILE                 wrk --latency output -> JSON figures
  report.py pgbench FILE LOG_PREFIX  pgbench output (+ sampled per-transaction logs) -> JSON
  report.py cursor T ID              the service's list cursor for sort -created_at
  report.py walk BASE PATH KEY N     walks a timeline to page N: its cursor, and the whole count
  report.py report FACTS OUT_DIR [NAME]  facts (JSON lines) -> OUT_DIR/NAME.md and NAME.json
                                     (NAME: latest)
"""

import base64
import glob
import json
import re
import sys
import urllib.parse
import urllib.request

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def wrk_time_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def parse_wrk(path):
    text = open(path, encoding="utf-8").read()
    out = {"tool": "wrk"}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not m:
        raise SystemExit(f"{path}: no Requests/sec line:\n{text}")
    out["per_second"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if m:
            out[f"p{pct}_ms"] = wrk_time_ms(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(rank) - 1]


def parse_pgbench(path, log_prefix):
    text = open(path, encoding="utf-8").read()
    out = {"tool": "pgbench"}
    m = re.search(r"^tps = ([0-9.]+)", text, re.M)
    if not m:
        raise SystemExit(f"{path}: no tps line:\n{text}")
    out["per_second"] = float(m.group(1))
    m = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
    if m:
        out["avg_ms"] = float(m.group(1))
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"number of failed transactions: (\d+)", text)
    out["failed"] = int(m.group(1)) if m else 0
    latencies = []
    for log in glob.glob(log_prefix + ".*"):
        with open(log, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000.0)
    latencies.sort()
    out["sampled"] = len(latencies)
    for pct in (50, 95, 99, 100):
        value = percentile(latencies, pct)
        if value is not None:
            out["max_ms" if pct == 100 else f"p{pct}_ms"] = value
    return out


def cursor(t, ident):
    raw = json.dumps({"s": "-created_at", "t": t, "id": ident}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def get_json(url, key):
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def walk(base, path, key, page):
    """The cursor of page `page` of PATH (which carries limit=50), after checking that pages 1 to
    page are full, newest first and without repeats; then the whole timeline counted by kind
    (limit=200)."""
    seen, cursor, previous = set(), None, None
    for number in range(1, page):
        url = base + path + (f"&cursor={urllib.parse.quote(cursor, safe='')}" if cursor else "")
        body = get_json(url, key)
        entries = body["data"]
        if len(entries) != 50 or not body.get("next_cursor"):
            raise SystemExit(f"timeline page {number} has {len(entries)} entries, next_cursor {body.get('next_cursor')!r}")
        for entry in entries:
            order = (entry["occurred_at"], entry["id"])
            if previous is not None and order > previous:
                raise SystemExit(f"timeline page {number}: {order} after {previous}, not newest first")
            if entry["id"] in seen:
                raise SystemExit(f"timeline page {number}: {entry['id']} seen twice")
            seen.add(entry["id"])
            previous = order
        cursor = body["next_cursor"]
    kinds, total, after = {}, 0, None
    full = path.replace("limit=50", "limit=200")
    while True:
        body = get_json(base + full + (f"&cursor={urllib.parse.quote(after, safe='')}" if after else ""), key)
        for entry in body["data"]:
            kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        total += len(body["data"])
        after = body.get("next_cursor")
        if not after or total > 1_000_000:
            break
    return {"cursor": urllib.parse.quote(cursor or "", safe=""), "page": page, "total": total, "kinds": kinds}


BACKENDS = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
OPS = [
    ("get", "GET /v1/customers/{id}"),
    ("list_first", "GET /v1/customers list, page 1"),
    ("list_deep", "GET /v1/customers list, page {page}"),
    ("patch", "PATCH /v1/customers/{id}"),
    ("post", "POST /v1/customers"),
    ("forecast_month", "GET /v1/deals/forecast, group_by=month"),
    ("forecast_owner", "GET /v1/deals/forecast, group_by=owner"),
    ("board", "GET /v1/pipelines/{default}/board"),
    ("timeline_first", "GET /v1/customers/{id}/timeline, page 1"),
    ("timeline_deep", "GET /v1/customers/{id}/timeline, page {tpage}"),
]
HEAVY = ("forecast_month", "forecast_owner", "board")
ANALYTICS = [
    ("rfm_page", "GET /v1/analytics/rfm?limit=50"),
    ("rfm_summary", "GET /v1/analytics/rfm/summary"),
    ("purchases_month", "GET /v1/analytics/purchases?group_by=month"),
    ("purchases_category", "GET /v1/analytics/purchases?group_by=category"),
    ("purchases_channel", "GET /v1/analytics/purchases?group_by=channel"),
]
ANALYTICS_REFERENCES = {
    "postgres": "pgbench -t {n} -c1: same SQL (read-only tx, JIT off)",
    "sqlite": "raw SQLite × {n}: same SQL",
}
ANALYTICS_TARGET_MS = 1000
REFERENCES = {
    ("postgres", "get"): "pgbench prepared point select",
    ("postgres", "list_first"): "pgbench keyset page 1",
    ("postgres", "list_deep"): "pgbench keyset page {page}",
    ("postgres", "patch"): "pgbench update + audit (1 tx)",
    ("postgres", "post"): "pgbench insert + audit (1 tx)",
    ("sqlite", "get"): "raw SQLite PK lookups, 1 process",
    ("sqlite", "post"): "raw SQLite insert + audit (1 tx each)",
    ("postgres", "forecast_month"): "pgbench same forecast SQL",
    ("postgres", "forecast_owner"): "pgbench same forecast SQL",
    ("postgres", "board"): "pgbench same board GROUP BY (only)",
    ("sqlite", "forecast_month"): "raw SQLite same forecast SQL",
    ("sqlite", "forecast_owner"): "raw SQLite same forecast SQL",
    ("sqlite", "board"): "raw SQLite same board GROUP BY (only)",
}


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def rate(value):
    """Requests per second: whole numbers, but two decimals below 10 (the heavy endpoints)."""
    return fmt(value, 2 if value is not None and value < 10 else 0)


def yes_no(ok):
    return "yes" if ok else "**no**"


def evaluate(backend, op, service, ref, first):
    """(target text, met or None) of one operation, from DESIGN.md §8."""
    if service is None:
        return "–", None
    ratio = service["per_second"] / ref["per_second"] if ref and ref.get("per_second") else None
    p99 = service.get("p99_ms")
    errors = service.get("non_2xx", 0) + service.get("socket_errors", 0)
    checks = []
    if op == "get":
        need = 0.80 if backend == "postgres" else 0.30
        target = f"≥ {need:.2f} × ref; p99 < 5 ms"
        checks = [ratio is not None and ratio >= need, p99 is not None and p99 < 5]
    elif op == "post" and backend == "postgres":
        target = "≥ 0.50 × ref"
        checks = [ratio is not None and ratio >= 0.50]
    elif op == "list_first":
        target = "p99 < 20 ms"
        checks = [p99 is not None and p99 < 20]
    elif op in HEAVY:
        target = "p99 < 300 ms"
        checks = [p99 is not None and p99 < 300]
    elif op == "timeline_deep":
        cost = service["p50_ms"] / first["p50_ms"] if first and first.get("p50_ms") else None
        target = f"p50 ≤ 1.2 × page 1 (is {fmt(cost)} ×)"
        checks = [cost is not None and cost <= 1.2]
    elif op == "list_deep":
        cost = first["per_second"] / service["per_second"] if first and service["per_second"] else None
        target = f"cost ≤ 1.2 × page 1 (is {fmt(cost)} ×); p99 < 20 ms"
        checks = [cost is not None and cost <= 1.2, p99 is not None and p99 < 20]
    else:
        target = "–"
    if errors:
        target += f" ({errors} non-2xx or socket errors)"
        checks.append(False)
    return target, (all(checks) if checks else None)


def median_rounds(services, references, runs, refs):
    """Where an operation ran in several rounds (reference and service alternated), puts the
    round with the median ratio in `runs` and `refs`; returns every round's ratio, in order."""
    pairs = {}
    for service in services:
        key = (service["backend"], service["op"])
        ref = next((r for r in references if (r["backend"], r["op"]) == key
                    and r.get("round", 1) == service.get("round", 1)), None)
        if ref and ref.get("per_second"):
            pairs.setdefault(key, []).append((service["per_second"] / ref["per_second"], service, ref))
    ratios = {}
    for key, rounds in pairs.items():
        if len(rounds) < 2:
            continue
        ratios[key] = [ratio for ratio, _, _ in rounds]
        _, runs[key], refs[key] = sorted(rounds, key=lambda r: r[0])[(len(rounds) - 1) // 2]
    return ratios


def report(facts_path, out_dir, name="latest"):
    facts = [json.loads(line) for line in open(facts_path, encoding="utf-8") if line.strip()]
    meta = next((f for f in facts if f["kind"] == "meta"), {})
    services = [f for f in facts if f["kind"] == "service"]
    references = [f for f in facts if f["kind"] == "reference"]
    runs = {(f["backend"], f["op"]): f for f in services}
    refs = {(f["backend"], f["op"]): f for f in references}
    round_ratios = median_rounds(services, references, runs, refs)
    loads = {(f["backend"], f.get("what", "customers")): f for f in facts if f["kind"] == "load"}
    missing = {(f["backend"], f["op"]) for f in facts if f["kind"] == "missing"}
    timelines = {f["backend"]: f for f in facts if f["kind"] == "timeline"}
    procs = {f["backend"]: f for f in facts if f["kind"] == "process"}
    lists = {f["backend"]: f for f in facts if f["kind"] == "list_page"}
    binary = next((f for f in facts if f["kind"] == "binary"), {})
    analytics = {(f["backend"], f["op"]): f for f in facts if f["kind"] == "analytics"}

    rows = []
    for backend in BACKENDS:
        page = lists.get(backend, {}).get("page", "N")
        for op, label in OPS:
            service = runs.get((backend, op))
            ref = refs.get((backend, op))
            label = label.replace("{tpage}", str(meta.get("timeline_page", "N")))
            if (backend, op) in missing:
                rows.append({"operation": label, "op": op, "backend": backend, "missing": True,
                             "target": "endpoint missing", "met": None})
                continue
            if service is None and ref is None:
                continue
            first = runs.get((backend, "timeline_first" if op == "timeline_deep" else "list_first"))
            target, met = evaluate(backend, op, service, ref, first)
            ratio = service["per_second"] / ref["per_second"] if service and ref and ref["per_second"] else None
            rows.append({
                "operation": label.replace("{page}", str(page)),
                "op": op,
                "backend": backend,
                "connections": (service or ref).get("connections", meta.get("connections")),
                "service_per_second": service and service["per_second"],
                "service_p50_ms": service and service.get("p50_ms"),
                "service_p99_ms": service and service.get("p99_ms"),
                "service_errors": service and service.get("non_2xx", 0) + service.get("socket_errors", 0),
                "service_cpu_percent": service and service.get("cpu_percent"),
                "service_rss_max_mb": service and service.get("rss_max_mb"),
                "reference": REFERENCES.get((backend, op), "–").replace("{page}", str(page)),
                "reference_per_second": ref and ref["per_second"],
                "reference_p50_ms": ref and ref.get("p50_ms"),
                "reference_p99_ms": ref and ref.get("p99_ms"),
                "ratio": ratio,
                "target": target,
                "met": met,
            })

    process_rows = []

    def process_row(name, key, limit, unit):
        values = {b: procs.get(b, {}).get(key) for b in BACKENDS}
        present = [v for v in values.values() if v is not None]
        met = all(v < limit for v in present) if present else None
        process_rows.append({"figure": name, **values, "target": f"< {limit} {unit}", "met": met})

    process_row("RSS idle (MB)", "rss_idle_mb", 50, "MB")
    process_row("RSS under load, max over all runs (MB)", "rss_load_mb", 250, "MB")
    process_row("start to ready, median of 3 (ms)", "ready_ms", 200, "ms")
    process_rows.append({"figure": "HTTP workers (the service's default for the database)",
                         **{b: procs.get(b, {}).get("workers") for b in BACKENDS}, "target": "–", "met": None})
    size = binary.get("size_mb")
    process_rows.append({"figure": "release binary (MB)", "postgres": size, "sqlite": size, "target": "< 40 MB",
                         "met": None if size is None else size < 40})

    lines = [
        "# crm benchmark",
        "",
        f"{meta.get('date', '')} · commit `{meta.get('commit', '?')}` · {meta.get('cpus', '?')} CPUs "
        f"({meta.get('cpu_model', '?')}) · {meta.get('customers', '?')} customers · "
        f"{meta.get('deals', 0) if 'deals' in meta.get('suites', '') or 'timeline' in meta.get('suites', '') else 0} deals · "
        f"{meta.get('interactions', 0) if 'timeline' in meta.get('suites', '') else 0} interactions · "
        f"{meta.get('connections', '?')} connections · {meta.get('duration', '?')} s per run "
        f"(+ {meta.get('warmup', '?')} s warm-up) · `bash bench/run.sh`",
        "",
        "Service: `wrk -t2 -c{c} -d{d}s --latency`. PostgreSQL reference: `pgbench -n -M prepared -c{c} -j2 -T{d}` "
        "(p50/p99 from a 10 % sample of its per-transaction log). SQLite reference: `crm-bench` in one process "
        "(diesel, cached prepared statements; lookups on {t} thread(s)). Ratio = service / reference. "
        "Column c = connections: the forecast and the board run on {h} connection(s) (service and reference alike: "
        "each request aggregates every deal, so more connections on these cores only queue), the timeline on {tc}; "
        "their latency target is on p99; timeline cost = p50 of page {tp} / p50 of page 1.".format(
            c=meta.get("connections", "?"), d=meta.get("duration", "?"), t=meta.get("sqlite_ref_threads", 1),
            h=meta.get("heavy_connections", "?"), tc=meta.get("timeline_connections", "?"),
            tp=meta.get("timeline_page", "?")),
        "",
        "| operation | backend | c | service req/s | p50 ms | p99 ms | crm CPU % | reference | ref ops/s | ref p99 ms "
        "| ratio | target (DESIGN §8) | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        met = "–" if r["met"] is None else yes_no(r["met"])
        if r.get("missing"):
            lines.append(f"| {r['operation']} | {BACKENDS[r['backend']]} | – | timeline: endpoint missing (404) "
                         "| – | – | – | – | – | – | – | ≤ 1.2 × page 1 | – |")
            continue
        lines.append(
            f"| {r['operation']} | {BACKENDS[r['backend']]} | {r['connections']} | {rate(r['service_per_second'])} "
            f"| {fmt(r['service_p50_ms'])} | {fmt(r['service_p99_ms'])} | {fmt(r['service_cpu_percent'], 0)} "
            f"| {r['reference']} | {rate(r['reference_per_second'])} | {fmt(r['reference_p99_ms'])} "
            f"| {fmt(r['ratio'])} | {r['target']} | {met} |")
    analytics_rows = []
    if analytics:
        runs_n = meta.get("analytics_runs", "?")
        lines += [
            "",
            f"Analytics over {meta.get('purchases', '?')} purchases ({meta.get('purchase_buyers', '?')} buying "
            f"customers, EUR, RFM as of {meta.get('analytics_as_of', '?')}, purchases over the 2 years before it): "
            f"{runs_n} sequential requests through the service (`crm-bench http-times`, after 1 unmeasured) beside "
            f"the same statement run {runs_n} times directly. Overhead = service p50 / reference p50.",
            "",
            "| operation | backend | service p50 ms | p95 ms | max ms | reference | ref p50 ms | ref p95 ms "
            "| overhead × | target | met |",
            "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for backend in BACKENDS:
            for op, label in ANALYTICS:
                fact = analytics.get((backend, op))
                if fact is None:
                    continue
                svc, ref = fact["service"], fact["reference"]
                overhead = svc["p50_ms"] / ref["p50_ms"] if ref.get("p50_ms") else None
                met = svc["p95_ms"] < ANALYTICS_TARGET_MS
                analytics_rows.append({"op": op, "backend": backend, "service": svc, "reference": ref,
                                       "overhead": overhead, "met": met})
                lines.append(
                    f"| {label} | {BACKENDS[backend]} | {fmt(svc['p50_ms'])} | {fmt(svc['p95_ms'])} "
                    f"| {fmt(svc.get('max_ms'))} | {ANALYTICS_REFERENCES[backend].format(n=runs_n)} "
                    f"| {fmt(ref.get('p50_ms'))} | {fmt(ref.get('p95_ms'))} | {fmt(overhead)} "
                    f"| p95 < {ANALYTICS_TARGET_MS} ms | {yes_no(met)} |")
    lines += [
        "",
        "| process | PostgreSQL | SQLite | target | met |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for r in process_rows:
        met = "–" if r["met"] is None else yes_no(r["met"])
        lines.append(f"| {r['figure']} | {fmt(r['postgres'], 1)} | {fmt(r['sqlite'], 1)} | {r['target']} | {met} |")
    lines += [
        "",
        "| bulk load (bench loader, database-side SQL; not the service's import) | rows | seconds | rows/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for (backend, what), load in loads.items():
        lines.append(f"| {BACKENDS[backend]} {what}: {load.get('how', '')} | {load['rows']} | {fmt(load['seconds'])} "
                     f"| {fmt(load['rows_per_second'], 0)} |")
    end = next((f for f in facts if f["kind"] == "end"), {})
    notes = list(meta.get("notes", []))
    for (backend, op), ratios in round_ratios.items():
        notes.append(f"{BACKENDS[backend]} {op}: {len(ratios)} alternated rounds, ratio per round "
                     f"{', '.join(fmt(r) for r in ratios)}; the row shows the round with the median ratio.")
    notes.append(f"Load average (1, 5, 15 min) before the run {meta.get('loadavg_before', '?')}, after "
                 f"{end.get('loadavg_after', '?')}: other work on the machine skews absolute figures and ratios alike.")
    if end.get("seconds") is not None:
        notes.append(f"Whole run (build, loads, all measurements): {end['seconds']:.0f} s.")
    for backend, page in lists.items():
        notes.append(f"{BACKENDS[backend]}: {page['leads']} leads; deep page = page {page['page']} "
                     f"(cursor = lead at position {page['position']}).")
    heavy_samples = [f"{op} {f['sampled']} of {f.get('requests', '?')}" for (b, op), f in refs.items()
                     if b == "postgres" and op in HEAVY and "sampled" in f]
    if heavy_samples:
        notes.append("pgbench transactions in the latency log of the forecast/board references (p50/p99 rest on "
                     f"these): {', '.join(heavy_samples)}.")
    for backend, t in timelines.items():
        notes.append(f"{BACKENDS[backend]} timeline of customer 1: {t['total']} entries "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(t['kinds'].items()))}); pages 1 to {t['page'] - 1} "
                     "checked full, newest first, without repeats.")
    if meta.get("suites"):
        notes.append(f"Suites: {meta['suites']}. Forecast range {meta.get('forecast_from')} to {meta.get('forecast_to')} "
                     f"(every expected close date; won deals by closed_at); {meta.get('owners')} deal owners.")
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    markdown = "\n".join(lines) + "\n"

    result = {"meta": meta, "end": end, "rows": rows, "process": process_rows,
              "load": [{"backend": b, "what": w, **f} for (b, w), f in loads.items()], "list_pages": lists,
              "timelines": timelines, "analytics": analytics_rows,
              "raw": {"service": services, "reference": references,
                      "process": list(procs.values()), "binary": binary}}
    with open(f"{out_dir}/{name}.md", "w", encoding="utf-8") as f:
        f.write(markdown)
    with open(f"{out_dir}/{name}.json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    sys.stdout.write(markdown)


def main(argv):
    if len(argv) == 3 and argv[1] == "wrk":
        print(json.dumps(parse_wrk(argv[2])))
    elif len(argv) == 4 and argv[1] == "pgbench":
        print(json.dumps(parse_pgbench(argv[2], argv[3])))
    elif len(argv) == 4 and argv[1] == "cursor":
        print(cursor(argv[2], argv[3]))
    elif len(argv) == 6 and argv[1] == "walk":
        print(json.dumps(walk(argv[2], argv[3], argv[4], int(argv[5]))))
    elif len(argv) in (4, 5) and argv[1] == "report":
        report(*argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
