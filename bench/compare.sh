#!/usr/bin/env bash
# bench/compare.sh -- Steward, Portkey and LiteLLM in one run, on one pinned core, against the same upstream (issue 14).
#
# Uses the shared peers harness (../shared/peers-bench): the nginx mock upstream, wrk and its run.sh, each gateway
# alone on GATEWAY_CPU (default 0), wrk and the mock on LOADGEN_CPU (default 1). In one run it measures the direct
# baseline, then Steward with all its governance on (examples/three-teams.yaml, a marketing key, rate limits at
# organization, workspace and key level, a key spend limit, audit and chain sealing), then Portkey and LiteLLM
# started exactly as the harness's reproduce.sh starts them; plus Steward streaming at concurrency 1 and its
# streaming time to first byte (bench/ttfb.py). Writes bench/results/<stamp>/summary.md (the table, also printed),
# results.tsv and the raw wrk output. The peers are installed once into bench/.peers/ (git-ignored) and reused.
#
# Environment: CONCS="1 8 32" DURATION=10 WARMUP=3 QUICK=1 (DURATION=3 WARMUP=1 CONCS="1 32", fewer TTFB requests)
#              DATABASE=sqlite|postgres (a fresh database on 127.0.0.1:5432, dropped at the end)
#              LIMITS=inprocess|redis (rate limits in process, or in Redis on 127.0.0.1:6379 under a unique prefix)
#              TARGETS="steward portkey litellm"  STREAMFIX=1 (also Portkey's streamfix variant streaming at c=1)
#              SETUP_ONLY=1 (install the peers into the cache and stop)
#              SAVE=1 (copy summary.md and results.tsv to docs/bench-runs/<date>-compare/)
#              MODEL=claude-sonnet-4-6  PEERS=../shared/peers-bench  PEERS_CACHE=bench/.peers
#              MOCK_PORT=18080 STEWARD_PORT=9100 PORTKEY_PORT=8787 LITELLM_PORT=4000  TTFB_REQUESTS=2000
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers-bench}"
PEERS_CACHE="${PEERS_CACHE:-$HERE/.peers}"
if [[ "${QUICK:-0}" == 1 ]]; then
    CONCS="${CONCS:-1 32}" DURATION="${DURATION:-3}" WARMUP="${WARMUP:-1}" TTFB_REQUESTS="${TTFB_REQUESTS:-300}"
fi
CONCS="${CONCS:-1 8 32}"
TTFB_REQUESTS="${TTFB_REQUESTS:-2000}"
TARGETS="${TARGETS:-steward portkey litellm}"
DATABASE="${DATABASE:-sqlite}"
LIMITS="${LIMITS:-inprocess}"
# claude-sonnet-4-5 (the harness default) retires on 2026-11-30; every target is measured with its successor.
export MODEL="${MODEL:-claude-sonnet-4-6}"
export DURATION="${DURATION:-10}" WARMUP="${WARMUP:-3}"
export GATEWAY_CPU="${GATEWAY_CPU:-0}" LOADGEN_CPU="${LOADGEN_CPU:-1}" MOCK_PORT="${MOCK_PORT:-18080}"
export LITELLM_PORT="${LITELLM_PORT:-4000}" PORTKEY_PORT="${PORTKEY_PORT:-8787}"
STEWARD_PORT="${STEWARD_PORT:-9100}"
STEWARD="${STEWARD:-$ROOT/.venv/bin/steward}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
# run.sh reads these from the environment; each measurement below sets its own.
unset STREAM RATE FORMAT AUTH HEADERS PID PIDFILE BASELINE TAG CHECK

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
case "$DATABASE" in sqlite|postgres) ;; *) die "DATABASE must be sqlite or postgres" ;; esac
case "$LIMITS" in inprocess|redis) ;; *) die "LIMITS must be inprocess or redis" ;; esac
for tool in wrk nginx taskset curl; do command -v "$tool" >/dev/null || die "$tool is missing (see $PEERS/README.md)"; done
[[ -x "$STEWARD" ]] || die "run 'make setup' first"
[[ -f "$PEERS/run.sh" ]] || die "no peers harness at $PEERS (set PEERS=)"

# --- the peers, installed once into PEERS_CACHE (a marker holds what they were built from) ------------------------
ready() { [[ -f "$PEERS_CACHE/$1.ready" && "$(cat "$PEERS_CACHE/$1.ready")" == "$2" ]]; }
setup_litellm() {  # the harness's own setup.sh, laid out so that its ../.venv-litellm lands in the cache
    local want
    want="$(sha256sum "$PEERS/litellm/requirements.txt" | cut -c1-64) $(python3 --version 2>&1)"
    ready litellm "$want" && return 0
    log "installing LiteLLM into $PEERS_CACHE/.venv-litellm (once)"
    rm -rf "$PEERS_CACHE/litellm" "$PEERS_CACHE/.venv-litellm" "$PEERS_CACHE/litellm.ready"
    mkdir -p "$PEERS_CACHE/litellm"
    cp "$PEERS/litellm/requirements.txt" "$PEERS/litellm/setup.sh" "$PEERS_CACHE/litellm/"
    bash "$PEERS_CACHE/litellm/setup.sh" >> "$PEERS_CACHE/setup.log" 2>&1 || die "LiteLLM setup failed: $PEERS_CACHE/setup.log"
    echo "$want" > "$PEERS_CACHE/litellm.ready"
}
setup_portkey() {  # setup_portkey portkey|portkey/streamfix: npm ci from the harness's lockfile, as its setup.sh does
    local dir="$1" want name="${1//\//-}"
    want="$(sha256sum "$PEERS/$dir/package-lock.json" | cut -c1-64) node $(node --version)"
    ready "$name" "$want" && return 0
    log "installing $dir (npm ci) into $PEERS_CACHE/$dir (once)"
    rm -rf "${PEERS_CACHE:?}/$dir/node_modules" "$PEERS_CACHE/$name.ready"
    mkdir -p "$PEERS_CACHE/$dir"
    cp "$PEERS/$dir/package.json" "$PEERS/$dir/package-lock.json" "$PEERS_CACHE/$dir/"
    (cd "$PEERS_CACHE/$dir" && npm ci --no-audit --no-fund) >> "$PEERS_CACHE/setup.log" 2>&1 \
        || die "npm ci failed in $PEERS_CACHE/$dir: $PEERS_CACHE/setup.log"
    echo "$want" > "$PEERS_CACHE/$name.ready"
}
wants() { [[ " $TARGETS " == *" $1 "* ]]; }
T_SETUP=$SECONDS
mkdir -p "$PEERS_CACHE"
exec 9> "$PEERS_CACHE/.lock"
flock 9  # two runs never install at the same time
if wants litellm; then setup_litellm; fi
if wants portkey; then setup_portkey portkey; fi
if wants portkey && [[ "${STREAMFIX:-0}" == 1 ]]; then setup_portkey portkey/streamfix; fi
flock -u 9
SETUP_SECONDS=$((SECONDS - T_SETUP))
if [[ "${SETUP_ONLY:-0}" == 1 ]]; then log "peers ready in $PEERS_CACHE (${SETUP_SECONDS}s)"; exit 0; fi
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$MOCK_PORT" "$STEWARD_PORT" "$PORTKEY_PORT" "$LITELLM_PORT"; do
    ! port_busy "$port" || die "127.0.0.1:$port is in use (another benchmark running?); pick other ports with" \
        "MOCK_PORT=, STEWARD_PORT=, PORTKEY_PORT=, LITELLM_PORT="
done

# --- a private copy of the harness, wired to the cache --------------------------------------------------------------
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$HERE/results/$STAMP"
WORK="$(mktemp -d)"
PB="$WORK/pb"
mkdir -p "$OUT"
cp -r "$PEERS" "$PB"
chmod -R u+w "$PB"
rm -rf "$PB/results" "$PB/.venv-litellm" "$PB"/portkey/node_modules "$PB"/portkey/streamfix/node_modules
ln -s "$PEERS_CACHE/.venv-litellm" "$PB/.venv-litellm"
ln -s "$PEERS_CACHE/portkey/node_modules" "$PB/portkey/node_modules"
ln -s "$PEERS_CACHE/portkey/streamfix/node_modules" "$PB/portkey/streamfix/node_modules"
sed -i "s/127\.0\.0\.1:18080/127.0.0.1:$MOCK_PORT/" "$PB/mock/nginx.conf"
MOCK="http://127.0.0.1:$MOCK_PORT"
# LiteLLM routes by model name: map MODEL to the mock if the harness's config does not (a copy; shared/ is read-only).
LL_CONFIG="$PB/litellm/config.yaml"
sed -i "s#http://127\.0\.0\.1:18080#$MOCK#" "$LL_CONFIG"
LL_PATCHED=no
if ! grep -qE "model_name: *$MODEL *(#.*)?$" "$LL_CONFIG"; then
    sed -i "/^model_list:/a\\
  - model_name: $MODEL    # added by bench/compare.sh\\
    litellm_params:\\
      model: anthropic/$MODEL\\
      api_base: $MOCK\\
      api_key: sk-ant-mock-upstream-key" "$LL_CONFIG"
    LL_PATCHED=yes
fi

CHILD=""
. "$HERE/steward_setup.sh"  # start_steward, stop_steward, drop_steward_stores, tree_pids
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$CHILD" ]]; then  # interrupted during a measurement: stop run.sh and its wrk
        local -a child_pids
        mapfile -t child_pids < <(tree_pids "$CHILD")
        kill -TERM "${child_pids[@]}" 2>/dev/null
        sleep 0.5
        kill -KILL "${child_pids[@]}" 2>/dev/null
    fi
    stop_steward
    "$PB/litellm/stop.sh" >/dev/null 2>&1
    "$PB/portkey/stop.sh" >/dev/null 2>&1
    "$PB/mock/stop.sh" >/dev/null 2>&1
    mkdir -p "$OUT/logs"
    cp -r "$PB/results/." "$OUT/" 2>/dev/null
    cp "$WORK/steward.log" "$PB/litellm/logs/litellm.log" "$PB/portkey/logs/portkey.log" "$LL_CONFIG" "$OUT/logs/" \
        2>/dev/null
    end_run "$rc"
}
on_exit cleanup

exec > >(tee -a "$OUT/console.txt") 2>&1
T_RUN=$SECONDS
FAILED=()
log "results: $OUT (work dir $WORK); peers set up in ${SETUP_SECONDS}s"
[[ "$LL_PATCHED" == yes ]] && log "the harness's litellm/config.yaml does not map $MODEL: mapped in the work copy"
in_background() {  # a long command as a child the EXIT trap can stop: a trapped signal interrupts `wait` at once
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
measure() {  # measure NAME URL [KEY], run.sh's environment given by the caller; a failed target is noted, not fatal
    if ! in_background "$PB/run.sh" "$@"; then
        log "$1 failed (STREAM=${STREAM:-0}); its row stays empty"
        FAILED+=("$1${STREAM:+ stream=$STREAM}")
    fi
}

# --- direct ---------------------------------------------------------------------------------------------------------
"$PB/mock/start.sh"
PIDFILE="$PB/mock/run/nginx.pid" CONCS="$CONCS" measure direct "$MOCK/v1/messages"
PIDFILE="$PB/mock/run/nginx.pid" CONCS=1 STREAM=1 measure direct "$MOCK/v1/messages"

# --- Steward, all governance on ---------------------------------------------------------------------------------------
if wants steward; then
    start_steward
    log "steward: pid $(cat "$GW_PID") on 127.0.0.1:$STEWARD_PORT, pinned to CPU $GATEWAY_CPU" \
        "(DATABASE=$DATABASE LIMITS=$LIMITS, workspace marketing)"
    SURL="http://127.0.0.1:$STEWARD_PORT/v1/messages"
    PID="$(cat "$GW_PID")" CONCS="$CONCS" TAG="db=$DATABASE,limits=$LIMITS" measure steward "$SURL" "$KEY"
    # Work deferred is not work saved: what the journal still held when the last run ended (a shipper that falls
    # behind would make the req/s above look better than what the core sustains).
    backlog="$(curl -s -m 5 "http://127.0.0.1:$STEWARD_PORT/metrics" | awk '
        /^steward_journal_backlog_records/ { r += $2 } /^steward_journal_oldest_unshipped_seconds/ { a = $2 }
        END { printf "%d records, the oldest %.1f s old", r, a }')"
    BACKLOG_NOTE="Steward's journal not yet shipped when its last non-streaming run ended: $backlog."
    PID="$(cat "$GW_PID")" CONCS=1 STREAM=1 TAG="db=$DATABASE,limits=$LIMITS" measure steward "$SURL" "$KEY"
    log "steward: streaming time to first byte, $TTFB_REQUESTS sequential requests each"
    in_background taskset -c "$LOADGEN_CPU" "$PYTHON" "$HERE/ttfb.py" --direct "$MOCK" \
        --gateway "http://127.0.0.1:$STEWARD_PORT" --key "$KEY" --requests "$TTFB_REQUESTS" > "$OUT/ttfb.txt" \
        || FAILED+=("steward ttfb")
    cat "$OUT/ttfb.txt"
    sleep 1  # let the shipper write the last records
    "$STEWARD" usage > "$OUT/steward-usage.txt" 2>&1 || true
    stop_steward
fi

# --- the peers, as the harness's reproduce.sh runs them ----------------------------------------------------------------
PK_HEADERS="x-portkey-provider: anthropic|x-portkey-custom-host: $MOCK/v1"
peer() {  # peer NAME START_SCRIPT STOP_SCRIPT PIDFILE URL KEY: start, measure, stop (run.sh's environment given)
    if "$2"; then
        PIDFILE="$4" measure "$1" "$5" "$6"
    else
        log "$1 did not start"; FAILED+=("$1")
    fi
    "$3"
}
PK="$PB/portkey"
if wants portkey; then
    CONCS="$CONCS" HEADERS="$PK_HEADERS" peer portkey "$PK/start.sh" "$PK/stop.sh" "$PK/run/portkey.pid" \
        "http://127.0.0.1:$PORTKEY_PORT/v1/messages" sk-ant-upstream-dummy
    if [[ "${STREAMFIX:-0}" == 1 ]]; then
        PORTKEY_VARIANT=streamfix CONCS=1 STREAM=1 HEADERS="$PK_HEADERS" \
            peer portkey-sf "$PK/start.sh" "$PK/stop.sh" "$PK/run/portkey.pid" \
            "http://127.0.0.1:$PORTKEY_PORT/v1/messages" sk-ant-upstream-dummy
    fi
fi
if wants litellm; then
    CONCS="$CONCS" peer litellm "$PB/litellm/start.sh" "$PB/litellm/stop.sh" "$PB/litellm/run/litellm.pid" \
        "http://127.0.0.1:$LITELLM_PORT/v1/messages" sk-bench-master-key
fi
"$PB/mock/stop.sh"

# --- the table ----------------------------------------------------------------------------------------------------------
cp -r "$PB/results/." "$OUT/"
LL_VERSION="$("$PEERS_CACHE/.venv-litellm/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' \
    2>/dev/null || echo '?')"
PK_VERSION="$(node -p 'require(process.argv[1]).version' \
    "$PEERS_CACHE/portkey/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null || echo '?')"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ]] || COMMIT="$COMMIT+changes"
DB_LABEL=SQLite; [[ "$DATABASE" == postgres ]] && DB_LABEL=PostgreSQL
LIMITS_LABEL="limits in process"; [[ "$LIMITS" == redis ]] && LIMITS_LABEL="limits in Redis"
TOTAL_SECONDS=$((SECONDS - T_RUN))
LL_MAP="as the harness ships it"; [[ "$LL_PATCHED" == yes ]] && LL_MAP="added to the harness's config by compare.sh"
NOTES=(
    "Run $STAMP on $(nproc) cores ($(uname -r)): each gateway alone on CPU $GATEWAY_CPU, wrk and the nginx mock on CPU $LOADGEN_CPU."
    "Command: \`QUICK=${QUICK:-0} CONCS=\"$CONCS\" DURATION=$DURATION WARMUP=$WARMUP DATABASE=$DATABASE LIMITS=$LIMITS MODEL=$MODEL bash bench/compare.sh\`."
    "Steward: examples/three-teams.yaml applied, a key in workspace marketing (feature policy, \$500 monthly hard cap), rate limits at organization, workspace and key level and a key daily spend limit (none reached), audit and chain sealing on."
    "Portkey and LiteLLM started by the harness's start scripts, as its reproduce.sh does; LiteLLM's route for $MODEL: $LL_MAP."
)
if [[ "$DATABASE" == postgres || "$LIMITS" == redis ]]; then
    NOTES+=("PostgreSQL and Redis run unpinned on this machine: their CPU is not in Steward's CPU column and competes with both cores.")
fi
[[ -n "${BACKLOG_NOTE:-}" ]] && NOTES+=("$BACKLOG_NOTE")
NOTES+=("Peers set up in ${SETUP_SECONDS} s; measuring took ${TOTAL_SECONDS} s. Raw rows: results.tsv; wrk output: raw/.")
"$PYTHON" "$HERE/compare_summary.py" "$OUT/results.tsv" --ttfb "$OUT/ttfb.txt" --ttfb-requests "$TTFB_REQUESTS" \
    --out "$OUT/summary.md" \
    --label "direct=direct (nginx mock)" \
    --label "steward=Steward $COMMIT ($DB_LABEL, $LIMITS_LABEL)" \
    --label "portkey=Portkey $PK_VERSION" --label "portkey-sf=Portkey $PK_VERSION streamfix" \
    --label "litellm=LiteLLM $LL_VERSION" \
    "${NOTES[@]/#/--note=}" ${FAILED[@]+"${FAILED[@]/#/--failed=}"}

if [[ "${SAVE:-0}" == 1 ]]; then
    dest="$ROOT/docs/bench-runs/$(date +%Y-%m-%d)-compare"
    n=2; base="$dest"
    while [[ -e "$dest" ]]; do dest="$base-$n"; n=$((n + 1)); done
    mkdir -p "$dest"
    cp "$OUT/summary.md" "$OUT/results.tsv" "$dest/"
    log "saved to ${dest#"$ROOT"/}"
fi
log "done in ${TOTAL_SECONDS}s: $OUT/summary.md"
(( ${#FAILED[@]} == 0 )) || die "failed: ${FAILED[*]}"
