#!/usr/bin/env bash
# Runs the shell lines of every recipe in docs/ci-recipes.md exactly as they
# stand there (between "ferry-recipe-begin NAME" and "ferry-recipe-end"), with
# each CI system's variables set as it sets them, against a local DR store and,
# when S3_ENDPOINT is set (tools/test.sh), against a bucket on the test RGW.
# usage: ci_recipes.sh PATH/TO/ferry PATH/TO/docs/ci-recipes.md
set -uo pipefail
FERRY=$(realpath "$1")
DOC=$(realpath "$2")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-recipes-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache
mkdir -p "$W/bin" && ln -s "$FERRY" "$W/bin/ferry"
export PATH=$W/bin:$PATH

# The lines of recipe NAME, without the indentation of its begin marker.
recipe() {
  awk -v name="$1" '
    $0 ~ "# ferry-recipe-begin " name "$" { on = 1; match($0, /^ */); indent = RLENGTH; next }
    on && /# ferry-recipe-end/ { exit }
    on { print substr($0, indent + 1) }' "$DOC"
}
# The credentials recipe NAME's CI system provides (docs/ci-recipes.md), as
# VAR=VALUE words: no static keys except where the system exports them
# (GitHub's configure-aws-credentials action). The endpoints are the local
# stand-ins started below.
creds() {
  case $1 in
    gitlab | drill-gitlab) echo "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ci-dr-writer AWS_ENDPOINT_URL_STS=http://127.0.0.1:$STS_PORT/" ;;
    jenkins) echo "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$IMDS_PORT" ;;
    codebuild | drill-codebuild) echo "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$CONTAINER_PORT/creds" ;;
    *) echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY" ;;
  esac
}
# run NAME DIR VAR=VALUE...: runs recipe NAME in DIR with only those CI
# variables (plus PATH, HOME, the S3 endpoint and the credentials its CI
# system provides) in the environment.
run() {
  local name=$1 dir=$2
  shift 2
  recipe "$name" >"$W/$name.sh"
  [ -s "$W/$name.sh" ] || { echo "no recipe '$name' in $DOC" >"$W/err"; return 99; }
  local c=()
  [ -n "${S3_ENDPOINT:-}" ] && read -r -a c <<<"$(creds "$name")"
  (cd "$dir" && env -i PATH="$PATH" HOME="$HOME" FERRY_CACHE_DIR="$FERRY_CACHE_DIR" \
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1 \
    ${AWS_DEFAULT_REGION:+AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION"} \
    ${S3_ENDPOINT:+AWS_ENDPOINT_URL="$S3_ENDPOINT"} \
    "${c[@]}" "$@" bash -e "$W/$name.sh") >"$W/out" 2>"$W/err"
}
# A checkout with a build output in OUT/.
workspace() {
  local ws=$W/ws-$1
  mkdir -p "$ws/$2/assets"
  head -c 200000 /dev/urandom >"$ws/$2/app.bin"
  echo "console.log('$1')" >"$ws/$2/assets/main.js"
  echo "$ws"
}

[ -n "${S3_ENDPOINT:-}" ] && export AWS_ENDPOINT_URL=$S3_ENDPOINT  # for the checks run outside the recipes
DESTS=("$W/dr-efs")
if [ -n "${S3_ENDPOINT:-}" ]; then
  cred_server sts 3600 "gitlab-oidc-token" && STS_PORT=$SPORT
  cred_server imds 3600 && IMDS_PORT=$SPORT
  cred_server container 3600 && CONTAINER_PORT=$SPORT
  BUCKET=ferry-recipes-$RANDOM$RANDOM
  /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$BUCKET" >/dev/null && DESTS+=("s3://$BUCKET/ci")
fi

for DR in "${DESTS[@]}"; do
  echo "# FERRY_DR=$DR"
  WS=$(workspace github dist)
  expect_exit "GitHub Actions: push and verify a branch with a '/'" 0 \
    run github "$WS" FERRY_DR="$DR" GITHUB_REPOSITORY=acme/web GITHUB_REF_NAME=feature/login GITHUB_SHA=0123abc GITHUB_RUN_ID=77
  check "  ... the report was written" test "$(jq -r .status "$WS/ferry-push.json")/$(jq -r .ref "$WS/ferry-push.json")/$(jq -r .tags.commit "$WS/ferry-push.json")" = "ok/acme/web/feature/login/0123abc"
  expect_exit "  ... and the build restores" 0 ferry restore acme/web/feature/login --from "$DR/acme/web/" --to "$W/r-github-${DR//\//_}"
  check "  ... byte-identical" diff -r "$WS/dist" "$W/r-github-${DR//\//_}"

  WS=$(workspace gitlab build)
  expect_exit "GitLab CI: push" 0 \
    run gitlab "$WS" FERRY_DR="$DR" AWS_OIDC_TOKEN=gitlab-oidc-token CI_BUILDS_DIR="$WS" CI_PROJECT_PATH=acme/web CI_COMMIT_REF_NAME=main CI_COMMIT_SHA=fedcba CI_PIPELINE_ID=12
  check "  ... the report names the build" test "$(jq -r .status "$WS/ferry-push.json")" = ok -a "$(jq -r .manifest "$WS/ferry-push.json" | wc -c)" = 65
  cp -r "$WS/build" "$W/gitlab-build-${DR//\//_}" && rm -rf "$WS/build"
  expect_exit "GitLab CI: the job fails when the build output is missing" 3 \
    run gitlab "$WS" FERRY_DR="$DR" AWS_OIDC_TOKEN=gitlab-oidc-token CI_BUILDS_DIR="$WS" CI_PROJECT_PATH=acme/web CI_COMMIT_REF_NAME=main CI_COMMIT_SHA=fedcba CI_PIPELINE_ID=13
  check "  ... and the report it keeps (artifacts: when: always) says why" test "$(jq -r .status "$WS/ferry-push.json")/$(jq -r .error.code "$WS/ferry-push.json")" = error/source-unreadable

  WS=$(workspace jenkins out)
  expect_exit "Jenkins multibranch: JOB_NAME with feature%2Flogin" 0 \
    run jenkins "$WS" FERRY_DR="$DR" JOB_NAME=acme/web/feature%2Flogin BRANCH_NAME=feature/login BUILD_NUMBER=5 GIT_COMMIT=abc
  expect_exit "  ... restores under that name" 0 ferry restore "acme/web/feature%2Flogin" --from "$DR/jenkins/" --to "$W/r-jenkins-${DR//\//_}"
  expect_exit "Jenkins plain pipeline: BRANCH_NAME and GIT_COMMIT unset" 0 \
    run jenkins "$WS" FERRY_DR="$DR" JOB_NAME=deploy-web BUILD_NUMBER=6

  WS=$(workspace codebuild dist)
  expect_exit "AWS CodeBuild: a build with no webhook head ref" 0 \
    run codebuild "$WS" FERRY_DR="$DR" CODEBUILD_PROJECT=web CODEBUILD_BUILD_NUMBER=9

  # The drill restores what the GitHub and GitLab recipes pushed under acme/web.
  expect_exit "Restore drill: verify everything and restore main" 0 \
    run drill "$W" FERRY_DR="$DR" DRILL_DIR="$W/drill-${DR//\//_}"
  check "  ... the audit report says verified" test "$(jq -r .status "$W/audit.json")" = verified
  check "  ... the drill directory is exactly main's build" diff -r "$W/gitlab-build-${DR//\//_}" "$W/drill-${DR//\//_}"

  # Scheduled drills and audits, on what the GitLab recipe pushed as acme/web/main.
  WS=$W/sched-${DR//\//_} && mkdir -p "$WS/tmp"
  ferry key generate --out "$W/evidence.key" --force -q
  expect_exit "Scheduled drill on GitHub Actions" 0 \
    run drill-github "$WS" FERRY_DR="$DR" RUNNER_TEMP="$WS/tmp" GITHUB_STEP_SUMMARY="$WS/summary.md" FERRY_EVIDENCE_KEY="$(cat "$W/evidence.key")"
  check "  ... passed, smoke test run, recorded" test "$(jq -r '.status, .smoke_test.exit_status, (.recorded != null)' "$WS/drill.json" | tr '\n' /)" = "passed/0/true/"
  check "  ... its summary on the run's page and a JUnit report" test -s "$WS/summary.md" -a -s "$WS/drill.xml"
  expect_exit "  ... and its report verifies against the evidence key" 0 ferry key verify "$WS/drill.json" --trust-key "$W/evidence.key.pub"
  expect_exit "Scheduled drill on GitLab CI" 0 \
    run drill-gitlab "$WS" FERRY_DR="$DR" AWS_OIDC_TOKEN=gitlab-oidc-token CI_BUILDS_DIR="$WS" CI_PIPELINE_SOURCE=schedule
  check "  ... with its JUnit report" grep -q "<testsuite" "$WS/drill-junit.xml"
  expect_exit "Scheduled drill on CodeBuild (EventBridge)" 0 \
    run drill-codebuild "$WS" FERRY_DR="$DR"
  check "  ... --history lists the three recorded drills" test "$(grep -c ' passed ' "$W/out")" = 3
  expect_exit "Weekly audit from cron, signed and kept in the store" 0 \
    run audit-cron "$WS" FERRY_DR="$DR" FERRY_EVIDENCE_KEY_FILE="$W/evidence.key" FERRY_REPORTS="$WS"
  check "  ... every build verified" test "$(jq -r .status "$WS"/audit-*.json)" = verified
  expect_exit "  ... and the report verifies" 0 ferry key verify "$WS"/audit-*.json --trust-key "$W/evidence.key.pub"
done

if [ -n "${S3_ENDPOINT:-}" ]; then
  echo "# each recipe pushed to S3 with its CI system's credential source, no static keys"
  check "GitLab: web identity (STS AssumeRoleWithWebIdentity with the job's token)" grep -q "sts arn:aws:iam::123456789012:role/ci-dr-writer" "$W/sts.log"
  check "Jenkins on EC2: instance metadata (IMDSv2)" test -s "$W/imds.log"
  check "CodeBuild: container credentials" test -s "$W/container.log"
fi

finish ci-recipes
