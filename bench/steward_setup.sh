# bench/steward_setup.sh -- Steward with all its governance on, for the load scripts (sourced by compare.sh, soak.sh).
#
# start_steward = configure_steward + serve_steward. configure_steward: a fresh STEWARD_HOME in $WORK/steward (and a
# fresh PostgreSQL database when DATABASE=postgres; rate limits in Redis under a unique prefix when LIMITS=redis),
# examples/three-teams.yaml applied, a marketing key in KEY, rate limits at organization, workspace and key level and
# a key daily spend limit (all far above what the machine can serve), the configuration in $OUT/steward-config.txt.
# serve_steward: `steward serve` pinned to GATEWAY_CPU on STEWARD_PORT, its pid in GW_PID. stop_steward stops its
# process tree; drop_steward_stores drops the database and the Redis keys (for the EXIT trap).
# Source it after WORK is set. The caller provides log, die, ROOT, STEWARD, PYTHON, OUT, STAMP, MOCK, DATABASE,
# LIMITS, GATEWAY_CPU and STEWARD_PORT; this file only defines functions and the variables below.

GW_PID="$WORK/steward.pid"
DB_NAME=""
PG_USER=""
REDIS_PREFIX=""
KEY=""
tree_pids() {  # the pid and all its descendants
    ps -e -o pid=,ppid= | awk -v r="$1" '{ parent[$1] = $2 }
        END { want[r] = 1; changed = 1
              while (changed) { changed = 0
                  for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1 } }
              for (p in want) print p }'
}
any_alive() {  # true while one of the pids is a live process (a zombie counts as gone)
    local p st
    for p in "$@"; do st="$(ps -o stat= -p "$p" 2>/dev/null)" && [[ -n "$st" && "$st" != Z* ]] && return 0; done
    return 1
}
stop_steward() {  # TERM the serve process, then KILL whatever is left of its tree after 15 s
    [[ -s "$GW_PID" ]] || return 0
    local pid i
    local -a pids
    pid="$(cat "$GW_PID")"
    mapfile -t pids < <(tree_pids "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 75; i++)); do any_alive "${pids[@]}" || break; sleep 0.2; done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    rm -f "$GW_PID"
}
drop_steward_stores() {  # the database and the Redis keys configure_steward created, if any
    if [[ -n "$DB_NAME" ]]; then
        dropdb -h 127.0.0.1 -U "$PG_USER" --if-exists --force "$DB_NAME" || log "could not drop database $DB_NAME"
    fi
    if [[ -n "$REDIS_PREFIX" ]]; then
        redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "${REDIS_PREFIX}*" \
            | xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null
    fi
}
start_steward() { configure_steward; serve_steward; }
end_run() {  # end_run RC: the stores and the work dir removed, the exit status kept (the caller's EXIT trap ends here)
    drop_steward_stores
    rm -rf "$WORK"
    (( $1 == 0 )) || log "stopped (exit $1); everything started was stopped, partial results in $OUT"
    exit "$1"
}
on_exit() {  # on_exit FUNCTION: FUNCTION runs on exit, also after Ctrl-C or TERM (as 130 and 143)
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
configure_steward() {  # a fresh Steward home (and database), set up as described above
    export STEWARD_HOME="$WORK/steward" STEWARD_UPSTREAM_URL="$MOCK" STEWARD_LOG_LEVEL=warning
    if [[ "$DATABASE" == postgres ]]; then
        PG_USER=postgres
        psql -h 127.0.0.1 -U "$PG_USER" -d postgres -Atc 'select 1' >/dev/null 2>&1 || PG_USER=root
        DB_NAME="steward_bench_${STAMP//-/_}_$$"
        createdb -h 127.0.0.1 -U "$PG_USER" "$DB_NAME"
        export STEWARD_DATABASE_URL="postgresql+asyncpg://$PG_USER@127.0.0.1:5432/$DB_NAME"
    fi
    if [[ "$LIMITS" == redis ]]; then
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || die "no Redis on 127.0.0.1:6379"
        # stw-compare-... from compare.sh, stw-soak-... from soak.sh
        REDIS_PREFIX="stw-$(basename "$0" .sh)-$STAMP-$$:"
        export STEWARD_REDIS_URL="redis://127.0.0.1:6379/0" STEWARD_REDIS_KEY_PREFIX="$REDIS_PREFIX"
    fi
    "$STEWARD" init --name "Bench Org" >/dev/null
    "$STEWARD" apply -f "$ROOT/examples/three-teams.yaml" >/dev/null
    KEY="$("$STEWARD" keys create --workspace marketing --name marketing-bench-load -q)"
    local key_id
    key_id="$("$STEWARD" keys list --workspace marketing --json \
        | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
    # Limits set far above what the machine can serve: each request is admitted by three buckets and one more cap.
    "$STEWARD" rate-limits set rl_sonnet --type requests_per_minute --value 100000000 >/dev/null
    "$STEWARD" rate-limits set rl_sonnet --type output_tokens_per_minute --value 1000000000 --workspace marketing \
        >/dev/null
    "$STEWARD" rate-limits set rl_sonnet --type input_tokens_per_minute_cache_aware --value 1000000000 \
        --key "$key_id" >/dev/null
    "$STEWARD" spend-limits create --key "$key_id" --period daily --amount-usd 100000 >/dev/null
    {
        echo "# Steward's configuration for this run (DATABASE=$DATABASE LIMITS=$LIMITS)"
        "$STEWARD" export || true
        "$STEWARD" rate-limits list --key "$key_id"; "$STEWARD" spend-limits list
    } > "$OUT/steward-config.txt" 2>&1
}
serve_steward() {  # `steward serve` in the background, pinned; returns once it answers /healthz
    taskset -c "$GATEWAY_CPU" "$STEWARD" serve --host 127.0.0.1 --port "$STEWARD_PORT" > "$WORK/steward.log" 2>&1 &
    echo $! > "$GW_PID"
    local i
    for ((i = 0; i < 300; i++)); do curl -s -o /dev/null "http://127.0.0.1:$STEWARD_PORT/healthz" && return 0; sleep 0.1; done
    tail -20 "$WORK/steward.log" >&2
    die "Steward did not start"
}
