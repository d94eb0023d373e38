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

die() { printf 'accept.sh: error: %s\n' "$*" >&2; exit 1; }
note() { printf '==> %s\n' "$*" >&2; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_src="$repo_root/bench"
python=/usr/bin/python3

messages=${BENCH_MESSAGES:-2000}
sizes=${BENCH_SIZES:-"4096 32768"}
session_counts=${BENCH_SESSIONS:-"10 100"}
latency_messages=${BENCH_LATENCY_MESSAGES:-1000}
reuse=${BENCH_REUSE:-0}
postfix_port=${BENCH_POSTFIX_PORT:-10587}
smarthost_port=${BENCH_SMARTHOST_PORT:-12525}
run_timeout=${BENCH_RUN_TIMEOUT:-600}
bench_dir=${BENCH_DIR:-"$repo_root/var/bench"}
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
is_count() { [[ $1 =~ ^[1-9][0-9]{0,6}$ ]]; }
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

((EUID == 0)) || die "must run as root: the private Postfix master needs it"
for tool in smtp-source postfix postconf postqueue ss timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install postfix iproute2 coreutils)"
done
[[ -x $python ]] || die "$python not found (Debian's python3)"

if ((!postfix_only)); then
    [[ -n ${SMARTHOST_BINARY:-} ]] ||
        die "SMARTHOST_BINARY is not set: point it at the built smarthost (or use --postfix-only)"
    [[ -f $SMARTHOST_BINARY && -x $SMARTHOST_BINARY ]] ||
        die "SMARTHOST_BINARY='$SMARTHOST_BINARY' is not an executable file (build it first, or use --postfix-only)"
    [[ -n ${SMARTHOST_DATABASE_URL:-} ]] ||
        die "SMARTHOST_DATABASE_URL is not set: a PostgreSQL URL of a role allowed to CREATE DATABASE"
    command -v psql >/dev/null || die "'psql' not found (apt-get install postgresql-client)"
fi

port_in_use() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
port_in_use "$postfix_port" && die "port $postfix_port is already in use (set BENCH_POSTFIX_PORT)"
if ((!postfix_only)); then
    port_in_use "$smarthost_port" && die "port $smarthost_port is already in use (set BENCH_SMARTHOST_PORT)"
fi

# ---------------------------------------------------------------- run state + cleanup
stamp=$(date -u +%Y%m%d_%H%M%S)
run_dir="$bench_dir/accept-$stamp-$$"
pf_etc="$run_dir/postfix/etc"
pf_queue="$run_dir/postfix/queue"
pf_data="$run_dir/postfix/data"
pf_log="$run_dir/postfix/maillog"
sh_config="$run_dir/smarthost/smarthost.toml"
sh_log="$run_dir/smarthost/smarthost.log"
out_dir="$bench_src/out"
summary_file="$out_dir/accept-$stamp.md"

postfix_started=0
smarthost_pid=
smarthost_env=()
bench_db=
bench_db_url=
failed=1

stop_postfix() {
    ((postfix_started)) || return 0
    postfix_started=0
    note "stopping the private Postfix"
    local master_pid=
    [[ -r $pf_queue/pid/master.pid ]] && master_pid=$(tr -dc '0-9' <"$pf_queue/pid/master.pid")
    postfix -c "$pf_etc" stop >/dev/null 2>&1 || true
    if [[ -n $master_pid ]]; then
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$master_pid" 2>/dev/null || return 0
            sleep 0.1
        done
        printf 'accept.sh: Postfix master %s did not stop; killing it\n' "$master_pid" >&2
        kill -KILL "$master_pid" 2>/dev/null || true
    fi
}

stop_smarthost() {
    [[ -n $smarthost_pid ]] || return 0
    local pid=$smarthost_pid i
    smarthost_pid=
    note "stopping smarthost (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    printf 'accept.sh: smarthost %s did not stop within 10 s; killing it\n' "$pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

drop_database() {
    [[ -n $bench_db ]] || return 0
    local name=$bench_db
    bench_db=
    note "dropping database $name"
    timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d "$SMARTHOST_DATABASE_URL" \
        -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null ||
        printf 'accept.sh: could not drop database %s: drop it by hand\n' "$name" >&2
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    stop_smarthost
    stop_postfix
    drop_database
    if [[ -d $run_dir ]]; then
        if ((keep)); then
            note "kept run directory $run_dir"
        elif ((failed)); then
            # Keep the logs for the post-mortem, drop the (possibly large) queue.
            rm -rf "$pf_queue" "$pf_data"
            printf 'accept.sh: FAILED; logs kept in %s\n' "$run_dir" >&2
        else
            rm -rf "$run_dir"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$run_dir" "$out_dir"

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }

# wait_for_port PORT PID NAME LOG: bounded (30 s) wait for a listener; fail if PID dies.
wait_for_port() {
    local port=$1 pid=$2 name=$3 log=$4 i
    for ((i = 0; i < 300; i++)); do
        port_in_use "$port" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2 || true
            die "$name exited before listening on 127.0.0.1:$port (log: $log)"
        fi
        sleep 0.1
    done
    tail -n 30 "$log" >&2 || true
    die "$name is not listening on 127.0.0.1:$port after 30 s (log: $log)"
}

postfix_held() { find "$pf_queue/hold" -type f | wc -l; }
postfix_not_held() {
    find "$pf_queue/incoming" "$pf_queue/active" "$pf_queue/deferred" "$pf_queue/maildrop" -type f | wc -l
}
smarthost_stored() {
    timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$bench_db_url" -c "SELECT count(*) FROM messages"
}

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
            printf 'accept.sh: Postfix queue: %s held, %s in incoming/active/deferred/maildrop\n' \
                "$got" "$(postfix_not_held)" >&2
            grep -E 'warning|error|fatal|reject' "$pf_log" | tail -n 20 >&2 || true
        else
            tail -n 30 "$sh_log" >&2 || true
        fi
        die "COUNT MISMATCH on $server: expected $expected messages stored in total, found $got"
    fi
}

# load SERVER PORT SIZE SESSIONS -> prints elapsed seconds of one smtp-source run of $messages.
load() {
    local server=$1 port=$2 size=$3 sessions=$4 start end err
    local -a extra=()
    ((reuse)) && extra=(-d)
    err="$run_dir/smtp-source-$server-$size-$sessions.err"
    start=$(now)
    if ! timeout "$run_timeout" smtp-source "${extra[@]}" -s "$sessions" -m "$messages" -l "$size" \
        -S bench -M bench.smarthost.test -f sender@bench.smarthost.test -t sink@bench.invalid \
        "127.0.0.1:$port" >"$err" 2>&1; then
        cat "$err" >&2
        die "smtp-source against $server (size $size, $sessions sessions) failed or timed out after ${run_timeout}s"
    fi
    end=$(now)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
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
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# db_url_with_name URL NAME: the same connection with another database name.
db_url_with_name() {
    "$python" - "$1" "$2" <<'PY'
import sys, urllib.parse as up
url, name = sys.argv[1], sys.argv[2]
if url.startswith(("postgresql://", "postgres://")):
    parts = up.urlsplit(url)
    query = [(k, v) for k, v in up.parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"]
    print(up.urlunsplit(parts._replace(path="/" + name, query=up.urlencode(query))))
else:  # key=value conninfo: a later dbname wins
    print(f"{url} dbname={name}")
PY
}
toml_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# ---------------------------------------------------------------- Postfix
start_postfix() {
    note "starting a private Postfix on 127.0.0.1:$postfix_port ($run_dir/postfix)"
    mkdir -p "$pf_etc" "$pf_queue" "$pf_data"
    chmod 755 "$run_dir" "$run_dir/postfix" "$pf_etc" "$pf_queue"
    chown postfix "$pf_data"
    sed -e "s|@QUEUE_DIR@|$pf_queue|g" -e "s|@DATA_DIR@|$pf_data|g" -e "s|@LOG_FILE@|$pf_log|g" \
        -e "s|@MESSAGE_SIZE_LIMIT@|52428800|g" "$bench_src/postfix/main.cf.in" >"$pf_etc/main.cf"
    sed -e "s|@LISTEN@|127.0.0.1:$postfix_port|g" -e "s|@SMTPD_MAXPROC@|200|g" \
        "$bench_src/postfix/master.cf.in" >"$pf_etc/master.cf"
    postconf -c "$pf_etc" -n >/dev/null || die "the generated Postfix main.cf is invalid ($pf_etc)"
    # postfix(1) reports to the maillog only (stderr is silent without a tty): show it on failure.
    if ! postfix -c "$pf_etc" check; then
        cat "$pf_log" >&2 2>/dev/null || true
        die "postfix check failed for $pf_etc (is $run_dir on a root-owned path?)"
    fi
    postfix_started=1
    if ! postfix -c "$pf_etc" start; then
        cat "$pf_log" >&2 2>/dev/null || true
        die "postfix start failed"
    fi
    wait_for_port "$postfix_port" "" "Postfix" "$pf_log"
    [[ $(postconf -c "$pf_etc" -h in_flow_delay) == 0 ]] || die "unexpected Postfix config"
}

# ---------------------------------------------------------------- smarthost
start_smarthost() {
    bench_db="bench_${stamp}_$$"
    note "creating database $bench_db"
    timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d "$SMARTHOST_DATABASE_URL" \
        -c "CREATE DATABASE \"$bench_db\"" >/dev/null ||
        { bench_db=; die "could not CREATE DATABASE with SMARTHOST_DATABASE_URL"; }
    bench_db_url=$(db_url_with_name "$SMARTHOST_DATABASE_URL" "$bench_db")

    mkdir -p "$(dirname "$sh_config")"
    cat >"$sh_config" <<EOF
[server]
hostname = "bench.smarthost.test"
[database]
url = $(toml_string "$bench_db_url")
pool_size = 8
[smtp]
max_message_bytes = 52428800
max_connections = 1000
max_connections_per_ip = 1000
[[smtp.listener]]
name = "bench"
address = "127.0.0.1:$smarthost_port"
tls = "none"
allow_networks = true
[log]
level = "warn"
${BENCH_SMARTHOST_TOML:-}
EOF
    chmod 600 "$sh_config"
    # smarthost lets SMARTHOST_DATABASE_URL (and the TLS variables) override the file.
    # Ours names the admin database: never let it reach the binary, or migrate and the
    # messages would land there instead of in the bench database.
    smarthost_env=(env -u SMARTHOST_CONFIG -u SMARTHOST_TLS_CERTIFICATE -u SMARTHOST_TLS_PRIVATE_KEY
        "SMARTHOST_DATABASE_URL=$bench_db_url")

    note "migrating $bench_db"
    timeout 120 "${smarthost_env[@]}" "$SMARTHOST_BINARY" --config "$sh_config" migrate >>"$sh_log" 2>&1 ||
        { tail -n 30 "$sh_log" >&2; die "smarthost migrate failed (log: $sh_log)"; }

    # The account relays from 127.0.0.0/8 without AUTH. Its sender domain is verified and
    # its limits are set far above N, so policy never refuses or throttles the benchmark.
    local account_id
    account_id=$(timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$bench_db_url" <<'SQL'
WITH account AS (
    INSERT INTO accounts (name, messages_per_minute, messages_per_hour, messages_per_day,
                          recipients_per_hour, recipients_per_day, max_connections)
    VALUES ('bench', 1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 100000)
    RETURNING id
), network AS (
    INSERT INTO allowed_networks (account_id, network) SELECT id, '127.0.0.0/8' FROM account
), domain AS (
    INSERT INTO sender_domains (account_id, domain, status, verification_token, verified_at, checked_at)
    SELECT id, 'bench.smarthost.test', 'verified', 'bench', now(), now() FROM account
)
SELECT id FROM account;
SQL
    ) || die "could not insert the bench account into $bench_db"
    note "bench account id $account_id"

    note "starting smarthost on 127.0.0.1:$smarthost_port"
    # env execs the binary, so $! is smarthost's own pid.
    "${smarthost_env[@]}" "$SMARTHOST_BINARY" --config "$sh_config" serve --roles smtp >>"$sh_log" 2>&1 &
    smarthost_pid=$!
    wait_for_port "$smarthost_port" "$smarthost_pid" "smarthost" "$sh_log"
}

# ---------------------------------------------------------------- run
servers=(postfix)
((postfix_only)) || servers+=(smarthost)
declare -A port=([postfix]=$postfix_port [smarthost]=$smarthost_port)
declare -A stored=([postfix]=0 [smarthost]=0)
declare -A rate=() elapsed=() lat=()

start_postfix
((postfix_only)) || start_smarthost

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
            rate[$key]=$(awk -v n="$messages" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
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
    smarthost_version=$(timeout 10 "$SMARTHOST_BINARY" --version 2>/dev/null | head -n 1 || true)
    smarthost_version=${smarthost_version#smarthost }
    [[ -n $smarthost_version ]] ||
        smarthost_version="(no --version; binary built $(date -u -r "$SMARTHOST_BINARY" "+%Y-%m-%d %H:%M UTC"))"
    # Durability settings as smarthost's role sees them: a result with fsync or
    # synchronous_commit off is not comparable with Postfix's fsync()ed queue files.
    pg_version=$(timeout 30 psql -X -q -tA -d "$bench_db_url" -c "SELECT current_setting('server_version')
        || ' (fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')
        || ', wal_sync_method=' || current_setting('wal_sync_method') || ')'" || echo unknown)
    if [[ $pg_version == *fsync=off* || $pg_version == *synchronous_commit=off* ]]; then
        pg_version+=" WARNING: NOT DURABLE, NOT COMPARABLE"
        printf 'accept.sh: WARNING: PostgreSQL is not durable (%s): the ratio is meaningless\n' "$pg_version" >&2
    fi
fi
git_rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$repo_root" status --porcelain 2>/dev/null) ]] || git_rev+="-dirty"
memory=$(free -g | awk '/^Mem:/ { print $2 " GiB total, " $7 " GiB available" }')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
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
    printf '### %s — %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -n)"
    printf -- '- machine: %s CPUs (nproc), %s; %s; kernel %s\n' "$(nproc)" "$cpu" "$memory" "$(uname -r)"
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
