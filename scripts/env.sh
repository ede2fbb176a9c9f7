# Sourced by the scripts: puts the project's pinned tools first on PATH. Not a command.
PULLGATE_ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PULLGATE_ROOT_DIR/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
export WRANGLER_LOG_PATH="${WRANGLER_LOG_PATH:-$PULLGATE_ROOT_DIR/target/wrangler-logs}"
