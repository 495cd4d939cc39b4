#!/usr/bin/env bash
# bench/run.sh -- Steward's overhead against the same upstream called directly, in one run.
#
# Uses the shared peers-bench harness (../shared/peers-bench: nginx static mock upstream, wrk, one
# pinned core for the gateway, the other for wrk + mock). Measures, for the direct baseline and for
# Steward (SQLite, authentication, metering, journal and audit all on):
#   - requests/s, p50/p90/p99 and added latency at concurrency 1, 8, 32, 64, non-streaming and streaming
#   - streaming time to first byte (bench/ttfb.py), CPU per request and RSS
# Results: bench/results/<stamp>/ (summary.txt, results.tsv, raw wrk output). Everything listens on
# 127.0.0.1 only; each load run is bounded in time (DURATION) and count (the harness's MAX_REQ).
#
# Environment: CONCS="1 8 32 64" DURATION=10 WARMUP=3 STREAM_TOO=1 PEERS=../shared/peers-bench
#              LIMITS=inprocess|redis: also enforce rate limits (org + workspace + key buckets, never reached)
#              in process or through Redis on 127.0.0.1:6379, to measure admission overhead
#              POLICY=rules|pii: a realistic workspace policy (model patterns, every feature rule, all passing);
#              "pii" adds PII rules (cards and secrets refused, emails redacted) so every prompt is scanned
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers-bench}"
CONCS="${CONCS:-1 8 32 64}"
export DURATION="${DURATION:-10}" WARMUP="${WARMUP:-3}"
# claude-sonnet-4-5 (the harness default) retires on 2026-11-30; measure with its successor.
export MODEL="${MODEL:-claude-sonnet-4-6}"
STEWARD="${STEWARD:-$ROOT/.venv/bin/steward}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

for tool in wrk nginx; do
    command -v "$tool" >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk libnginx-mod-http-lua >/dev/null
    }
done
[[ -x "$STEWARD" ]] || { echo "run 'make setup' first" >&2; exit 1; }

STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$HERE/results/$STAMP"
WORK="$(mktemp -d)"
mkdir -p "$OUT"
cp -r "$PEERS" "$WORK/pb"
chmod -R u+w "$WORK/pb"
rm -rf "$WORK/pb/results"
PB="$WORK/pb"
GW_PID="$WORK/steward.pid"

cleanup() {
    [[ -s "$GW_PID" ]] && kill "$(cat "$GW_PID")" 2>/dev/null || true
    "$PB/mock/stop.sh" >/dev/null 2>&1 || true
    cp -r "$PB/results/." "$OUT/" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PB/mock/start.sh"

export STEWARD_HOME="$WORK/steward" STEWARD_UPSTREAM_URL="http://127.0.0.1:18080" STEWARD_LOG_LEVEL=warning
"$STEWARD" init --name "Bench Org" >/dev/null
"$STEWARD" workspaces create bench >/dev/null
KEY="$("$STEWARD" keys create --workspace bench --name bench-load-test -q)"
if [[ -n "${LIMITS:-}" ]]; then
    KEY_ID="$("$STEWARD" keys list --workspace bench --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
    "$STEWARD" rate-limits set rl_sonnet --type requests_per_minute --value 100000000 >/dev/null
    "$STEWARD" rate-limits set rl_sonnet --type output_tokens_per_minute --value 1000000000 --workspace bench >/dev/null
    "$STEWARD" rate-limits set rl_sonnet --type input_tokens_per_minute_cache_aware --value 1000000000 \
        --key "$KEY_ID" >/dev/null
    if [[ "$LIMITS" == redis ]]; then
        export STEWARD_REDIS_URL="redis://127.0.0.1:6379/0" STEWARD_REDIS_KEY_PREFIX="stw-bench-$STAMP:"
    fi
fi
if [[ -n "${POLICY:-}" ]]; then
    RULES='"models": {"allow": ["claude-sonnet-*", "claude-haiku-*"], "deny": ["claude-opus-4-1*", "claude-3-*"],
                      "deprecated": "warn"},
           "features": {"tools": true, "server_tools": ["web_search"], "thinking": true, "thinking_budget_max": 4096,
                        "max_tokens_max": 8192, "max_input_tokens": 150000, "structured_output": "allowed",
                        "allowed_regions": ["global", "us"]}'
    PII=''
    [[ "$POLICY" == pii ]] && PII=', "pii": {"detectors": {"payment_card": "refuse", "secret": "refuse", "email": "redact"}}'
    "$STEWARD" policy set --workspace bench --document "{$RULES$PII}" >/dev/null
fi
taskset -c "${GATEWAY_CPU:-0}" "$STEWARD" serve --port 9100 > "$WORK/steward.log" 2>&1 &
echo $! > "$GW_PID"
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:9100/healthz && break; sleep 0.1; done

{
    echo "# Steward benchmark $STAMP"
    echo "# $(nproc) cores, $(uname -r), $("$PYTHON" --version), gateway pinned to CPU ${GATEWAY_CPU:-0}"
    echo "# command: CONCS=\"$CONCS\" DURATION=$DURATION LIMITS=${LIMITS:-} POLICY=${POLICY:-} bench/run.sh"
    for stream in 0 ${STREAM_TOO:+1}; do
        STREAM=$stream CONCS="$CONCS" PIDFILE="$PB/mock/run/nginx.pid" "$PB/run.sh" direct \
            http://127.0.0.1:18080/v1/messages
        STREAM=$stream CONCS="$CONCS" PID="$(cat "$GW_PID")" TAG="limits=${LIMITS:-none},policy=${POLICY:-none}" "$PB/run.sh" steward \
            http://127.0.0.1:9100/v1/messages "$KEY"
    done
    echo
    echo "# streaming time to first byte (sequential requests, ms)"
    taskset -c "${LOADGEN_CPU:-1}" "$PYTHON" "$HERE/ttfb.py" --direct http://127.0.0.1:18080 \
        --gateway http://127.0.0.1:9100 --key "$KEY" --requests 2000
    echo
    echo "# usage records written by the gateway during the run"
    sleep 1
    "$STEWARD" usage
} 2>&1 | tee "$OUT/summary.txt"
