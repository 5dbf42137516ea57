#!/usr/bin/env bash
# Offline end-to-end round trip, the way a systemd deployment works, with no AWS account:
#
#   throw-away CA + client certificate
#   -> iamra fake-endpoint (verifies every SigV4-X509 signature; with moto, mints real STS credentials)
#   -> iamra bind demo (validates with one CreateSession, writes bindings/demo.json and env/demo)
#   -> iamra serve under systemd-socket-activate (fd named ecs-full, as iamra.socket)
#   -> a consumer that sources env/demo: the AWS CLI or boto3 fetches credentials from the server.
#
# With moto_server and the AWS CLI installed, the consumer runs `aws sts get-caller-identity` against
# moto with auth checking on, which proves the vended credentials carry valid signatures. Without
# them it shows what the consumer received (boto3, else AWS CLI v2, else curl), secrets redacted.
#
#   npm run build && dev/roundtrip.sh
#   ROUNDTRIP_MOTO=no dev/roundtrip.sh      # skip moto even when it is installed
#
# Every process it starts is stopped on exit; every wait is bounded. Loopback only.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
iamra=("$(command -v node)" "$root/bin/iamra.mjs")
say() { printf 'roundtrip: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

[[ -f $root/dist/iamra.mjs && -f $root/dist/testing.mjs ]] || die "$root/dist is missing; run npm run build first"

work=$(mktemp -d "${TMPDIR:-/tmp}/iamra-roundtrip.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.1 s.
wait_for() {
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not happen within ${seconds}s"
}

# A clean environment for AWS tools: no profile, no IMDS, nothing of the caller's.
clean_env=(env -i PATH="$PATH" HOME="$work/home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1)
mkdir -p "$work/home"

# 1. PKI ----------------------------------------------------------------------------------------
node --input-type=module -e "
import { createCa, createLeaf } from '$root/dist/testing.mjs'
import { writeFileSync } from 'node:fs'
const ca = await createCa({ name: 'iamra roundtrip CA', key: 'p384' })
const client = await createLeaf({ name: 'roundtrip-workload', key: 'p256', issuer: ca })
writeFileSync('$work/ca.pem', ca.certPem)
writeFileSync('$work/client.pem', client.certPem)
writeFileSync('$work/client.key', client.keyPem, { mode: 0o600 })
"
say "throw-away CA and client certificate in $work"

trust_anchor_arn=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01
profile_arn=arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e
role_arn=arn:aws:iam::123456789012:role/iamra-roundtrip

# 2. moto (optional) ----------------------------------------------------------------------------
sts_flags=()
moto=
if [[ ${ROUNDTRIP_MOTO:-yes} != no ]] && command -v moto_server >/dev/null && command -v aws >/dev/null; then
  moto_port=$(free_port)
  moto=http://127.0.0.1:$moto_port
  moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  pids+=($!)
  wait_for 30 "moto_server start" curl -sf -o /dev/null "$moto/moto-api/"
  setup=("${clean_env[@]}" AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=x aws --endpoint-url "$moto")
  "${setup[@]}" iam create-user --user-name broker >/dev/null
  "${setup[@]}" iam put-user-policy --user-name broker --policy-name assume \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}'
  "${setup[@]}" iam create-role --role-name test-role >/dev/null \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/broker"},"Action":"sts:AssumeRole"}]}'
  "${setup[@]}" iam create-access-key --user-name broker >"$work/broker.json"
  broker_id=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/broker.json','utf8')).AccessKey.AccessKeyId)")
  broker_secret=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/broker.json','utf8')).AccessKey.SecretAccessKey)")
  # Auth checking on from here (moto needs the raw body "0" as text/plain).
  curl -sf -X POST -H 'Content-Type: text/plain' --data-binary 0 "$moto/moto-api/reset-auth" >/dev/null
  # A throw-away moto key for a throw-away moto server; argv is fine here.
  sts_flags=(--sts-endpoint "$moto" --sts-access-key-id "$broker_id" --sts-secret-access-key "$broker_secret")
  role_arn=arn:aws:iam::123456789012:role/test-role
  say "moto STS on $moto (auth on); the fake endpoint mints credentials with sts:AssumeRole"
else
  say "without moto (not installed, or ROUNDTRIP_MOTO=no): the fake endpoint issues fake credentials"
fi

# 3. The verifying fake Roles Anywhere endpoint --------------------------------------------------
"${iamra[@]}" fake-endpoint --trust-anchor "$work/ca.pem" --port 0 "${sts_flags[@]}" >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
wait_for 15 "fake-endpoint start" grep -q 'listening on http://' "$work/fake.out"
fake_url=$(sed -n 's/^fake Roles Anywhere endpoint listening on \(http:[^ ]*\)$/\1/p' "$work/fake.out" | head -1)
[[ -n $fake_url ]] || die "cannot read the fake endpoint's URL from: $(cat "$work/fake.out")"
say "fake Roles Anywhere endpoint on $fake_url"

# 4. Bind ---------------------------------------------------------------------------------------
server_port=$(free_port)
run=$work/run
"${iamra[@]}" bind demo --configuration-directory "$run" --url "http://127.0.0.1:$server_port" \
  --certificate "$work/client.pem" --private-key "$work/client.key" \
  --trust-anchor-arn "$trust_anchor_arn" --profile-arn "$profile_arn" --role-arn "$role_arn" --endpoint "$fake_url"
say "env file $run/env/demo (token hidden):"
sed -E 's/(\.demo\.)[A-Za-z0-9_-]+/\1<secret>/' "$run/env/demo" | sed 's/^/    /' >&2

# 5. Serve under socket activation ---------------------------------------------------------------
if command -v systemd-socket-activate >/dev/null; then
  systemd-socket-activate -l "127.0.0.1:$server_port" --fdname=ecs-full \
    "${iamra[@]}" serve --configuration-directory "$run" --log-level warn >"$work/serve.log" 2>&1 &
  pids+=($!)
  wait_for 10 "systemd-socket-activate listen" grep -q '^Listening on' "$work/serve.log"
  say "iamra serve socket-activated on 127.0.0.1:$server_port (starts on the first connection)"
else
  "${iamra[@]}" serve --configuration-directory "$run" --listen "127.0.0.1:$server_port" --log-level warn >"$work/serve.log" 2>&1 &
  pids+=($!)
  say "systemd-socket-activate not installed: iamra serve --listen 127.0.0.1:$server_port"
fi
wait_for 15 "the server to answer /healthz" curl -sf -m 2 "http://127.0.0.1:$server_port/healthz"

# 6. The consumer: the binding's env file, as EnvironmentFile= would give it -----------------------
consumer_env=()
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  key=${line%%=*} value=${line#*=}
  if [[ $value == \"*\" ]]; then value=${value:1:-1}; value=${value//\\\"/\"}; value=${value//\\\\/\\}; fi
  consumer_env+=("$key=$value")
done <"$run/env/demo"

if [[ -n $moto ]]; then
  say "consumer: aws sts get-caller-identity (credentials from iamra, checked by moto)"
  "${clean_env[@]}" "${consumer_env[@]}" aws sts get-caller-identity --endpoint-url "$moto" --output json
elif python3 -c 'import boto3' 2>/dev/null; then
  say "consumer: boto3 container credential provider"
  "${clean_env[@]}" "${consumer_env[@]}" python3 -c '
import boto3
session = boto3.Session()
c = session.get_credentials()
f = c.get_frozen_credentials()
print({"method": c.method, "AccessKeyId": f.access_key, "SecretAccessKey": "<redacted>", "SessionToken": "<redacted>" if f.token else None})
'
elif command -v aws >/dev/null && aws --version 2>&1 | grep -q '^aws-cli/2'; then
  say "consumer: aws configure export-credentials, AWS CLI v2 (secrets redacted)"
  "${clean_env[@]}" "${consumer_env[@]}" aws configure export-credentials --format process |
    node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const j=JSON.parse(s);j.SecretAccessKey='<redacted>';if(j.SessionToken)j.SessionToken='<redacted>';console.log(JSON.stringify(j,null,2))})"
else
  say "consumer: curl (neither boto3 nor AWS CLI v2 installed; secrets redacted)"
  token=$(printf '%s\n' "${consumer_env[@]}" | sed -n 's/^AWS_CONTAINER_AUTHORIZATION_TOKEN=//p')
  uri=$(printf '%s\n' "${consumer_env[@]}" | sed -n 's/^AWS_CONTAINER_CREDENTIALS_FULL_URI=//p')
  curl -sf -m 15 -H "Authorization: $token" "$uri" | sed -E 's/"(SecretAccessKey|Token)":"[^"]*"/"\1":"<redacted>"/g'
  echo
fi
say "OK: credentials went certificate -> fake Roles Anywhere -> iamra serve -> consumer"
