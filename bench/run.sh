#!/usr/bin/env bash
# `make bench`: the service's figures beside references measured in the same run, on the same
# machine and data (DESIGN.md §8). Never part of the test suite.
#
#   bash bench/run.sh                          # every suite: about 20 minutes
#   CUSTOMERS=100000 DURATION=5 bash bench/run.sh
#   SUITES=deals,timeline bash bench/run.sh    # `make bench-deals`: forecast, board, timeline only
#   SUITES=purchases CUSTOMERS=200000 bash bench/run.sh   # `make bench-purchases`: RFM and purchase analytics
#
# Environment (defaults in brackets):
#   CUSTOMERS [1000000]  customers loaded per backend      DURATION [10]  seconds per measured run
#   CONNECTIONS [32]     wrk/pgbench connections           THREADS [2]    wrk/pgbench threads
#   WARMUP [2]           seconds of unmeasured load before each run (0: none)
#   ROUNDS [5]           reference/service pairs of the point lookup (GET), alternated; the row
#                        shows the pair with the median ratio, a note every pair's ratio
#   LIST_PAGE [10000]    the deep list page (clamped to the last full page of leads)
#   BACKENDS ["postgres sqlite"]     PORT [18090]          SQLITE_REF_THREADS [1]
#   SUITES [customers,deals,timeline,purchases]  what is measured (customers are always loaded: deals
#                        and purchases point at them; timeline loads the deals too: its stage changes belong to deals)
#   DEALS [1000000]      deals loaded per backend          OWNERS [5]     deal owners (users)
#   HEAVY_CONNECTIONS [2]  wrk/pgbench/crm-bench connections for the forecast and the board
#   FORECAST_FROM [2026-01-01] FORECAST_TO [2027-12-31]   the forecast's range (all close dates)
#   TIMELINE_PAGE [100]  the deep timeline page (limit 50)  TIMELINE_CONNECTIONS [$CONNECTIONS]
#   INTERACTIONS [1000000]  interactions loaded per backend for the timeline suite, over customers
#                        2..CUSTOMERS (customer 1 has only its 10 000-event fixture)
#   PURCHASES [1000000]  purchases loaded per backend (1–3 lines each)
#   PURCHASE_BUYERS [200000]  customers the purchases spread over (at most CUSTOMERS)
#   ANALYTICS_RUNS [10]  sequential requests/queries per analytics measurement (after 1 unmeasured)
#   ANALYTICS_AS_OF [2026-11-27T00:00:00Z]  the RFM `as_of` (all loaded purchases are before it)
#   SKIP_BUILD [0]       1: use target/release/{crm,crm-bench} as built (debugging the bench)
#   PGHOST [127.0.0.1] PGPORT [5432] PGUSER [postgres]     BENCH_PGDATABASE [crm_bench] (dropped and recreated)
#
# Output: a markdown table on stdout and in bench/results/latest.md, the figures in
# bench/results/latest.json (latest-<suites>.md/json when SUITES is not all three, so a partial
# run never replaces the full results); scratch files (databases, raw tool output, logs) in bench/results/tmp/.
# Needs: cargo, curl, python3, psql/pgbench/createdb/dropdb and a PostgreSQL server reachable as
# PGUSER without a password (for the postgres backend), wrk (installed with apt-get if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
OUT="$BENCH_DIR/results"
TMP="$OUT/tmp"
FACTS="$TMP/facts.jsonl"

CUSTOMERS=${CUSTOMERS:-1000000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
LIST_PAGE=${LIST_PAGE:-10000}
BACKENDS=${BACKENDS:-"postgres sqlite"}
PORT=${PORT:-18090}
SQLITE_REF_THREADS=${SQLITE_REF_THREADS:-1}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PGDB=${BENCH_PGDATABASE:-crm_bench}
SUITES=${SUITES:-customers,deals,timeline,purchases}
DEALS=${DEALS:-1000000}
OWNERS=${OWNERS:-5}
HEAVY_CONNECTIONS=${HEAVY_CONNECTIONS:-2}
FORECAST_FROM=${FORECAST_FROM:-2026-01-01}
FORECAST_TO=${FORECAST_TO:-2027-12-31}
TIMELINE_PAGE=${TIMELINE_PAGE:-100}
TIMELINE_CONNECTIONS=${TIMELINE_CONNECTIONS:-$CONNECTIONS}
INTERACTIONS=${INTERACTIONS:-1000000}
PURCHASES=${PURCHASES:-1000000}
PURCHASE_BUYERS=${PURCHASE_BUYERS:-200000}
((PURCHASE_BUYERS <= CUSTOMERS)) || PURCHASE_BUYERS=$CUSTOMERS
ANALYTICS_RUNS=${ANALYTICS_RUNS:-10}
ANALYTICS_AS_OF=${ANALYTICS_AS_OF:-2026-11-27T00:00:00Z}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CRM="$TARGET_DIR/release/crm"
HELPER="$TARGET_DIR/release/crm-bench"
BASE_URL="http://127.0.0.1:$PORT"
JWT_SECRET="bench-only-secret-0123456789abcdef0123456789"
export BENCH_DIR

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Every process this script starts in the background is listed here and killed on exit.
PIDS=()
forget() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- facts: one JSON object per line; report.py turns them into the tables ------------------
# add_fact JSON [key=string | key:=json]...
add_fact() {
    python3 - "$@" >>"$FACTS" <<'PY'
import json, sys
fact = json.loads(sys.argv[1])
for arg in sys.argv[2:]:
    key, _, value = arg.partition("=")
    if key.endswith(":"):
        fact[key[:-1]] = json.loads(value)
    else:
        fact[key] = value
print(json.dumps(fact))
PY
}
json_get() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds_since() { python3 -c "import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1000)" "$1" "$(now_ms)"; }

# --- tools -------------------------------------------------------------------------------------
suite() { [[ ",$SUITES," == *",$1,"* ]]; }
for s in ${SUITES//,/ }; do
    case $s in customers | deals | timeline | purchases) ;; *) die "unknown suite $s (customers, deals, timeline, purchases)" ;; esac
done
# wrk needs at least as many connections as threads.
min() { echo $(($1 < $2 ? $1 : $2)); }

need() { command -v "$1" >/dev/null || die "$1 is required${2:+ ($2)}"; }
need cargo
need curl
need python3
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    if [[ $EUID -eq 0 ]]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
fi
need wrk
if [[ " $BACKENDS " == *" postgres "* ]]; then
    for tool in psql pgbench createdb dropdb; do need "$tool" "PostgreSQL client tools"; done
fi

build() {
    local attempt
    for attempt in 1 2 3; do
        if (cd "$ROOT" && cargo build --release -p crm-api -p crm-bench >&2); then return 0; fi
        log "build failed (attempt $attempt of 3); the tree may be mid-edit, retrying in 60 s"
        sleep 60
    done
    die "cargo build --release failed"
}

# --- the service -------------------------------------------------------------------------------
# crm_env URL COMMAND...: runs a crm command in the foreground with the bench configuration.
crm_env() {
    local url=$1
    shift
    env DATABASE_URL="$url" CRM_BIND="127.0.0.1:$PORT" CRM_JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        CRM_RATE_LIMIT_PER_SECOND=100000000 CRM_RATE_LIMIT_BURST=100000000 "$@"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

CRM_PID=""
# start_crm URL: spawns `crm serve`, waits for the first 200 from /readyz, prints the ms it took.
start_crm() {
    local url=$1 t0
    port_busy && die "127.0.0.1:$PORT is already in use (set PORT)"
    t0=$(date +%s%N)
    # A simple command, not a function, in the background: $! is the crm process itself.
    env DATABASE_URL="$url" CRM_BIND="127.0.0.1:$PORT" CRM_JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        CRM_RATE_LIMIT_PER_SECOND=100000000 CRM_RATE_LIMIT_BURST=100000000 \
        "$CRM" serve >>"$TMP/crm-$BACKEND.log" 2>&1 &
    CRM_PID=$!
    PIDS+=("$CRM_PID")
    if ! "$HELPER" wait-ready --addr "127.0.0.1:$PORT" --since-ns "$t0" >"$TMP/ready.json"; then
        tail -20 "$TMP/crm-$BACKEND.log" >&2
        die "crm serve did not become ready"
    fi
    [[ $(ps -o comm= -p "$CRM_PID") == crm ]] || die "pid $CRM_PID is not the crm process"
}
stop_crm() {
    [[ -n $CRM_PID ]] || return 0
    kill "$CRM_PID" 2>/dev/null || true
    wait "$CRM_PID" 2>/dev/null || true
    forget "$CRM_PID"
    CRM_PID=""
    local i
    for i in $(seq 50); do port_busy || return 0; sleep 0.1; done
}
# The service's HTTP worker threads (actix-server names them "actix-server worker N").
http_workers() { grep -lx 'actix-server wo' /proc/"$1"/task/*/comm | wc -l; }
rss_mb() { ps -o rss= -p "$1" | awk '{printf "%.1f", $1 / 1024}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The resident peak since the last reset_peak_rss (proc(5): VmHWM; clear_refs 5 resets it).
peak_rss_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
reset_peak_rss() { echo 5 >"/proc/$1/clear_refs"; }

# Starts the service three times (start-to-ready is the median) and leaves the third running.
start_crm_measured() {
    local url=$1 i ms=()
    for i in 1 2 3; do
        [[ $i -eq 1 ]] || stop_crm
        start_crm "$url"
        ms+=("$(json_get "$(cat "$TMP/ready.json")" ready_ms)")
    done
    READY_MS=$(printf '%s\n' "${ms[@]}" | sort -g | sed -n 2p)
    sleep 1
    RSS_IDLE_MB=$(rss_mb "$CRM_PID")
    RSS_LOAD_MB=0
    log "crm ready in ${ms[*]} ms (median $READY_MS); idle RSS $RSS_IDLE_MB MB"
}

# check STATUS METHOD PATH [curl args]: one request that must answer STATUS; body in $TMP/check.json.
check() {
    local want=$1 method=$2 path=$3 code
    shift 3
    code=$(curl -sS -o "$TMP/check.json" -w '%{http_code}' -X "$method" "$BASE_URL$path" -H "X-API-Key: $API_KEY" "$@")
    [[ $code == "$want" ]] || die "$method $path answered $code, expected $want: $(head -c 600 "$TMP/check.json")"
}
sanity_checks() {
    check 200 GET "/v1/customers/00000001-0000-7000-8000-000000000001"
    check 200 GET "/v1/customers/$(printf '%08x-0000-7000-8000-%012x' "$CUSTOMERS" "$CUSTOMERS")"
    check 200 GET "/v1/customers?limit=50&sort=-created_at&lifecycle_stage=lead"
    check 200 GET "/v1/customers?limit=50&sort=-created_at&lifecycle_stage=lead&cursor=$DEEP_CURSOR"
    python3 - "$TMP/check.json" <<'PY' || die "the deep list page is not a full page of leads"
import json, sys
page = json.load(open(sys.argv[1]))
rows = page["data"]
assert len(rows) == 50 and all(r["lifecycle_stage"] == "lead" for r in rows), page
PY
    check 201 POST /v1/customers -H 'Content-Type: application/json' -H "Idempotency-Key: check-$(date +%s%N)" \
        -d '{"kind":"person","first_name":"Check","email":"check@example.com"}'
    check 200 PATCH "/v1/customers/00000002-0000-7000-8000-000000000002" \
        -H 'Content-Type: application/merge-patch+json' -H 'If-Match: *' -d '{"last_name":"Checked"}'
}

# --- load tools --------------------------------------------------------------------------------
# run_wrk OP SCRIPT [LIST_CURSOR]: warm-up, then the measured run, with the crm process's resident
# peak and CPU time read from /proc around it. RUN_CONNECTIONS, RUN_THREADS, RUN_TIMEOUT override
# the defaults for one run; BENCH_PATH is the path of path.lua.
run_wrk() {
    local op=$1 script=$2 conns=${RUN_CONNECTIONS:-$CONNECTIONS}
    local threads
    threads=$(min "${RUN_THREADS:-$THREADS}" "$conns")
    local raw="$TMP/wrk-$BACKEND-$op.txt" ticks0 ticks1 rss_max parsed
    local wrk_args=(-t"$threads" -c"$conns" --timeout "${RUN_TIMEOUT:-2s}" --latency -s "$BENCH_DIR/wrk/$script"
        "$BASE_URL")
    export API_KEY CUSTOMERS
    export BENCH_PATH=${BENCH_PATH:-}
    export LIST_CURSOR=${3:-}
    if [[ $WARMUP != 0 ]]; then
        RUN_TAG="w$(date +%s%N)" wrk -d"${WARMUP}s" "${wrk_args[@]}" >/dev/null
    fi
    # The kernel keeps the peak (VmHWM): no sampling process competes with the run for the cores
    # (a `ps` every 0.2 s showed up in the service's p99, never in pgbench's).
    reset_peak_rss "$CRM_PID"
    ticks0=$(cpu_ticks "$CRM_PID")
    RUN_TAG="m$(date +%s%N)" wrk -d"${DURATION}s" "${wrk_args[@]}" >"$raw"
    ticks1=$(cpu_ticks "$CRM_PID")
    rss_max=$(peak_rss_mb "$CRM_PID")
    RSS_LOAD_MB=$(python3 -c 'import sys; print(max(float(a) for a in sys.argv[1:]))' "$RSS_LOAD_MB" "$rss_max")
    parsed=$(python3 "$BENCH_DIR/report.py" wrk "$raw")
    add_fact "$parsed" kind=service backend="$BACKEND" op="$op" rss_max_mb:="$rss_max" connections:="$conns" \
        round:="${ROUND:-1}" \
        cpu_percent:="$(python3 -c "print(round(($ticks1 - $ticks0) * 100 / $(getconf CLK_TCK) / $DURATION, 1))")"
    log "service $BACKEND $op: $(json_get "$parsed" per_second) req/s, p99 $(json_get "$parsed" p99_ms) ms," \
        "non-2xx $(json_get "$parsed" non_2xx), RSS max $rss_max MB"
}

PG=(-h "$PGHOST" -p "$PGPORT" -U "$PGUSER")
psql_bench() { psql "${PG[@]}" -d "$PGDB" -v ON_ERROR_STOP=1 -X -q "$@"; }

# run_pgbench OP SCRIPT [-D var=value]...: warm-up, then the measured run with a 10 % latency log
# (RUN_SAMPLING: another fraction).
run_pgbench() {
    local op=$1 script=$2 conns=${RUN_CONNECTIONS:-$CONNECTIONS}
    local raw="$TMP/pgbench-$op.txt" parsed threads
    threads=$(min "${RUN_THREADS:-$THREADS}" "$conns")
    shift 2
    local args=("${PG[@]}" -n -M prepared -c "$conns" -j "$threads" -f "$BENCH_DIR/pgbench/$script"
        -D "ws=$WS" -D "customers=$CUSTOMERS" "$@")
    if [[ $WARMUP != 0 ]]; then pgbench "${args[@]}" -T "$WARMUP" "$PGDB" >/dev/null 2>&1; fi
    rm -f "$TMP/pgb-$op".*
    pgbench "${args[@]}" -T "$DURATION" -l --sampling-rate="${RUN_SAMPLING:-0.1}" --log-prefix="$TMP/pgb-$op" "$PGDB" \
        >"$raw" 2>&1 ||
        die "pgbench $op failed: $(tail -5 "$raw")"
    parsed=$(python3 "$BENCH_DIR/report.py" pgbench "$raw" "$TMP/pgb-$op")
    rm -f "$TMP/pgb-$op".*
    add_fact "$parsed" kind=reference backend=postgres op="$op" connections:="$conns" round:="${ROUND:-1}"
    log "pgbench $op: $(json_get "$parsed" per_second) tps, p99 $(json_get "$parsed" p99_ms) ms"
}

# load_sqlite WHAT HOW COMMAND [args]: one crm-bench loader on the SQLite file; its figures become
# the load fact of WHAT.
load_sqlite() {
    local what=$1 how=$2 parsed
    shift 2
    log "SQLite: loading $what"
    parsed=$("$HELPER" "$@")
    add_fact "$parsed" kind=load backend=sqlite what="$what" how="$how"
    log "SQLite: $(json_get "$parsed" rows) $what loaded in $(json_get "$parsed" seconds) s"
}

# run_sqlite_ref OP COMMAND [args]: the crm-bench reference on the service's SQLite file.
run_sqlite_ref() {
    local op=$1 parsed
    shift
    if [[ $WARMUP != 0 ]]; then "$HELPER" "$@" --duration "$WARMUP" >/dev/null; fi
    parsed=$("$HELPER" "$@" --duration "$DURATION")
    add_fact "$parsed" kind=reference backend=sqlite op="$op" connections:="$(json_get "$parsed" threads)" \
        round:="${ROUND:-1}"
    log "raw SQLite $op: $(json_get "$parsed" per_second) ops/s, p99 $(json_get "$parsed" p99_ms) ms"
}

# Fixes the deep page from the number of leads: LIST_PAGE, or the last full page if fewer exist.
set_list_page() {
    local leads=$1
    DEEP_PAGE=$((leads / 50 < LIST_PAGE ? leads / 50 : LIST_PAGE))
    [[ $DEEP_PAGE -ge 2 ]] || die "too few leads ($leads) for a deep page: raise CUSTOMERS"
    CURSOR_POSITION=$((50 * (DEEP_PAGE - 1)))
}

bootstrap() {
    local url=$1 out
    crm_env "$url" "$CRM" migrate 2>>"$TMP/crm-$BACKEND.log"
    out=$(crm_env "$url" "$CRM" admin bootstrap --workspace Bench --email bench@example.com \
        --password 'correct horse battery' 2>>"$TMP/crm-$BACKEND.log")
    WS=$(json_get "$out" workspace_id)
    API_KEY=$(json_get "$out" api_key)
}

finish_backend() {
    if suite customers; then
        add_fact '{}' kind=list_page backend="$BACKEND" leads:="$LEADS" page:="$DEEP_PAGE" position:="$CURSOR_POSITION"
    fi
    add_fact '{}' kind=process backend="$BACKEND" ready_ms:="$READY_MS" rss_idle_mb:="$RSS_IDLE_MB" \
        rss_load_mb:="$RSS_LOAD_MB" workers:="$(http_workers "$CRM_PID")"
    stop_crm
}

# --- deals and timeline (SUITES=deals,timeline) --------------------------------------------------
# A forecast/board reference: pgbench on PostgreSQL, crm-bench on the SQLite file, with the SQL
# crm-store sends (bench/pgbench/NAME.sql, bench/sql/NAME_sqlite.sql) on HEAVY_CONNECTIONS.
run_heavy_ref() {
    local op=$1 shape=$2
    shift 2
    if [[ $BACKEND == postgres ]]; then
        local defs=() pair
        for pair in "$@"; do defs+=(-D "$pair"); done
        # A few transactions a second: log every one, or p99 rests on a single sample.
        RUN_CONNECTIONS=$HEAVY_CONNECTIONS RUN_SAMPLING=1 run_pgbench "$op" "$op.sql" "${defs[@]}"
    else
        local binds=() pair
        for pair in "$@"; do binds+=(--bind "${pair#*=}"); done
        run_sqlite_ref "$op" query --db "$SQLITE_DB" --sql-file "$BENCH_DIR/sql/${op}_sqlite.sql" --shape "$shape" \
            --threads "$HEAVY_CONNECTIONS" "${binds[@]}"
    fi
}

deals_suite() {
    local forecast="/v1/deals/forecast?from=$FORECAST_FROM&to=$FORECAST_TO&group_by" group
    for group in month owner; do
        check 200 GET "$forecast=$group"
        python3 - "$TMP/check.json" "$group" <<'PY' || die "the $group forecast is empty"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert sum(r["open_count"] for r in rows) > 0 and sum(r["won_count"] for r in rows) > 0, rows
PY
    done
    check 200 GET "/v1/pipelines/$PIPELINE/board"
    python3 - "$TMP/check.json" <<'PY' || die "the board does not show 3 open stages of 20 deals"
import json, sys
stages = json.load(open(sys.argv[1]))["stages"]
assert len(stages) == 3 and all(s["deal_count"] > 0 and len(s["deals"]) == 20 for s in stages), stages
PY
    # The heavy endpoints run on HEAVY_CONNECTIONS (service and reference alike) and may take
    # seconds each on SQLite: wrk's 2 s timeout would drop them.
    for group in month owner; do
        run_heavy_ref "forecast_$group" forecast "ws=$WS" "from=$FORECAST_FROM" "to=$FORECAST_TO"
        RUN_CONNECTIONS=$HEAVY_CONNECTIONS RUN_TIMEOUT=60s BENCH_PATH="$forecast=$group" \
            run_wrk "forecast_$group" path.lua
    done
    run_heavy_ref board board "ws=$WS" "pipeline=$PIPELINE"
    RUN_CONNECTIONS=$HEAVY_CONNECTIONS RUN_TIMEOUT=60s BENCH_PATH="/v1/pipelines/$PIPELINE/board" run_wrk board path.lua
}

# Page 1 and page TIMELINE_PAGE of customer 1's timeline (10 000 events). Until the endpoint is
# merged it answers 404: then the rows say "endpoint missing" and the run goes on.
timeline_suite() {
    local customer=00000001-0000-7000-8000-000000000001 path code walked op
    path="/v1/customers/$customer/timeline?limit=50"
    code=$(curl -sS -o "$TMP/check.json" -w '%{http_code}' "$BASE_URL$path" -H "X-API-Key: $API_KEY")
    if [[ $code == 404 ]]; then
        log "timeline: endpoint missing"
        for op in timeline_first timeline_deep; do add_fact '{}' kind=missing backend="$BACKEND" op="$op"; done
        return 0
    fi
    [[ $code == 200 ]] || die "GET $path answered $code: $(head -c 600 "$TMP/check.json")"
    walked=$(python3 "$BENCH_DIR/report.py" walk "$BASE_URL" "$path" "$API_KEY" "$TIMELINE_PAGE") ||
        die "walking the timeline failed"
    add_fact "$walked" kind=timeline backend="$BACKEND"
    log "timeline: $(json_get "$walked" total) events; page $TIMELINE_PAGE cursor found"
    RUN_CONNECTIONS=$TIMELINE_CONNECTIONS BENCH_PATH="$path" run_wrk timeline_first path.lua
    RUN_CONNECTIONS=$TIMELINE_CONNECTIONS BENCH_PATH="$path&cursor=$(json_get "$walked" cursor)" \
        run_wrk timeline_deep path.lua
}

# --- purchases (SUITES=purchases) ------------------------------------------------------------------
# RFM and purchase analytics over PURCHASES purchases: ANALYTICS_RUNS sequential requests through
# the service beside the same statements run ANALYTICS_RUNS times directly (pgbench -t on one
# connection; crm-bench on the SQLite file). Target: < 1 s (the issue's "1 M purchases in < 1 s").
ANALYTICS_OPS=(rfm_page rfm_summary purchases_month purchases_category purchases_channel)
ANALYTICS_FROM=$(date -u -d "$ANALYTICS_AS_OF - 730 days" +%F)
ANALYTICS_TO=$(date -u -d "$ANALYTICS_AS_OF - 1 day" +%F)

analytics_path() {
    local window="from=$ANALYTICS_FROM&to=$ANALYTICS_TO&currency=EUR"
    case $1 in
    rfm_page) echo "/v1/analytics/rfm?limit=50&currency=EUR&as_of=$ANALYTICS_AS_OF" ;;
    rfm_summary) echo "/v1/analytics/rfm/summary?currency=EUR&as_of=$ANALYTICS_AS_OF" ;;
    purchases_*) echo "/v1/analytics/purchases?group_by=${1#purchases_}&$window" ;;
    esac
}

# analytics_binds OP: the statement's parameters in order, as name=value.
analytics_binds() {
    local as_of="${ANALYTICS_AS_OF%Z}.000000Z" start="${ANALYTICS_FROM}T00:00:00.000000Z"
    local end
    end="$(date -u -d "$ANALYTICS_TO + 1 day" +%F)T00:00:00.000000Z"
    case $1 in
    rfm_page) echo "ws=$WS currency=EUR as_of=$as_of ws=$WS limit=51" ;;
    rfm_summary) echo "ws=$WS currency=EUR as_of=$as_of ws=$WS" ;;
    purchases_*) echo "ws=$WS currency=EUR start=$start end=$end ws=$WS currency=EUR start=$start end=$end ws=$WS ws=$WS" ;;
    esac
}

analytics_reference() {
    local op=$1 pair raw
    if [[ $BACKEND == postgres ]]; then
        local defs=()
        for pair in $(analytics_binds "$op"); do defs+=(-D "$pair"); done
        raw="$TMP/pgbench-$op.txt"
        local args=("${PG[@]}" -n -M prepared -c 1 -j 1 -f "$BENCH_DIR/pgbench/$op.sql" "${defs[@]}")
        pgbench "${args[@]}" -t 1 "$PGDB" >/dev/null 2>&1 || die "pgbench $op failed"
        rm -f "$TMP/pgb-$op".*
        pgbench "${args[@]}" -t "$ANALYTICS_RUNS" -l --log-prefix="$TMP/pgb-$op" "$PGDB" >"$raw" 2>&1 ||
            die "pgbench $op failed: $(tail -5 "$raw")"
        python3 "$BENCH_DIR/report.py" pgbench "$raw" "$TMP/pgb-$op"
        rm -f "$TMP/pgb-$op".*
    else
        local binds=() shape=groups
        for pair in $(analytics_binds "$op"); do binds+=(--bind "${pair#*=}"); done
        case $op in rfm_page) shape=rfm ;; rfm_summary) shape=rfm-cells ;; esac
        "$HELPER" query-times --db "$SQLITE_DB" --sql-file "$BENCH_DIR/sql/${op}_sqlite.sql" --shape "$shape" \
            --runs "$ANALYTICS_RUNS" "${binds[@]}"
    fi
}

purchases_suite() {
    local op path ref svc
    check 200 GET "$(analytics_path rfm_page)"
    python3 - "$TMP/check.json" <<'PY' || die "the RFM page is not 50 scored customers"
import json, sys
page = json.load(open(sys.argv[1]))
assert len(page["data"]) == 50 and all(r["recency_score"] for r in page["data"]), page
PY
    check 200 GET "$(analytics_path purchases_month)"
    python3 - "$TMP/check.json" <<'PY' || die "the monthly purchase analytics are not 24 months"
import json, sys
stats = json.load(open(sys.argv[1]))
assert len(stats["rows"]) >= 24 and stats["totals"]["orders"] > 0, stats
PY
    for op in "${ANALYTICS_OPS[@]}"; do
        path=$(analytics_path "$op")
        ref=$(analytics_reference "$op")
        svc=$("$HELPER" http-times --url "$BASE_URL$path" --key "$API_KEY" --runs "$ANALYTICS_RUNS") ||
            die "timing $path failed"
        add_fact '{}' kind=analytics backend="$BACKEND" op="$op" path="$path" service:="$svc" reference:="$ref"
        log "$BACKEND $op: service p50 $(json_get "$svc" p50_ms) ms p95 $(json_get "$svc" p95_ms) ms;" \
            "reference p50 $(json_get "$ref" p50_ms) ms"
    done
}

# load_pg WHAT ROWS HOW TABLES FILE [psql args]: runs bench/sql/FILE (with -v ws), VACUUM ANALYZE
# on TABLES (the whole database when empty), checks that the workspace has ROWS rows in the table
# WHAT, and records the load.
load_pg() {
    local what=$1 rows=$2 how=$3 tables=$4 file=$5 t0 t1 secs count table
    shift 5
    log "PostgreSQL: loading $rows $what"
    t0=$(now_ms)
    psql_bench -v ws="$WS" "$@" -f "$BENCH_DIR/sql/$file"
    t1=$(now_ms)
    if [[ -z $tables ]]; then
        psql_bench -c 'VACUUM ANALYZE'
    else
        for table in $tables; do psql_bench -c "VACUUM ANALYZE $table"; done
    fi
    secs=$(seconds_since "$t0")
    psql_bench -c 'CHECKPOINT'
    count=$(psql_bench -At -c "SELECT count(*) FROM $what WHERE workspace_id = '$WS'")
    [[ $count == "$rows" ]] || die "loaded $count $what, expected $rows"
    add_fact '{}' kind=load backend=postgres what="$what" how="$how" rows:="$rows" \
        insert_seconds:="$(python3 -c "print(($t1 - $t0) / 1000)")" seconds:="$secs" \
        rows_per_second:="$(python3 -c "print($rows / $secs)")"
    log "PostgreSQL: $what loaded in $secs s"
}

# --- PostgreSQL --------------------------------------------------------------------------------
bench_postgres() {
    BACKEND=postgres
    local url="postgres://$PGUSER@$PGHOST:$PGPORT/$PGDB" t0 secs row
    log "PostgreSQL: recreating database $PGDB"
    dropdb "${PG[@]}" --if-exists --force "$PGDB"
    createdb "${PG[@]}" "$PGDB"
    bootstrap "$url"

    load_pg customers "$CUSTOMERS" "INSERT … SELECT generate_series + VACUUM ANALYZE" "" load_pg.sql -v n="$CUSTOMERS"
    if suite deals || suite timeline; then
        load_pg deals "$DEALS" "INSERT … SELECT generate_series (+ 1 stage change each) + VACUUM ANALYZE" \
            "deals deal_stage_changes users deal_rollups" load_deals_pg.sql \
            -v n="$DEALS" -v customers="$CUSTOMERS" -v owners="$OWNERS"
    fi
    if suite timeline; then
        load_pg interactions "$INTERACTIONS" "INSERT … SELECT generate_series + VACUUM ANALYZE" interactions \
            load_interactions_pg.sql -v n="$INTERACTIONS" -v customers="$CUSTOMERS"
        t0=$(now_ms)
        psql_bench -v ws="$WS" -f "$BENCH_DIR/sql/timeline_pg.sql"
        psql_bench -c 'ANALYZE interactions' -c 'ANALYZE tasks' -c 'ANALYZE deal_stage_changes'
        secs=$(seconds_since "$t0")
        row=$(psql_bench -At -c "SELECT (SELECT count(*) FROM interactions WHERE customer_id = '00000001-0000-7000-8000-000000000001')
            + (SELECT count(*) FROM tasks WHERE customer_id = '00000001-0000-7000-8000-000000000001')
            + (SELECT count(*) FROM deal_stage_changes WHERE customer_id = '00000001-0000-7000-8000-000000000001')")
        [[ $row == 10000 ]] || die "the timeline customer has $row events, expected 10000"
        add_fact '{}' kind=load backend=postgres what=timeline how="customer 1: INSERT … SELECT generate_series + ANALYZE" \
            rows:="$row" seconds:="$secs" rows_per_second:="$(python3 -c "print($row / $secs)")"
    fi

    if suite purchases; then
        load_pg purchases "$PURCHASES" "INSERT … SELECT generate_series (+ 1–3 lines, their category rows) + VACUUM ANALYZE" \
            "purchases purchase_items purchase_categories" load_purchases_pg.sql \
            -v n="$PURCHASES" -v buyers="$PURCHASE_BUYERS"
    fi

    if suite customers; then
        LEADS=$(psql_bench -At -c "SELECT count(*) FROM customers WHERE workspace_id = '$WS'
            AND deleted_at IS NULL AND lifecycle_stage = 'lead'")
        set_list_page "$LEADS"
        row=$(psql_bench -At -F ' ' -v ws="$WS" -v pos="$CURSOR_POSITION" -f "$BENCH_DIR/sql/cursor_pg.sql")
        read -r CURSOR_T CURSOR_ID <<<"$row"
        DEEP_CURSOR=$(python3 "$BENCH_DIR/report.py" cursor "$CURSOR_T" "$CURSOR_ID")
        log "PostgreSQL: $LEADS leads; deep page $DEEP_PAGE after ($CURSOR_T, $CURSOR_ID)"
    fi

    start_crm_measured "$url"
    if suite customers; then
        sanity_checks
        # Alternated rounds: on a shared host one 10 s run of either side can be 15 % off.
        for ROUND in $(seq "$ROUNDS"); do
            run_pgbench get get.sql
            run_wrk get get.lua
        done
        unset ROUND
        run_pgbench list_first list_first.sql
        run_wrk list_first list.lua
        run_pgbench list_deep list_deep.sql -D "t=$CURSOR_T" -D "u=$CURSOR_ID"
        run_wrk list_deep list.lua "$DEEP_CURSOR"
        run_pgbench patch patch.sql
        run_wrk patch patch.lua
        run_pgbench post post.sql
        run_wrk post post.lua
    fi
    if suite deals; then
        PIPELINE=$(psql_bench -At -c "SELECT id FROM pipelines WHERE workspace_id = '$WS' AND is_default")
        deals_suite
    fi
    if suite timeline; then timeline_suite; fi
    if suite purchases; then purchases_suite; fi
    finish_backend
}

# --- SQLite ------------------------------------------------------------------------------------
bench_sqlite() {
    BACKEND=sqlite
    local db="$TMP/crm_bench.db" url cursor
    SQLITE_DB=$db
    url="sqlite://$db"
    log "SQLite: recreating $db"
    rm -f "$db" "$db-wal" "$db-shm"
    bootstrap "$url"

    load_sqlite customers "INSERT … SELECT recursive CTE, 1 transaction + ANALYZE" \
        load --db "$db" --workspace "$WS" --customers "$CUSTOMERS"
    if suite deals || suite timeline; then
        load_sqlite deals "INSERT … SELECT recursive CTE (+ 1 stage change each), 1 transaction + ANALYZE" \
            load-deals --db "$db" --workspace "$WS" --deals "$DEALS" --customers "$CUSTOMERS" --owners "$OWNERS"
    fi
    if suite timeline; then
        load_sqlite interactions "INSERT … SELECT recursive CTE, 1 transaction + ANALYZE" \
            load-interactions --db "$db" --workspace "$WS" --interactions "$INTERACTIONS" --customers "$CUSTOMERS"
        load_sqlite timeline "customer 1: INSERT … SELECT recursive CTE + ANALYZE" \
            timeline-fixture --db "$db" --workspace "$WS"
    fi
    if suite purchases; then
        load_sqlite purchases "INSERT … SELECT recursive CTE (+ 1–3 lines each), 1 transaction + ANALYZE" \
            load-purchases --db "$db" --workspace "$WS" --purchases "$PURCHASES" --buyers "$PURCHASE_BUYERS"
    fi

    if suite customers; then
        LEADS=$(json_get "$("$HELPER" cursor --db "$db" --workspace "$WS" --position 1)" leads)
        set_list_page "$LEADS"
        cursor=$("$HELPER" cursor --db "$db" --workspace "$WS" --position "$CURSOR_POSITION")
        DEEP_CURSOR=$(python3 "$BENCH_DIR/report.py" cursor "$(json_get "$cursor" t)" "$(json_get "$cursor" id)")
        log "SQLite: $LEADS leads; deep page $DEEP_PAGE"
    fi

    start_crm_measured "$url"
    if suite customers; then
        sanity_checks
        for ROUND in $(seq "$ROUNDS"); do
            run_sqlite_ref get lookups --db "$db" --workspace "$WS" --customers "$CUSTOMERS" \
                --threads "$SQLITE_REF_THREADS"
            run_wrk get get.lua
        done
        unset ROUND
        run_wrk list_first list.lua
        run_wrk list_deep list.lua "$DEEP_CURSOR"
        run_wrk patch patch.lua
        run_sqlite_ref post inserts --db "$db" --workspace "$WS"
        run_wrk post post.lua
    fi
    if suite deals; then
        PIPELINE=$(json_get "$("$HELPER" pipeline --db "$db" --workspace "$WS")" pipeline_id)
        deals_suite
    fi
    if suite timeline; then timeline_suite; fi
    if suite purchases; then purchases_suite; fi
    finish_backend
}

# --- main --------------------------------------------------------------------------------------
mkdir -p "$TMP"
: >"$FACTS"
STARTED=$(now_ms)
if [[ ${SKIP_BUILD:-0} == 1 ]]; then
    log "SKIP_BUILD=1: using the release binaries as they are"
else
    log "building release binaries"
    build
fi
[[ -x $CRM && -x $HELPER ]] || die "missing $CRM or $HELPER after the build"
add_fact '{}' kind=binary size_mb:="$(stat -c %s "$CRM" | awk '{printf "%.1f", $1 / 1048576}')"

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] || commit="$commit+dirty"
pg_settings="–"
if [[ " $BACKENDS " == *" postgres "* ]]; then
    pg_settings=$(psql "${PG[@]}" -d postgres -X -At -F '=' -c "SELECT name, current_setting(name)
        FROM unnest(ARRAY['server_version', 'shared_buffers', 'synchronous_commit', 'fsync', 'max_connections'])
        AS name" | paste -sd ' ')
fi
add_fact '{}' kind=meta loadavg_before="$(cut -d' ' -f1-3 /proc/loadavg)" date="$(date -u +%FT%TZ)" commit="$commit" cpus:="$(nproc)" \
    cpu_model="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" customers:="$CUSTOMERS" \
    suites="$SUITES" deals:="$DEALS" owners:="$OWNERS" heavy_connections:="$HEAVY_CONNECTIONS" \
    timeline_connections:="$TIMELINE_CONNECTIONS" timeline_page:="$TIMELINE_PAGE" interactions:="$INTERACTIONS" \
    forecast_from="$FORECAST_FROM" forecast_to="$FORECAST_TO" purchases:="$PURCHASES" \
    purchase_buyers:="$PURCHASE_BUYERS" analytics_runs:="$ANALYTICS_RUNS" analytics_as_of="$ANALYTICS_AS_OF" \
    duration:="$DURATION" connections:="$CONNECTIONS" threads:="$THREADS" warmup:="$WARMUP" \
    sqlite_ref_threads:="$SQLITE_REF_THREADS" \
    notes:="$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
        "PostgreSQL settings: $pg_settings." \
        "crm CPU % = CPU time of the crm process / wall time of the run (200 % = both cores); wrk and the database share the same cores." \
        "Rate limits off (CRM_RATE_LIMIT_PER_SECOND/BURST=100000000); RUST_LOG=warn. MB = 2^20 bytes.")"

for backend in $BACKENDS; do
    case $backend in
    postgres) bench_postgres ;;
    sqlite) bench_sqlite ;;
    *) die "unknown backend $backend (postgres, sqlite)" ;;
    esac
done

add_fact '{}' kind=end loadavg_after="$(cut -d' ' -f1-3 /proc/loadavg)" seconds:="$(seconds_since "$STARTED")"
RESULTS=latest
[[ $SUITES == customers,deals,timeline,purchases ]] || RESULTS="latest-${SUITES//,/-}"
python3 "$BENCH_DIR/report.py" report "$FACTS" "$OUT" "$RESULTS"
log "done in $(seconds_since "$STARTED") s; results in bench/results/$RESULTS.md and $RESULTS.json"
