#!/usr/bin/env bash
# Soak test of lattice-sidecar (not run in CI): 1,000,000 signed requests at 64 concurrent
# keep-alive connections through a release sidecar to the local Lattice emulator, sampling
# the sidecar's RSS and open fds every 5 s. PASS if every request got a 2xx and both
# stay within 10% (max vs min) once warmed up.
#
#   bench/soak.sh                         # defaults below
#   SOAK_REQUESTS=200000 bench/soak.sh    # shorter run
#   SOAK_PROTO=h2c bench/soak.sh          # h2c from the client instead of HTTP/1.1
#
# Load generator: h2load (nghttp2-client), because `-n` is an exact request count
# (wrk only runs for a duration). `--h1` makes it speak HTTP/1.1 keep-alive, the way most
# applications talk to a sidecar; each of the 64 connections has one request in flight.
#
# Everything listens on 127.0.0.1 only. Output: target/soak/ (CSV, logs, h2load report, /metrics).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQUESTS=${SOAK_REQUESTS:-1000000}
CONNECTIONS=${SOAK_CONNECTIONS:-64}
PROTO=${SOAK_PROTO:-h1}
INTERVAL=${SOAK_INTERVAL:-5}
# Samples taken before this many seconds of load are warm-up (pools, allocator arenas).
WARMUP=${SOAK_WARMUP:-10}
TOLERANCE_PCT=${SOAK_TOLERANCE_PCT:-10}
OUT=${SOAK_OUT:-${CARGO_TARGET_DIR:-$ROOT/target}/soak}
# Free loopback ports unless given (the kernel picks; released just before use).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
EMU_HTTPS=${SOAK_EMU_HTTPS:-127.0.0.1:$(free_port)}
EMU_HTTP=${SOAK_EMU_HTTP:-127.0.0.1:$(free_port)}
SIDECAR=${SOAK_SIDECAR:-127.0.0.1:$(free_port)}
ADMIN=${SOAK_ADMIN:-127.0.0.1:$(free_port)}
ORDERS_HOST=orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws
# The emulator's built-in test identity: static fake credentials, never real ones.
FAKE_AKID=AKIDLATTICEEMULATOR
FAKE_SECRET=lattice/emulator/secret/key/EXAMPLEKEY

command -v h2load >/dev/null || { echo "h2load not found: apt-get install -y nghttp2-client" >&2; exit 2; }
for addr in "$EMU_HTTPS" "$EMU_HTTP" "$SIDECAR" "$ADMIN"; do
    case $addr in 127.*) ;; *) echo "$addr is not loopback" >&2; exit 2 ;; esac
done

mkdir -p "$OUT"
CSV=$OUT/soak.csv
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== building (release)"
(cd "$ROOT" && cargo build --release -p lattice-sidecar --all-features \
    && cargo build --release -p lattice-emulator)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

wait_http() { # url, seconds
    local deadline=$((SECONDS + $2))
    until curl -fsS --noproxy '*' -o /dev/null "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "timed out waiting for $1" >&2; return 1; }
        sleep 0.2
    done
}

echo "== starting the emulator on $EMU_HTTPS"
# A CA file left by an earlier run would pass the wait below before the new one is written.
rm -f "$OUT/emulator-ca.pem"
env -i PATH="$PATH" RUST_LOG=warn "$BIN/lattice-emulator" \
    --https-listen "$EMU_HTTPS" --http-listen "$EMU_HTTP" --write-ca "$OUT/emulator-ca.pem" \
    >"$OUT/emulator.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 30))
until [[ -s $OUT/emulator-ca.pem ]]; do
    ((SECONDS < deadline)) || { echo "emulator did not start" >&2; cat "$OUT/emulator.log" >&2; exit 1; }
    sleep 0.2
done

echo "== starting the sidecar on $SIDECAR"
# A clean environment: static fake credentials, no IMDS, no host profile.
env -i PATH="$PATH" HOME="$OUT" AWS_REGION=us-west-2 AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_ACCESS_KEY_ID=$FAKE_AKID AWS_SECRET_ACCESS_KEY=$FAKE_SECRET \
    "$BIN/lattice-sidecar" --listen "$SIDECAR" --admin-listen "$ADMIN" \
    --upstream "https://$ORDERS_HOST" --ca-file "$OUT/emulator-ca.pem" \
    --resolve "$ORDERS_HOST:443:$EMU_HTTPS" --log warn \
    >"$OUT/sidecar.log" 2>&1 &
SIDECAR_PID=$!
pids+=("$SIDECAR_PID")
wait_http "http://$ADMIN/readyz" 30
curl -fsS --noproxy '*' -o /dev/null "http://$SIDECAR/soak" # one signed request end to end

sample() { # phase
    local rss fds threads
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SIDECAR_PID/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$SIDECAR_PID/status")
    fds=$(find "/proc/$SIDECAR_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    echo "$(date -u +%FT%TZ),$((SECONDS - LOAD_START)),$1,$rss,$fds,$threads" >>"$CSV"
}

echo "unix_time_utc,elapsed_s,phase,rss_kib,fds,threads" >"$CSV"
LOAD_START=$SECONDS
sample idle

proto_args=(--h1)
[[ $PROTO == h2c ]] && proto_args=()
echo "== h2load -n $REQUESTS -c $CONNECTIONS ${proto_args[*]} http://$SIDECAR/soak"
h2load -n "$REQUESTS" -c "$CONNECTIONS" "${proto_args[@]}" "http://$SIDECAR/soak" \
    >"$OUT/h2load.txt" 2>&1 &
LOAD_PID=$!
while kill -0 "$LOAD_PID" 2>/dev/null; do
    sleep "$INTERVAL" &
    # Wake early when h2load ends; `wait -n` returns on whichever finishes first.
    wait -n "$!" "$LOAD_PID" 2>/dev/null || true
    kill -0 "$LOAD_PID" 2>/dev/null && sample load
done
wait "$LOAD_PID" && load_rc=0 || load_rc=$?
LOAD_SECS=$((SECONDS - LOAD_START))
sleep 2
sample after
curl -fsS --noproxy '*' "http://$ADMIN/metrics" >"$OUT/metrics.txt"

cat "$OUT/h2load.txt" | sed -n '/^finished in/,$p'
echo "== samples ($CSV)"
column -s, -t "$CSV"

verdict=PASS
fail() { echo "FAIL: $*"; verdict=FAIL; }
((load_rc == 0)) || fail "h2load exited $load_rc"
ok2xx=$(awk '/^status codes:/ {print $3}' "$OUT/h2load.txt")
[[ ${ok2xx:-0} -eq $REQUESTS ]] || fail "only ${ok2xx:-0} of $REQUESTS requests got 2xx"
kill -0 "$SIDECAR_PID" 2>/dev/null || fail "the sidecar died"

# Flatness: load-phase samples after warm-up, (max - min) / min within the tolerance. The
# last load sample is left out: h2load -n splits the requests evenly, so connections that
# finish their share close while others still run, and that wind-down is not a trend.
flat() { # column name
    awk -F, -v col="$1" -v warm="$WARMUP" -v tol="$TOLERANCE_PCT" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
        $3 == "load" && $2 >= warm { vals[++total] = $c + 0 }
        END {
            for (i = 1; i < total; i++) {
                v = vals[i]; n++
                if (n == 1 || v < min) min = v
                if (v > max) max = v
            }
            if (n < 2) { printf "%s: only %d post-warm-up samples\n", col, n; exit 1 }
            pct = (max - min) * 100 / min
            printf "%s: %d samples, min %d max %d, spread %.1f%% (limit %d%%)\n", col, n, min, max, pct, tol
            exit (pct > tol)
        }' "$CSV"
}
flat rss_kib || fail "RSS not flat"
flat fds || fail "fd count not flat"
# Once the clients are gone, their sockets must be too (no leaked connections).
idle_fds=$(awk -F, '$3 == "idle" {print $5}' "$CSV")
after_fds=$(awk -F, '$3 == "after" {print $5}' "$CSV")
echo "fds: $idle_fds before the load, $after_fds after it"
((after_fds <= idle_fds + 2)) || fail "fds not released after the load ($idle_fds -> $after_fds)"

echo "load: $REQUESTS requests in ${LOAD_SECS}s (c=$CONNECTIONS, $PROTO)"
echo "$verdict"
[[ $verdict == PASS ]]
