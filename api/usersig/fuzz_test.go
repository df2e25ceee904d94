package usersig

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets of the UserSig verifier, which reads a string anyone
// may put in the Tencent-Desk surface's query. They sit inside the package
// to compare what Verify accepted with what decode read.

// fzSentinels are the errors Verify may return, each wrapped or bare.
var fzSentinels = []error{ErrMalformed, ErrSDKAppID, ErrIdentifier, ErrSignature, ErrUserBuf, ErrExpired, ErrNoKey}

// fzGolden are tickets made by Tencent's npm package (usersig_test.go has
// how): a UserSig under "interop-key", one with an odd identifier, a
// PrivateMapKey, and one under another key.
var fzGolden = []string{
	"eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCEyJRk5qYqWRmam0KFIaKpFQWZRalKVhZmJjCh4sx0JSulCudyn5Ry7dDiEk8-00SvvMy8Cp*iyCj-yBAfU0O3-FSPgGxTDyPH0jL-dFulWgCfzTEG",
	"eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokxSkkxMck2anaPGlYcXhlTamBgYFivH1MCVVyckp1YUJCZomRlaGIAAYYQmZLM3FQlK0NzU6gwRDS1oiCzKFXJytgMJlKcma5kpVRgpm3obahvHlkeEJWWluYRnOpjUVhl5FTgnGlRlJPvmlNQWh7u4ZQVYmphq1QLAD08N7I_",
	"eJw1jdsKgkAURf-lvBqmqYgDPpxIi7KkEkzftBlrEGXykkL075GX-bbXYrM-EHhX*c0qILCSFVgMnVNWNjzjA05owctJ1DRPhOAUiKorY9TRNLxgQFTTmPBIWS94xYBoM2hrVqVtBgQQ0Y3CS5OERnDP9TUils726euvDhE3Sxxi2-Mzf-xHp0CzbiLO1d7MuuN5r1iuVoZ5XVtN7B8k6vWRt9OlOHVs*P4AlWJAZQ__",
	"eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCEyJRk5qYqWRmam0KFIaKpFQWZRalKVhZmJjCh4sx0JSsld5Nyb9P8nFDHkpwy7ww355IK88RK51Azf-*q-MTk9PAkg4rM-GQzL78CT1ulWgCeCDFa",
}

// FuzzVerify feeds Verify arbitrary tickets, keys, identifiers, application
// ids and times; each input is tried twice, as a ticket and as the JSON
// document of one (compressed and encoded as Sign does), so that the
// fuzzer reaches the document's fields, which mutating compressed bytes
// seldom does. Verify must not panic; it must answer nil or one of its
// sentinel errors, the same on a second call, and ErrMalformed for a
// ticket over MaxSigLen; and what it accepts must be exactly what Sign
// would have issued for that identifier, application, time and expiry
// under that key (so that nothing but a genuine ticket verifies).
func FuzzVerify(f *testing.F) {
	for _, g := range fzGolden {
		f.Add(g, "interop-key", "admin", uint64(1400000001), int64(1750000000))
		f.Add(g, "interop-key", "admin", uint64(1400000001), int64(1750086401))
		f.Add(g[:len(g)/2], "interop-key", "admin", uint64(1400000001), int64(1750000000))
	}
	own, err := Sign("k", 1, "admin", time.Second, time.Unix(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{own, "", "*-_", "eJwDAAAAAAE_", "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCE",
		strings.Repeat("A", MaxSigLen+1), "eJ" + strings.Repeat("-", 40), "eJzLSM3JyQcABiwCFQ__", "\xff\xfe"} {
		f.Add(s, "k", "admin", uint64(1), int64(1))
	}
	// The document of the first golden ticket, and variations of its fields.
	const doc = `{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000001,"TLS.time":1750000000,"TLS.expire":86400,"TLS.sig":"xCwLdw+UstIN5aJninxLrYZOYTL51FoeHPk5H2AuvOg="}`
	for _, d := range []string{doc,
		strings.Replace(doc, "1750000000", "1750000000.0", 1), strings.Replace(doc, "1750000000", `"1750000000"`, 1),
		strings.Replace(doc, "86400", "-86400", 1), strings.Replace(doc, "86400", "9223372036854775808", 1),
		strings.Replace(doc, `"admin"`, `"\u0061dmin"`, 1), strings.Replace(doc, `"2.0"`, `"2.00"`, 1),
		strings.Replace(doc, `{`, `{"TLS.identifier":"other",`, 1), strings.Replace(doc, `}`, `,"TLS.userbuf":""}`, 1),
		strings.Replace(doc, `"TLS.sig"`, `"TLS.Sig"`, 1), strings.Replace(doc, `"admin"`, `null`, 1), doc + " ", "[" + doc + "]",
	} {
		f.Add(d, "interop-key", "admin", uint64(1400000001), int64(1750000000))
	}
	check := func(t *testing.T, sig, key, identifier string, sdkappid uint64, now int64) {
		at := time.Unix(now, 0)
		err := Verify(sig, key, sdkappid, identifier, at)
		if again := Verify(sig, key, sdkappid, identifier, at); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("Verify is not deterministic: %v, then %v", err, again)
		}
		if err != nil {
			known := false
			for _, s := range fzSentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("Verify(%q): %v is none of the sentinel errors", sig, err)
			}
			if len(sig) > MaxSigLen && key != "" && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify of %d bytes: %v, want ErrMalformed", len(sig), err)
			}
			return
		}
		d, derr := decode(sig)
		if derr != nil {
			t.Fatalf("Verify accepted %q, which decode refuses: %v", sig, derr)
		}
		if d.identifier != identifier || d.sdkappidN != sdkappid || d.hasUserBuf || key == "" {
			t.Fatalf("Verify accepted %q for %q in %d: the ticket is %+v", sig, identifier, sdkappid, d.fields)
		}
		if now > 0 && uint64(now) > d.timeN+d.expireN {
			t.Fatalf("Verify accepted %q at %d, expired at %d", sig, now, d.timeN+d.expireN)
		}
		// Signing the same values must give a ticket with the same signature.
		if d.expireN < 1 || d.expireN > math.MaxInt64/uint64(time.Second) || d.timeN > maxJSInt || d.sdkappidN > maxJSInt ||
			!utf8.ValidString(identifier) || identifier == "" {
			return // Sign refuses these values, but Verify, like Tencent's, takes them
		}
		again, err := Sign(key, sdkappid, identifier, time.Duration(d.expireN)*time.Second, time.Unix(int64(d.timeN), 0))
		if err != nil {
			t.Fatalf("Sign(%+v): %v", d.fields, err)
		}
		d2, err := decode(again)
		if err != nil || d2.sig != d.sig || d2.time != d.time || d2.expire != d.expire || d2.sdkappid != d.sdkappid {
			t.Fatalf("Verify accepted %q (%+v, sig %s), but Sign issues %+v (sig %s): %v", sig, d.fields, d.sig, d2, d2.sig, err)
		}
	}
	f.Fuzz(func(t *testing.T, sig, key, identifier string, sdkappid uint64, now int64) {
		check(t, sig, key, identifier, sdkappid, now)
		check(t, fzPack(sig), key, identifier, sdkappid, now)
	})
}

// fzPack encodes doc as a ticket, the way Sign does.
func fzPack(doc string) string {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	io.WriteString(zw, doc)
	zw.Close()
	return escaper.Replace(base64.StdEncoding.EncodeToString(z.Bytes()))
}

// FuzzSignVerify signs arbitrary values and checks the round trip: Sign
// refuses exactly what it documents; what it issues verifies through the
// last second of its validity and is ErrExpired one second later, and is
// refused for another application, identifier or key; decode reads back
// the signed values; and no change to the ticket (one byte replaced at
// pos, or the ticket cut at pos) panics or verifies unless the ticket
// still holds the very same document.
func FuzzSignVerify(f *testing.F) {
	f.Add("interop-key", "admin", uint64(1400000001), int64(1750000000), uint32(86400), uint16(10), byte('A'))
	f.Add("k", "a\"b\\c<&>\u2028\u00e9\u0001\u007f/\t", uint64(1), int64(0), uint32(1), uint16(0), byte('*'))
	f.Add("k", "test@qq.com", uint64(1<<53-1), int64(1<<53-1), uint32(math.MaxUint32), uint16(500), byte('-'))
	f.Add("", "admin", uint64(1), int64(1), uint32(1), uint16(1), byte('_'))
	f.Add("k", "", uint64(1), int64(1), uint32(1), uint16(1), byte(0))
	f.Add("k", "\xff", uint64(1<<53), int64(-1), uint32(0), uint16(65535), byte(0xff))
	f.Add(strings.Repeat("k", 1000), strings.Repeat("i", 3000), uint64(7), int64(1<<40), uint32(60), uint16(3), byte('z'))
	f.Fuzz(func(t *testing.T, key, identifier string, sdkappid uint64, now int64, expireS uint32, pos uint16, b byte) {
		expire := time.Duration(expireS) * time.Second
		at := time.Unix(now, 0)
		sig, err := Sign(key, sdkappid, identifier, expire, at)
		refuse := key == "" || identifier == "" || !utf8.ValidString(identifier) || sdkappid > maxJSInt ||
			expireS == 0 || now < 0 || now > maxJSInt
		if (err != nil) != refuse {
			t.Fatalf("Sign(%q, %d, %q, %v, %d): %v, want refusal %v", key, sdkappid, identifier, expire, now, err, refuse)
		}
		if err != nil {
			return
		}
		// Sign does not bound the document; Verify refuses one over
		// MaxDocLen (an identifier of some 4,000 bytes) as malformed.
		if len(fzInflate(t, sig)) > MaxDocLen {
			if err := Verify(sig, key, sdkappid, identifier, at); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify of a %d-byte document: %v, want ErrMalformed", len(fzInflate(t, sig)), err)
			}
			return
		}
		last := time.Unix(now+int64(expireS), 0)
		if err := Verify(sig, key, sdkappid, identifier, at); err != nil {
			t.Fatalf("Verify of a fresh ticket: %v", err)
		}
		if err := Verify(sig, key, sdkappid, identifier, last); err != nil {
			t.Fatalf("Verify in the last second of validity: %v", err)
		}
		if err := Verify(sig, key, sdkappid, identifier, last.Add(time.Second)); !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify a second after expiry: %v, want ErrExpired", err)
		}
		if err := Verify(sig, key, sdkappid^1, identifier, at); !errors.Is(err, ErrSDKAppID) {
			t.Fatalf("Verify for another application: %v, want ErrSDKAppID", err)
		}
		if err := Verify(sig, key, sdkappid, identifier+"x", at); !errors.Is(err, ErrIdentifier) {
			t.Fatalf("Verify for another identifier: %v, want ErrIdentifier", err)
		}
		if err := Verify(sig, key+"x", sdkappid, identifier, at); !errors.Is(err, ErrSignature) {
			t.Fatalf("Verify under another key: %v, want ErrSignature", err)
		}
		d, err := decode(sig)
		if err != nil || d.identifier != identifier || d.sdkappidN != sdkappid || d.timeN != uint64(now) || d.expireN != uint64(expireS) {
			t.Fatalf("decode of a fresh ticket: %+v, %v", d, err)
		}
		i := int(pos) % len(sig)
		for _, m := range []string{sig[:i] + string(b) + sig[i+1:], sig[:i], sig + string(b)} {
			if m == sig {
				continue
			}
			if Verify(m, key, sdkappid, identifier, at) != nil {
				continue
			}
			dm, err := decode(m)
			if err != nil || dm.fields != d.fields || dm.sig != d.sig {
				t.Fatalf("a changed ticket %q verifies: %+v, %v", m, dm, err)
			}
		}
	})
}

// fzInflate returns the whole document of a ticket Sign issued.
func fzInflate(t *testing.T, sig string) []byte {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(unescaper.Replace(sig))
	if err != nil {
		t.Fatalf("Sign issued bad base64: %v", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("Sign issued bad zlib: %v", err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("Sign issued a bad zlib stream: %v", err)
	}
	return doc
}
