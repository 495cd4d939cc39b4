#!/usr/bin/env bash
# bench/soak.sh -- Steward's memory and throughput over REQUESTS requests in consecutive wrk runs (issue 14).
#
# Steward is set up as bench/compare.sh sets it up (bench/steward_setup.sh: examples/three-teams.yaml, a marketing
# key, rate limits at three levels, a key daily spend limit, audit and chain sealing), pinned to GATEWAY_CPU (default
# 0), against the peers harness's nginx mock, with wrk and the mock on LOADGEN_CPU (default 1). The marketing
# workspace's $500 monthly hard cap is raised to $100,000 (still enforced): at the mock's $0.0012 a request it would
# refuse everything after about 425,000 requests. wrk (one thread, the harness's wrk/messages.lua) runs for
# CHUNK_SECONDS at a time at concurrency CONC until the total reaches REQUESTS (the last run may go past it). After each
# run one row goes to bench/results/soak-<stamp>/soak.csv: elapsed time, requests, the run's req/s, p50 and p99, the
# RSS of the worker (`steward serve`), of its `steward ship` child and of the whole process tree, the tree's CPU time
# per request in that run (utime+stime from /proc), the tree's PSS, and the size of the database (SQLite file + WAL, or
# pg_database_size) and of the journal. bench/soak_report.py then writes soak.md (printed) and soak.svg beside it.
#
# Environment: REQUESTS=1000000 CONC=16 CHUNK_SECONDS=20  QUICK=1 (REQUESTS=20000 CHUNK_SECONDS=4)
#              DATABASE=sqlite|postgres (a fresh database on 127.0.0.1:5432, dropped at the end)
#              LIMITS=inprocess|redis (rate limits in process, or in Redis on 127.0.0.1:6379 under a unique prefix)
#              MOCK_PORT=18095 STEWARD_PORT=9120 GATEWAY_CPU=0 LOADGEN_CPU=1 STEWARD=.venv/bin/steward
#              MODEL=claude-sonnet-4-6 PEERS=../shared/peers-bench TIMEOUT=5s (wrk's per-request timeout)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers-bench}"
if [[ "${QUICK:-0}" == 1 ]]; then REQUESTS="${REQUESTS:-20000}" CHUNK_SECONDS="${CHUNK_SECONDS:-4}"; fi
REQUESTS="${REQUESTS:-1000000}" CONC="${CONC:-16}" CHUNK_SECONDS="${CHUNK_SECONDS:-20}" TIMEOUT="${TIMEOUT:-5s}"
DATABASE="${DATABASE:-sqlite}" LIMITS="${LIMITS:-inprocess}"
export MODEL="${MODEL:-claude-sonnet-4-6}"
export GATEWAY_CPU="${GATEWAY_CPU:-0}" LOADGEN_CPU="${LOADGEN_CPU:-1}" MOCK_PORT="${MOCK_PORT:-18095}"
STEWARD_PORT="${STEWARD_PORT:-9120}"
STEWARD="${STEWARD:-$ROOT/.venv/bin/steward}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
case "$DATABASE" in sqlite|postgres) ;; *) die "DATABASE must be sqlite or postgres" ;; esac
case "$LIMITS" in inprocess|redis) ;; *) die "LIMITS must be inprocess or redis" ;; esac
[[ "$REQUESTS" =~ ^[1-9][0-9]*$ && "$CONC" =~ ^[1-9][0-9]*$ && "$CHUNK_SECONDS" =~ ^[1-9][0-9]*$ ]] \
    || die "REQUESTS, CONC and CHUNK_SECONDS must be positive integers"
for tool in wrk nginx taskset curl; do command -v "$tool" >/dev/null || die "$tool is missing (see $PEERS/README.md)"
done
[[ -x "$STEWARD" ]] || die "run 'make setup' first"
[[ -f "$PEERS/wrk/messages.lua" && -f "$PEERS/mock/start.sh" ]] || die "no peers harness at $PEERS (set PEERS=)"
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$MOCK_PORT" "$STEWARD_PORT"; do
    ! port_busy "$port" || die "127.0.0.1:$port is in use; pick other ports with MOCK_PORT=, STEWARD_PORT="
done

# --- a private copy of the mock and the wrk script ------------------------------------------------------------------
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$HERE/results/soak-$STAMP"
WORK="$(mktemp -d)"
PB="$WORK/pb"
mkdir -p "$OUT" "$PB"
cp -r "$PEERS/lib.sh" "$PEERS/mock" "$PEERS/wrk" "$PB/"
chmod -R u+w "$PB"
rm -rf "$PB/mock/run" "$PB/mock/logs"
sed -i "s/127\.0\.0\.1:18080/127.0.0.1:$MOCK_PORT/" "$PB/mock/nginx.conf"
MOCK="http://127.0.0.1:$MOCK_PORT"

CHILD=""
. "$HERE/steward_setup.sh"  # configure_steward, serve_steward, stop_steward, drop_steward_stores, tree_pids
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$CHILD" ]]; then  # interrupted during a wrk run
        kill -TERM "$CHILD" 2>/dev/null
        sleep 0.5
        kill -KILL "$CHILD" 2>/dev/null
    fi
    stop_steward
    [[ -s "$PB/mock/run/nginx.pid" ]] && "$PB/mock/stop.sh" >/dev/null 2>&1
    mkdir -p "$OUT/logs"
    cp "$WORK/steward.log" "$OUT/logs/" 2>/dev/null
    end_run "$rc"
}
on_exit cleanup
exec > >(tee -a "$OUT/console.txt") 2>&1
log "results: $OUT (work dir $WORK)"

# --- the process tree's memory and CPU, the stores' size ------------------------------------------------------------
declare -A LAST_TICKS=()
CLK_TCK="$(getconf CLK_TCK)"
sample_tree() {  # sets WORKER_KB SHIP_KB TREE_KB PSS_KB PROCS and TICKS (CPU ticks the tree used since the last call)
    local root="$1" p stat cmd rss pss
    local -a f
    local -A now=()
    WORKER_KB=0 SHIP_KB=0 TREE_KB=0 PSS_KB=0 PROCS=0 TICKS=0
    for p in $(tree_pids "$root"); do
        stat="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
        read -r -a f <<< "${stat##*) }"  # from field 3 (state) on: utime and stime are fields 14 and 15
        now[$p]=$((f[11] + f[12]))
        TICKS=$((TICKS + now[$p] - ${LAST_TICKS[$p]:-0}))
        # RSS as the goal counts it; PSS (smaps_rollup) splits the pages the processes share between them.
        read -r rss pss < <(awk '/^VmRSS:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' \
            "/proc/$p/status" "/proc/$p/smaps_rollup" 2>/dev/null)
        cmd="$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
        PROCS=$((PROCS + 1)) TREE_KB=$((TREE_KB + rss)) PSS_KB=$((PSS_KB + pss))
        if [[ "$p" == "$root" ]]; then
            WORKER_KB=$rss
        elif [[ "$cmd" == *"steward ship"* || "$cmd" == *"steward.workers.ship_process"* ]]; then
            SHIP_KB=$((SHIP_KB + rss))
        fi
    done
    LAST_TICKS=()
    for p in "${!now[@]}"; do LAST_TICKS[$p]=${now[$p]}; done
}
db_bytes() {
    if [[ "$DATABASE" == postgres ]]; then
        psql -h 127.0.0.1 -U "$PG_USER" -d postgres -Atc "select pg_database_size('$DB_NAME')"
    else
        stat -c %s "$STEWARD_HOME/steward.db" "$STEWARD_HOME/steward.db-wal" 2>/dev/null \
            | awk '{ s += $1 } END { print s + 0 }'
    fi
}
journal_bytes() { du -sb "$STEWARD_HOME/journal" 2>/dev/null | cut -f1 || echo 0; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
now_us() { local t="$EPOCHREALTIME"; echo "${t/[.,]/}"; }

# --- Steward: compare.sh's set-up, the workspace cap out of reach -----------------------------------------------------
"$PB/mock/start.sh"
configure_steward
CAP_ID="$("$STEWARD" spend-limits list --json | "$PYTHON" -c 'import json, sys
caps = json.load(sys.stdin)["data"]
print(next(c["id"] for c in caps if c["scope"]["type"] == "workspace" and c["period"] == "monthly"))')"
"$STEWARD" spend-limits update "$CAP_ID" --amount-usd 100000 >/dev/null
{ echo "# soak.sh: the workspace's monthly cap raised"; "$STEWARD" spend-limits list; } >> "$OUT/steward-config.txt" \
    2>&1
serve_steward
GW="$(cat "$GW_PID")"
log "steward: pid $GW on 127.0.0.1:$STEWARD_PORT, pinned to CPU $GATEWAY_CPU (DATABASE=$DATABASE LIMITS=$LIMITS)"
SURL="http://127.0.0.1:$STEWARD_PORT/v1/messages"
code="$(curl -s -o "$WORK/check.json" -w '%{http_code}' -m 30 -X POST -H "content-type: application/json" \
    -H "x-api-key: $KEY" -H "anthropic-version: 2023-06-01" \
    -d "{\"model\":\"$MODEL\",\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}" \
    "$SURL" || true)"
[[ "$code" == 200 ]] || { head -c 600 "$WORK/check.json" >&2; echo >&2; die "check request: HTTP $code"; }

# --- the soak ---------------------------------------------------------------------------------------------------------
CSV="$OUT/soak.csv"
CSV_COLUMNS=(chunk elapsed_s requests chunk_requests chunk_s rps p50_ms p99_ms errors worker_rss_mb ship_rss_mb tree_rss_mb
         tree_pss_mb procs cpu_us_per_req db_mb journal_mb)
(IFS=,; echo "${CSV_COLUMNS[*]}") > "$CSV"
export BENCH_KEY="$KEY" BENCH_FORMAT=anthropic BENCH_MODEL="$MODEL" BENCH_STREAM=0 BENCH_HEADERS="" BENCH_AUTH="" \
    BENCH_DELAY_MS=0 BENCH_MAX_REQ=1000000000
log "soak: $REQUESTS requests at concurrency $CONC, wrk runs of ${CHUNK_SECONDS}s, wrk and the mock on CPU $LOADGEN_CPU"
sample_tree "$GW"
T0="$(now_us)" TOTAL=0 CHUNK=0
while (( TOTAL < REQUESTS )); do
    CHUNK=$((CHUNK + 1))
    raw="$WORK/wrk-$CHUNK.txt"
    timeout -k 5 $((CHUNK_SECONDS + 30)) taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONC" -d"${CHUNK_SECONDS}s" \
        --timeout "$TIMEOUT" -s "$PB/wrk/messages.lua" "$SURL" > "$raw" 2>&1 &
    CHILD=$!  # a trapped signal interrupts `wait` at once; the EXIT trap stops wrk
    rc=0; wait "$CHILD" || rc=$?
    CHILD=""
    sample_tree "$GW"
    elapsed_ms=$((($(now_us) - T0) / 1000))
    any_alive "$GW" || die "Steward is gone (see $OUT/logs/steward.log)"
    line="$(grep '^BENCH_JSON ' "$raw")" || { tail -5 "$raw" >&2; die "wrk produced no summary (rc=$rc)"; }
    read -r n secs rps p50 p99 errs < <(sed 's/^BENCH_JSON //' <<< "$line" | "$PYTHON" -c 'import json, sys
j = json.load(sys.stdin)
e = sum(j[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
print(j["requests"], j["duration_s"], j["rps"], j["p50_ms"], j["p99_ms"], e)')
    (( n > 0 )) || die "no request completed in run $CHUNK (see $raw)"
    TOTAL=$((TOTAL + n))
    cpu="$(awk -v t="$TICKS" -v c="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.0f", t / c * 1e6 / n }')"
    row=("$CHUNK" "$(awk -v e="$elapsed_ms" 'BEGIN { printf "%.1f", e / 1000 }')" "$TOTAL" "$n" "$secs" "$rps" "$p50"
         "$p99" "$errs" "$(mb $((WORKER_KB * 1024)))" "$(mb $((SHIP_KB * 1024)))" "$(mb $((TREE_KB * 1024)))"
         "$(mb $((PSS_KB * 1024)))" "$PROCS" "$cpu"
         "$(mb "$(db_bytes)")" "$(mb "$(journal_bytes)")")
    (IFS=,; echo "${row[*]}") >> "$CSV"
    note=""
    if (( errs > 0 )); then note=", $errs errors"; fi
    eta="$(awk -v r=$((REQUESTS - TOTAL)) -v s="$rps" 'BEGIN { printf "%.0f", (r > 0 ? r : 0) / s }')"
    log "run $CHUNK: $TOTAL/$REQUESTS requests, $rps req/s, p99 $p99 ms, RSS tree ${row[11]} MB (worker ${row[9]}," \
        "ship ${row[10]}), ${row[14]} µs CPU/req, db ${row[15]} MB, journal ${row[16]} MB$note, ~$eta s to go"
done

# --- the report -------------------------------------------------------------------------------------------------------
sleep 2  # let the shipper write the last records
"$STEWARD" usage > "$OUT/steward-usage.txt" 2>&1 || true
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ]] || COMMIT="$COMMIT+changes"
DB_LABEL=SQLite; [[ "$DATABASE" == postgres ]] && DB_LABEL=PostgreSQL
LIMITS_LABEL="limits in process"; [[ "$LIMITS" == redis ]] && LIMITS_LABEL="limits in Redis"
NOTES=(
    "Run $STAMP on $(nproc) cores ($(uname -r)): Steward (serve and its ship child) on CPU $GATEWAY_CPU, wrk and the nginx mock on CPU $LOADGEN_CPU; wrk runs of $CHUNK_SECONDS s back to back."
    "Command: \`REQUESTS=$REQUESTS CONC=$CONC CHUNK_SECONDS=$CHUNK_SECONDS DATABASE=$DATABASE LIMITS=$LIMITS MODEL=$MODEL bash bench/soak.sh\`."
    "Steward set up as bench/compare.sh sets it up (examples/three-teams.yaml, a marketing key, rate limits at organization, workspace and key level, a key daily spend limit, audit and chain sealing), the marketing workspace's monthly hard cap raised from \$500 to \$100,000 (never reached)."
)
if [[ "$DATABASE" == postgres || "$LIMITS" == redis ]]; then
    NOTES+=("PostgreSQL and Redis run unpinned on this machine: their CPU and memory are not in Steward's columns.")
fi
NOTES+=("Per run: soak.csv; Steward's recorded usage at the end: steward-usage.txt.")
"$PYTHON" "$HERE/soak_report.py" "$CSV" --title "Steward $COMMIT soak: $DB_LABEL, $LIMITS_LABEL, concurrency $CONC" \
    "${NOTES[@]/#/--note=}"
cat "$OUT/soak.md"
log "done: $OUT/soak.md, soak.svg, soak.csv"
