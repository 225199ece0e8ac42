# Shared by bench/sidecar.sh, ab_sidecar.sh, upstream_protocol.sh, one_cpu.sh and
# flamegraphs.sh (sourced, not run): a scratch directory, child processes killed on exit, the
# local TLS upstream plus a sidecar in front of it, nginx as the reference proxy, and small
# statistics helpers. Loopback only.
# Needs ROOT, HOST, SIDECAR_BIN and UPSTREAM_BIN set.

WORK="$(mktemp -d -t "${BENCH_NAME:-bench}.XXXXXX")"
PIDS=()
# The load tool or feeder running right now (see run_load), killed first on exit.
LOAD_PID=""
FEED_PID=""
cleanup() {
  for pid in $LOAD_PID $FEED_PID "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_load OUT CMD...: run CMD in the background with output to OUT and wait for it, so a
# signal interrupts `wait` at once and cleanup kills CMD (bash defers traps until a
# foreground command or command substitution ends). Stdin is LOAD_STDIN or /dev/null.
run_load() {
  local out="$1" rc=0
  shift
  "$@" <"${LOAD_STDIN:-/dev/null}" >"$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  return "$rc"
}

# median VALUE... -> the median (the upper middle of an even count, as the signing benches
# take it)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int(NR / 2) + 1]}'; }
# ratio A B [DIGITS] -> A / B with DIGITS decimals (default 2)
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {printf "%.*f", d, a / b}'; }
# count TEST VALUE... -> how many VALUEs pass the awk comparison TEST (e.g. '> 1')
count() {
  local test="$1"
  shift
  printf '%s\n' "$@" | awk "\$1 $test {n++} END {print n + 0}"
}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# free_port [TAKEN...]: a free loopback port other than the TAKEN ones, which were picked
# but are not listening yet (checked with ss; the sidecar has no port-0 banner to read).
free_port() {
  local port tries
  for ((tries = 0; tries < 100; tries++)); do
    port=$((20000 + RANDOM % 40000))
    if [[ " $* " == *" $port "* ]]; then
      continue
    fi
    if ! ss -Hltn "sport = :$port" | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port" >&2
  return 1
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND every 0.1 s.
wait_for() {
  local what="$1" secs="$2" i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "timed out waiting for $what" >&2
  return 1
}

# start_upstream_and_sidecar: start_upstream, then lattice-sidecar with a fixed route to it
# (start_sidecar). Sets what both set.
start_upstream_and_sidecar() {
  start_upstream
  start_sidecar "$UP_TLS" "$WORK/ca.pem" sidecar
}

# start_upstream: bench-upstream on ephemeral ports, with the extra arguments in
# UPSTREAM_ARGS (split on spaces; e.g. `--work-stealing`). Sets UPSTREAM_PID, UP_TLS and
# UP_PLAIN, and writes the CA that signed its certificate to $WORK/ca.pem.
start_upstream() {
  local extra
  read -ra extra <<<"${UPSTREAM_ARGS:-}"
  # The upstream prints its ports, then `ready`.
  "$UPSTREAM_BIN" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --host "$HOST" \
    --write-ca "$WORK/ca.pem" "${extra[@]}" >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
  UPSTREAM_PID=$!
  PIDS+=("$UPSTREAM_PID")
  wait_for "bench-upstream" 20 grep -qx ready "$WORK/upstream.out"
  UP_TLS="$(awk '$1 == "https" {print $2}' "$WORK/upstream.out")"
  UP_PLAIN="$(awk '$1 == "http" {print $2}' "$WORK/upstream.out")"
}

# start_sidecar UPSTREAM_ADDR CA_FILE NAME: lattice-sidecar with a fixed route to the
# upstream at UPSTREAM_ADDR (host:port, trusted through CA_FILE), its output in
# $WORK/NAME.{out,err}. Sets SC_PID, SC_PORT, ADMIN_PORT and SIDECAR_CMD.
start_sidecar() {
  # The sidecar has no port-0 banner: pick free ports, then wait for /readyz.
  SC_PORT="$(free_port)"
  ADMIN_PORT="$(free_port "$SC_PORT")"
  SIDECAR_CMD=("$SIDECAR_BIN" --listen "127.0.0.1:$SC_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT"
    --upstream "https://$HOST" --resolve "$HOST:443:$1" --ca-file "$2")
  # Static fake credentials: the upstream verifies nothing, and IMDS must never be asked.
  env -i PATH="$PATH" HOME="$WORK" AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
    AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-west-2 RUST_LOG=warn \
    ${SIDECAR_WORKERS:+LATTICE_SIDECAR_WORKERS=$SIDECAR_WORKERS} \
    "${SIDECAR_CMD[@]}" >"$WORK/$3.out" 2>"$WORK/$3.err" &
  SC_PID=$!
  PIDS+=("$SC_PID")
  wait_for "lattice-sidecar ($3) /readyz" 20 curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz"
}

# low_rate_p50 URL: the median duration (µs) of RATE * LAT_SECS HTTP/1.1 requests sent one
# at a time at RATE req/s; fails unless every request got 200.
low_rate_p50() {
  local n=$((RATE * LAT_SECS))
  rm -f "$WORK/lat.tsv"
  run_load "$WORK/load.out" h2load -t1 -c1 -m1 --h1 --rps="$RATE" -n"$n" --log-file="$WORK/lat.tsv" "$1"
  awk -v n="$n" '$2 != 200 {bad++} {print $3} END {if (bad || NR != n) exit 1}' "$WORK/lat.tsv" |
    sort -n | awk '{v[NR] = $1} END {print v[int(NR * 0.5 + 0.5)]}'
}

# start_nginx: the reference proxy, forwarding to the upstream the way the sidecar does but
# without signing, on a free port. Sets NGX (its URL; empty when nginx is not installed)
# and NGX_PID (the master process). Needs start_upstream_and_sidecar first.
start_nginx() {
  NGINX="${NGINX:-$(command -v nginx || true)}"
  NGX=""
  if [[ -n "$NGINX" && -x "$NGINX" ]]; then
    NGX_PORT="$(free_port "$SC_PORT" "$ADMIN_PORT")"
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<NGINXCONF
daemon off;
worker_processes $(nproc);
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream bench { server $UP_TLS; keepalive 128; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    keepalive_requests 100000000;
    location / {
      proxy_pass https://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $HOST;
      proxy_ssl_server_name on;
      proxy_ssl_name $HOST;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $WORK/ca.pem;
      proxy_ssl_session_reuse on;
    }
  }
}
NGINXCONF
    "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >"$WORK/nginx.out" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    wait_for "nginx" 20 curl -fsS -o /dev/null "http://127.0.0.1:$NGX_PORT/"
    NGX="http://127.0.0.1:$NGX_PORT"
    log "reference proxy: nginx at $NGX"
  else
    log "nginx not found: skipping the reference-proxy rows (apt-get install -y nginx-light)"
  fi
}
