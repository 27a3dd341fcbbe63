#!/usr/bin/env bash
# Load benchmark: builds the bench servers in release mode and drives each workload with wrk
# over loopback, one server worker against one wrk thread, then reports medians and the ratio
# to a bare actix-web baseline measured in the same run. See BENCHMARKS.md.
#
#   bench/run.sh                      # every workload, 5 rounds of 10 s, plus the memory run
#   bench/run.sh --quick              # 1 round of 2 s, a 5 s memory run: checks the script
#   bench/run.sh imia-bearer ...      # only these workloads (the baseline always runs)
#
# Settings (environment): ROUNDS (5), DURATION (10s), WARMUP (3s), CONNECTIONS (32),
# MEMORY_SECONDS (60), MEMORY_WORKLOADS ("imia-bearer-protected imia-basic-cached-protected
# imia-session-protected"). Results go to bench/results/ (raw wrk output and summary.md).
set -euo pipefail

cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
MEMORY_SECONDS=${MEMORY_SECONDS:-60}
MEMORY_WORKLOADS=${MEMORY_WORKLOADS:-"imia-bearer-protected imia-basic-cached-protected imia-session-protected"}

selected=()
for arg in "$@"; do
    case "$arg" in
        --quick)
            ROUNDS=1 DURATION=2s WARMUP=1s MEMORY_SECONDS=5
            ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) selected+=("$arg") ;;
    esac
done

if ! command -v wrk >/dev/null; then
    echo "wrk is missing; installing the Debian package" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq wrk
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq wrk
    fi
fi
for tool in curl taskset cargo awk; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

# Not --locked: the library may gain a dependency before this lock file is refreshed.
cargo build --release --bin bench-server
server=./target/release/bench-server

# Pin the server to CPU 0 and wrk to CPU 1 when there are two CPUs or more.
if [ "$(nproc)" -ge 2 ]; then
    server_pin=(taskset -c 0)
    client_pin=(taskset -c 1)
else
    server_pin=()
    client_pin=()
fi

eval "$("$server" --credentials)"
BASIC=$(printf '%s:%s' "$USERNAME" "$PASSWORD" | base64 -w0)

mapfile -t all_workloads < <("$server" --list)
if [ ${#selected[@]} -eq 0 ]; then
    workloads=("${all_workloads[@]}")
else
    workloads=(baseline)
    for w in "${selected[@]}"; do
        printf '%s\n' "${all_workloads[@]}" | grep -qx -- "$w" || { echo "unknown workload $w" >&2; exit 2; }
        [ "$w" = baseline ] || workloads+=("$w")
    done
fi

results=results
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$results/raw-$stamp.txt"
summary="$results/summary.md"
: >"$raw"

server_pid=
started_pids=()
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
stop_all() {
    stop_server
    for pid in "${started_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    started_pids=()
}
trap stop_all EXIT

free_port() {
    local port=$((18000 + RANDOM % 2000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

# start_server WORKLOAD: starts it, waits until it answers, sets $port and $server_pid.
start_server() {
    port=$(free_port)
    "${server_pin[@]}" "$server" "$1" "$port" >/dev/null &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/hello"; then
            return 0
        fi
        sleep 0.1
    done
    echo "the $1 server did not start" >&2
    exit 1
}

# auth_header WORKLOAD: the one header the workload's clients send (logs in for sessions).
auth_header() {
    case "$1" in
        baseline) echo "" ;;
        imia-apikey*) echo "X-Api-Key: $TOKEN" ;;
        imia-bearer* | httpauth-bearer*) echo "Authorization: Bearer $TOKEN" ;;
        imia-basic*) echo "Authorization: Basic $BASIC" ;;
        *session*)
            local cookie
            cookie=$(curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$port/login" |
                awk 'tolower($1) == "set-cookie:" { sub(/;.*/, "", $2); print $2; exit }')
            [ -n "$cookie" ] || { echo "no session cookie from $1" >&2; exit 1; }
            echo "Cookie: $cookie"
            ;;
        *) echo "no credentials known for $1" >&2; exit 1 ;;
    esac
}

# run_wrk SECONDS_SPEC HEADER: one wrk run with latency percentiles, output on stdout.
run_wrk() {
    local args=(-t1 "-c$CONNECTIONS" "-d$1" --latency)
    [ -n "$2" ] && args+=(-H "$2")
    "${client_pin[@]}" wrk "${args[@]}" "http://127.0.0.1:$port/hello"
}

# requests/s and p99 in ms from wrk's output; fails on non-2xx answers or socket errors.
parse_wrk() {
    awk '
        /Non-2xx or 3xx responses/ { bad = 1 }
        /Socket errors/ { errors = $0 }
        /Requests\/sec:/ { rps = $2 }
        $1 == "99%" {
            v = $2
            if (v ~ /us$/) { sub(/us$/, "", v); p99 = v / 1000 }
            else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v }
            else if (v ~ /s$/) { sub(/s$/, "", v); p99 = v * 1000 }
        }
        END {
            if (bad) { print "non-2xx answers" > "/dev/stderr"; exit 1 }
            if (errors != "" && errors !~ /timeout 0$/) { print errors > "/dev/stderr" }
            printf "%s %s\n", rps, p99
        }'
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

declare -A RPS P99 PORT HEADER RPS_ROUNDS P99_ROUNDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== $(date -u) rounds=$ROUNDS duration=$DURATION warmup=$WARMUP connections=$CONNECTIONS load: $load_before"

# Every server runs for the whole measurement (idle ones cost nothing), so that each round
# measures every workload in turn: noise from the machine then spreads over all rows alike.
for w in "${workloads[@]}"; do
    start_server "$w"
    started_pids+=("$server_pid")
    server_pid=
    PORT[$w]=$port
    HEADER[$w]=$(auth_header "$w")
    status=$(curl -s -o /dev/null -w '%{http_code}' ${HEADER[$w]:+-H "${HEADER[$w]}"} "http://127.0.0.1:$port/hello")
    if [ "$status" != 200 ]; then
        echo "$w: GET /hello answered $status, expected 200" >&2
        exit 1
    fi
    run_wrk "$WARMUP" "${HEADER[$w]}" >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
    for w in "${workloads[@]}"; do
        port=${PORT[$w]}
        out=$(run_wrk "$DURATION" "${HEADER[$w]}")
        printf '### %s round %s\n%s\n' "$w" "$round" "$out" >>"$raw"
        read -r rps p99 < <(printf '%s\n' "$out" | parse_wrk)
        RPS_ROUNDS[$w]+="$rps "
        P99_ROUNDS[$w]+="$p99 "
    done
    echo "round $round of $ROUNDS done"
done
stop_all
for w in "${workloads[@]}"; do
    RPS[$w]=$(printf '%s\n' ${RPS_ROUNDS[$w]} | median)
    P99[$w]=$(printf '%s\n' ${P99_ROUNDS[$w]} | median)
    printf '%-30s %12.0f req/s  p99 %8.3f ms   (rounds: %s)\n' "$w" "${RPS[$w]}" "${P99[$w]}" "${RPS_ROUNDS[$w]}"
done

{
    echo "Run $stamp: $ROUNDS rounds of $DURATION per workload (each round runs every workload in turn) after a"
    echo "$WARMUP warm-up, wrk -t1 -c$CONNECTIONS, one server worker"
    echo "(server on CPU 0, wrk on CPU 1 when there are two). Load average (1, 5, 15 min) before: $load_before;"
    echo "after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r),"
    echo "$(rustc --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
    echo
    echo "| workload | req/s (median) | p99 ms (median) | req/s ratio to baseline | p99 ratio to baseline |"
    echo "|---|---:|---:|---:|---:|"
    for w in "${workloads[@]}"; do
        awk -v w="$w" -v r="${RPS[$w]}" -v p="${P99[$w]}" -v br="${RPS[baseline]}" -v bp="${P99[baseline]}" \
            'BEGIN { printf "| %s | %.0f | %.3f | %.3f | %.2f |\n", w, r, p, r / br, p / bp }'
    done
} >"$summary"

if [ "$MEMORY_SECONDS" -gt 0 ]; then
    {
        echo
        echo "Memory (VmRSS, KiB): after start, after the warm-up, after ${MEMORY_SECONDS} s more of load."
        echo
        echo "| workload | start | after warm-up | after ${MEMORY_SECONDS} s | growth after warm-up |"
        echo "|---|---:|---:|---:|---:|"
    } >>"$summary"
    for w in $MEMORY_WORKLOADS; do
        printf '%s\n' "${workloads[@]}" | grep -qx -- "$w" || continue
        start_server "$w"
        header=$(auth_header "$w")
        start_rss=$(rss_kib "$server_pid")
        run_wrk "$WARMUP" "$header" >/dev/null
        warm_rss=$(rss_kib "$server_pid")
        run_wrk "${MEMORY_SECONDS}s" "$header" | parse_wrk >/dev/null
        end_rss=$(rss_kib "$server_pid")
        stop_server
        printf '| %s | %s | %s | %s | %+d |\n' "$w" "$start_rss" "$warm_rss" "$end_rss" $((end_rss - warm_rss)) >>"$summary"
        echo "$w memory: start $start_rss KiB, warm $warm_rss KiB, after ${MEMORY_SECONDS}s $end_rss KiB"
    done
fi

echo
cat "$summary"
echo
echo "raw wrk output: bench/$raw"
