#!/usr/bin/env bash
# usersig-interop.sh: checks api/usersig against Tencent's official npm
# package tls-sig-api-v2, both ways, with identifier admin, sdkappid
# 1400000001 and key interop-key (the constants in api/usersig's tests):
#   (a) the npm package signs a UserSig now; Go's Verify must accept it
#       (TestVerifiesNodeGeneratedSig);
#   (b) `switchboard usersig` makes one now; Node decodes it as
#       the package encodes (base64 with * - _, zlib), checks the field
#       order and types, recomputes TLS.sig with the package's own
#       _hmacsha256 and with node's crypto, and checks that the package,
#       run at the same TLS.time, produces the identical JSON document.
# It needs node, npm and the npm registry; without node or npm it installs
# them with apt-get when run as root, and fails otherwise. Exits non-zero on
# any mismatch.
set -euo pipefail

cd "$(dirname "$0")/.."

KEY=interop-key
APPID=1400000001
IDENTIFIER=admin

say() { printf 'usersig-interop: %s\n' "$*"; }
die() { say "FAIL: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "node or npm missing; installing them with apt-get"
		timeout 300 apt-get update -qq
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq nodejs npm >/dev/null
	else
		die "node and npm are needed (install nodejs and npm, or run as root with apt-get)"
	fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/usersig-interop.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# A package.json of its own, so that npm installs here and not into some
# parent directory's project.
printf '{"name":"usersig-interop","version":"0.0.0","private":true}\n' >"$TMP/package.json"
say "installing tls-sig-api-v2 from npm into $TMP"
(cd "$TMP" && timeout 300 npm install --silent --no-audit --no-fund tls-sig-api-v2) ||
	die "npm install tls-sig-api-v2 failed"
VERSION=$(cd "$TMP" && node -p 'require("tls-sig-api-v2/package.json").version')
say "tls-sig-api-v2 $VERSION, node $(node --version)"

# (a) Node signs, Go verifies.
NODESIG=$(cd "$TMP" && timeout 30 node -e '
	const { Api } = require("tls-sig-api-v2");
	process.stdout.write(new Api(Number(process.argv[1]), process.argv[2]).genUserSig(process.argv[3], 600));
' "$APPID" "$KEY" "$IDENTIFIER")
[ -n "$NODESIG" ] || die "the npm package produced no UserSig"
say "(a) Node signed: $NODESIG"
if ! OUT=$(SWITCHBOARD_USERSIG_FROM_NODE="$NODESIG" timeout 300 \
	go test -count=1 -v -run '^TestVerifiesNodeGeneratedSig$' ./api/usersig/ 2>&1); then
	printf '%s\n' "$OUT" >&2
	die "(a) Go's Verify refused the npm package's UserSig"
fi
grep -q -- '--- PASS: TestVerifiesNodeGeneratedSig' <<<"$OUT" ||
	{ printf '%s\n' "$OUT" >&2; die "(a) TestVerifiesNodeGeneratedSig did not run"; }
say "(a) ok: Go's Verify accepts it, and refuses it under another key"

# (b) Go signs, Node checks: the usersig printed by `switchboard usersig`,
# the command operators use.
if ! GOSIG=$(timeout 300 go run ./cmd/switchboard usersig -identifier "$IDENTIFIER" \
	-key "$KEY" -sdkappid "$APPID" -expire 600s); then
	die "(b) switchboard usersig failed"
fi
[ -n "$GOSIG" ] || die "(b) switchboard usersig printed nothing"
say "(b) Go signed:   $GOSIG"

cat >"$TMP/check.js" <<'EOF'
// Checks a Go-made UserSig the way the npm package builds one.
const crypto = require("crypto");
const zlib = require("zlib");
const { Api } = require("tls-sig-api-v2");

const [sig, key, appid, identifier] = process.argv.slice(2);
const fail = (msg) => { console.error("usersig-interop: FAIL: (b) " + msg); process.exit(1); };
const ok = (msg) => console.log("usersig-interop: (b) ok: " + msg);

// The package's base64url.unescape, then base64 and zlib.
const inflate = (s) => zlib.inflateSync(Buffer.from(
	s.replace(/_/g, "=").replace(/-/g, "/").replace(/\*/g, "+"), "base64"));

if (!/^[A-Za-z0-9*_-]+$/.test(sig)) fail("characters outside the UserSig alphabet");
let raw, doc;
try { raw = inflate(sig); } catch (e) { fail("does not inflate: " + e.message); }
try { doc = JSON.parse(raw.toString()); } catch (e) { fail("not JSON: " + e.message); }
ok("inflates to " + raw.toString());

const order = ["TLS.ver", "TLS.identifier", "TLS.sdkappid", "TLS.time", "TLS.expire", "TLS.sig"];
if (JSON.stringify(Object.keys(doc)) !== JSON.stringify(order))
	fail("fields " + JSON.stringify(Object.keys(doc)) + ", want " + JSON.stringify(order));
if (doc["TLS.ver"] !== "2.0") fail("TLS.ver is " + JSON.stringify(doc["TLS.ver"]));
if (doc["TLS.identifier"] !== identifier) fail("TLS.identifier is " + JSON.stringify(doc["TLS.identifier"]));
if (doc["TLS.sdkappid"] !== Number(appid)) fail("TLS.sdkappid is " + JSON.stringify(doc["TLS.sdkappid"]));
for (const f of ["TLS.time", "TLS.expire"])
	if (!Number.isSafeInteger(doc[f]) || doc[f] < 0) fail(f + " is " + JSON.stringify(doc[f]));
ok("fields in the package's order, numbers as JSON numbers");

const time = doc["TLS.time"], expire = doc["TLS.expire"];
const api = new Api(Number(appid), key);
// The package's own signing function...
const pkgSig = api._hmacsha256(identifier, time, expire, null);
// ...and the same computation spelled out with node's crypto.
const content = "TLS.identifier:" + identifier + "\n" + "TLS.sdkappid:" + appid + "\n" +
	"TLS.time:" + time + "\n" + "TLS.expire:" + expire + "\n";
const ownSig = crypto.createHmac("sha256", key).update(content).digest("base64");
if (pkgSig !== doc["TLS.sig"]) fail("TLS.sig " + doc["TLS.sig"] + ", the package's _hmacsha256 gives " + pkgSig);
if (ownSig !== doc["TLS.sig"]) fail("TLS.sig " + doc["TLS.sig"] + ", HMAC-SHA256 gives " + ownSig);
const wrong = new Api(Number(appid), key + "x")._hmacsha256(identifier, time, expire, null);
if (wrong === doc["TLS.sig"]) fail("TLS.sig also matches another key");
ok("TLS.sig is the package's HMAC-SHA256 under the key (and not under another)");

const now = Math.floor(Date.now() / 1000);
if (time + expire < now) fail("expired: " + time + " + " + expire + " < " + now);
if (time > now + 60) fail("TLS.time " + time + " is in the future (now " + now + ")");
ok("issued at " + time + ", valid " + expire + "s, unexpired at " + now);

// The package, run at the same instant, must build the same document.
Date.now = () => time * 1000;
const again = api.genUserSig(identifier, expire);
if (!inflate(again).equals(raw))
	fail("the package at TLS.time builds\n" + inflate(again).toString() + "\nGo built\n" + raw.toString());
ok("the package at the same TLS.time builds the identical JSON document" +
	(again === sig ? " and the identical string" : " (the zlib bytes differ: Go's compressor is not C zlib)"));
EOF
(cd "$TMP" && timeout 30 node check.js "$GOSIG" "$KEY" "$APPID" "$IDENTIFIER") ||
	die "(b) the npm package's scheme refuses Go's UserSig"

say "PASS: Go and tls-sig-api-v2 $VERSION agree both ways"
