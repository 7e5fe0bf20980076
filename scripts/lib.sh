# shellcheck shell=bash
# Shared helpers for the scripts under scripts/: structured logging, waiting, PID handling.
# Source it; it defines functions only. Set LOG_COMPONENT before use (default: the script name).

: "${LOG_COMPONENT:=$(basename "${0:-lagscale}")}"

# One line per event on stderr: ts=... level=... component=... event=... key=value ...
# Values with spaces are double-quoted so the line stays machine-splittable.
log_event() {
    local level=$1 event=$2
    shift 2
    local line pair key value
    line="ts=$(date -u +%Y-%m-%dT%H:%M:%SZ) level=$level component=$LOG_COMPONENT event=$event"
    for pair in "$@"; do
        key=${pair%%=*}
        value=${pair#*=}
        if [[ $value == *[[:space:]]* || -z $value ]]; then
            value="\"${value//\"/\\\"}\""
        fi
        line+=" $key=$value"
    done
    printf '%s\n' "$line" >&2
}

log_info() { log_event info "$@"; }
log_warn() { log_event warn "$@"; }
log_error() { log_event error "$@"; }

# die EVENT "what to change" [key=value ...] -> one error line, exit 1.
die() {
    local event=$1 hint=$2
    shift 2
    log_error "$event" "hint=$hint" "$@"
    exit 1
}

require_command() {
    command -v "$1" >/dev/null 2>&1 || die missing_command "install $1 and retry" "command=$1"
}

# Milliseconds since the epoch (GNU date).
now_ms() { date +%s%3N; }

# elapsed_seconds START_MS -> "12.345"
elapsed_seconds() {
    local ms=$(($(now_ms) - $1))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# wait_for TIMEOUT_S INTERVAL_S COMMAND... -> 0 as soon as COMMAND succeeds, 1 on timeout.
wait_for() {
    local timeout_s=$1 interval_s=$2
    shift 2
    local deadline=$(($(now_ms) + timeout_s * 1000))
    until "$@"; do
        (($(now_ms) < deadline)) || return 1
        sleep "$interval_s"
    done
}

# pid_matches PIDFILE MARKER -> 0 when the recorded process is alive AND its command line contains
# MARKER, so a recycled PID that now belongs to another program is never mistaken for ours.
pid_matches() {
    local pidfile=$1 marker=$2 pid
    [[ -r $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# stop_pidfile PIDFILE MARKER GRACE_S -> SIGTERM, wait up to GRACE_S, then SIGKILL. Idempotent:
# returns 0 (and removes PIDFILE) whether or not the process was still running.
stop_pidfile() {
    local pidfile=$1 marker=$2 grace_s=$3 pid
    if ! pid_matches "$pidfile" "$marker"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$grace_s" 0.2 _pid_gone "$pid"; then
        log_warn sigkill "pid=$pid" "grace_s=$grace_s"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for 10 0.2 _pid_gone "$pid" || return 1
    fi
    rm -f "$pidfile"
}

_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# port_in_use PORT -> 0 when something listens on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_port VALUE ENV_NAME -> dies unless VALUE is a TCP port number.
require_port() {
    local value=$1 name=$2
    if ! [[ $value =~ ^[0-9]+$ ]] || ((value < 1024 || value > 65535)); then
        die bad_port "set $name to a port number between 1024 and 65535" "value=$value"
    fi
}

# apt_install_missing COMMAND:PACKAGE ... -> apt-get install only the packages whose command is absent.
apt_install_missing() {
    local spec missing=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
    done
    ((${#missing[@]} == 0)) && return 0
    log_info apt_install "packages=${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Stale or empty package lists are the usual failure on a fresh machine: refresh once, retry.
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 && return 0
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q "${missing[@]}" >/dev/null ||
        die apt_install_failed "install ${missing[*]} with apt-get (needs root) and retry"
}

# tail_file FILE N -> the last N lines of FILE to stderr, each prefixed, if it exists.
tail_file() {
    [[ -r $1 ]] || return 0
    printf -- '--- last %s lines of %s ---\n' "$2" "$1" >&2
    tail -n "$2" "$1" >&2
}

# image_tag -> IMAGE_TAG if set, else the project version from pyproject.toml (run from the repo root).
image_tag() {
  if [[ -n ${IMAGE_TAG:-} ]]; then
    printf '%s\n' "$IMAGE_TAG"
  else
    sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1
  fi
}
