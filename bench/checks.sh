# Argument and tool checks shared by the bench scripts. Sourced before bench/common.sh,
# which starts making a scratch directory: these only read and exit.

# require_positive_ints NAME...: exit 64 unless each named variable is a positive integer.
require_positive_ints() {
  local n
  for n in "$@"; do
    [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer" >&2; exit 64; }
  done
}

# require_tools HINT TOOL...: exit 69 naming every TOOL not on PATH, with HINT on how to
# install them.
require_tools() {
  local hint="$1" tool missing=()
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "missing tools: ${missing[*]}" >&2
    echo "install with: $hint" >&2
    exit 69
  fi
}

# require_executables HINT BIN...: exit 69 at the first BIN that is not executable, with
# HINT on how to build it.
require_executables() {
  local hint="$1" bin
  shift
  for bin in "$@"; do
    [[ -x "$bin" ]] || { echo "missing $bin; $hint" >&2; exit 69; }
  done
}
