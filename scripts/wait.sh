# Sourced by the test scripts. `wait_for SECONDS WHAT COMMAND...` runs COMMAND until it
# succeeds, for at most SECONDS; then it calls the sourcing script's own
# `fail "WHAT within SECONDSs"`.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what within ${seconds}s"
    sleep 0.2
  done
}
