#!/usr/bin/env bash
# Sidecar benchmark: the load tool straight to a fast local TLS upstream vs through
# lattice-sidecar (plain HTTP/h2c in, TLS out). Loopback only; every load run is bounded.
#
#   cargo build --release -p lattice-sidecar -p bench-upstream
#   bench/sidecar.sh                 # full run (DURATION=10 s per throughput run)
#   DURATION=3 bench/sidecar.sh      # quick run
#
# Environment: DURATION (s, throughput/c=256 runs), LAT_SECS (s per fixed-rate latency
# run), RATE (req/s for latency), ROUNDS (interleaved rounds of the HTTP/1.1 throughput and
# the latency runs), STREAM_BYTES (upload/download size), TTFB_RUNS,
# SIDECAR_WORKERS (the sidecar's --workers, serving threads; default: one per core),
# NGINX (path of nginx for the reference-proxy rows; default: nginx on PATH, skipped if none).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
LAT_SECS="${LAT_SECS:-10}"
RATE="${RATE:-200}"
STREAM_BYTES="${STREAM_BYTES:-1073741824}"
TTFB_RUNS="${TTFB_RUNS:-5}"
ROUNDS="${ROUNDS:-3}"
CONNS=64
CONNS_HIGH=256
SIDECAR_BIN="${SIDECAR_BIN:-$ROOT/target/release/lattice-sidecar}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$ROOT/target/release/bench-upstream}"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints DURATION LAT_SECS RATE ROUNDS STREAM_BYTES TTFB_RUNS
require_tools "sudo apt-get install -y wrk nghttp2-client curl gawk iproute2" \
  wrk h2load curl awk ss getconf
require_executables "build with: cargo build --release -p lattice-sidecar -p bench-upstream" \
  "$SIDECAR_BIN" "$UPSTREAM_BIN"

BENCH_NAME=sidecar-bench
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

CLK_TCK="$(getconf CLK_TCK)"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# Reset VmHWM to the current RSS (Linux >= 4.0, `5` in clear_refs).
reset_hwm() { echo 5 >"/proc/$1/clear_refs"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# --- machine ---------------------------------------------------------------------
MACHINE_NPROC="$(nproc)"
MACHINE_KERNEL="$(uname -r)"
MACHINE_CPU="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
MACHINE_LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
log "machine: nproc=$MACHINE_NPROC kernel=$MACHINE_KERNEL cpu=$MACHINE_CPU load=$MACHINE_LOAD"

start_upstream_and_sidecar
SC="http://127.0.0.1:$SC_PORT"
DIRECT="https://127.0.0.1:${UP_TLS##*:}"
DIRECT_H2C="http://$UP_PLAIN"
sleep 1
IDLE_RSS_KB="$(rss_kb "$SC_PID")"
log "upstream https=$UP_TLS http=$UP_PLAIN; sidecar $SC (pid $SC_PID), idle RSS $(mb "$IDLE_RSS_KB") MB"

# --- reference proxy: nginx, forwarding the same way but without signing ---------------
# What a mature event-loop proxy costs on this machine: plain HTTP/1.1 in, TLS (verified,
# pooled keep-alive) out. Optional: `apt-get install -y nginx-light`.
start_nginx

# Sanity: both paths answer 200 with the 1 KiB body (a 4xx/5xx would make the numbers lies).
for url in "$DIRECT/" "$SC/"; do
  size="$(curl -fsS -k -o /dev/null -w '%{size_download}' "$url")"
  [[ "$size" == 1024 ]] || { echo "unexpected response from $url (size $size)" >&2; exit 1; }
done

# --- throughput -------------------------------------------------------------------
# wrk_run URL CONNS -> RESULT="requests/s total_requests"; fails on any non-2xx or socket error.
wrk_run() {
  local out
  run_load "$WORK/load.out" wrk -t2 -c"$2" -d"${DURATION}s" --timeout 10s "$1"
  out="$(cat "$WORK/load.out")"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "wrk reported errors against $1:" >&2
    echo "$out" >&2
    return 1
  fi
  RESULT="$(awk '/^Requests\/sec:/ {rps = $2} / requests in / {n = $1} END {print rps, n}' <<<"$out")"
}
# h2_run URL CONNS STREAMS -> RESULT="requests/s total_requests"; fails on any failed/non-2xx.
h2_run() {
  local out
  run_load "$WORK/load.out" h2load -t2 -c"$2" -m"$3" -D"$DURATION" "$1"
  out="$(cat "$WORK/load.out")"
  local ok
  ok="$(awk '/^requests:/ {print ($10 + $12 + $14 == 0) ? "y" : "n"} /^status codes:/ {print ($7 + $9 == 0) ? "y" : "n"}' <<<"$out" | sort -u)"
  if [[ "$ok" != "y" ]]; then
    echo "h2load reported failures against $1:" >&2
    echo "$out" >&2
    return 1
  fi
  # "finished in 10.00s, 12345.67 req/s, ..." and "requests: N total, N started, N done, N succeeded"
  RESULT="$(awk '/^finished in/ {gsub(",", "", $4); rps = $4} /^requests:/ {n = $8} END {print rps, n}' <<<"$out")"
}

# per100k TICKS REQUESTS -> CPU seconds per 100k requests
per100k() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN {printf "%.2f", t / hz / n * 100000}'; }
# spread X... ("low to high"); median and ratio are in common.sh.
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo " to " hi}'; }
# rotated KINDS ROUND -> the names in KINDS, starting ROUND places in, one per line
rotated() {
  local -n kinds="$1"
  local k n=${#kinds[@]}
  for ((k = 0; k < n; k++)); do echo "${kinds[($2 + k) % n]}"; done
}
# signed N -> "+N" or "-N", for added latencies ("-" when there is no figure)
signed() { if [[ ! "$1" =~ ^-?[0-9]+$ ]] || (($1 < 0)); then echo "$1"; else echo "+$1"; fi; }

# The two bars this machine cannot settle in one pass (HTTP/1.1 throughput and added p50)
# run in ROUNDS interleaved rounds: each round times direct, sidecar and nginx back to back,
# in an order rotated every round, and the bar is the median of the per-round ratios.
# The box drifts by up to 25% within minutes (direct HTTP/1.1 went from 84.0k to 64.0k req/s
# between two runs four minutes apart), which a ratio of two runs minutes apart would
# inherit; within a round the compared runs are seconds apart.
H1_KINDS=(direct sidecar)
[[ -n "$NGX" ]] && H1_KINDS+=(nginx)
declare -A H1_URL=([direct]="$DIRECT/" [sidecar]="$SC/" [nginx]="$NGX/")
declare -A H1_RPS=()
SC_TICKS=0 SC_REQS=0 UP_TICKS_DIRECT=0 UP_REQS_DIRECT=0 UP_TICKS_SIDECAR=0
H1_RATIOS=() H1_NGINX_RATIOS=()
for ((round = 0; round < ROUNDS; round++)); do
  for kind in $(rotated H1_KINDS "$round"); do
    log "throughput: round $((round + 1))/$ROUNDS, HTTP/1.1 c=$CONNS ${DURATION}s $kind"
    t0="$(cpu_ticks "$SC_PID")"
    u0="$(cpu_ticks "$UPSTREAM_PID")"
    wrk_run "${H1_URL[$kind]}" "$CONNS"
    t1="$(cpu_ticks "$SC_PID")"
    u1="$(cpu_ticks "$UPSTREAM_PID")"
    read -r rps n <<<"$RESULT"
    H1_RPS[$kind,$round]="$rps"
    case "$kind" in
      direct) UP_TICKS_DIRECT=$((UP_TICKS_DIRECT + u1 - u0)) UP_REQS_DIRECT=$((UP_REQS_DIRECT + n)) ;;
      sidecar)
        SC_TICKS=$((SC_TICKS + t1 - t0)) SC_REQS=$((SC_REQS + n))
        UP_TICKS_SIDECAR=$((UP_TICKS_SIDECAR + u1 - u0))
        ;;
    esac
  done
  H1_RATIOS+=("$(ratio "${H1_RPS[sidecar,$round]}" "${H1_RPS[direct,$round]}")")
  [[ -n "$NGX" ]] && H1_NGINX_RATIOS+=("$(ratio "${H1_RPS[nginx,$round]}" "${H1_RPS[direct,$round]}")")
  log "round $((round + 1)): direct ${H1_RPS[direct,$round]} req/s, sidecar ${H1_RPS[sidecar,$round]} (${H1_RATIOS[-1]}), nginx ${H1_RPS[nginx,$round]:--}${NGX:+ (${H1_NGINX_RATIOS[-1]})}"
done
# per_round TABLE KIND -> TABLE[KIND,round] for every round, one per line
per_round() {
  local -n table="$1"
  local r
  for ((r = 0; r < ROUNDS; r++)); do echo "${table[$2,$r]}"; done
}
# shellcheck disable=SC2046 # one number per line, split on purpose
H1_DIRECT="$(median $(per_round H1_RPS direct))"
# shellcheck disable=SC2046
H1_SIDECAR="$(median $(per_round H1_RPS sidecar))"
H1_CPU="$(per100k "$SC_TICKS" "$SC_REQS")"
H1_UP_CPU_DIRECT="$(per100k "$UP_TICKS_DIRECT" "$UP_REQS_DIRECT")"
H1_UP_CPU_SIDECAR="$(per100k "$UP_TICKS_SIDECAR" "$SC_REQS")"
H1_RATIO="$(median "${H1_RATIOS[@]}")"
H1_RATIO_SPREAD="$(spread "${H1_RATIOS[@]}")"
H1_NGINX="-" H1_NGINX_RATIO="-" H1_NGINX_SPREAD="-"
if [[ -n "$NGX" ]]; then
  # shellcheck disable=SC2046
  H1_NGINX="$(median $(per_round H1_RPS nginx))"
  H1_NGINX_RATIO="$(median "${H1_NGINX_RATIOS[@]}")"
  H1_NGINX_SPREAD="$(spread "${H1_NGINX_RATIOS[@]}")"
fi

# h2: 8 connections x 8 streams = 64 concurrent requests.
log "throughput: h2 64 streams ${DURATION}s direct (TLS, ALPN h2)"
h2_run "$DIRECT/" 8 8
read -r H2_DIRECT _ <<<"$RESULT"
log "throughput: h2c 64 streams ${DURATION}s direct (plain h2c listener)"
h2_run "$DIRECT_H2C/" 8 8
read -r H2C_DIRECT _ <<<"$RESULT"
log "throughput: h2c 64 streams ${DURATION}s through the sidecar (h2 out)"
t0="$(cpu_ticks "$SC_PID")"
h2_run "$SC/" 8 8
read -r H2_SIDECAR H2_SIDECAR_N <<<"$RESULT"
t1="$(cpu_ticks "$SC_PID")"
H2_CPU="$(per100k $((t1 - t0)) "$H2_SIDECAR_N")"

# --- latency at a fixed rate ------------------------------------------------------
# h2load --rps paces each client's requests on a timer (open loop at this low rate, since
# a response takes far less than the 5 ms interval) and --log-file records every request's
# duration in microseconds, so percentiles are exact, not histogram estimates.
# lat_run NAME URL [h2load flags...] -> RESULT="p50_us p99_us count"
lat_run() {
  local name="$1" url="$2" n=$((RATE * LAT_SECS))
  shift 2
  rm -f "$WORK/lat-$name.tsv"
  # One connection: each request is the only one in flight, so this is the per-request cost.
  run_load "$WORK/load.out" h2load -t1 -c1 -m1 --rps="$RATE" -n"$n" \
    --log-file="$WORK/lat-$name.tsv" "$@" "$url"
  # Every request must have completed with 200.
  RESULT="$(awk -v n="$n" '$2 != 200 {bad++} {print $3} END {if (bad || NR != n) exit 1}' \
    "$WORK/lat-$name.tsv" | sort -n | awk '{v[NR] = $1} END {
      i50 = int(NR * 0.50 + 0.5); i99 = int(NR * 0.99 + 0.5)
      if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
      print v[i50], v[i99], NR}')"
}
# Interleaved like the HTTP/1.1 throughput: every round measures each path once, in a
# rotated order, and the added latency is the median of the per-round differences.
LAT_KINDS=(h1-direct h1-sidecar h2-direct h2-sidecar)
[[ -n "$NGX" ]] && LAT_KINDS+=(h1-nginx)
declare -A LAT_ARGS=([h1-direct]="$DIRECT/ --h1" [h1-sidecar]="$SC/ --h1" [h1-nginx]="$NGX/ --h1"
  [h2-direct]="$DIRECT/" [h2-sidecar]="$SC/")
declare -A P50=() P99=()
ADD1_P50=() ADD1_P99=() ADD2_P50=() ADD2_P99=() ADDN_P50=() ADDN_P99=()
for ((round = 0; round < ROUNDS; round++)); do
  log "latency: round $((round + 1))/$ROUNDS, ${RATE} req/s x ${LAT_SECS}s on each of ${LAT_KINDS[*]}"
  for kind in $(rotated LAT_KINDS "$round"); do
    # shellcheck disable=SC2086 # URL and flags, split on purpose
    lat_run "$kind" ${LAT_ARGS[$kind]}
    read -r "P50[$kind,$round]" "P99[$kind,$round]" _ <<<"$RESULT"
  done
  ADD1_P50+=($((${P50[h1-sidecar,$round]} - ${P50[h1-direct,$round]})))
  ADD1_P99+=($((${P99[h1-sidecar,$round]} - ${P99[h1-direct,$round]})))
  ADD2_P50+=($((${P50[h2-sidecar,$round]} - ${P50[h2-direct,$round]})))
  ADD2_P99+=($((${P99[h2-sidecar,$round]} - ${P99[h2-direct,$round]})))
  if [[ -n "$NGX" ]]; then
    ADDN_P50+=($((${P50[h1-nginx,$round]} - ${P50[h1-direct,$round]})))
    ADDN_P99+=($((${P99[h1-nginx,$round]} - ${P99[h1-direct,$round]})))
  fi
  nginx_added="-"
  [[ -n "$NGX" ]] && nginx_added="${ADDN_P50[-1]} µs"
  log "round $((round + 1)): added p50 HTTP/1.1 ${ADD1_P50[-1]} µs, h2 ${ADD2_P50[-1]} µs, nginx $nginx_added"
done
# shellcheck disable=SC2046
{
  L1D_P50="$(median $(per_round P50 h1-direct))" L1D_P99="$(median $(per_round P99 h1-direct))"
  L1S_P50="$(median $(per_round P50 h1-sidecar))" L1S_P99="$(median $(per_round P99 h1-sidecar))"
  L2D_P50="$(median $(per_round P50 h2-direct))" L2D_P99="$(median $(per_round P99 h2-direct))"
  L2S_P50="$(median $(per_round P50 h2-sidecar))" L2S_P99="$(median $(per_round P99 h2-sidecar))"
}
ADD_P50_1="$(median "${ADD1_P50[@]}")" ADD_P99_1="$(median "${ADD1_P99[@]}")"
ADD_P50_2="$(median "${ADD2_P50[@]}")" ADD_P99_2="$(median "${ADD2_P99[@]}")"
ADD_P50_1_SPREAD="$(spread "${ADD1_P50[@]}")" ADD_P50_2_SPREAD="$(spread "${ADD2_P50[@]}")"
L1N_P50="-" L1N_P99="-" ADD_P50_N="-" ADD_P99_N="-" ADD_P50_N_SPREAD="-"
if [[ -n "$NGX" ]]; then
  # shellcheck disable=SC2046
  L1N_P50="$(median $(per_round P50 h1-nginx))" L1N_P99="$(median $(per_round P99 h1-nginx))"
  ADD_P50_N="$(median "${ADDN_P50[@]}")" ADD_P99_N="$(median "${ADDN_P99[@]}")"
  ADD_P50_N_SPREAD="$(spread "${ADDN_P50[@]}")"
fi

# --- streaming: TTFB --------------------------------------------------------------
# Median over TTFB_RUNS of curl's time_starttransfer for /stream?secs=3. Direct runs pay a
# TLS handshake each time; the sidecar has a pooled upstream connection, as in production.
# So the direct figure is measured from the end of the handshake (starttransfer - appconnect).
# ttfb_run CURL_ARGS... -> RESULT="median_ttfb_ms its_total_s"
ttfb_run() {
  local i
  : >"$WORK/ttfb.all"
  for ((i = 0; i < TTFB_RUNS; i++)); do
    run_load "$WORK/load.out" curl -fsS --max-time 20 -o /dev/null \
      -w '%{time_starttransfer} %{time_appconnect} %{time_total}\n' "$@"
    cat "$WORK/load.out" >>"$WORK/ttfb.all"
  done
  RESULT="$(awk '{t = $1 - ($2 > 0 ? $2 : 0); print t * 1000, $3}' "$WORK/ttfb.all" | sort -n |
    awk '{v[NR] = $1; tot[NR] = $2} END {m = int((NR + 1) / 2); printf "%.2f %.2f\n", v[m], tot[m]}')"
}
log "streaming: TTFB of /stream?secs=3 x $TTFB_RUNS, direct and through the sidecar"
ttfb_run --cacert "$WORK/ca.pem" \
  --resolve "$HOST:${UP_TLS##*:}:127.0.0.1" "https://$HOST:${UP_TLS##*:}/stream?secs=3"
read -r TTFB_DIRECT TTFB_DIRECT_TOTAL <<<"$RESULT"
ttfb_run "$SC/stream?secs=3"
read -r TTFB_SIDECAR TTFB_SIDECAR_TOTAL <<<"$RESULT"

# --- streaming: 1 GB up and down --------------------------------------------------
# transfer URL [curl args...] -> RESULT="MB/s peak_sidecar_rss_kb"; peak = VmHWM after reset.
transfer() {
  local url="$1"
  shift
  reset_hwm "$SC_PID"
  run_load "$WORK/load.out" curl -fsS --max-time 300 -H 'Expect:' \
    -w '%{speed_download} %{speed_upload}\n' "$@" "$url"
  RESULT="$(awk '{v = $1 > $2 ? $1 : $2; printf "%.0f", v / 1048576}' "$WORK/load.out") $(hwm_kb "$SC_PID")"
}
# upload URL [curl args...]: transfer with STREAM_BYTES zeros on curl's stdin, via a FIFO.
upload() {
  rm -f "$WORK/upload.fifo"
  mkfifo "$WORK/upload.fifo"
  head -c "$STREAM_BYTES" /dev/zero >"$WORK/upload.fifo" &
  FEED_PID=$!
  LOAD_STDIN="$WORK/upload.fifo" transfer "$@" -T -
  wait "$FEED_PID" || true
  FEED_PID=""
}
log "streaming: $STREAM_BYTES bytes download and upload, direct and through the sidecar"
transfer "$DIRECT/download?bytes=$STREAM_BYTES" -k -o /dev/null
read -r DL_DIRECT_MBS _ <<<"$RESULT"
transfer "$SC/download?bytes=$STREAM_BYTES" -o /dev/null
read -r DL_SIDECAR_MBS DL_HWM <<<"$RESULT"
upload "$DIRECT/upload" -k -o "$WORK/ul-direct.body"
read -r UL_DIRECT_MBS _ <<<"$RESULT"
upload "$SC/upload" -o "$WORK/ul-sidecar.body"
read -r UL_SIDECAR_MBS UL_HWM <<<"$RESULT"
[[ "$(cat "$WORK/ul-sidecar.body")" == "$STREAM_BYTES" ]] ||
  { echo "upstream received $(cat "$WORK/ul-sidecar.body") bytes, not $STREAM_BYTES" >&2; exit 1; }
rm -f "$WORK"/*.body

# --- memory at c=256 --------------------------------------------------------------
log "memory: HTTP/1.1 c=$CONNS_HIGH ${DURATION}s through the sidecar"
reset_hwm "$SC_PID"
wrk_run "$SC/" "$CONNS_HIGH"
read -r H1_256 _ <<<"$RESULT"
HIGH_HWM="$(hwm_kb "$SC_PID")"
sleep 2
IDLE_AFTER_KB="$(rss_kb "$SC_PID")"

# --- summary ----------------------------------------------------------------------
check() { if awk "BEGIN {exit !($1)}"; then echo PASS; else echo FAIL; fi; }
TTFB_DELTA="$(awk -v a="$TTFB_SIDECAR" -v b="$TTFB_DIRECT" 'BEGIN {printf "%.2f", a - b}')"
PEAK_STREAM_KB=$((DL_HWM > UL_HWM ? DL_HWM : UL_HWM))

cat <<EOF

## Sidecar benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)

Machine: nproc $MACHINE_NPROC, kernel $MACHINE_KERNEL, $MACHINE_CPU, load average at start $MACHINE_LOAD
Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); sidecar workers: ${SIDECAR_WORKERS:-one per core}, logging RUST_LOG=warn (no access log)
Settings: DURATION=${DURATION}s, latency ${RATE} req/s x ${LAT_SECS}s, streams ${STREAM_BYTES} B, TTFB median of $TTFB_RUNS, ROUNDS=$ROUNDS
HTTP/1.1 throughput and all latency rows: medians over $ROUNDS interleaved rounds; their ratios and added latencies are the medians of the per-round values, with the range over rounds in brackets.

| measure | direct | sidecar | sidecar/direct or added |
|---|---|---|---|
| HTTP/1.1 req/s, c=$CONNS, 1 KiB (wrk) | $H1_DIRECT | $H1_SIDECAR | $H1_RATIO ($H1_RATIO_SPREAD) |
| h2 req/s, 8 conns x 8 streams (h2load; direct h2 over TLS) | $H2_DIRECT | $H2_SIDECAR | $(ratio "$H2_SIDECAR" "$H2_DIRECT") |
| h2c req/s, same, direct to the plain h2c listener | $H2C_DIRECT | $H2_SIDECAR | $(ratio "$H2_SIDECAR" "$H2C_DIRECT") |
| HTTP/1.1 p50 / p99 µs at $RATE req/s | $L1D_P50 / $L1D_P99 | $L1S_P50 / $L1S_P99 | $(signed "$ADD_P50_1") ($ADD_P50_1_SPREAD) / $(signed "$ADD_P99_1") µs |
| h2 p50 / p99 µs at $RATE req/s | $L2D_P50 / $L2D_P99 | $L2S_P50 / $L2S_P99 | $(signed "$ADD_P50_2") ($ADD_P50_2_SPREAD) / $(signed "$ADD_P99_2") µs |
| TTFB ms, /stream over 3 s (total s) | $TTFB_DIRECT ($TTFB_DIRECT_TOTAL) | $TTFB_SIDECAR ($TTFB_SIDECAR_TOTAL) | +$TTFB_DELTA ms |
| download of $STREAM_BYTES B, MB/s | $DL_DIRECT_MBS | $DL_SIDECAR_MBS | $(ratio "$DL_SIDECAR_MBS" "$DL_DIRECT_MBS") |
| upload of $STREAM_BYTES B, MB/s | $UL_DIRECT_MBS | $UL_SIDECAR_MBS | $(ratio "$UL_SIDECAR_MBS" "$UL_DIRECT_MBS") |
| sidecar peak RSS MB during the download / upload | | $(mb "$DL_HWM") / $(mb "$UL_HWM") | |
| sidecar RSS MB idle at start / after the runs | | $(mb "$IDLE_RSS_KB") / $(mb "$IDLE_AFTER_KB") | |
| sidecar peak RSS MB at c=$CONNS_HIGH (req/s) | | $(mb "$HIGH_HWM") ($H1_256) | |
| sidecar CPU s per 100k requests, HTTP/1.1 / h2c | | $H1_CPU / $H2_CPU | |
| upstream CPU s per 100k requests, HTTP/1.1 run | $H1_UP_CPU_DIRECT | $H1_UP_CPU_SIDECAR | |
| reference: nginx (same forward, no signing), HTTP/1.1 req/s c=$CONNS | $H1_DIRECT | $H1_NGINX | $H1_NGINX_RATIO ($H1_NGINX_SPREAD) |
| reference: nginx, HTTP/1.1 p50 / p99 µs at $RATE req/s | $L1D_P50 / $L1D_P99 | $L1N_P50 / $L1N_P99 | $(signed "$ADD_P50_N") ($ADD_P50_N_SPREAD) / $(signed "$ADD_P99_N") µs |

| bar | value | result |
|---|---|---|
| HTTP/1.1 throughput >= 60% of direct | $H1_RATIO (nginx $H1_NGINX_RATIO) | $(check "$H1_RATIO >= 0.60") |
| added p50 latency <= 100 µs (HTTP/1.1; h2) | $ADD_P50_1; $ADD_P50_2 µs (nginx $ADD_P50_N) | $(check "$ADD_P50_1 <= 100") ; $(check "$ADD_P50_2 <= 100") |
| TTFB within 5 ms of direct | $TTFB_DELTA ms | $(check "$TTFB_DELTA <= 5") |
| peak RSS during the $STREAM_BYTES-byte streams <= 40 MB | $(mb "$PEAK_STREAM_KB") MB | $(check "$PEAK_STREAM_KB <= 40 * 1024") |
| idle RSS <= 12 MB | $(mb "$IDLE_RSS_KB") MB | $(check "$IDLE_RSS_KB <= 12 * 1024") |

Commands (ports vary per run):
- upstream: $UPSTREAM_BIN --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --host $HOST --write-ca CA
- sidecar: ${SIDECAR_CMD[*]}
  (env: AWS_ACCESS_KEY_ID=AKIDEXAMPLE, AWS_SECRET_ACCESS_KEY=<fake>, AWS_EC2_METADATA_DISABLED=true, AWS_REGION=us-west-2)
- throughput: wrk -t2 -c$CONNS -d${DURATION}s --timeout 10s {$DIRECT/, $SC/, nginx}, $ROUNDS rounds;
  h2load -t2 -c8 -m8 -D$DURATION {$DIRECT/, $DIRECT_H2C/, $SC/}
- latency: h2load -t1 -c1 -m1 --rps=$RATE -n$((RATE * LAT_SECS)) --log-file=F [--h1] {$DIRECT/, $SC/, nginx (--h1)}, $ROUNDS rounds
- TTFB: curl -w '%{time_starttransfer} %{time_appconnect}' {https://$HOST:${UP_TLS##*:}/stream?secs=3 --cacert CA, $SC/stream?secs=3}
- streams: curl -H 'Expect:' {-o F URL/download?bytes=$STREAM_BYTES, -T - URL/upload < head -c $STREAM_BYTES /dev/zero}; VmHWM after echo 5 > /proc/PID/clear_refs
- c=$CONNS_HIGH: wrk -t2 -c$CONNS_HIGH -d${DURATION}s $SC/
- reference: ${NGINX:-nginx} $( [[ -n "$NGX" ]] && "$NGINX" -v 2>&1 | sed 's/.*: //') with worker_processes $(nproc), an upstream keep-alive pool, proxy_ssl_verify on; wrk and h2load as above against $NGX/
EOF
