#!/usr/bin/env bash
# End-to-end tests of signed builds: ferry key generate, push --sign-key,
# --trust-key on verify, restore, drill and audit, and the attacks that
# succeed without signatures (a rewritten build under the ref, a copied
# signature, a ref pointed back at an older build). Local store only.
# usage: e2e_signing.sh PATH/TO/ferry
set -uo pipefail
FERRY=$(realpath "$1")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-sign-XXXXXX")
trap 'rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache TMPDIR=$W

echo "# keys"
expect_exit "key generate" 0 "$FERRY" key generate --out "$W/ci.key" --json
check "  ... a private key only its owner reads, a public key, an ID" test "$(stat -c %a "$W/ci.key")" = 600 -a -s "$W/ci.key.pub" -a "$(json .key_id | wc -c)" = 17
KID=$(json .key_id)
expect_exit "  ... refuses to overwrite" 2 "$FERRY" key generate --out "$W/ci.key"
touch "$W/half.key.pub"
expect_exit "  ... and writes neither file if one of them exists" 2 "$FERRY" key generate --out "$W/half.key"
check "  ... no private key left behind" test ! -e "$W/half.key"
expect_exit "  ... into a directory that does not exist" 13 "$FERRY" key generate --out "$W/no/such/k.key"
"$FERRY" key generate --out "$W/other.key" -q
# The same public key as an OpenSSH line (what a team may keep in a trusted-keys file).
python3 - "$W/ci.key.pub" >"$W/trusted_keys" <<'PY'
import base64, struct, sys
der = base64.b64decode("".join(l for l in open(sys.argv[1]) if not l.startswith("-----")))
raw = der[-32:]
blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + raw
print("# the CI signing key")
print("ssh-ed25519 " + base64.b64encode(blob).decode() + " ci@ferry")
PY
expect_exit "a private key that is not one is refused" 2 "$FERRY" push "$W" --to "$W/x" --sign-key "$W/trusted_keys"

S=$W/store
mkdir -p "$W/src"
head -c $((3 << 20)) /dev/urandom >"$W/src/app.bin"
echo v1 >"$W/src/VERSION"
expect_exit "push --sign-key" 0 "$FERRY" push "$W/src" --to "$S" --ref app/main --sign-key "$W/ci.key"
echo v2 >"$W/src/VERSION"
expect_exit "a second signed push" 0 "$FERRY" push "$W/src" --to "$S" --ref app/main --sign-key "$W/ci.key" --json
v2=$(json .manifest)
check "  ... the statement names the build, ref, sequence 2, the previous build and the key" test "$(grep -c -e "^manifest $v2$" -e "^ref app/main$" -e "^sequence 2$" -e "^key $KID$" "$S/signatures/$v2")" = 4
expect_exit "verify --trust-key" 0 "$FERRY" verify --store "$S" --ref app/main --trust-key "$W/ci.key.pub" --json
check "  ... trusted, with the key and sequence" test "$(json '.signatures[0].signature.status')" = trusted -a "$(json '.signatures[0].signature.sequence')" = 2
expect_exit "verify with an OpenSSH trusted-keys file" 0 "$FERRY" verify --store "$S" --all --trust-key "$W/trusted_keys"
expect_exit "verify trusting only another key" 17 "$FERRY" verify --store "$S" --ref app/main --trust-key "$W/other.key.pub"
check "  ... names the key that signed" grep -q "signed by key $KID, which is not among the trusted keys" "$W/err"
expect_exit "without --trust-key: as before, the report says signed, not checked" 0 "$FERRY" restore app/main --from "$S" --to "$W/r0" --json
check "  ... so" test "$(json .signature)" = "signed, not checked (no --trust-key)"
expect_exit "ls shows signed builds" 0 "$FERRY" ls --store "$S" --json
check "  ... signed: true" test "$(json '.refs[0].signed')" = true
expect_exit "  ... in text too" 0 "$FERRY" log app/main --store "$S"
check "  ... both builds" test "$(grep -c '(signed)' "$W/out")" = 2

echo "# attack 1: a writer of the store replaces the build under the ref (new chunks, a new manifest with correct hashes)"
cp -r "$S" "$W/s1"
mkdir -p "$W/evil" && head -c 1000 /dev/urandom >"$W/evil/app.bin" && echo v2 >"$W/evil/VERSION"
"$FERRY" push "$W/evil" --to "$W/s1" --ref app/main -q
expect_exit "  ... verifies without a trust key (the attack works today)" 0 "$FERRY" verify --store "$W/s1" --ref app/main
expect_exit "  ... restore --trust-key refuses it" 17 "$FERRY" restore app/main --from "$W/s1" --to "$W/r1" --trust-key "$W/ci.key.pub"
check "  ... unsigned, and nothing restored" test ! -e "$W/r1" -a -n "$(grep "is unsigned" "$W/err")"
evil=$("$FERRY" log app/main --store "$W/s1" --json | jq -r '.builds[0].manifest')
cp "$W/s1/signatures/$v2" "$W/s1/signatures/$evil"
expect_exit "  ... with the old build's signature copied beside it" 17 "$FERRY" drill app/main --from "$W/s1" --trust-key "$W/ci.key.pub"
check "  ... the signature is for another manifest" grep -q "the signature is for manifest ${v2:0:12}, not this one" "$W/err"
sed -i 's/^sequence 2$/sequence 9/' "$W/s1/signatures/$evil"
expect_exit "  ... or altered" 17 "$FERRY" verify --store "$W/s1" --ref app/main --trust-key "$W/ci.key.pub"
check "  ... does not verify" grep -q "signature does not verify" "$W/err"

echo "# attack 2: the ref pointed back at an older signed build (rollback)"
cp -r "$S" "$W/s2"
v1=$("$FERRY" log app/main --store "$W/s2" --json | jq -r '.builds[1].manifest')
echo "$v1" >"$W/s2/refs/app%2Fmain"
expect_exit "  ... restores without a trust key (the attack works today)" 0 "$FERRY" restore app/main --from "$W/s2" --to "$W/r2"
expect_exit "  ... refused with --trust-key" 17 "$FERRY" restore app/main --from "$W/s2" --to "$W/r3" --trust-key "$W/ci.key.pub"
check "  ... naming the rollback and the newer build" grep -q "build ${v2:0:12} with sequence 2: the ref was rolled back" "$W/err"
expect_exit "  ... audit --against (manifests) too" 17 "$FERRY" audit --against "$W/s2" --ref app/main --trust-key "$W/ci.key.pub"
expect_exit "  ... the old build by its ID is still trusted (it is signed)" 0 "$FERRY" restore "$v1" --from "$W/s2" --to "$W/r4" --trust-key "$W/ci.key.pub"
expect_exit "drill --trust-key on the intact store passes" 0 "$FERRY" drill app/main --from "$S" --trust-key "$W/ci.key.pub" --json
check "  ... the report carries the signature" test "$(json .build.signature.status)" = trusted

finish e2e-signing
