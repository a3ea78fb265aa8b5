#!/usr/bin/env bash
# The AWS credential chain end to end: a push to the real RGW through each
# source with no static keys in the environment, `ferry whoami` naming the
# source, credentials refreshed in the middle of a long upload, and no
# secret in any output. The container endpoint, instance metadata (IMDSv2)
# and STS are small local servers (tests/cred_server.py) that hand out the
# RGW user's real keys with short expiry times: those protocols' real
# endpoints are out of reach here. Needs S3_ENDPOINT (tools/test.sh).
# usage: e2e_credentials.sh PATH/TO/ferry
set -uo pipefail
FERRY=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${S3_ENDPOINT:-}" ]; then echo "e2e_credentials: needs S3_ENDPOINT (run via tools/test.sh)"; exit 77; fi
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-creds-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
KEY=$AWS_ACCESS_KEY_ID SECRET=$AWS_SECRET_ACCESS_KEY
AWS=(aws --endpoint-url "$S3_ENDPOINT")
BUCKET=ferry-creds-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null
mkdir -p "$W/src"
head -c $((2 << 20)) /dev/urandom >"$W/src/app.bin"
echo "config" >"$W/src/app.conf"

# nokeys CMD...: runs CMD with no static keys and no shared files.
nokeys() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    AWS_SHARED_CREDENTIALS_FILE="$W/none" AWS_CONFIG_FILE="$W/none" \
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1 AWS_ENDPOINT_URL="$S3_ENDPOINT" "$@"
}
no_secret() { ! grep -qF "$SECRET" "$W/out" "$W/err"; }

echo "# no source at all: one error naming every source tried"
expect_exit "push with no credentials anywhere" 11 nokeys "$FERRY" push "$W/src" --to "s3://$BUCKET/none/"
for s in "environment:" "web identity:" "profile default:" "container:" "instance metadata:"; do
  check "  ... names $s" grep -q "$s" "$W/err"
done

echo "# container credentials (CodeBuild/ECS: relative URI; EKS Pod Identity: full URI + token file)"
cred_server container 3600 "pod-token-1"
echo "pod-token-1" >"$W/pod-token"
CONT=(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$SPORT/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$W/pod-token")
expect_exit "ferry whoami" 0 nokeys env "${CONT[@]}" "$FERRY" whoami --json
check "  ... names the container source" test "$(json .source)" = "container credentials"
check "  ... masks the key, shows the expiry" test "$(json .access_key_id)" != "$KEY" -a "$(json .expires)" != null
check "  ... and no secret" no_secret
expect_exit "push through container credentials" 0 nokeys env "${CONT[@]}" "$FERRY" push "$W/src" --to "s3://$BUCKET/container/" --ref app/main --json
check "  ... no secret in the report or the log" no_secret
"${AWS[@]}" s3 cp "s3://$BUCKET/container/app.bin" "$W/dl" >/dev/null 2>&1
check "  ... the object downloads byte-identical" cmp -s "$W/src/app.bin" "$W/dl"
echo "wrong" >"$W/pod-token"
expect_exit "a rejected pod token is an auth error" 11 nokeys env "${CONT[@]}" "$FERRY" whoami

echo "# instance metadata, IMDSv2 (EC2 runners)"
cred_server imds 3600
expect_exit "push through instance metadata" 0 nokeys env AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$SPORT" "$FERRY" push "$W/src" --to "s3://$BUCKET/imds/" --ref app/main
expect_exit "  ... whoami names the role" 0 nokeys env AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$SPORT" "$FERRY" whoami
check "  ... (dr-replicator)" grep -q "instance metadata (role dr-replicator)" "$W/out"

echo "# web identity (GitHub/GitLab OIDC, EKS IRSA): STS AssumeRoleWithWebIdentity"
cred_server sts 3600 "oidc-token-abc"
echo "oidc-token-abc" >"$W/oidc"
WEB=(AWS_WEB_IDENTITY_TOKEN_FILE="$W/oidc" AWS_ROLE_ARN="arn:aws:iam::123456789012:role/ci-dr" AWS_ENDPOINT_URL_STS="http://127.0.0.1:$SPORT/")
expect_exit "push through web identity" 0 nokeys env "${WEB[@]}" "$FERRY" push "$W/src" --to "s3://$BUCKET/web/" --ref app/main
check "  ... STS was asked for the role" grep -q "sts arn:aws:iam::123456789012:role/ci-dr" "$W/sts.log"
printf '[profile ci]\nweb_identity_token_file = %s\nrole_arn = arn:aws:iam::123456789012:role/from-profile\n' "$W/oidc" >"$W/config"
expect_exit "push through a profile's web_identity_token_file" 0 nokeys env AWS_CONFIG_FILE="$W/config" AWS_PROFILE=ci AWS_ENDPOINT_URL_STS="http://127.0.0.1:$SPORT/" "$FERRY" push "$W/src" --to "s3://$BUCKET/web2/" --ref app/main
echo "expired-token" >"$W/oidc"
expect_exit "an STS refusal is an auth error" 11 nokeys env "${WEB[@]}" "$FERRY" whoami
check "  ... with STS's message" grep -q "InvalidIdentityToken: bad token" "$W/err"

echo "# web identity through RGW's own STS: a real AssumeRoleWithWebIdentity with a signed OIDC token"
# RGW checks the token against the issuer's JWKS (tests/oidc_issuer.py, a
# local stand-in for GitLab's or GitHub's issuer) and the role's trust
# policy, and hands out temporary keys for a shadow user of the subject.
if [ -n "${RGW_CONF:-}" ]; then
  OPORT=$((20000 + RANDOM % 20000))
  ISS=http://127.0.0.1:$OPORT
  python3 "$HERE/oidc_issuer.py" init "$W/oidc-ca"
  python3 "$HERE/oidc_issuer.py" serve "$W/oidc-ca" "$OPORT" 2>"$W/oidc-issuer.log" &
  PIDS+=($!)
  for _ in $(seq 1 50); do curl -sf -o /dev/null "$ISS/jwks" && break; sleep 0.1; done
  radosgw-admin -c "$RGW_CONF" -n client.admin caps add --uid="${RGW_USER:-testuser}" --caps="oidc-provider=*;roles=*" >/dev/null 2>&1
  role=ferry-ci-$RANDOM
  "${AWS[@]}" iam create-open-id-connect-provider --url "$ISS" --client-id-list ferry-ci --thumbprint-list "$(cat "$W/oidc-ca/thumbprint")" >/dev/null
  printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":["arn:aws:iam:::oidc-provider/127.0.0.1:%s"]},"Action":["sts:AssumeRoleWithWebIdentity"],"Condition":{"StringEquals":{"127.0.0.1:%s:sub":"project_path:dr/app:ref:main","127.0.0.1:%s:aud":"ferry-ci"}}}]}' "$OPORT" "$OPORT" "$OPORT" >"$W/trust.json"
  "${AWS[@]}" iam create-role --role-name "$role" --assume-role-policy-document "file://$W/trust.json" >/dev/null
  "${AWS[@]}" iam put-role-policy --role-name "$role" --policy-name s3 --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}'
  python3 "$HERE/oidc_issuer.py" token "$W/oidc-ca" "$ISS" ferry-ci "project_path:dr/app:ref:main" 600 >"$W/gitlab-oidc"
  RGWWEB=(AWS_WEB_IDENTITY_TOKEN_FILE="$W/gitlab-oidc" AWS_ROLE_ARN="arn:aws:iam:::role/$role" AWS_ENDPOINT_URL_STS="$S3_ENDPOINT")
  expect_exit "whoami through RGW's STS" 0 nokeys env "${RGWWEB[@]}" "$FERRY" whoami --json
  check "  ... temporary keys for the role (not the user's)" test "$(json .source | grep -c "web identity")" = 1 -a "$(json .access_key_id | cut -c1-4)" != "$(echo "$KEY" | cut -c1-4)" -a "$(json .expires)" != never
  expect_exit "push through RGW's STS, no static keys anywhere" 0 nokeys env "${RGWWEB[@]}" "$FERRY" push "$W/src" --to "s3://$BUCKET/rgw-sts/" --ref app/main
  expect_exit "  ... verify with the same source" 0 nokeys env "${RGWWEB[@]}" "$FERRY" verify --store "s3://$BUCKET/rgw-sts/" --ref app/main
  check "  ... no secret in any output" no_secret
  python3 "$HERE/oidc_issuer.py" token "$W/oidc-ca" "$ISS" ferry-ci "project_path:evil/fork:ref:main" 600 >"$W/gitlab-oidc"
  expect_exit "a token for another project is refused (trust policy)" 11 nokeys env "${RGWWEB[@]}" "$FERRY" whoami
  check "  ... naming STS and the role" grep -q "AssumeRoleWithWebIdentity at $S3_ENDPOINT for arn:aws:iam:::role/$role failed: HTTP 403" "$W/err"
else
  bad "RGW_CONF is not set: the RGW STS test needs tools/test.sh's RGW"
fi

echo "# a profile's role_arn with source_profile: STS AssumeRole, signed with the source's keys"
printf '[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY" "$SECRET" >"$W/credentials"
printf '[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/dr-writer\nsource_profile = base\n' >"$W/config3"
expect_exit "push through an assumed role" 0 nokeys env AWS_SHARED_CREDENTIALS_FILE="$W/credentials" AWS_CONFIG_FILE="$W/config3" AWS_PROFILE=deploy AWS_ENDPOINT_URL_STS="http://127.0.0.1:$SPORT/" "$FERRY" push "$W/src" --to "s3://$BUCKET/assumed/" --ref app/main
check "  ... STS was asked, with a signed request" grep -q "sts-assume arn:aws:iam::123456789012:role/dr-writer" "$W/sts.log"
expect_exit "  ... whoami names the role" 0 nokeys env AWS_SHARED_CREDENTIALS_FILE="$W/credentials" AWS_CONFIG_FILE="$W/config3" AWS_PROFILE=deploy AWS_ENDPOINT_URL_STS="http://127.0.0.1:$SPORT/" "$FERRY" whoami
check "  ... (assumed role)" grep -q "assumed role arn:aws:iam::123456789012:role/dr-writer" "$W/out"

echo "# credential_process (a profile that runs a helper)"
printf '#!/bin/sh\nprintf %s\n' "'{\"Version\":1,\"AccessKeyId\":\"$KEY\",\"SecretAccessKey\":\"$SECRET\"}'" >"$W/helper.sh"
chmod +x "$W/helper.sh"
printf '[profile proc]\ncredential_process = %s\n' "$W/helper.sh" >"$W/config2"
expect_exit "push through credential_process" 0 nokeys env AWS_CONFIG_FILE="$W/config2" AWS_PROFILE=proc "$FERRY" push "$W/src" --to "s3://$BUCKET/proc/" --ref app/main
check "  ... no secret in the output" no_secret

echo "# credentials that expire during a long upload are refreshed before they lapse"
head -c $((300 << 20)) /dev/urandom >"$W/src/big.bin"
: >"$W/container.log"
cred_server container 301 ""  # expire 5 min 1 s after each fetch: refreshed once 1 s has passed
expect_exit "a push that outlives its first credentials" 0 nokeys env AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$SPORT/creds" "$FERRY" push "$W/src" --to "s3://$BUCKET/refresh/" --ref app/main --json
check "  ... fetched them more than once (refreshed mid-push)" test "$(grep -c container "$W/container.log")" -ge 2
"${AWS[@]}" s3 cp "s3://$BUCKET/refresh/big.bin" "$W/big.dl" >/dev/null 2>&1
check "  ... and the large object is byte-identical" cmp -s "$W/src/big.bin" "$W/big.dl"

finish e2e_credentials
