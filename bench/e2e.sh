#!/usr/bin/env bash
# End-to-end benchmark: smtp-source -> server -> smtp-sink, smarthost (smtp + delivery
# roles, relaying to its sink) side by side with a private durable Postfix (relayhost to
# its sink) on the same machine. See bench/README.md. Usage: bench/e2e.sh --help
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/e2e.sh [options]

Measures end-to-end throughput: N messages submitted by postfix's smtp-source, stored
durably, relayed and received by postfix's smtp-sink, from the first submission to the
last message received at the sink. smarthost (serve --roles smtp,delivery, relaying via
[delivery.upstream]) and a private Postfix (relayhost) each get the same load and each
relay to a sink of their own, one after the other, in the same run.

Options (environment variable in brackets):
  -n, --messages N        messages per run [BENCH_MESSAGES, default 5000]
  --sizes "A B"           payload sizes in bytes [BENCH_SIZES, default "4096 32768"]
  --sessions "A B"        concurrent submission sessions [BENCH_SESSIONS, default "100"]
  --connections N         connections each server may open to its sink: Postfix's
                          default_destination_concurrency_limit, smarthost's
                          concurrency_per_domain and concurrency_per_host
                          [BENCH_CONNECTIONS, default 20]
  --rounds R              run the whole matrix R times, alternating which server goes
                          first, and add the medians [BENCH_ROUNDS, default 1]
  --postfix-only          skip smarthost (no binary or database needed)
  --keep                  keep the run directory (queues, logs) after the run
  -h, --help              this text

Environment:
  SMARTHOST_BINARY        path to the built smarthost binary (required unless --postfix-only)
  SMARTHOST_DATABASE_URL  PostgreSQL URL of a role that may CREATE DATABASE (same)
  BENCH_POSTFIX_PORT      loopback port of the private Postfix [10588]
  BENCH_SMARTHOST_PORT    loopback port of smarthost [12526]
  BENCH_POSTFIX_SINK_PORT, BENCH_SMARTHOST_SINK_PORT
                          loopback ports of the two smtp-sinks [12625, 12626]
  BENCH_RUN_TIMEOUT       seconds allowed per load run [600]; a run whose sink count
                          does not grow for 60 s fails at once
  BENCH_DIR               parent of the run directories [<repo>/var/bench]
  BENCH_SMARTHOST_TOML    extra TOML appended to smarthost's configuration (experiments)

Must run as root (Postfix's master needs it). Listens on 127.0.0.1 only. Everything it
starts (Postfix instance, smarthost, sinks, bench database) is stopped/dropped on exit.
The summary is printed and also written to bench/out/e2e-<timestamp>.md.
EOF
}

bench_name=e2e
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

messages=${BENCH_MESSAGES:-5000}
sizes=${BENCH_SIZES:-"4096 32768"}
session_counts=${BENCH_SESSIONS:-"100"}
connections=${BENCH_CONNECTIONS:-20}
rounds=${BENCH_ROUNDS:-1}
postfix_port=${BENCH_POSTFIX_PORT:-10588}
smarthost_port=${BENCH_SMARTHOST_PORT:-12526}
run_timeout=${BENCH_RUN_TIMEOUT:-600}
stall_seconds=60
postfix_only=0
keep=0
declare -A sink_port=([postfix]=${BENCH_POSTFIX_SINK_PORT:-12625} [smarthost]=${BENCH_SMARTHOST_SINK_PORT:-12626})

while (($# > 0)); do
    case $1 in
        -n | --messages) messages=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --sessions) session_counts=${2:?}; shift 2 ;;
        --connections) connections=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --postfix-only) postfix_only=1; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# ---------------------------------------------------------------- checks
is_count "$messages" || die "--messages must be 1..9999999, got '$messages'"
for value in $sizes; do is_count "$value" || die "bad size '$value'"; done
for value in $session_counts; do
    if ! is_count "$value" || ((value > 1000)); then die "bad session count '$value' (1..1000)"; fi
done
if ! is_count "$connections" || ((connections > 1000)); then
    die "--connections must be 1..1000, got '$connections'"
fi
if ! is_count "$rounds" || ((rounds > 20)); then die "--rounds must be 1..20, got '$rounds'"; fi
for value in "$postfix_port" "$smarthost_port" "${sink_port[@]}" "$run_timeout"; do
    is_count "$value" || die "bad port/timeout '$value'"
done
check_environment
for value in "${sink_port[@]}"; do
    port_in_use "$value" && die "port $value is already in use (see --help for the port variables)"
done

# ---------------------------------------------------------------- run state
bench_init

servers=(postfix)
((postfix_only)) || servers+=(smarthost)
declare -A port=([postfix]=$postfix_port [smarthost]=$smarthost_port)
declare -A sink_pid=() sink_count_file=() memory_pid=() memory_file=()

# Stops the sinks and memory samplers (bench_cleanup calls it before the servers).
bench_stop_extra() {
    local name
    for name in "${!memory_pid[@]}"; do kill -TERM "${memory_pid[$name]}" 2>/dev/null || true; done
    for name in "${!memory_pid[@]}"; do wait "${memory_pid[$name]}" 2>/dev/null || true; done
    memory_pid=()
    for name in "${!sink_pid[@]}"; do stop_process "${sink_pid[$name]}" "smtp-sink ($name)"; done
    sink_pid=()
}

# start_sink SERVER: postfix's smtp-sink on 127.0.0.1:${sink_port[SERVER]}, its running
# counters timestamped by sink_counter.py into ${sink_count_file[SERVER]}.
start_sink() {
    local server=$1 listen=${sink_port[$1]}
    sink_count_file[$server]="$run_dir/sink-$server.count"
    : >"${sink_count_file[$server]}"
    note "starting smtp-sink for $server on 127.0.0.1:$listen"
    # -u: smtp-sink refuses to run as root. -m: more simultaneous connections than either
    # server opens. $! is smtp-sink itself; the counter ends when smtp-sink closes its pipe.
    smtp-sink -c -u nobody -m 1000 "127.0.0.1:$listen" 1000 \
        > >("$python" "$bench_src/sink_counter.py" >"${sink_count_file[$server]}") \
        2>"$run_dir/sink-$server.err" &
    sink_pid[$server]=$!
    wait_for_port "$listen" "${sink_pid[$server]}" "smtp-sink ($server)" "$run_dir/sink-$server.err"
}

sink_count() {
    local last
    last=$(tail -n 1 "${sink_count_file[$1]}")
    printf '%s' "${last%% *}"
    [[ -n $last ]] || printf 0
}

# The queue files Postfix still holds (incoming, active, deferred, hold, maildrop).
postfix_queued() {
    find "$pf_queue/incoming" "$pf_queue/active" "$pf_queue/deferred" "$pf_queue/hold" \
        "$pf_queue/maildrop" -type f 2>/dev/null | wc -l
}
smarthost_states() {
    bench_sql "SELECT coalesce(string_agg(state || '=' || n, ' ' ORDER BY state), 'none')
               FROM (SELECT state, count(*) AS n FROM recipients GROUP BY state) AS s"
}

show_state() {
    local server=$1
    if [[ $server == postfix ]]; then
        warn "Postfix queue: $(postfix_queued) files"
        grep -E 'status=(deferred|bounced)|warning|error|fatal' "$pf_log" | tail -n 10 >&2 || true
    else
        warn "smarthost recipients: $(smarthost_states)"
        tail -n 20 "$sh_log" >&2 || true
    fi
}

# wait_for_sink SERVER TARGET: waits until the sink has received TARGET messages in total;
# prints the time the TARGET-th arrived (from the counter file, so how often this loop
# looks does not matter: it looks rarely, to leave the CPUs to the servers). Fails after
# run_timeout seconds, or when the count has not grown for stall_seconds.
wait_for_sink() {
    local server=$1 target=$2 count last_count=-1 last_progress=$EPOCHSECONDS
    local deadline=$((EPOCHSECONDS + run_timeout))
    while :; do
        count=$(sink_count "$server")
        ((count >= target)) && break
        if ((count != last_count)); then
            last_count=$count
            last_progress=$EPOCHSECONDS
        elif ((EPOCHSECONDS - last_progress > stall_seconds)); then
            show_state "$server"
            die "$server: the sink has received $count of $target messages and nothing for ${stall_seconds}s"
        fi
        if ((EPOCHSECONDS > deadline)); then
            show_state "$server"
            die "$server: the sink has received $count of $target messages after ${run_timeout}s"
        fi
        sleep 0.2
    done
    awk -v target="$target" '$1 >= target { print $2; exit }' "${sink_count_file[$server]}"
}

# check_delivered SERVER EXPECTED: the server itself says every message left, and the sink
# got each exactly once (a second copy would raise its count past EXPECTED).
check_delivered() {
    local server=$1 expected=$2 state i
    for ((i = 0; i < 100; i++)); do
        if [[ $server == postfix ]]; then
            state=$(postfix_queued)
            [[ $state == 0 ]] && break
        else
            state=$(smarthost_states)
            [[ $state == "delivered=$expected" ]] && break
        fi
        sleep 0.1
    done
    if [[ $server == postfix && $state != 0 ]] || [[ $server == smarthost && $state != "delivered=$expected" ]]; then
        show_state "$server"
        die "DELIVERY MISMATCH on $server: expected all $expected delivered, found: $state"
    fi
    local received
    received=$(sink_count "$server")
    [[ $received == "$expected" ]] ||
        die "COUNT MISMATCH on $server: the sink received $received messages, $expected were sent"
}

start_memory_sampler() {
    local server=$1 pid=$2
    shift 2
    memory_file[$server]="$run_dir/memory-$server.txt"
    "$python" "$bench_src/memory_peak.py" --pid "$pid" "$@" >"${memory_file[$server]}" &
    memory_pid[$server]=$!
}

# ---------------------------------------------------------------- start
start_sink postfix
declare -A postfix_tokens=([SINK_PORT]=${sink_port[postfix]} [CONNECTIONS]=$connections)
start_postfix e2e
[[ $(postconf -c "$pf_etc" -h relayhost) == "[127.0.0.1]:${sink_port[postfix]}" ]] ||
    die "unexpected Postfix config"
start_memory_sampler postfix "$(postfix_master_pid)" --tree

if ((!postfix_only)); then
    start_sink smarthost
    start_smarthost smtp,delivery "[delivery]
concurrency = 100
concurrency_per_domain = $connections
concurrency_per_host = $connections
[delivery.upstream]
host = \"127.0.0.1\"
port = ${sink_port[smarthost]}
tls = \"none\""
    start_memory_sampler smarthost "$smarthost_pid"
fi

# ---------------------------------------------------------------- run
declare -A delivered=([postfix]=0 [smarthost]=0)
declare -A rate=() elapsed=() submitted=() load_before=() cpu_ms=()

# CPU time is counted for these process trees: Postfix's master (its smtpd, cleanup, qmgr,
# smtp, ... children, living or reaped), smarthost, and the PostgreSQL cluster smarthost
# uses, when it runs on this machine (found after the warm-up, from smarthost's backends).
declare -A cpu_roots=([postfix]=$(postfix_master_pid) [smarthost]=${smarthost_pid:-} [postgres]="")
cpu_seconds() { "$python" "$bench_src/cpu_seconds.py" "$@"; }
find_postmaster() {
    local backend parent
    backend=$(bench_sql "SELECT pid FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid() LIMIT 1") || return 0
    [[ -n $backend && -r /proc/$backend/stat ]] || return 0
    parent=$(awk '{ print $4 }' "/proc/$backend/stat")
    [[ $(cat "/proc/$parent/comm" 2>/dev/null) == postgres ]] && printf '%s' "$parent"
    return 0
}

# run_once SERVER SIZE SESSIONS COUNT KEY: one timed run; KEY empty for the warm-up.
run_once() {
    local server=$1 size=$2 sessions=$3 count=$4 key=$5 start submit_end last_arrival
    local target=$((delivered[$server] + count)) cpu_before=0 pg_before=0 cpu_after pg_after
    if [[ -n $key ]]; then
        load_before[$key]=$(cut -d' ' -f1 /proc/loadavg)
        cpu_before=$(cpu_seconds "${cpu_roots[$server]}")
        [[ $server == smarthost && -n ${cpu_roots[postgres]} ]] && pg_before=$(cpu_seconds "${cpu_roots[postgres]}")
    fi
    start=$(now)
    submit "${port[$server]}" "$size" "$sessions" "$count" "$run_dir/smtp-source-$server-$size-$sessions.log"
    submit_end=$(now)
    last_arrival=$(wait_for_sink "$server" "$target")
    delivered[$server]=$target
    check_delivered "$server" "$target"
    [[ -n $key ]] || return 0
    cpu_after=$(cpu_seconds "${cpu_roots[$server]}")
    cpu_ms[$key]=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$count" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
    if [[ $server == smarthost && -n ${cpu_roots[postgres]} ]]; then
        pg_after=$(cpu_seconds "${cpu_roots[postgres]}")
        cpu_ms[postgres/${key#*/}]=$(awk -v a="$pg_before" -v b="$pg_after" -v n="$count" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
    fi
    elapsed[$key]=$(seconds_between "$start" "$last_arrival")
    submitted[$key]=$(seconds_between "$start" "$submit_end")
    rate[$key]=$(per_second "$count" "${elapsed[$key]}")
}

# Warm-up (not timed): spawns Postfix's smtpd/cleanup/smtp processes, fills smarthost's
# database pool, opens the first connections to the sinks.
warmup=$((messages < 100 ? messages : 100))
for server in "${servers[@]}"; do
    note "warm-up: $warmup messages through $server"
    run_once "$server" 4096 10 "$warmup" ""
done
((postfix_only)) || cpu_roots[postgres]=$(find_postmaster)

# Keys: SERVER/SIZE/SESSIONS/ROUND. Even rounds reverse the order of the servers, so a
# change of the machine's load during the run does not always favour the same one.
for ((round = 1; round <= rounds; round++)); do
    order=("${servers[@]}")
    if ((round % 2 == 0 && ${#servers[@]} == 2)); then order=("${servers[1]}" "${servers[0]}"); fi
    for size in $sizes; do
        for sessions in $session_counts; do
            for server in "${order[@]}"; do
                key="$server/$size/$sessions/$round"
                note "round $round/$rounds: $messages x $size B over $sessions sessions -> $server -> sink"
                run_once "$server" "$size" "$sessions" "$messages" "$key"
                note "    ${elapsed[$key]} s end to end (submission ${submitted[$key]} s), ${rate[$key]} msg/s; CPU ${cpu_ms[$key]} ms/msg; load before: ${load_before[$key]}"
            done
        done
    done
done

# Connections each server opened to its sink over the whole bench: sessions the sink saw
# end, once Postfix's connection cache (2 s idle) has closed its last ones.
sleep 3
declare -A sink_sessions=()
for server in "${servers[@]}"; do
    sink_sessions[$server]=$(tail -n 1 "${sink_count_file[$server]}" | cut -d' ' -f3)
done

declare -A memory=()
for server in "${servers[@]}"; do
    kill -TERM "${memory_pid[$server]}" 2>/dev/null || true
    wait "${memory_pid[$server]}" 2>/dev/null || true
    memory[$server]=$(cat "${memory_file[$server]}")
done
memory_pid=()

# ---------------------------------------------------------------- report
postfix_version=$(postconf -d -h mail_version)
smarthost_version="not run"
pg_version="not run"
if ((!postfix_only)); then
    smarthost_version=$(describe_smarthost_binary)
    pg_version=$(describe_postgres)
fi
git_rev=$(git_revision)

# ratio SIZE/SESSIONS/ROUND: smarthost's msg/s over Postfix's in that round.
ratio() {
    local s=${rate[smarthost/$1]:-} p=${rate[postfix/$1]:-}
    [[ -n $s && -n $p ]] || { printf 'n/a'; return; }
    awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", (p > 0 ? s / p : 0) }'
}
cell() {
    if [[ -n ${rate[$1]:-} ]]; then
        printf '%s (%s s; submitted in %s s)' "${rate[$1]}" "${elapsed[$1]}" "${submitted[$1]}"
    else
        printf 'n/a'
    fi
}
# median: of the numbers on standard input, one a line ("n/a" when there are none).
median() {
    grep -E '^[0-9.]+$' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
              else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf (m >= 100 ? "%.0f\n" : "%.2f\n"), m } }'
}
# over_rounds ARRAY PREFIX: the array's values for PREFIX/1 … PREFIX/rounds.
over_rounds() {
    local -n values=$1
    local r
    for ((r = 1; r <= rounds; r++)); do printf '%s\n' "${values[$2/$r]:-n/a}"; done
}
ratios_over_rounds() {
    local r
    for ((r = 1; r <= rounds; r++)); do ratio "$1/$r"; printf '\n'; done
}
cpu_ratio() {
    awk -v p="${1:-}" -v s="${2:-}" -v g="${3:-}" \
        'BEGIN { if (p > 0 && s != "" && s != "n/a" && g != "" && g != "n/a") printf "%.2f", (s + g) / p; else printf "n/a" }'
}
memory_cell() {
    [[ -n ${memory[$1]:-} ]] || { printf 'n/a'; return; }
    printf '%s MiB RSS / %s MiB PSS' "$(field peak_rss_mib "${memory[$1]}")" "$(field peak_pss_mib "${memory[$1]}")"
}

summary=$(
    printf '#### %s — %s (end to end)\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -n)"
    machine_line
    printf -- '- postfix %s (private instance, durable queue, relayhost); smarthost %s (git %s), roles smtp,delivery, [delivery.upstream]; PostgreSQL %s\n' \
        "$postfix_version" "$smarthost_version" "$git_rev" "$pg_version"
    printf -- '- N = %s messages per run, 1 recipient, one connection per message (smtp-source); %s connections from each server to its smtp-sink; %s round(s)\n' \
        "$messages" "$connections" "$rounds"
    printf -- '- msg/s = N / (first submission -> N-th message received at the sink)\n\n'
    printf '| payload | sessions | round | postfix msg/s | smarthost msg/s | smarthost/postfix | 1-min load before (postfix; smarthost) |\n'
    printf '| ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    for size in $sizes; do
        for sessions in $session_counts; do
            for ((round = 1; round <= rounds; round++)); do
                key="$size/$sessions/$round"
                printf '| %s KiB | %s | %s | %s | %s | %s | %s; %s |\n' "$((size / 1024))" "$sessions" "$round" \
                    "$(cell "postfix/$key")" "$(cell "smarthost/$key")" "$(ratio "$key")" \
                    "${load_before[postfix/$key]:-n/a}" "${load_before[smarthost/$key]:-n/a}"
            done
            ((rounds > 1)) || continue
            key="$size/$sessions"
            printf '| %s KiB | %s | **median** | %s | %s | **%s** | |\n' "$((size / 1024))" "$sessions" \
                "$(over_rounds rate "postfix/$key" | median)" "$(over_rounds rate "smarthost/$key" | median)" \
                "$(ratios_over_rounds "$key" | median)"
        done
    done
    printf '\nCPU time per message, ms (user + system, the same runs; smtp-source and the sinks not counted)\n\n'
    printf '| payload | sessions | round | postfix (all processes) | smarthost | its PostgreSQL cluster | (smarthost + PostgreSQL) / postfix |\n'
    printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    for size in $sizes; do
        for sessions in $session_counts; do
            for ((round = 1; round <= rounds; round++)); do
                key="$size/$sessions/$round"
                printf '| %s KiB | %s | %s | %s | %s | %s | %s |\n' "$((size / 1024))" "$sessions" "$round" \
                    "${cpu_ms[postfix/$key]:-n/a}" "${cpu_ms[smarthost/$key]:-n/a}" "${cpu_ms[postgres/$key]:-n/a}" \
                    "$(cpu_ratio "${cpu_ms[postfix/$key]:-}" "${cpu_ms[smarthost/$key]:-}" "${cpu_ms[postgres/$key]:-}")"
            done
            ((rounds > 1)) || continue
            key="$size/$sessions"
            median_postfix=$(over_rounds cpu_ms "postfix/$key" | median)
            median_smarthost=$(over_rounds cpu_ms "smarthost/$key" | median)
            median_postgres=$(over_rounds cpu_ms "postgres/$key" | median)
            printf '| %s KiB | %s | **median** | %s | %s | %s | **%s** |\n' "$((size / 1024))" "$sessions" \
                "$median_postfix" "$median_smarthost" "$median_postgres" \
                "$(cpu_ratio "$median_postfix" "$median_smarthost" "$median_postgres")"
        done
    done
    printf '\nPeak memory over the whole run: Postfix (master and all its children, %s processes at most) %s; smarthost (one process, PostgreSQL not counted) %s.\n' \
        "$(field processes "${memory[postfix]:-}")" "$(memory_cell postfix)" "$(memory_cell smarthost)"
    printf '\nDelivered (checked after every run; the sink counts each message once): postfix %s' "${delivered[postfix]}"
    ((postfix_only)) || printf ', smarthost %s' "${delivered[smarthost]}"
    printf '\n\nConnections to the sink over the whole bench (SMTP sessions it saw end): postfix %s' "${sink_sessions[postfix]}"
    ((postfix_only)) || printf ', smarthost %s' "${sink_sessions[smarthost]}"
    printf '\n'
)

printf '\n%s\n' "$summary"
printf '%s\n' "$summary" >"$summary_file"
note "summary written to ${summary_file#"$repo_root"/}"
failed=0
