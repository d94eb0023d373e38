#!/usr/bin/env bash
# Memory bound benchmark (issue 11 point 14): peak RSS of the smtp role receiving many large
# messages at once, then of the delivery role claiming and relaying them, each under its
# configured byte bound. No Postfix: its queue is on disk, so there is nothing to compare.
set -euo pipefail

bench_name=body_memory
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
usage: bench/body_memory.sh [options]
  -n N                  messages, all sent at once, one session each (100)
  --size BYTES          size of each message (10485760)
  --smtp-bound BYTES    [smtp] max_body_bytes_in_memory (268435456)
  --claim-bound BYTES   [delivery] max_body_bytes_in_memory and max_claim_body_bytes (268435456)
  --no-size             the clients do not declare SIZE= at MAIL (as most web applications)
  --keep                keep the run directory
environment: SMARTHOST_BINARY, SMARTHOST_DATABASE_URL (a role allowed to CREATE DATABASE),
  BENCH_SMARTHOST_PORT (12525), BENCH_SINK_PORT (12625), BENCH_RUN_TIMEOUT (600 s)
USAGE
}

messages=100 size=10485760 smtp_bound=268435456 claim_bound=268435456 keep=0 size_flag=
while (($#)); do
    case $1 in
    -n) messages=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --smtp-bound) smtp_bound=$2; shift 2 ;;
    --claim-bound) claim_bound=$2; shift 2 ;;
    --no-size) size_flag=--no-size; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
is_count "$messages" || die "-n must be a positive count"
smarthost_port=${BENCH_SMARTHOST_PORT:-12525}
sink_port=${BENCH_SINK_PORT:-12625}
run_timeout=${BENCH_RUN_TIMEOUT:-600}
postfix_port=0 postfix_only=0

[[ -x ${SMARTHOST_BINARY:-} ]] || die "SMARTHOST_BINARY must name the built smarthost"
[[ -n ${SMARTHOST_DATABASE_URL:-} ]] || die "SMARTHOST_DATABASE_URL is not set"
for tool in psql smtp-sink ss; do command -v "$tool" >/dev/null || die "'$tool' not found"; done
for port in "$smarthost_port" "$sink_port"; do
    port_in_use "$port" && die "port $port is already in use"
done

sink_pid=
bench_stop_extra() { [[ -z $sink_pid ]] || stop_process "$sink_pid" smtp-sink; }
bench_init

peak_rss_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

# ---------------------------------------------------------------- smtp role
smtp_keys="max_body_bytes_in_memory = $smtp_bound"
start_smarthost smtp ""
smtp_idle=$(rss_mib "$smarthost_pid")  # what the process takes before any body
note "sending $messages messages of $size bytes at once"
load=$(timeout "$run_timeout" "$python" "$bench_src/body_load.py" --port "$smarthost_port" \
    --messages "$messages" --size "$size" --deadline "$((run_timeout - 30))" $size_flag) ||
    die "body_load.py failed: $load"
smtp_rss=$(peak_rss_mib "$smarthost_pid")
stored=$(bench_sql "SELECT count(*) FROM messages")
[[ $stored == "$messages" ]] || die "$stored messages stored, $messages sent"
stop_process "$smarthost_pid" "smarthost smtp"
unset "instance_pid[main]"

# ---------------------------------------------------------------- delivery role
note "starting smtp-sink on 127.0.0.1:$sink_port"
smtp-sink -c -u nobody -m 1000 "127.0.0.1:$sink_port" 1000 >"$run_dir/sink.out" 2>&1 &
sink_pid=$!
wait_for_port "$sink_port" "$sink_pid" smtp-sink "$run_dir/sink.out"
delivery_config="$run_dir/smarthost/delivery.toml"
cat "$sh_config" - >"$delivery_config" <<TOML
[delivery]
concurrency = 100
concurrency_per_domain = 100
concurrency_per_host = 100
max_body_bytes_in_memory = $claim_bound
max_claim_body_bytes = $claim_bound
[delivery.upstream]
host = "127.0.0.1"
port = $sink_port
tls = "none"
TOML
start_delivery() {
    "${smarthost_env[@]}" "$SMARTHOST_BINARY" --config "$delivery_config" serve \
        --roles delivery >>"$sh_log" 2>&1 &
    instance_pid[main]=$!
    delivery_pid=$!
}

# The delivery role's own footprint, on a queue whose messages are not due yet.
bench_sql "UPDATE recipients SET next_attempt_at = now() + interval '1 day'" >/dev/null
note "starting smarthost delivery on a queue with nothing due"
start_delivery
sleep 3
kill -0 "$delivery_pid" 2>/dev/null || die "smarthost delivery exited (log: $sh_log)"
delivery_idle=$(rss_mib "$delivery_pid")
stop_process "$delivery_pid" "smarthost delivery"
bench_sql "UPDATE recipients SET next_attempt_at = now()" >/dev/null

note "starting smarthost delivery"
started=$(now)
start_delivery
for ((i = 0; ; i++)); do
    delivered=$(bench_sql "SELECT count(*) FROM recipients WHERE state = 'delivered'")
    [[ $delivered == "$messages" ]] && break
    kill -0 "$delivery_pid" 2>/dev/null || die "smarthost delivery exited (log: $sh_log)"
    ((i < run_timeout * 5)) || die "$delivered of $messages delivered after ${run_timeout}s"
    sleep 0.2
done
delivery_seconds=$(seconds_between "$started" "$(now)")
delivery_rss=$(peak_rss_mib "$delivery_pid")

{
    printf '#### Body memory (%s, `bench/body_memory.sh -n %s --size %s --smtp-bound %s --claim-bound %s%s`)\n\n' \
        "$(date -u +%Y-%m-%d)" "$messages" "$size" "$smtp_bound" "$claim_bound" "${size_flag:+ $size_flag}"
    machine_line
    printf -- '- smarthost %s (git %s); load average before: %s\n\n' \
        "$(describe_smarthost_binary)" "$(git_revision)" "$(load_average)"
    printf '| role | bodies offered | bound | RSS before any body | peak RSS (VmHWM) | peak − before | result |\n'
    printf '| --- | --- | --- | --- | --- | --- | --- |\n'
    printf '| smtp | %s × %s MiB at once | %s MiB | %s MiB | %s MiB | %s MiB | %s |\n' \
        "$messages" "$(mib "$size")" "$(mib "$smtp_bound")" "$smtp_idle" "$smtp_rss" \
        "$((smtp_rss - smtp_idle))" "$load"
    printf '| delivery | %s × %s MiB queued | %s MiB | %s MiB | %s MiB | %s MiB | all %s delivered in %s s |\n' \
        "$messages" "$(mib "$size")" "$(mib "$claim_bound")" "$delivery_idle" "$delivery_rss" \
        "$((delivery_rss - delivery_idle))" "$messages" "$delivery_seconds"
} | tee "$summary_file"
failed=0
