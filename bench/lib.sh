# shellcheck shell=bash disable=SC2034,SC2154  # the variables of the contract below
# Shared parts of the benchmarks (bench/accept.sh, bench/e2e.sh): sourced, not run.
#
# The sourcing script sets, before calling bench_init:
#   bench_name       "accept" or "e2e": prefixes messages, names the run directory
#   postfix_port, smarthost_port, run_timeout, keep (0/1), postfix_only (0/1)
# bench_init then sets the run's paths (run_dir, pf_*, sh_*, summary_file) and installs the
# EXIT trap that stops everything started here. A script with more to stop (e2e's sinks)
# defines bench_stop_extra, which the trap calls first.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_src="$repo_root/bench"
python=/usr/bin/python3

die() { printf '%s.sh: error: %s\n' "$bench_name" "$*" >&2; exit 1; }
note() { printf '==> %s\n' "$*" >&2; }
warn() { printf '%s.sh: %s\n' "$bench_name" "$*" >&2; }

is_count() { [[ $1 =~ ^[1-9][0-9]{0,6}$ ]]; }
port_in_use() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
now() { date +%s.%N; }
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
# seconds_between START END -> "1.234"
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# per_second COUNT SECONDS -> "1234"
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

# check_environment: root, the tools, and smarthost's binary and database unless
# --postfix-only.
check_environment() {
    ((EUID == 0)) || die "must run as root: the private Postfix master needs it"
    local tool
    for tool in smtp-source smtp-sink postfix postconf postqueue ss timeout; do
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
    local port
    for port in "$postfix_port" "$smarthost_port"; do
        port_in_use "$port" && die "port $port is already in use (see --help for the port variables)"
    done
    return 0
}

# ---------------------------------------------------------------- run state + cleanup

bench_init() {
    stamp=$(date -u +%Y%m%d_%H%M%S)
    run_dir="${BENCH_DIR:-"$repo_root/var/bench"}/$bench_name-$stamp-$$"
    pf_etc="$run_dir/postfix/etc"
    pf_queue="$run_dir/postfix/queue"
    pf_data="$run_dir/postfix/data"
    pf_log="$run_dir/postfix/maillog"
    sh_config="$run_dir/smarthost/smarthost.toml"
    sh_log="$run_dir/smarthost/smarthost.log"
    out_dir="$bench_src/out"
    summary_file="$out_dir/$bench_name-$stamp.md"
    postfix_started=0
    smarthost_pid=
    smarthost_env=()
    bench_db=
    bench_db_url=
    # Every smarthost started by launch_smarthost, by instance name (the trap stops them all).
    declare -gA instance_pid=() instance_db=() instance_db_url=() instance_log=()
    failed=1
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$run_dir" "$out_dir"
}

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
        warn "Postfix master $master_pid did not stop; killing it"
        kill -KILL "$master_pid" 2>/dev/null || true
    fi
}

# stop_process PID NAME: TERM, up to 10 s, then KILL.
stop_process() {
    local pid=$1 name=$2 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    warn "$name $pid did not stop within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_smarthost() {
    local name pid
    for name in "${!instance_pid[@]}"; do
        pid=${instance_pid[$name]}
        unset "instance_pid[$name]"
        note "stopping smarthost $name (pid $pid)"
        stop_process "$pid" "smarthost $name"
    done
    smarthost_pid=
}

drop_database() {
    local name db
    for name in "${!instance_db[@]}"; do
        db=${instance_db[$name]}
        unset "instance_db[$name]"
        note "dropping database $db"
        timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d "$SMARTHOST_DATABASE_URL" \
            -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
            warn "could not drop database $db: drop it by hand"
    done
    bench_db=
}

bench_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    if declare -F bench_stop_extra >/dev/null; then bench_stop_extra; fi
    stop_smarthost
    stop_postfix
    drop_database
    if [[ -d $run_dir ]]; then
        if ((keep)); then
            note "kept run directory $run_dir"
        elif ((failed)); then
            # Keep the logs for the post-mortem, drop the (possibly large) queue.
            rm -rf "$pf_queue" "$pf_data"
            warn "FAILED; logs kept in $run_dir"
        else
            rm -rf "$run_dir"
        fi
    fi
    exit "$status"
}

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

# submit PORT SIZE SESSIONS COUNT LOGFILE [smtp-source options]: COUNT messages of SIZE
# bytes over SESSIONS sessions, one recipient each; fails the run on error or timeout.
submit() {
    local port=$1 size=$2 sessions=$3 count=$4 log=$5
    shift 5
    if ! timeout "$run_timeout" smtp-source "$@" -s "$sessions" -m "$count" -l "$size" \
        -S bench -M bench.smarthost.test -f sender@bench.smarthost.test -t sink@bench.invalid \
        "127.0.0.1:$port" >"$log" 2>&1; then
        cat "$log" >&2
        die "smtp-source to 127.0.0.1:$port (size $size, $sessions sessions) failed or timed out after ${run_timeout}s"
    fi
}

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

# start_postfix ROLE: a private instance from postfix/main.cf.in + postfix/ROLE.main.cf.in
# and postfix/master.cf.in (+ postfix/ROLE.master.cf.in when it exists). Tokens other
# than the directories come from the associative array postfix_tokens (NAME -> value).
start_postfix() {
    local role=$1 template
    note "starting a private Postfix on 127.0.0.1:$postfix_port ($run_dir/postfix)"
    mkdir -p "$pf_etc" "$pf_queue" "$pf_data"
    chmod 755 "$run_dir" "$run_dir/postfix" "$pf_etc" "$pf_queue"
    chown postfix "$pf_data"
    local -a substitutions=(-e "s|@QUEUE_DIR@|$pf_queue|g" -e "s|@DATA_DIR@|$pf_data|g"
        -e "s|@LOG_FILE@|$pf_log|g" -e "s|@MESSAGE_SIZE_LIMIT@|52428800|g"
        -e "s|@LISTEN@|127.0.0.1:$postfix_port|g" -e "s|@SMTPD_MAXPROC@|200|g")
    local token
    for token in "${!postfix_tokens[@]}"; do
        substitutions+=(-e "s|@$token@|${postfix_tokens[$token]}|g")
    done
    cat "$bench_src/postfix/main.cf.in" "$bench_src/postfix/$role.main.cf.in" |
        sed "${substitutions[@]}" >"$pf_etc/main.cf"
    template="$bench_src/postfix/$role.master.cf.in"
    [[ -f $template ]] || template=/dev/null
    cat "$bench_src/postfix/master.cf.in" "$template" | sed "${substitutions[@]}" >"$pf_etc/master.cf"
    ! grep -n '^[^#]*@[A-Z_]*@' "$pf_etc/main.cf" "$pf_etc/master.cf" >&2 ||
        die "unfilled token in the generated Postfix configuration ($pf_etc)"
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
}

postfix_master_pid() { tr -dc '0-9' <"$pf_queue/pid/master.pid"; }

# ---------------------------------------------------------------- smarthost

# The bench account of start_smarthost: relays from 127.0.0.0/8 without AUTH, sends as the
# verified domain bench.smarthost.test, limits far above N so that policy never refuses or
# throttles the benchmark. psql prints the account's id.
bench_account_sql() {
    cat <<'SQL'
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
SELECT 'bench account id ' || id FROM account;
SQL
}

# start_smarthost ROLES EXTRA_TOML: a fresh database with the bench account, then
# `smarthost serve --roles ROLES` with one plain listener on 127.0.0.1:$smarthost_port.
# EXTRA_TOML (and BENCH_SMARTHOST_TOML, for experiments) is appended to the configuration.
# Sets smarthost_pid, bench_db, bench_db_url; its config and log are $sh_config, $sh_log.
start_smarthost() {
    launch_smarthost main "$smarthost_port" "$1" "" "$2" "$(bench_account_sql)"
    smarthost_pid=${instance_pid[main]}
    bench_db=${instance_db[main]}
    bench_db_url=${instance_db_url[main]}
}

# launch_smarthost NAME PORT ROLES POLICY_KEYS EXTRA_TOML ACCOUNTS_SQL: a fresh database
# (bench_<stamp>_<pid>, plus _NAME unless NAME is main), migrated, ACCOUNTS_SQL run in it
# (its output is shown), then `smarthost serve --roles ROLES` with one plain listener on
# 127.0.0.1:PORT. POLICY_KEYS are lines inside [policy], $smtp_keys inside [smtp]; EXTRA_TOML (and
# BENCH_SMARTHOST_TOML, for experiments) is appended to the configuration. Sets
# instance_pid[NAME], instance_db[NAME], instance_db_url[NAME], instance_log[NAME]; the
# EXIT trap stops the process and drops the database. Config and log live in
# $run_dir/smarthost/ (main) or $run_dir/smarthost-NAME/.
launch_smarthost() {
    local name=$1 port=$2 roles=$3 policy_keys=$4 extra_toml=$5 accounts_sql=$6
    local db="bench_${stamp}_$$" dir="$run_dir/smarthost"
    if [[ $name != main ]]; then db+="_$name"; dir+="-$name"; fi
    local config="$dir/smarthost.toml" log="$dir/smarthost.log" db_url created
    note "creating database $db"
    timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d "$SMARTHOST_DATABASE_URL" \
        -c "CREATE DATABASE \"$db\"" >/dev/null ||
        die "could not CREATE DATABASE with SMARTHOST_DATABASE_URL"
    instance_db[$name]=$db
    db_url=$(db_url_with_name "$SMARTHOST_DATABASE_URL" "$db")
    instance_db_url[$name]=$db_url
    instance_log[$name]=$log

    mkdir -p "$dir"
    cat >"$config" <<EOF
[server]
hostname = "bench.smarthost.test"
[database]
url = $(toml_string "$db_url")
pool_size = 8
[smtp]
max_message_bytes = 52428800
max_connections = 1000
max_connections_per_ip = 1000
${smtp_keys:-}
[[smtp.listener]]
name = "bench"
address = "127.0.0.1:$port"
tls = "none"
allow_networks = true
[log]
level = "warn"
[policy]
# The bench's sender domains are marked verified (no DNS can prove them here): their
# periodic re-check is pushed past any run.
verification_interval_seconds = 604800
$policy_keys
$extra_toml
${BENCH_SMARTHOST_TOML:-}
EOF
    chmod 600 "$config"
    # smarthost lets SMARTHOST_DATABASE_URL (and the TLS variables) override the file.
    # Ours names the admin database: never let it reach the binary, or migrate and the
    # messages would land there instead of in the bench database.
    local -a env_args=(env -u SMARTHOST_CONFIG -u SMARTHOST_TLS_CERTIFICATE -u SMARTHOST_TLS_PRIVATE_KEY
        -u SMARTHOST_UPSTREAM_PASSWORD "SMARTHOST_DATABASE_URL=$db_url")
    [[ $name == main ]] && smarthost_env=("${env_args[@]}")

    note "migrating $db"
    timeout 120 "${env_args[@]}" "$SMARTHOST_BINARY" --config "$config" migrate >>"$log" 2>&1 ||
        { tail -n 30 "$log" >&2; die "smarthost migrate failed (log: $log)"; }

    created=$(timeout 120 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$db_url" <<<"$accounts_sql") ||
        die "could not insert the bench accounts into $db"
    note "$created"

    note "starting smarthost $name on 127.0.0.1:$port (roles $roles)"
    # env execs the binary, so $! is smarthost's own pid.
    "${env_args[@]}" "$SMARTHOST_BINARY" --config "$config" serve --roles "$roles" >>"$log" 2>&1 &
    instance_pid[$name]=$!
    wait_for_port "$port" "${instance_pid[$name]}" "smarthost $name" "$log"
}

# bench_sql SQL: one value from the bench database.
bench_sql() { timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$bench_db_url" -c "$1"; }

# ---------------------------------------------------------------- report

# The lines every summary starts with after its heading: machine, load, versions.
machine_line() {
    local memory cpu
    memory=$(free -g | awk '/^Mem:/ { print $2 " GiB total, " $7 " GiB available" }')
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    printf -- '- machine: %s CPUs (nproc), %s; %s; kernel %s\n' "$(nproc)" "$cpu" "$memory" "$(uname -r)"
}

describe_smarthost_binary() {
    local version
    version=$(timeout 10 "$SMARTHOST_BINARY" --version 2>/dev/null | head -n 1 || true)
    version=${version#smarthost }
    [[ -n $version ]] ||
        version="(no --version; binary built $(date -u -r "$SMARTHOST_BINARY" "+%Y-%m-%d %H:%M UTC"))"
    printf '%s' "$version"
}

# PostgreSQL's version and durability settings as smarthost's role sees them: a result
# with fsync or synchronous_commit off is not comparable with Postfix's fsync()ed queue.
describe_postgres() {
    local version
    version=$(bench_sql "SELECT current_setting('server_version')
        || ' (fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')
        || ', wal_sync_method=' || current_setting('wal_sync_method') || ')'" || echo unknown)
    if [[ $version == *fsync=off* || $version == *synchronous_commit=off* ]]; then
        version+=" WARNING: NOT DURABLE, NOT COMPARABLE"
        warn "WARNING: PostgreSQL is not durable ($version): the ratio is meaningless"
    fi
    printf '%s' "$version"
}

git_revision() {
    local rev
    rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -z $(git -C "$repo_root" status --porcelain 2>/dev/null) ]] || rev+="-dirty"
    printf '%s' "$rev"
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }
