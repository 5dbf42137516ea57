#!/usr/bin/env bash
# Runs the built server the way iamra.socket + iamra.service do: systemd-socket-activate binds
# 127.0.0.1:7224 (fd name "ecs-full") and execs `iamra serve` in place on the first connection, so
# LISTEN_PID matches. Bindings are read from $RUNTIME_DIRECTORY, else ./.iamra-dev.
#
#   npm run build && dev/serve.sh [serve options, e.g. --log-level debug]
#   SERVE_ADDRESS=127.0.0.1:17224 dev/serve.sh
#
# Bind a role into the same directory (the env file's URL must match the address):
#   node bin/iamra.mjs bind NAME --configuration-directory .iamra-dev --url http://127.0.0.1:7224 ...
#
# NOTIFY_SOCKET and WATCHDOG_USEC, when set, are passed on (to watch sd_notify messages).
# iamra reads no options from the environment (no IAMRA_* variables): pass them as arguments.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${RUNTIME_DIRECTORY:-$root/.iamra-dev}
address=${SERVE_ADDRESS:-127.0.0.1:7224}

if [[ ! -f $root/dist/iamra.mjs ]]; then
  echo "serve.sh: $root/dist is missing; run npm run build first" >&2
  exit 1
fi
if ! command -v systemd-socket-activate >/dev/null; then
  echo "serve.sh: systemd-socket-activate not found (Debian/Ubuntu: apt-get install systemd)" >&2
  exit 1
fi
mkdir -p "$dir"

# systemd-socket-activate passes only a few variables on; -E NAME copies NAME from here.
pass=()
for v in NOTIFY_SOCKET WATCHDOG_USEC HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy \
  AWS_CA_BUNDLE AWS_ENDPOINT_URL_ROLESANYWHERE AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT; do
  if [[ -n ${!v:-} ]]; then pass+=(-E "$v"); fi
done

echo "serve.sh: bindings in $dir; waiting for the first connection on $address" >&2
exec systemd-socket-activate -l "$address" --fdname=ecs-full "${pass[@]}" \
  "$(command -v node)" "$root/bin/iamra.mjs" serve --configuration-directory "$dir" "$@"
