# Sourced by scripts/dev and scripts/demo/upstream: state dir, ports, and process bookkeeping. Not a command.
# shellcheck shell=bash disable=SC2034
PULLGATE_ROOT_DIR=${PULLGATE_ROOT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PULLGATE_STATE=${PULLGATE_STATE:-$PULLGATE_ROOT_DIR/.pullgate}
PULLGATE_PORT_BASE=${PULLGATE_PORT_BASE:-18700}
mkdir -p "$PULLGATE_STATE"
PULLGATE_STATE=$(cd "$PULLGATE_STATE" && pwd)
export PULLGATE_STATE PULLGATE_PORT_BASE

PORT_EDGE=$((PULLGATE_PORT_BASE + 0))
PORT_OPEN=$((PULLGATE_PORT_BASE + 1))
PORT_CDN=$((PULLGATE_PORT_BASE + 2))
PORT_BASIC=$((PULLGATE_PORT_BASE + 3))
PORT_BEARER=$((PULLGATE_PORT_BASE + 4))
PORT_TOKEN=$((PULLGATE_PORT_BASE + 5))
PORT_STREAM=$((PULLGATE_PORT_BASE + 6))
PORT_FAULTS=$((PULLGATE_PORT_BASE + 7))
PORT_INSPECTOR=$((PULLGATE_PORT_BASE + 9))
PORT_STANDINS=$((PULLGATE_PORT_BASE + 20)) # +20..+27: scripts/demo/standins.py

PIDS_DIR=$PULLGATE_STATE/pids
LOGS_DIR=$PULLGATE_STATE/logs
mkdir -p "$PIDS_DIR" "$LOGS_DIR"

say() { printf '%s: %s\n' "${SAY_PREFIX:-dev}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# A secret generated once per state dir: file name, byte count; prints it as hex.
state_secret() {
  local f=$1 n=${2:-32}
  if [ ! -s "$f" ]; then
    (umask 077 && od -An -tx1 -N"$n" /dev/urandom | tr -d ' \n' > "$f")
  fi
  cat "$f"
}

# True while the session recorded in pids/NAME.pid (its id is the leader's pid) has a live process.
alive() {
  local pid
  pid=$(cat "$PIDS_DIR/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -n "$(session_pids "$pid")" ]
}

# start_bg NAME CMD...: runs CMD in a new session, logs to logs/NAME.log, pid in pids/NAME.pid.
start_bg() {
  local name=$1; shift
  local pidf=$PIDS_DIR/$name.pid
  rm -f "$pidf"
  # The inner sh is the session leader; it records its own pid, then becomes CMD.
  # shellcheck disable=SC2016
  setsid sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" \
    >>"$LOGS_DIR/$name.log" 2>&1 </dev/null &
  local i
  for i in $(seq 100); do [ -s "$pidf" ] && return 0; sleep 0.05; done
  die "$name did not start; see $LOGS_DIR/$name.log"
}

# stop_one NAME: ends the session recorded in pids/NAME.pid (TERM, then KILL), removes the file.
stop_one() {
  local name=$1 pidf=$PIDS_DIR/$1.pid pid i
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$name"; then
    # shellcheck disable=SC2046
    kill -TERM -- "-$pid" $(session_pids "$pid") 2>/dev/null || true
    for i in $(seq 50); do
      [ -z "$(session_pids "$pid")" ] && break
      sleep 0.1
    done
    # Whatever is left in that session (e.g. a child that made its own process group).
    local left
    left=$(session_pids "$pid")
    if [ -n "$left" ]; then
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
    fi
    say "stopped $name"
  fi
  rm -f "$pidf"
}

# Pids of every live process in session SID (zombies awaiting their reaper don't count).
session_pids() {
  ps -e -o pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }' | tr '\n' ' ' | sed 's/ *$//'
}

# port_free PORT NAME: dies if something (not ours) already listens on 127.0.0.1:PORT.
port_free() {
  local rc=0
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" || rc=$?
  # curl's 7 is "could not connect": nothing listens there.
  [ "$rc" = 7 ] || die "127.0.0.1:$1 (for $2) is already in use; stop it or choose another PULLGATE_PORT_BASE"
}

# wait_http NAME URL [SECONDS]: waits until URL answers any HTTP status.
wait_http() {
  local name=$1 url=$2 secs=${3:-30} i
  for i in $(seq $((secs * 10))); do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    alive "$name" || die "$name exited; see $LOGS_DIR/$name.log"
    sleep 0.1
  done
  die "$name did not answer $url within ${secs}s; see $LOGS_DIR/$name.log"
}
