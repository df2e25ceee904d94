package usersig_test

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/usersig"
)

// The inputs scripts/usersig-interop.sh uses on both sides.
const (
	interopKey        = "interop-key"
	interopAppID      = 1400000001
	interopIdentifier = "admin"
)

// goldenTime is the Date.now() the golden vectors were made at.
const goldenTime = 1750000000

// Golden vectors, made once with the npm package tls-sig-api-v2 1.0.2 under
// Node 20 with Date.now fixed, so that interop is checked where Node is
// absent:
//
//	Date.now = () => 1750000000 * 1000;
//	const api = new (require('tls-sig-api-v2').Api)(1400000001, 'interop-key');
//	api.genUserSig('admin', 86400);                                  // goldenNode
//	api.genUserSig('a"b\\c<&>\u2028\u00e9\u0001\u007f/\t', 3600);    // goldenNodeOdd
//	api.genPrivateMapKey('admin', 300, 10000, 255);                  // goldenNodePMK
//	new (require('tls-sig-api-v2').Api)(1400000001, 'other-key')
//	    .genUserSig('admin', 86400);                                 // goldenNodeOtherKey
const (
	goldenNode         = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCEyJRk5qYqWRmam0KFIaKpFQWZRalKVhZmJjCh4sx0JSulCudyn5Ry7dDiEk8-00SvvMy8Cp*iyCj-yBAfU0O3-FSPgGxTDyPH0jL-dFulWgCfzTEG"
	goldenNodeOdd      = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokxSkkxMck2anaPGlYcXhlTamBgYFivH1MCVVyckp1YUJCZomRlaGIAAYYQmZLM3FQlK0NzU6gwRDS1oiCzKFXJytgMJlKcma5kpVRgpm3obahvHlkeEJWWluYRnOpjUVhl5FTgnGlRlJPvmlNQWh7u4ZQVYmphq1QLAD08N7I_"
	goldenNodePMK      = "eJw1jdsKgkAURf-lvBqmqYgDPpxIi7KkEkzftBlrEGXykkL075GX-bbXYrM-EHhX*c0qILCSFVgMnVNWNjzjA05owctJ1DRPhOAUiKorY9TRNLxgQFTTmPBIWS94xYBoM2hrVqVtBgQQ0Y3CS5OERnDP9TUils726euvDhE3Sxxi2-Mzf-xHp0CzbiLO1d7MuuN5r1iuVoZ5XVtN7B8k6vWRt9OlOHVs*P4AlWJAZQ__"
	goldenNodeOtherKey = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCEyJRk5qYqWRmam0KFIaKpFQWZRalKVhZmJjCh4sx0JSsld5Nyb9P8nFDHkpwy7ww355IK88RK51Azf-*q-MTk9PAkg4rM-GQzL78CT1ulWgCeCDFa"

	oddIdentifier = "a\"b\\c<&>\u2028\u00e9\u0001\u007f/\t"
)

// goldenDoc is what goldenNode inflates to: JSON.stringify's bytes.
const goldenDoc = `{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000001,"TLS.time":1750000000,"TLS.expire":86400,"TLS.sig":"xCwLdw+UstIN5aJninxLrYZOYTL51FoeHPk5H2AuvOg="}`

func at(sec int64) time.Time { return time.Unix(sec, 0) }

// pack encodes a document as a UserSig, independently of the package.
func pack(t *testing.T, doc []byte) string {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(doc); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return escape(z.Bytes())
}

func escape(b []byte) string {
	return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(base64.StdEncoding.EncodeToString(b))
}

// unpack decodes a UserSig to its document, independently of the package.
func unpack(t *testing.T, sig string) []byte {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// mac is the reference's _hmacsha256, written out again here.
func mac(key, identifier, sdkappid, tm, expire string) string {
	h := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(h, "TLS.identifier:%s\nTLS.sdkappid:%s\nTLS.time:%s\nTLS.expire:%s\n", identifier, sdkappid, tm, expire)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestGoldenDocIsTheScheme(t *testing.T) {
	if got := string(unpack(t, goldenNode)); got != goldenDoc {
		t.Fatalf("golden inflates to\n%s\nwant\n%s", got, goldenDoc)
	}
	want := mac(interopKey, "admin", "1400000001", "1750000000", "86400")
	if !strings.Contains(goldenDoc, `"TLS.sig":"`+want+`"`) {
		t.Fatalf("golden TLS.sig is not %s", want)
	}
}

func TestVerifyAcceptsNodeGolden(t *testing.T) {
	for _, now := range []int64{goldenTime - 3600, goldenTime, goldenTime + 86400} {
		if err := usersig.Verify(goldenNode, interopKey, interopAppID, "admin", at(now)); err != nil {
			t.Errorf("at %d: %v", now, err)
		}
	}
	if err := usersig.Verify(goldenNode, interopKey, interopAppID, "admin", at(goldenTime+86401)); !errors.Is(err, usersig.ErrExpired) {
		t.Errorf("a second after time+expire: %v, want ErrExpired", err)
	}
	if err := usersig.Verify(goldenNodeOdd, interopKey, interopAppID, oddIdentifier, at(goldenTime)); err != nil {
		t.Errorf("odd identifier: %v", err)
	}
	if err := usersig.Verify(goldenNodeOtherKey, interopKey, interopAppID, "admin", at(goldenTime)); !errors.Is(err, usersig.ErrSignature) {
		t.Errorf("signed with another key: %v, want ErrSignature", err)
	}
	if err := usersig.Verify(goldenNodeOtherKey, "other-key", interopAppID, "admin", at(goldenTime)); err != nil {
		t.Errorf("other key's own sig: %v", err)
	}
}

// A PrivateMapKey is genuine (its signature, over TLS.userbuf too, checks
// out: with the wrong key it is ErrSignature instead) but not a UserSig.
func TestVerifyRefusesPrivateMapKey(t *testing.T) {
	if err := usersig.Verify(goldenNodePMK, interopKey, interopAppID, "admin", at(goldenTime)); !errors.Is(err, usersig.ErrUserBuf) {
		t.Errorf("PrivateMapKey: %v, want ErrUserBuf", err)
	}
	if err := usersig.Verify(goldenNodePMK, "other-key", interopAppID, "admin", at(goldenTime)); !errors.Is(err, usersig.ErrSignature) {
		t.Errorf("PrivateMapKey, wrong key: %v, want ErrSignature", err)
	}
}

// Sign's document is the npm package's byte for byte, escaping included;
// only the zlib stream may differ.
func TestSignMatchesNodeDocument(t *testing.T) {
	for _, c := range []struct {
		golden, identifier string
		expire             time.Duration
	}{
		{goldenNode, "admin", 86400 * time.Second},
		{goldenNodeOdd, oddIdentifier, 3600 * time.Second},
	} {
		sig, err := usersig.Sign(interopKey, interopAppID, c.identifier, c.expire, at(goldenTime))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := unpack(t, sig), unpack(t, c.golden); !bytes.Equal(got, want) {
			t.Errorf("%q: document\n%s\nwant (Node's)\n%s", c.identifier, got, want)
		}
		if err := usersig.Verify(sig, interopKey, interopAppID, c.identifier, at(goldenTime)); err != nil {
			t.Errorf("%q: %v", c.identifier, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	now := time.Now()
	for _, id := range []string{"admin", "user_01-x", "中文", oddIdentifier, strings.Repeat("z", 1000)} {
		sig, err := usersig.Sign("k", 42, id, time.Hour, now)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if strings.ContainsAny(sig, "+/=") {
			t.Errorf("%q: %s has a standard base64 character", id, sig)
		}
		if err := usersig.Verify(sig, "k", 42, id, now); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func TestVerifyMismatches(t *testing.T) {
	const now = goldenTime
	sig, err := usersig.Sign(interopKey, interopAppID, "admin", 600*time.Second, at(now))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		key        string
		appid      uint64
		identifier string
		now        int64
		want       error
	}{
		{"valid at issue", interopKey, interopAppID, "admin", now, nil},
		{"valid at the last second", interopKey, interopAppID, "admin", now + 600, nil},
		{"expired", interopKey, interopAppID, "admin", now + 601, usersig.ErrExpired},
		{"wrong key", "interop-key2", interopAppID, "admin", now, usersig.ErrSignature},
		{"wrong identifier", interopKey, interopAppID, "Admin", now, usersig.ErrIdentifier},
		{"identifier prefix", interopKey, interopAppID, "admi", now, usersig.ErrIdentifier},
		{"wrong sdkappid", interopKey, interopAppID + 1, "admin", now, usersig.ErrSDKAppID},
		{"empty key", "", interopAppID, "admin", now, usersig.ErrNoKey},
	} {
		err := usersig.Verify(sig, c.key, c.appid, c.identifier, at(c.now))
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// Tampering with a document and compressing it again: the signature no
// longer matches.
func TestVerifyRefusesTampering(t *testing.T) {
	tamper := func(old, new string) string {
		if !strings.Contains(goldenDoc, old) {
			t.Fatalf("%s not in the golden document", old)
		}
		return pack(t, []byte(strings.Replace(goldenDoc, old, new, 1)))
	}
	for _, c := range []struct {
		name, sig, identifier string
	}{
		{"signature byte", tamper(`"TLS.sig":"xCwL`, `"TLS.sig":"yCwL`), "admin"},
		{"signature of another key", tamper(`xCwLdw+UstIN5aJninxLrYZOYTL51FoeHPk5H2AuvOg=`, mac("other-key", "admin", "1400000001", "1750000000", "86400")), "admin"},
		{"expire lengthened", tamper(`"TLS.expire":86400`, `"TLS.expire":8640000`), "admin"},
		{"time moved", tamper(`"TLS.time":1750000000`, `"TLS.time":1750000001`), "admin"},
		{"identifier changed", tamper(`"TLS.identifier":"admin"`, `"TLS.identifier":"root"`), "root"},
	} {
		if err := usersig.Verify(c.sig, interopKey, interopAppID, c.identifier, at(goldenTime)); !errors.Is(err, usersig.ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", c.name, err)
		}
	}
	// Tampering with the compressed bytes themselves breaks the stream.
	z, _ := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(goldenNode))
	z[len(z)/2] ^= 0x10
	if err := usersig.Verify(escape(z), interopKey, interopAppID, "admin", at(goldenTime)); err == nil {
		t.Error("a flipped compressed bit verified")
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(goldenDoc))
	zw.Close()
	stream := z.Bytes()

	// A zlib bomb: a megabyte of spaces inside a JSON document, some
	// kilobyte compressed.
	bomb := pack(t, []byte(`{"TLS.ver":"2.0"`+strings.Repeat(" ", 1<<20)+`}`))
	if len(bomb) > usersig.MaxSigLen {
		t.Fatalf("bomb is %d characters, over MaxSigLen: it would not test the cap", len(bomb))
	}

	cases := map[string]string{
		"empty":                   "",
		"not base64":              "!!!!",
		"bad base64 length":       goldenNode[:len(goldenNode)-1],
		"standard alphabet":       base64.StdEncoding.EncodeToString(stream),
		"newline inside":          goldenNode[:20] + "\n" + goldenNode[20:],
		"base64 but not zlib":     escape([]byte("hello, this is not a zlib stream")),
		"truncated zlib":          escape(stream[:len(stream)-6]),
		"bad Adler-32":            escape(append(append([]byte{}, stream[:len(stream)-1]...), stream[len(stream)-1]^1)),
		"bytes after the stream":  escape(append(append([]byte{}, stream...), 0)),
		"zlib bomb":               bomb,
		"longer than MaxSigLen":   strings.Repeat("A", usersig.MaxSigLen+4),
		"document one over":       pack(t, []byte(goldenDoc+strings.Repeat(" ", usersig.MaxDocLen-len(goldenDoc)+1))),
		"not JSON":                pack(t, []byte("TLS.ver=2.0")),
		"JSON null":               pack(t, []byte("null")),
		"JSON array":              pack(t, []byte("[]")),
		"truncated JSON":          pack(t, []byte(goldenDoc[:len(goldenDoc)-1])),
		"JSON then more":          pack(t, []byte(goldenDoc+"{}")),
		"invalid UTF-8":           pack(t, []byte(strings.Replace(goldenDoc, `"admin"`, "\"adm\xffin\"", 1))),
		"version 1.0":             pack(t, []byte(strings.Replace(goldenDoc, `"2.0"`, `"1.0"`, 1))),
		"version a number":        pack(t, []byte(strings.Replace(goldenDoc, `"2.0"`, `2.0`, 1))),
		"sdkappid a string":       pack(t, []byte(strings.Replace(goldenDoc, `1400000001`, `"1400000001"`, 1))),
		"time a string":           pack(t, []byte(strings.Replace(goldenDoc, `1750000000`, `"1750000000"`, 1))),
		"time a fraction":         pack(t, []byte(strings.Replace(goldenDoc, `1750000000`, `1750000000.5`, 1))),
		"time an exponent":        pack(t, []byte(strings.Replace(goldenDoc, `1750000000`, `1.75e9`, 1))),
		"time over 2^63-1":        pack(t, []byte(strings.Replace(goldenDoc, `1750000000`, `9223372036854775808`, 1))),
		"expire negative":         pack(t, []byte(strings.Replace(goldenDoc, `86400`, `-86400`, 1))),
		"expire null":             pack(t, []byte(strings.Replace(goldenDoc, `86400`, `null`, 1))),
		"identifier null":         pack(t, []byte(strings.Replace(goldenDoc, `"admin"`, `null`, 1))),
		"identifier a number":     pack(t, []byte(strings.Replace(goldenDoc, `"admin"`, `7`, 1))),
		"sig null":                pack(t, []byte(strings.Replace(goldenDoc, `"xCwLdw+UstIN5aJninxLrYZOYTL51FoeHPk5H2AuvOg="`, `null`, 1))),
		"userbuf a number":        pack(t, []byte(strings.Replace(goldenDoc, `,"TLS.sig"`, `,"TLS.userbuf":1,"TLS.sig"`, 1))),
		"field names differ case": pack(t, []byte(strings.ReplaceAll(goldenDoc, `"TLS.`, `"tls.`))),
	}
	for _, f := range []string{`"TLS.ver":"2.0",`, `"TLS.identifier":"admin",`, `"TLS.sdkappid":1400000001,`, `"TLS.time":1750000000,`, `"TLS.expire":86400,`, `,"TLS.sig":"xCwLdw+UstIN5aJninxLrYZOYTL51FoeHPk5H2AuvOg="`} {
		cases["missing "+f] = pack(t, []byte(strings.Replace(goldenDoc, f, "", 1)))
	}
	for name, sig := range cases {
		if err := usersig.Verify(sig, interopKey, interopAppID, "admin", at(goldenTime)); !errors.Is(err, usersig.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}

	// The cap's boundary: a document of exactly MaxDocLen bytes is fine.
	full := goldenDoc + strings.Repeat(" ", usersig.MaxDocLen-len(goldenDoc))
	if err := usersig.Verify(pack(t, []byte(full)), interopKey, interopAppID, "admin", at(goldenTime)); err != nil {
		t.Errorf("document of MaxDocLen bytes: %v", err)
	}
	// Fields it does not know are ignored.
	extra := strings.Replace(goldenDoc, `{`, `{"TLS.future":[1,{"x":null}],`, 1)
	if err := usersig.Verify(pack(t, []byte(extra)), interopKey, interopAppID, "admin", at(goldenTime)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

// Verify reads at most MaxDocLen+1 bytes of a bomb, not the 4 MiB it
// inflates to.
func TestVerifyBombIsCheap(t *testing.T) {
	bomb := pack(t, []byte(`{"TLS.ver":"2.0"`+strings.Repeat(" ", 4<<20)+`}`))
	if len(bomb) > usersig.MaxSigLen {
		t.Fatalf("bomb is %d characters, over MaxSigLen: it would not test the cap", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := usersig.Verify(bomb, interopKey, interopAppID, "admin", at(goldenTime))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, usersig.ErrMalformed) {
		t.Errorf("bomb: %v, want ErrMalformed", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("verifying a bomb allocated %d bytes", grew)
	}
}

func TestSignRefuses(t *testing.T) {
	now := at(goldenTime)
	for _, c := range []struct {
		name       string
		key        string
		appid      uint64
		identifier string
		expire     time.Duration
		now        time.Time
	}{
		{"empty key", "", 1, "a", time.Hour, now},
		{"empty identifier", "k", 1, "", time.Hour, now},
		{"identifier not UTF-8", "k", 1, "a\xff", time.Hour, now},
		{"expire zero", "k", 1, "a", 0, now},
		{"expire negative", "k", 1, "a", -time.Hour, now},
		{"expire fractional", "k", 1, "a", 1500 * time.Millisecond, now},
		{"sdkappid beyond 2^53-1", "k", 1 << 53, "a", time.Hour, now},
		{"before 1970", "k", 1, "a", time.Hour, at(-1)},
	} {
		if sig, err := usersig.Sign(c.key, c.appid, c.identifier, c.expire, c.now); err == nil {
			t.Errorf("%s: signed %s", c.name, sig)
		}
	}
	if _, err := usersig.Sign("", 1, "a", time.Hour, now); !errors.Is(err, usersig.ErrNoKey) {
		t.Errorf("empty key: %v, want ErrNoKey", err)
	}
}

// TestVerifiesNodeGeneratedSig verifies a UserSig the npm package made just
// now (scripts/usersig-interop.sh passes it in) for interopIdentifier in
// interopAppID under interopKey. Without the variable it skips.
func TestVerifiesNodeGeneratedSig(t *testing.T) {
	sig := os.Getenv("SWITCHBOARD_USERSIG_FROM_NODE")
	if sig == "" {
		t.Skip("SWITCHBOARD_USERSIG_FROM_NODE is not set (scripts/usersig-interop.sh sets it)")
	}
	if err := usersig.Verify(sig, interopKey, interopAppID, interopIdentifier, time.Now()); err != nil {
		t.Fatalf("Node's %s: %v", sig, err)
	}
	if err := usersig.Verify(sig, interopKey+"x", interopAppID, interopIdentifier, time.Now()); !errors.Is(err, usersig.ErrSignature) {
		t.Fatalf("Node's sig under another key: %v, want ErrSignature", err)
	}
	t.Logf("verified Node's %s", sig)
}

// TestPrintSigForNode prints, on a line of its own, USERSIG= and a UserSig
// signed now, valid ten minutes, for interopIdentifier in interopAppID
// under interopKey, for scripts/usersig-interop.sh to check with the npm
// package. It runs only when SWITCHBOARD_USERSIG_PRINT=1.
func TestPrintSigForNode(t *testing.T) {
	if os.Getenv("SWITCHBOARD_USERSIG_PRINT") != "1" {
		t.Skip("SWITCHBOARD_USERSIG_PRINT is not 1 (scripts/usersig-interop.sh sets it)")
	}
	sig, err := usersig.Sign(interopKey, interopAppID, interopIdentifier, 10*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("USERSIG=" + sig)
}
