#!/usr/bin/env bash
# Accept benchmark: smarthost side by side with a private, durable, hold-everything
# Postfix on the same machine. See bench/README.md. Usage: bench/accept.sh --help
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/accept.sh [options]

Measures how fast smarthost accepts mail (SMTP in, durable store, 250) compared with a
private Postfix instance that accepts and HOLDs everything, using postfix's smtp-source,
plus smarthost's end-of-DATA -> 250 latency (p50/p99) with bench/latency_probe.py.

Options (environment variable in brackets):
  -n, --messages N        messages per run [BENCH_MESSAGES, default 2000]
  --sizes "A B"           payload sizes in bytes [BENCH_SIZES, default "4096 32768"]
  --sessions "A B"        concurrent sessions [BENCH_SESSIONS, default "10 100"]
  --latency-messages N    messages per latency run [BENCH_LATENCY_MESSAGES, default 1000]
  --reuse                 send several messages per connection (smtp-source -d) instead
                          of one connection per message [BENCH_REUSE=1]
  --postfix-only          skip smarthost (no binary or database needed)
  --keep                  keep the run directory (queues, logs) after the run
  -h, --help              this text

Environment:
  SMARTHOST_BINARY        path to the built smarthost binary (required unless --postfix-only)
  SMARTHOST_DATABASE_URL  PostgreSQL URL of a role that may CREATE DATABASE (same)
  BENCH_POSTFIX_PORT      loopback port of the private Postfix [10587]
  BENCH_SMARTHOST_PORT    loopback port of smarthost [12525]
  BENCH_RUN_TIMEOUT       seconds allowed per load run [600]
  BENCH_DIR               parent of the run directories [<repo>/var/bench]
  BENCH_SMARTHOST_TOML    extra TOML appended to smarthost's configuration (experiments)

Must run as root (Postfix's master needs it). Listens on 127.0.0.1 only. Everything it
starts (Postfix instance, smarthost, bench database) is stopped/dropped on exit.
The summary is printed and also written to bench/out/accept-<timestamp>.md.
EOF
}

bench_name=accept
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

messages=${BENCH_MESSAGES:-2000}
sizes=${BENCH_SIZES:-"4096 32768"}
session_counts=${BENCH_SESSIONS:-"10 100"}
latency_messages=${BENCH_LATENCY_MESSAGES:-1000}
reuse=${BENCH_REUSE:-0}
postfix_port=${BENCH_POSTFIX_PORT:-10587}
smarthost_port=${BENCH_SMARTHOST_PORT:-12525}
run_timeout=${BENCH_RUN_TIMEOUT:-600}
postfix_only=0
keep=0

while (($# > 0)); do
    case $1 in
        -n | --messages) messages=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --sessions) session_counts=${2:?}; shift 2 ;;
        --latency-messages) latency_messages=${2:?}; shift 2 ;;
        --reuse) reuse=1; shift ;;
        --postfix-only) postfix_only=1; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# ---------------------------------------------------------------- checks
is_count "$messages" || die "--messages must be 1..9999999, got '$messages'"
is_count "$latency_messages" || die "--latency-messages must be 1..9999999, got '$latency_messages'"
for value in $sizes; do is_count "$value" || die "bad size '$value'"; done
for value in $session_counts; do
    if ! is_count "$value" || ((value > 1000)); then die "bad session count '$value' (1..1000)"; fi
done
for value in "$postfix_port" "$smarthost_port" "$run_timeout"; do
    is_count "$value" || die "bad port/timeout '$value'"
done
[[ $reuse == 0 || $reuse == 1 ]] || die "BENCH_REUSE must be 0 or 1"
check_environment

# ---------------------------------------------------------------- run state
bench_init

postfix_held() { find "$pf_queue/hold" -type f | wc -l; }
postfix_not_held() {
    find "$pf_queue/incoming" "$pf_queue/active" "$pf_queue/deferred" "$pf_queue/maildrop" -type f | wc -l
}
smarthost_stored() { bench_sql "SELECT count(*) FROM messages"; }

# check_count SERVER EXPECTED: every accepted message must be in the store (cumulative).
check_count() {
    local server=$1 expected=$2 got i
    for ((i = 0; i < 50; i++)); do
        if [[ $server == postfix ]]; then got=$(postfix_held); else got=$(smarthost_stored); fi
        [[ $got == "$expected" ]] && break
        sleep 0.1
    done
    if [[ $got != "$expected" ]]; then
        if [[ $server == postfix ]]; then
            warn "Postfix queue: $got held, $(postfix_not_held) in incoming/active/deferred/maildrop"
            grep -E 'warning|error|fatal|reject' "$pf_log" | tail -n 20 >&2 || true
        else
            tail -n 30 "$sh_log" >&2 || true
        fi
        die "COUNT MISMATCH on $server: expected $expected messages stored in total, found $got"
    fi
}

# load SERVER PORT SIZE SESSIONS -> prints elapsed seconds of one smtp-source run of $messages.
load() {
    local server=$1 port=$2 size=$3 sessions=$4 start
    local -a extra=()
    ((reuse)) && extra=(-d)
    start=$(now)
    submit "$port" "$size" "$sessions" "$messages" "$run_dir/smtp-source-$server-$size-$sessions.err" "${extra[@]}"
    seconds_between "$start" "$(now)"
}

# probe SERVER PORT SESSIONS -> prints the probe's key=value line.
probe() {
    local server=$1 port=$2 sessions=$3 out
    local -a extra=()
    ((reuse)) && extra=(--reuse)
    if ! out=$(timeout "$((run_timeout + 30))" "$python" "$bench_src/latency_probe.py" "${extra[@]}" \
        --port "$port" --sessions "$sessions" --messages "$latency_messages" --size 4096 \
        --timeout "$run_timeout"); then
        printf '%s\n' "$out" >&2
        die "latency probe against $server ($sessions sessions) failed"
    fi
    printf '%s\n' "$out"
}
# ---------------------------------------------------------------- run
servers=(postfix)
((postfix_only)) || servers+=(smarthost)
declare -A port=([postfix]=$postfix_port [smarthost]=$smarthost_port)
declare -A stored=([postfix]=0 [smarthost]=0)
declare -A rate=() elapsed=() lat=()

declare -A postfix_tokens=()
start_postfix accept
[[ $(postconf -c "$pf_etc" -h in_flow_delay) == 0 ]] || die "unexpected Postfix config"
((postfix_only)) || start_smarthost smtp ""

# Warm-up (counted in the totals, not in the table): spawns Postfix's smtpd/cleanup
# processes and fills smarthost's database pool before the first timed run.
warmup=$((messages < 100 ? messages : 100))
for server in "${servers[@]}"; do
    note "warm-up: $warmup messages to $server"
    saved=$messages
    messages=$warmup
    load "$server" "${port[$server]}" 4096 10 >/dev/null
    messages=$saved
    stored[$server]=$((stored[$server] + warmup))
    check_count "$server" "${stored[$server]}"
done

for size in $sizes; do
    for sessions in $session_counts; do
        for server in "${servers[@]}"; do
            note "load: $messages x $size B over $sessions sessions -> $server"
            seconds=$(load "$server" "${port[$server]}" "$size" "$sessions")
            stored[$server]=$((stored[$server] + messages))
            check_count "$server" "${stored[$server]}"
            key="$server/$size/$sessions"
            elapsed[$key]=$seconds
            rate[$key]=$(per_second "$messages" "$seconds")
            note "    $seconds s, ${rate[$key]} msg/s"
        done
    done
done

for sessions in $session_counts; do
    for server in "${servers[@]}"; do
        note "latency: $latency_messages x 4096 B over $sessions sessions -> $server"
        lat[$server/$sessions]=$(probe "$server" "${port[$server]}" "$sessions")
        stored[$server]=$((stored[$server] + latency_messages))
        check_count "$server" "${stored[$server]}"
        note "    ${lat[$server/$sessions]}"
    done
done

[[ $(postfix_not_held) == 0 ]] || die "Postfix has mail outside the hold queue: it must hold everything"

# ---------------------------------------------------------------- report
postfix_version=$(postconf -d -h mail_version)
smarthost_version="not run"
pg_version="not run"
if ((!postfix_only)); then
    smarthost_version=$(describe_smarthost_binary)
    pg_version=$(describe_postgres)
fi
git_rev=$(git_revision)
if ((reuse)); then mode="several messages per connection (smtp-source -d)"; else mode="one connection per message"; fi

ratio() {
    local s=${rate[smarthost/$1/$2]:-} p=${rate[postfix/$1/$2]:-}
    [[ -n $s && -n $p ]] || { printf 'n/a'; return; }
    awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", (p > 0 ? s / p : 0) }'
}
cell() {
    if [[ -n ${rate[$1]:-} ]]; then printf '%s (%s s)' "${rate[$1]}" "${elapsed[$1]}"; else printf 'n/a'; fi
}
lat_cell() {
    if [[ -n ${lat[$1]:-} ]]; then field "$2" "${lat[$1]}"; else printf 'n/a'; fi
}

summary=$(
    printf '#### %s — %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -n)"
    machine_line
    printf -- '- postfix %s (private instance, durable queue, HOLD); smarthost %s (git %s); PostgreSQL %s\n' \
        "$postfix_version" "$smarthost_version" "$git_rev" "$pg_version"
    printf -- '- N = %s messages per run, 1 recipient, %s; smtp-source; wall clock incl. connect/QUIT\n\n' \
        "$messages" "$mode"
    printf '| payload | sessions | postfix msg/s | smarthost msg/s | smarthost/postfix |\n'
    printf '| ---: | ---: | ---: | ---: | ---: |\n'
    for size in $sizes; do
        for sessions in $session_counts; do
            printf '| %s KiB | %s | %s | %s | %s |\n' "$((size / 1024))" "$sessions" \
                "$(cell "postfix/$size/$sessions")" "$(cell "smarthost/$size/$sessions")" "$(ratio "$size" "$sessions")"
        done
    done
    printf '\nEnd of DATA (CRLF.CRLF sent) -> 250 received, ms; %s messages of 4 KiB per run (bench/latency_probe.py)\n\n' \
        "$latency_messages"
    printf '| sessions | smarthost p50 | smarthost p99 | postfix p50 | postfix p99 |\n'
    printf '| ---: | ---: | ---: | ---: | ---: |\n'
    for sessions in $session_counts; do
        printf '| %s | %s | %s | %s | %s |\n' "$sessions" \
            "$(lat_cell "smarthost/$sessions" p50_ms)" "$(lat_cell "smarthost/$sessions" p99_ms)" \
            "$(lat_cell "postfix/$sessions" p50_ms)" "$(lat_cell "postfix/$sessions" p99_ms)"
    done
    printf '\nStored (checked after every run): postfix hold queue %s' "${stored[postfix]}"
    ((postfix_only)) || printf ', smarthost messages table %s' "${stored[smarthost]}"
    printf '\n'
)

printf '\n%s\n' "$summary"
printf '%s\n' "$summary" >"$summary_file"
note "summary written to ${summary_file#"$repo_root"/}"
failed=0
