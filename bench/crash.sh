#!/usr/bin/env bash
# `make crash-test`: crash consistency on SQLite and PostgreSQL. Builds the release binaries,
# creates a fresh database per backend, and runs `crm-bench crash` (bench/src/crash.rs): write
# load, SIGKILL at a seeded random moment, restart, check every acknowledged write. Never part
# of the test suite; a few minutes.
#
#   bash bench/crash.sh                         # seed 1, 20 cycles per database
#   SEED=7 CYCLES=5 BACKENDS=sqlite bash bench/crash.sh
#
# Environment (defaults in brackets): SEED [1]  CYCLES [20]  BACKENDS ["sqlite postgres"]
#   PORT [18091]  WRITERS [4]  SKIP_BUILD [0]  PGHOST [127.0.0.1] PGPORT [5432] PGUSER [postgres]
#   CRASH_PGDATABASE [crm_crash] (dropped and recreated)
# Output: the summary table on stdout and in bench/results/crash.md; server logs in bench/results/tmp/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP="$ROOT/bench/results/tmp"
SEED=${SEED:-1}
CYCLES=${CYCLES:-20}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=${PORT:-18091}
WRITERS=${WRITERS:-4}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PGDB=${CRASH_PGDATABASE:-crm_crash}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

mkdir -p "$TMP"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p crm-api -p crm-bench >&2)
fi

targets=()
for backend in $BACKENDS; do
    case $backend in
    sqlite)
        db="$TMP/crm_crash.db"
        rm -f "$db" "$db-wal" "$db-shm"
        targets+=(--target "sqlite=sqlite://$db")
        ;;
    postgres)
        pg=(-h "$PGHOST" -p "$PGPORT" -U "$PGUSER")
        dropdb "${pg[@]}" --if-exists --force "$PGDB"
        createdb "${pg[@]}" "$PGDB"
        targets+=(--target "postgres=postgres://$PGUSER@$PGHOST:$PGPORT/$PGDB")
        ;;
    *)
        log "unknown backend $backend (sqlite, postgres)"
        exit 2
        ;;
    esac
done

status=0
"$TARGET_DIR/release/crm-bench" crash --crm "$TARGET_DIR/release/crm" --port "$PORT" --seed "$SEED" \
    --cycles "$CYCLES" --writers "$WRITERS" --log-dir "$TMP" "${targets[@]}" | tee "$ROOT/bench/results/crash.md" ||
    status=$?
exit "$status"
