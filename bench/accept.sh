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
  --postfix-only          skip smarthost (no binary or database needed); no policy runs
  --no-policy             skip the policy on/off comparison [BENCH_POLICY=0]
  --policy-only           only the policy on/off comparison: no Postfix, no smtp-source
                          matrix, no latency probe [BENCH_POLICY=only]
  --policy-accounts N     accounts of the policy-on server [BENCH_POLICY_ACCOUNTS, 200]
  --policy-rounds R       rounds of the policy comparison, order alternating; the
                          summary gives medians [BENCH_POLICY_ROUNDS, default 3]
  --dkim-only             only the DKIM comparison: the same on/off machinery, where
                          "on" signs every message with an RSA-2048 key and "off" signs
                          nothing [BENCH_COMPARISON=dkim with BENCH_POLICY=only]
  --scanning-only         only the content scanning comparison: "on" asks a private
                          rspamd on loopback about every message (docs/scanning.md),
                          "off" has no [scanning]; both the one account of "off"
                          [BENCH_COMPARISON=scanning with BENCH_POLICY=only]
  --keep                  keep the run directory (queues, logs) after the run
  -h, --help              this text

Environment:
  SMARTHOST_BINARY        path to the built smarthost binary (required unless --postfix-only)
  SMARTHOST_DATABASE_URL  PostgreSQL URL of a role that may CREATE DATABASE (same)
  BENCH_POSTFIX_PORT      loopback port of the private Postfix [10587]
  BENCH_SMARTHOST_PORT    loopback port of smarthost [12525]
  BENCH_POLICY_OFF_PORT   loopback port of the policy-off smarthost [BENCH_SMARTHOST_PORT + 2]
  BENCH_POLICY_ON_PORT    loopback port of the policy-on smarthost [BENCH_SMARTHOST_PORT + 3]
  BENCH_CLIENT_PROCESSES  processes of bench/policy_load.py [nproc]
  BENCH_RUN_TIMEOUT       seconds allowed per load run [600]
  BENCH_DIR               parent of the run directories [<repo>/var/bench]
  BENCH_SMARTHOST_TOML    extra TOML appended to smarthost's configuration (experiments)
  BENCH_DKIM_ALGORITHM    the key of --dkim-only: rsa-sha256 (RSA-2048) or ed25519-sha256
  BENCH_RSPAMD_PORT       loopback port of --scanning-only's rspamd [BENCH_SMARTHOST_PORT + 4]

The policy comparison sends the same load (N messages per size and session count, one
connection per message) with bench/policy_load.py to two more smarthost processes:
"off" (one account, no limits, sender domain verification off, no DNSBL) and "on"
(--policy-accounts accounts, each with its own source address 127.0.1.k, verified sender
domain and limits), and reports msg/s, the on/off ratio and the cost of policy in %. With --dkim-only the
two servers differ only in DKIM signing: both have the one account of "off" with its
domain verified; "on" has an active RSA-2048 key (made with `smarthost dkim create`) and
signs every message.

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
policy=${BENCH_POLICY:-1}
policy_accounts=${BENCH_POLICY_ACCOUNTS:-200}
policy_rounds=${BENCH_POLICY_ROUNDS:-3}
client_processes=${BENCH_CLIENT_PROCESSES:-$(nproc)}
comparison=${BENCH_COMPARISON:-policy}
dkim_algorithm=${BENCH_DKIM_ALGORITHM:-rsa-sha256}

while (($# > 0)); do
    case $1 in
        -n | --messages) messages=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --sessions) session_counts=${2:?}; shift 2 ;;
        --latency-messages) latency_messages=${2:?}; shift 2 ;;
        --reuse) reuse=1; shift ;;
        --postfix-only) postfix_only=1; shift ;;
        --no-policy) policy=0; shift ;;
        --policy-only) policy=only; shift ;;
        --dkim-only) policy=only comparison=dkim; shift ;;
        --scanning-only) policy=only comparison=scanning; shift ;;
        --policy-accounts) policy_accounts=${2:?}; shift 2 ;;
        --policy-rounds) policy_rounds=${2:?}; shift 2 ;;
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
policy_off_port=${BENCH_POLICY_OFF_PORT:-$((smarthost_port + 2))}
policy_on_port=${BENCH_POLICY_ON_PORT:-$((smarthost_port + 3))}
for value in "$postfix_port" "$smarthost_port" "$policy_off_port" "$policy_on_port" "$run_timeout"; do
    is_count "$value" || die "bad port/timeout '$value'"
done
[[ $reuse == 0 || $reuse == 1 ]] || die "BENCH_REUSE must be 0 or 1"
[[ $policy == 0 || $policy == 1 || $policy == only ]] || die "BENCH_POLICY must be 0, 1 or only"
[[ $comparison == policy || $comparison == dkim || $comparison == scanning ]] ||
    die "BENCH_COMPARISON must be policy, dkim or scanning"
[[ $dkim_algorithm == rsa-sha256 || $dkim_algorithm == ed25519-sha256 ]] ||
    die "BENCH_DKIM_ALGORITHM must be rsa-sha256 or ed25519-sha256"
# The DKIM comparison's load comes from one account (the "off" set-up on both sides).
[[ $comparison == policy ]] || policy_accounts=1
if ((postfix_only)); then
    [[ $policy != only ]] || die "--postfix-only and --policy-only exclude each other"
    policy=0
fi
# 127.0.1.1 + accounts - 1 must stay in 127.0.0.0/8.
if ! is_count "$policy_accounts" || ((policy_accounts > 60000)); then
    die "--policy-accounts must be 1..60000, got '$policy_accounts'"
fi
if ! is_count "$policy_rounds" || ((policy_rounds > 100)); then
    die "--policy-rounds must be 1..100, got '$policy_rounds'"
fi
if ! is_count "$client_processes" || ((client_processes > 64)); then
    die "BENCH_CLIENT_PROCESSES must be 1..64"
fi
check_environment
if [[ $policy != 0 ]]; then
    for value in "$policy_off_port" "$policy_on_port"; do
        port_in_use "$value" && die "port $value is already in use (BENCH_POLICY_OFF_PORT/BENCH_POLICY_ON_PORT)"
    done
fi

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
# The Postfix/smarthost comparison (empty with --policy-only).
servers=()
if [[ $policy != only ]]; then
    servers=(postfix)
    ((postfix_only)) || servers+=(smarthost)
fi
declare -A port=([postfix]=$postfix_port [smarthost]=$smarthost_port)
declare -A stored=([postfix]=0 [smarthost]=0)
declare -A rate=() elapsed=() lat=()

declare -A postfix_tokens=()
if [[ $policy != only ]]; then
    start_postfix accept
    [[ $(postconf -c "$pf_etc" -h in_flow_delay) == 0 ]] || die "unexpected Postfix config"
    ((postfix_only)) || start_smarthost smtp ""
fi

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

if [[ $policy != only ]]; then
    [[ $(postfix_not_held) == 0 ]] || die "Postfix has mail outside the hold queue: it must hold everything"
fi

# ---------------------------------------------------------------- policy on vs off
# Two more smarthost processes, each with its own database, get the same load from
# bench/policy_load.py (smtp-source can neither bind a source address nor AUTH):
#   off: one account owning 127.0.0.0/8, allowed to send as bench.smarthost.test and its
#        subdomains (left pending: with verification off a listed domain authorizes
#        whatever its status), no limits ([limits] all 0, account columns NULL), sender
#        domain verification off, no DNSBL;
#   on:  $policy_accounts accounts; account k owns 127.0.1.k/32 (127.0.1.1 + k - 1),
#        sends as its own verified a<k>.bench.smarthost.test (envelope and From: are
#        checked), and has every message and recipient rate limit set (quota leased from
#        rate_usage in blocks), recipients_per_message and max_message_bytes.
# The load generator sends message i from account i mod A + 1's address as its domain,
# to both servers alike, so the only difference is the policy the server applies.
# Limits: high enough that the load never reaches them (a refusal fails the run), low
# enough to be real numbers for a busy customer. The default lease block (100) applies.
policy_limits=(messages_per_minute=6000 messages_per_hour=100000 messages_per_day=1000000
    recipients_per_hour=100000 recipients_per_day=1000000 recipients_per_message=10
    max_message_bytes=10485760)

policy_off_sql() {
    cat <<'SQL'
WITH account AS (
    INSERT INTO accounts (name) VALUES ('bench') RETURNING id
), network AS (
    INSERT INTO allowed_networks (account_id, network) SELECT id, '127.0.0.0/8' FROM account
), domain AS (
    INSERT INTO sender_domains (account_id, domain, include_subdomains, status, verification_token)
    SELECT id, 'bench.smarthost.test', true, 'pending', 'bench' FROM account
)
SELECT 'policy off: 1 account (id ' || id || '), no limits, domain verification off' FROM account;
SQL
}

policy_on_sql() {
    local columns="" values="" pair
    for pair in "${policy_limits[@]}"; do
        columns+=", ${pair%%=*}"
        values+=", ${pair#*=}"
    done
    cat <<SQL
WITH account AS (
    INSERT INTO accounts (name$columns)
    SELECT 'bench-' || k$values FROM generate_series(1, $policy_accounts) AS k
    RETURNING id, substr(name, 7)::int AS k
), network AS (
    INSERT INTO allowed_networks (account_id, network)
    SELECT id, ('127.0.1.1'::inet + (k - 1))::cidr FROM account
), domain AS (
    INSERT INTO sender_domains (account_id, domain, status, verification_token, verified_at, checked_at)
    SELECT id, 'a' || k || '.bench.smarthost.test', 'verified', md5(k::text), now(), now() FROM account
)
SELECT 'policy on: ' || count(*) || ' accounts, each with its own /32, verified domain and limits' FROM account;
SQL
}

# The DKIM comparison: both servers get the policy-off account, its domain verified (a
# signature's d= is only ever a verified domain) with signing policy "always" (no DNS
# publishes the bench key); "on" is then given an active RSA-2048 key.
dkim_sql() {
    cat <<'SQL'
WITH account AS (
    INSERT INTO accounts (name) VALUES ('bench') RETURNING id
), network AS (
    INSERT INTO allowed_networks (account_id, network) SELECT id, '127.0.0.0/8' FROM account
), domain AS (
    INSERT INTO sender_domains (account_id, domain, include_subdomains, status, verification_token,
                                verified_at, checked_at, dkim_policy)
    SELECT id, 'bench.smarthost.test', true, 'verified', 'bench', now(), now(), 'always' FROM account
)
SELECT 'dkim: 1 account (id ' || id || '), bench.smarthost.test verified, signing policy always' FROM account;
SQL
}

# The scanning comparison's rspamd: the normal worker only, on loopback, in the foreground,
# with its DNS resolver on a loopback port where nothing answers and the fuzzy storage off
# (as tests/e2e/rspamd.cpp); stopped by the EXIT trap.
rspamd_port=${BENCH_RSPAMD_PORT:-$((smarthost_port + 4))}
rspamd_pid=
bench_stop_extra() { [[ -z $rspamd_pid ]] || stop_process "$rspamd_pid" rspamd; }
start_rspamd() {
    local dir="$run_dir/rspamd" i
    command -v rspamd >/dev/null || die "rspamd is not installed (Debian package rspamd)"
    mkdir -p "$dir/local/override.d"
    chmod 0777 "$dir"
    echo 'enabled = false;' >"$dir/local/override.d/fuzzy_check.conf"
    printf 'com\norg\nnet\ntest\n' >"$dir/tld.dat"
    local -a user=()
    if (($(id -u) == 0)); then user=(-u _rspamd -g _rspamd); fi
    # The configuration the content-scanning tests run too.
    rspamd -f -c "$repo_root/tests/e2e/rspamd.conf" "${user[@]}" "--var=DBDIR=$dir" \
        "--var=RUNDIR=$dir" "--var=LOGDIR=$dir" "--var=LOCAL_CONFDIR=$dir/local" \
        "--var=PORT=$rspamd_port" >"$dir/rspamd.log" 2>&1 &
    rspamd_pid=$!
    for ((i = 0; i < 300; i++)); do
        curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$rspamd_port/ping" && break
        kill -0 "$rspamd_pid" 2>/dev/null || die "rspamd exited (see $dir/rspamd.log)"
        sleep 0.1
    done
    ((i < 300)) || die "rspamd did not answer on 127.0.0.1:$rspamd_port (see $dir/rspamd.log)"
    note "rspamd on 127.0.0.1:$rspamd_port (tests/e2e/rspamd.conf; normal workers: rspamd's default, one per CPU)"
}

# dkim_key_for INSTANCE: creates and activates a key of bench.smarthost.test
# ($dkim_algorithm) with the binary's own command line, as an operator would.
dkim_key_for() {
    local name=$1 config="$run_dir/smarthost-$1/smarthost.toml" id
    local -a env_args=(env -u SMARTHOST_CONFIG "SMARTHOST_DATABASE_URL=${instance_db_url[$name]}")
    id=$("${env_args[@]}" "$SMARTHOST_BINARY" --config "$config" dkim create \
        --domain bench.smarthost.test --selector bench --algorithm "$dkim_algorithm" \
        2>>"${instance_log[$name]}" |
        sed -n 's/.*dkim activate --key \([0-9]*\).*/\1/p')
    [[ -n $id ]] || die "smarthost dkim create failed for $name (see ${instance_log[$name]})"
    "${env_args[@]}" "$SMARTHOST_BINARY" --config "$config" dkim activate --key "$id" --force \
        >>"${instance_log[$name]}" 2>&1 || die "smarthost dkim activate failed for $name"
    note "$name: DKIM key $id ($dkim_algorithm, selector bench) active"
}

declare -A pol_port=([off]=$policy_off_port [on]=$policy_on_port)
declare -A pol_stored=([off]=0 [on]=0)
declare -A pol=() pol_cpu=() pol_pg_cpu=()
declare -A pol_postmaster=()

# The postmaster of the cluster an instance uses (its backends' parent), for CPU time;
# empty when PostgreSQL is not on this machine.
instance_postmaster() {
    local backend parent
    backend=$(timeout 60 psql -X -q -tA -d "${instance_db_url[$1]}" -c "SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() LIMIT 1") || return 0
    [[ -n $backend && -r /proc/$backend/stat ]] || return 0
    parent=$(awk '{ print $4 }' "/proc/$backend/stat")
    [[ $(cat "/proc/$parent/comm" 2>/dev/null) == postgres ]] && printf '%s' "$parent"
    return 0
}
cpu_seconds() { "$python" "$bench_src/cpu_seconds.py" "$@"; }
# instance_xacts NAME: transactions committed in the instance's database so far.
instance_xacts() {
    instance_sql "$1" "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
}
instance_sql() { timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 -d "${instance_db_url[$1]}" -c "$2"; }

# policy_check_count off|on: every acknowledged message is stored.
policy_check_count() {
    local variant=$1 got
    got=$(instance_sql "policy-$variant" "SELECT count(*) FROM messages")
    if [[ $got != "${pol_stored[$variant]}" ]]; then
        tail -n 30 "${instance_log[policy-$variant]}" >&2 || true
        die "COUNT MISMATCH on smarthost policy-$variant: expected ${pol_stored[$variant]} messages stored in total, found $got"
    fi
}

# policy_run off|on SIZE SESSIONS COUNT: one run of the load generator; sets policy_result
# to its key=value line plus smarthost's and PostgreSQL's CPU seconds over the run
# (cpu_s=, pg_cpu_s=). Not to be called in a subshell: it counts what was stored.
policy_run() {
    local variant=$1 size=$2 sessions=$3 count=$4 out load1 cpu_before cpu_after pg_before=0 pg_after=0
    local pid=${instance_pid[policy-$variant]} postmaster=${pol_postmaster[$variant]:-}
    load1=$(cut -d' ' -f1 /proc/loadavg)
    cpu_before=$(cpu_seconds "$pid")
    [[ -n $postmaster ]] && pg_before=$(cpu_seconds "$postmaster")
    if ! out=$(timeout "$((run_timeout + 60))" "$python" "$bench_src/policy_load.py" \
        --port "${pol_port[$variant]}" --accounts "$policy_accounts" --sessions "$sessions" \
        --messages "$count" --size "$size" --processes "$client_processes" --timeout "$run_timeout" \
        2>"$run_dir/policy_load-$variant-$size-$sessions.err"); then
        printf '%s\n' "$out" >&2
        cat "$run_dir/policy_load-$variant-$size-$sessions.err" >&2
        tail -n 20 "${instance_log[policy-$variant]}" >&2 || true
        die "policy_load against smarthost policy-$variant ($size B, $sessions sessions) failed"
    fi
    cpu_after=$(cpu_seconds "$pid")
    [[ -n $postmaster ]] && pg_after=$(cpu_seconds "$postmaster")
    pol_stored[$variant]=$((pol_stored[$variant] + count))
    policy_check_count "$variant"
    policy_result=$(printf '%s load1=%s cpu_s=%s pg_cpu_s=%s' "$out" "$load1" \
        "$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { printf "%.3f", b - a }')" \
        "$(awk -v a="$pg_before" -v b="$pg_after" 'BEGIN { printf "%.3f", b - a }')")
}

# median of the arguments (numbers); "n/a" when there are none.
median() {
    (($# > 0)) || { printf 'n/a'; return; }
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

if [[ $policy != 0 ]]; then
    limits_toml=$(printf '%s\n' "[limits]"; for pair in "${policy_limits[@]}"; do
        printf '%s = %s\n' "${pair%%=*}" "${pair#*=}"; done)
    no_limits_toml="[limits]
messages_per_minute = 0
messages_per_hour = 0
messages_per_day = 0
recipients_per_hour = 0
recipients_per_day = 0
recipients_per_message = 0
max_message_bytes = 0"
    if [[ $comparison == dkim ]]; then
        # Both have the key-encryption key: "off" differs only in having no key to sign with.
        dkim_toml="[dkim]
key_encryption_key = \"$(openssl rand -base64 32)\""
        launch_smarthost policy-off "$policy_off_port" smtp "sender_domain_verification = false" \
            "$no_limits_toml
$dkim_toml" "$(dkim_sql)"
        launch_smarthost policy-on "$policy_on_port" smtp "sender_domain_verification = false" \
            "$no_limits_toml
$dkim_toml" "$(dkim_sql)"
        dkim_key_for policy-on
    elif [[ $comparison == scanning ]]; then
        start_rspamd
        # Every message is scanned and accepted whatever its score: the cost measured is
        # the scan's, not that of refused mail.
        scanning_toml="[scanning]
rspamd_url = \"http://127.0.0.1:$rspamd_port\"
hold_score = false
reject_score = false"
        launch_smarthost policy-off "$policy_off_port" smtp "sender_domain_verification = false" \
            "$no_limits_toml" "$(policy_off_sql)"
        launch_smarthost policy-on "$policy_on_port" smtp "sender_domain_verification = false" \
            "$no_limits_toml
$scanning_toml" "$(policy_off_sql)"
    else
        launch_smarthost policy-off "$policy_off_port" smtp "sender_domain_verification = false" \
            "$no_limits_toml" "$(policy_off_sql)"
        launch_smarthost policy-on "$policy_on_port" smtp "sender_domain_verification = true" \
            "$limits_toml" "$(policy_on_sql)"
    fi

    # Warm-up: two messages from every account to each server (network and account caches,
    # the first quota leases, the database pools), counted in the stored totals.
    policy_warmup=$((2 * policy_accounts))
    for variant in off on; do
        note "policy warm-up: $policy_warmup messages from $policy_accounts accounts -> policy-$variant"
        policy_run "$variant" 4096 10 "$policy_warmup"
    done
    # After the warm-up: the pools have open connections whose backends lead to the cluster.
    pol_postmaster[off]=$(instance_postmaster policy-off)
    pol_postmaster[on]=$(instance_postmaster policy-on)

    declare -A pol_xact_before=()
    for variant in off on; do pol_xact_before[$variant]=$(instance_xacts "policy-$variant"); done
    pol_timed=0

    # Keys: VARIANT/SIZE/SESSIONS/ROUND. Even rounds run "on" first, so a change of the
    # machine's load during the bench does not always favour the same side.
    for ((round = 1; round <= policy_rounds; round++)); do
        if ((round % 2)); then order=(off on); else order=(on off); fi
        for size in $sizes; do
            for sessions in $session_counts; do
                for variant in "${order[@]}"; do
                    note "policy round $round: $messages x $size B over $sessions sessions, $policy_accounts accounts -> policy-$variant"
                    key="$variant/$size/$sessions/$round"
                    policy_run "$variant" "$size" "$sessions" "$messages"
                    pol[$key]=$policy_result
                    [[ $variant == on ]] && pol_timed=$((pol_timed + messages))
                    pol_cpu[$key]=$(awk -v s="$(field cpu_s "${pol[$key]}")" -v n="$messages" \
                        'BEGIN { printf "%.3f", s * 1000 / n }')
                    pol_pg_cpu[$key]=$(awk -v s="$(field pg_cpu_s "${pol[$key]}")" -v n="$messages" \
                        'BEGIN { printf "%.3f", s * 1000 / n }')
                    note "    $(field msgs_per_s "${pol[$key]}") msg/s, txn p50 $(field txn_p50_ms "${pol[$key]}") ms, smarthost ${pol_cpu[$key]} ms CPU/msg, client CPU $(field client_cpu_s "${pol[$key]}") s"
                done
            done
        done
    done

    # Transactions (statements outside a transaction block count as one) per timed message.
    # Backends report their counts within PostgreSQL's idle flush interval (10 s).
    note "waiting 11 s for PostgreSQL's statistics"
    sleep 11
    declare -A pol_xacts=()
    for variant in off on; do
        pol_xacts[$variant]=$(awk -v a="${pol_xact_before[$variant]}" -v b="$(instance_xacts "policy-$variant")" \
            -v n="$pol_timed" 'BEGIN { printf "%.3f", (b - a) / n }')
    done

    # The policy-on server really worked for every account and refused nothing.
    pol_accounts_used=$(instance_sql policy-on "SELECT count(DISTINCT account_id) FROM messages")
    expected_accounts=$((pol_stored[on] < policy_accounts ? pol_stored[on] : policy_accounts))
    [[ $pol_accounts_used == "$expected_accounts" ]] ||
        die "policy-on stored messages of $pol_accounts_used accounts, expected $expected_accounts"
    pol_rejections=$(instance_sql policy-on "SELECT count(*) FROM rejections")
    [[ $pol_rejections == 0 ]] || die "policy-on recorded $pol_rejections policy refusals: the limits are too low for the load"
    pol_usage=$(instance_sql policy-on "SELECT count(*) || ' rows (account x limit x window), '
        || coalesce(sum(leased), 0) || ' units leased' FROM rate_usage")
fi

# ---------------------------------------------------------------- report
postfix_version=$(postconf -d -h mail_version)
smarthost_version="not run"
pg_version="not run"
# With --policy-only the policy-off instance's database says what PostgreSQL is.
[[ -n $bench_db_url || $policy == 0 ]] || bench_db_url=${instance_db_url[policy-off]}
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

# ---- the policy comparison's tables
pol_field() { field "$2" "${pol[$1]:-}"; }
# pol_ratio SIZE SESSIONS ROUND -> on msg/s / off msg/s
pol_ratio() {
    awk -v on="$(pol_field "on/$1/$2/$3" msgs_per_s)" -v off="$(pol_field "off/$1/$2/$3" msgs_per_s)" \
        'BEGIN { printf "%.3f", (off > 0 ? on / off : 0) }'
}
# cost RATIO -> "4.2%": how much slower policy on is (negative: faster, i.e. noise)
cost() { awk -v r="$1" 'BEGIN { printf "%.1f%%", (1 - r) * 100 }'; }
# pol_medians VARIANT SIZE SESSIONS ARRAY|FIELD: the median over the rounds
pol_median() {
    local variant=$1 size=$2 sessions=$3 what=$4 round
    local -a values=()
    for ((round = 1; round <= policy_rounds; round++)); do
        case $what in
            cpu) values+=("${pol_cpu[$variant/$size/$sessions/$round]}") ;;
            pg_cpu) values+=("${pol_pg_cpu[$variant/$size/$sessions/$round]}") ;;
            *) values+=("$(pol_field "$variant/$size/$sessions/$round" "$what")") ;;
        esac
    done
    median "${values[@]}"
}
pol_ratio_median() {
    local round
    local -a values=()
    for ((round = 1; round <= policy_rounds; round++)); do values+=("$(pol_ratio "$1" "$2" "$round")"); done
    median "${values[@]}"
}
# cpu_cost ON OFF -> "+12.0%": the extra CPU per message with policy on
cpu_cost() { awk -v on="$1" -v off="$2" 'BEGIN { if (off > 0) printf "%+.1f%%", (on / off - 1) * 100; else printf "n/a" }'; }

policy_summary() {
    local size sessions round key_off key_on ratio
    if [[ $comparison == dkim ]]; then
        printf '\n##### DKIM signing on vs off (same run)\n\n'
        printf -- '- load: bench/policy_load.py (%s processes), one connection per message, EHLO, MAIL with SIZE=, 1 recipient, From: = envelope sender at a1.bench.smarthost.test; N = %s per run, %s round(s), order alternating (even rounds "on" first)\n' \
            "$client_processes" "$messages" "$policy_rounds"
        printf -- '- both: 1 account (127.0.0.0/8, bench.smarthost.test verified with subdomains, signing policy always), no limits, no DNSBL, a key-encryption key\n'
        printf -- '- off: no DKIM key, nothing signed; on: one active %s key (selector bench), every message signed (relaxed/relaxed, on the signing worker)\n' \
            "$([[ $dkim_algorithm == rsa-sha256 ]] && echo RSA-2048 || echo Ed25519)"
        printf -- '- signed messages on the "on" server: %s of %s stored\n' \
            "$(instance_sql policy-on "SELECT count(*) FROM messages WHERE substring(body from 1 for 15) = 'DKIM-Signature:'::bytea")" \
            "${pol_stored[on]}"
        printf -- '- txn = connect -> 250 after the final dot; cost = 1 - on/off (negative: within noise)\n\n'
    else
        printf '\n##### Policy on vs off (same run)\n\n'
        printf -- '- load: bench/policy_load.py (%s processes), one connection per message, EHLO, MAIL with SIZE=, 1 recipient, From: = envelope sender; message i from account i mod %s + 1 (its own source address 127.0.1.k and domain a<k>.bench.smarthost.test) to both servers; N = %s per run, %s round(s), order alternating (even rounds "on" first)\n' \
            "$client_processes" "$policy_accounts" "$messages" "$policy_rounds"
        # shellcheck disable=SC2016  # the backquotes are Markdown
        printf -- '- off: 1 account (127.0.0.0/8, bench.smarthost.test with subdomains), no limits, `sender_domain_verification = false`, no DNSBL\n'
        printf -- '- on: %s accounts, each owning one /32 and one verified sender domain (envelope and From: checked), limits %s (all per account; quota leased in blocks of at most 100), no DNSBL\n' \
            "$policy_accounts" "${policy_limits[*]}"
        printf -- '- txn = connect -> 250 after the final dot; cost = 1 - on/off (negative: within noise)\n\n'
    fi
    printf '| payload | sessions | round | off msg/s | on msg/s | on/off | policy cost | off txn p50 / p99 ms | on txn p50 / p99 ms | 1-min load before (off; on) |\n'
    printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    for size in $sizes; do
        for sessions in $session_counts; do
            for ((round = 1; round <= policy_rounds; round++)); do
                key_off="off/$size/$sessions/$round" key_on="on/$size/$sessions/$round"
                ratio=$(pol_ratio "$size" "$sessions" "$round")
                printf '| %s KiB | %s | %s | %.0f | %.0f | %.2f | %s | %s / %s | %s / %s | %s; %s |\n' \
                    "$((size / 1024))" "$sessions" "$round" \
                    "$(pol_field "$key_off" msgs_per_s)" "$(pol_field "$key_on" msgs_per_s)" "$ratio" "$(cost "$ratio")" \
                    "$(pol_field "$key_off" txn_p50_ms)" "$(pol_field "$key_off" txn_p99_ms)" \
                    "$(pol_field "$key_on" txn_p50_ms)" "$(pol_field "$key_on" txn_p99_ms)" \
                    "$(pol_field "$key_off" load1)" "$(pol_field "$key_on" load1)"
            done
            ratio=$(pol_ratio_median "$size" "$sessions")
            printf '| %s KiB | %s | **median** | %.0f | %.0f | **%.2f** | **%s** | %s / %s | %s / %s | |\n' \
                "$((size / 1024))" "$sessions" \
                "$(pol_median off "$size" "$sessions" msgs_per_s)" "$(pol_median on "$size" "$sessions" msgs_per_s)" \
                "$ratio" "$(cost "$ratio")" \
                "$(pol_median off "$size" "$sessions" txn_p50_ms)" "$(pol_median off "$size" "$sessions" txn_p99_ms)" \
                "$(pol_median on "$size" "$sessions" txn_p50_ms)" "$(pol_median on "$size" "$sessions" txn_p99_ms)"
        done
    done
    printf '\nCPU time per message, ms (user + system, medians over the rounds; the load generator not counted)\n\n'
    printf '| payload | sessions | smarthost off | smarthost on | extra | PostgreSQL off | PostgreSQL on | extra | client CPU s (off; on) |\n'
    printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    local cpu_off cpu_on pg_off pg_on
    for size in $sizes; do
        for sessions in $session_counts; do
            cpu_off=$(pol_median off "$size" "$sessions" cpu) cpu_on=$(pol_median on "$size" "$sessions" cpu)
            pg_off=$(pol_median off "$size" "$sessions" pg_cpu) pg_on=$(pol_median on "$size" "$sessions" pg_cpu)
            printf '| %s KiB | %s | %s | %s | %s | %s | %s | %s | %s; %s |\n' "$((size / 1024))" "$sessions" \
                "$cpu_off" "$cpu_on" "$(cpu_cost "$cpu_on" "$cpu_off")" "$pg_off" "$pg_on" "$(cpu_cost "$pg_on" "$pg_off")" \
                "$(pol_median off "$size" "$sessions" client_cpu_s)" "$(pol_median on "$size" "$sessions" client_cpu_s)"
        done
    done
    printf '\nPostgreSQL transactions per timed message (pg_stat_database of each database; statements outside a transaction block count as one; includes the check queries of the script, one per run): off %s, on %s\n' \
        "${pol_xacts[off]}" "${pol_xacts[on]}"
    [[ -n ${pol_postmaster[on]:-} ]] ||
        printf '\n(PostgreSQL CPU not measured: the cluster is not a process on this machine.)\n'
    [[ $comparison == dkim ]] && return 0
    printf '\nStored (checked after every run): policy-off %s, policy-on %s messages (from %s accounts); policy-on rate_usage: %s; policy refusals: %s\n' \
        "${pol_stored[off]}" "${pol_stored[on]}" "$pol_accounts_used" "$pol_usage" "$pol_rejections"
}

summary=$(
    printf '#### %s — %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -n)"
    machine_line
    if [[ $policy == only ]]; then
        printf -- '- smarthost %s (git %s); PostgreSQL %s\n' "$smarthost_version" "$git_rev" "$pg_version"
        policy_summary
        exit 0
    fi
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
    [[ $policy == 0 ]] || policy_summary
)

printf '\n%s\n' "$summary"
printf '%s\n' "$summary" >"$summary_file"
note "summary written to ${summary_file#"$repo_root"/}"
failed=0
