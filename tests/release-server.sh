# Sourced by the scripts that test the release binary from outside (schemathesis, the generated
# clients): builds it, starts it on a free port with a write token, and stops it on exit.
# Sets: address (http://127.0.0.1:PORT) and token.

cargo build --release --locked
server_log=$(mktemp)
token="test-token-$RANDOM$RANDOM"
PROG_LANG_API_WRITE_TOKENS="$token" RUST_LOG=warn,prog_lang_api=info \
    target/release/prog-lang-api --addr 127.0.0.1:0 2>"$server_log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -f "$server_log"' EXIT
address=""
for _ in $(seq 100); do
    address=$(grep -o 'serving on http://[0-9.:]*' "$server_log" | head -n1 | cut -d' ' -f3 || true)
    [ -n "$address" ] && break
    sleep 0.1
done
[ -n "$address" ] || { echo "the server did not start:"; cat "$server_log"; exit 1; }
