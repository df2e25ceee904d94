// Package usersig signs and verifies Tencent Cloud IM UserSigs, the
// TLSSigAPIv2 tickets that the Tencent Desk surface authenticates with, so
// that Switchboard accepts what Tencent's own SDKs issue and issues what
// their servers accept.
//
// The reference is the official npm package tls-sig-api-v2 (1.0.2). A UserSig
// is a JSON document, compressed with zlib and base64-encoded with '+', '/'
// and '=' replaced by '*', '-' and '_':
//
//	{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000001,
//	 "TLS.time":1750000000,"TLS.expire":86400,"TLS.sig":"<base64 HMAC>"}
//
// TLS.sdkappid, TLS.time (Unix seconds) and TLS.expire (seconds) are JSON
// numbers, never strings. TLS.sig is the standard base64 (padded) of
// HMAC-SHA256, keyed with the application's key, over
//
//	"TLS.identifier:" + identifier + "\n" +
//	"TLS.sdkappid:" + sdkappid + "\n" +
//	"TLS.time:" + time + "\n" +
//	"TLS.expire:" + expire + "\n"
//
// A PrivateMapKey (a TRTC room ticket) has the same form with a TLS.userbuf
// string before TLS.sig and "TLS.userbuf:" + userbuf + "\n" appended to the
// signed content. The npm package has no verification function; Verify
// checks what Tencent's own Go package (tls-sig-api-v2-golang) checks, and
// is stricter about the encoding.
package usersig

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the only TLS.ver this package signs or accepts: the HMAC
// scheme above is version 2.0's, and the older 1.x scheme (ECDSA keys) is a
// different ticket altogether.
const Version = "2.0"

// MaxSigLen bounds the UserSig string Verify reads, so a huge header costs
// nothing to refuse. A real UserSig is some 200 characters; one whose
// document is MaxDocLen bytes stored uncompressed stays well under this.
const MaxSigLen = 8 << 10

// MaxDocLen bounds the decompressed JSON document, so a zlib bomb inflates
// to at most this many bytes before Verify refuses it. A real document is
// under 300 bytes.
const MaxDocLen = 4 << 10

// maxJSInt is the largest integer a JavaScript number holds exactly. The
// reference carries sdkappid and time as numbers, so Sign refuses anything
// larger rather than produce what the reference never could.
const maxJSInt = 1<<53 - 1

// The errors Verify returns, one per reason, so that a caller can log why
// and answer each as Tencent does. Malformed ones wrap ErrMalformed with
// detail; test with errors.Is.
var (
	// ErrMalformed: not base64 in the UserSig alphabet, not zlib, too
	// large, not JSON, a field missing or of the wrong type, or a
	// TLS.ver other than Version.
	ErrMalformed = errors.New("usersig: malformed")
	// ErrSDKAppID: TLS.sdkappid is not the application's.
	ErrSDKAppID = errors.New("usersig: sdkappid does not match")
	// ErrIdentifier: TLS.identifier is not the user's.
	ErrIdentifier = errors.New("usersig: identifier does not match")
	// ErrSignature: TLS.sig is not the HMAC of the document under the key
	// (tampered, or signed with another key).
	ErrSignature = errors.New("usersig: signature does not match")
	// ErrUserBuf: a genuine ticket carrying TLS.userbuf, that is a TRTC
	// PrivateMapKey, offered where a UserSig is wanted. Tencent's Go
	// package refuses it the same way.
	ErrUserBuf = errors.New("usersig: ticket carries TLS.userbuf (a PrivateMapKey, not a UserSig)")
	// ErrExpired: TLS.time + TLS.expire is before now.
	ErrExpired = errors.New("usersig: expired")
	// ErrNoKey: the key is empty. An empty HMAC key is a configuration
	// mistake, and verifying with one would accept tickets anyone can make.
	ErrNoKey = errors.New("usersig: empty key")
)

// Sign returns the UserSig for identifier in application sdkappid, issued
// at now and valid for expire, exactly as the npm package's genUserSig
// builds it: the same signed content and the same JSON bytes in the same
// field order. Only the compression differs: the zlib stream is Go's
// compress/zlib at the default level, not the C zlib Node uses, and the two
// frame and Huffman-code their blocks differently, so the string usually
// differs from Node's while inflating to the identical document. Every
// verifier (the reference's own decoding, Tencent's, Verify) inflates and
// never compares compressed bytes.
//
// Sign refuses what the reference would encode differently or what makes
// no working ticket: an empty key, an empty identifier or one that is not
// valid UTF-8, an expire that is not a positive whole number of seconds,
// and an sdkappid or time beyond what a JavaScript number holds exactly.
func Sign(key string, sdkappid uint64, identifier string, expire time.Duration, now time.Time) (string, error) {
	if key == "" {
		return "", ErrNoKey
	}
	if identifier == "" {
		return "", errors.New("usersig: empty identifier")
	}
	if !utf8.ValidString(identifier) {
		return "", errors.New("usersig: identifier is not valid UTF-8")
	}
	if sdkappid > maxJSInt {
		return "", fmt.Errorf("usersig: sdkappid %d is beyond 2^53-1", sdkappid)
	}
	if expire < time.Second || expire%time.Second != 0 {
		return "", fmt.Errorf("usersig: expire %v is not a positive whole number of seconds", expire)
	}
	t := now.Unix()
	if t < 0 || t > maxJSInt {
		return "", fmt.Errorf("usersig: time %d is out of range", t)
	}
	f := fields{
		identifier: identifier,
		sdkappid:   strconv.FormatUint(sdkappid, 10),
		time:       strconv.FormatInt(t, 10),
		expire:     strconv.FormatInt(int64(expire/time.Second), 10),
	}
	mac := f.mac(key)

	// JSON.stringify of {TLS.ver, TLS.identifier, TLS.sdkappid, TLS.time,
	// TLS.expire, TLS.sig}, in that order, with its string escaping.
	var doc strings.Builder
	doc.WriteString(`{"TLS.ver":"` + Version + `","TLS.identifier":`)
	writeJSString(&doc, identifier)
	doc.WriteString(`,"TLS.sdkappid":` + f.sdkappid)
	doc.WriteString(`,"TLS.time":` + f.time)
	doc.WriteString(`,"TLS.expire":` + f.expire)
	doc.WriteString(`,"TLS.sig":"` + mac + `"}`)

	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := io.WriteString(zw, doc.String()); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return escaper.Replace(base64.StdEncoding.EncodeToString(z.Bytes())), nil
}

// Verify checks that sig is a UserSig for identifier in application
// sdkappid, signed with key and unexpired at now, and returns nil or the
// sentinel error saying why not. The checks run in the order of the
// sentinels above, so that ErrUserBuf and ErrExpired are only ever said of
// a genuine ticket.
//
// Verify is exact where the reference is: TLS.sdkappid, TLS.time and
// TLS.expire must be JSON numbers written as non-negative integers (the
// reference never writes strings), the strings must be JSON strings, and
// TLS.sig must equal the reference's base64 of the HMAC byte for byte
// (compared in constant time). Fields it does not know are ignored.
func Verify(sig, key string, sdkappid uint64, identifier string, now time.Time) error {
	if key == "" {
		return ErrNoKey
	}
	d, err := decode(sig)
	if err != nil {
		return err
	}
	if d.sdkappidN != sdkappid {
		return ErrSDKAppID
	}
	if d.identifier != identifier {
		return ErrIdentifier
	}
	if !hmac.Equal([]byte(d.mac(key)), []byte(d.sig)) {
		return ErrSignature
	}
	if d.hasUserBuf {
		return ErrUserBuf
	}
	// Valid through the second TLS.time + TLS.expire, as Tencent's own
	// verifiers have it. Both are at most 2^63-1, so the sum fits.
	if n := now.Unix(); n > 0 && uint64(n) > d.timeN+d.expireN {
		return ErrExpired
	}
	return nil
}

// escaper and unescaper map between standard base64 and the UserSig
// alphabet, as the reference's base64url.escape and unescape do.
var (
	escaper   = strings.NewReplacer("+", "*", "/", "-", "=", "_")
	unescaper = strings.NewReplacer("*", "+", "-", "/", "_", "=")
)

// fields are the signed values, each as the decimal text that goes into
// both the JSON and the signed content.
type fields struct {
	identifier, sdkappid, time, expire string
	userbuf                            string
	hasUserBuf                         bool
}

// mac is the reference's _hmacsha256: the standard, padded base64 of
// HMAC-SHA256 over the signed content.
func (f *fields) mac(key string) string {
	h := hmac.New(sha256.New, []byte(key))
	io.WriteString(h, "TLS.identifier:"+f.identifier+"\n")
	io.WriteString(h, "TLS.sdkappid:"+f.sdkappid+"\n")
	io.WriteString(h, "TLS.time:"+f.time+"\n")
	io.WriteString(h, "TLS.expire:"+f.expire+"\n")
	if f.hasUserBuf {
		io.WriteString(h, "TLS.userbuf:"+f.userbuf+"\n")
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// document is a decoded UserSig.
type document struct {
	fields
	sdkappidN, timeN, expireN uint64
	sig                       string
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }

// decode undoes the encoding, within MaxSigLen and MaxDocLen, and checks
// the document's shape.
func decode(sig string) (*document, error) {
	if len(sig) > MaxSigLen {
		return nil, malformed("longer than MaxSigLen")
	}
	for i := 0; i < len(sig); i++ {
		c := sig[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '*' || c == '-' || c == '_') {
			return nil, malformed("character outside the UserSig base64 alphabet")
		}
	}
	z, err := base64.StdEncoding.Strict().DecodeString(unescaper.Replace(sig))
	if err != nil {
		return nil, malformed("bad base64")
	}
	raw, err := inflate(z)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(raw) {
		return nil, malformed("document is not valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, malformed("document is not a JSON object")
	}

	d := new(document)
	ver, err := str(m, "TLS.ver")
	if err != nil {
		return nil, err
	}
	if ver != Version {
		return nil, malformed("TLS.ver is not " + Version)
	}
	if d.identifier, err = str(m, "TLS.identifier"); err != nil {
		return nil, err
	}
	if d.sdkappid, d.sdkappidN, err = num(m, "TLS.sdkappid"); err != nil {
		return nil, err
	}
	if d.time, d.timeN, err = num(m, "TLS.time"); err != nil {
		return nil, err
	}
	if d.expire, d.expireN, err = num(m, "TLS.expire"); err != nil {
		return nil, err
	}
	if d.sig, err = str(m, "TLS.sig"); err != nil {
		return nil, err
	}
	if _, ok := m["TLS.userbuf"]; ok {
		if d.userbuf, err = str(m, "TLS.userbuf"); err != nil {
			return nil, err
		}
		d.hasUserBuf = true
	}
	return d, nil
}

// inflate decompresses one whole zlib stream of at most MaxDocLen bytes,
// reading at most MaxDocLen+1 whatever the stream claims, and refuses
// trailing bytes after it.
func inflate(z []byte) ([]byte, error) {
	br := bytes.NewReader(z)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, malformed("not zlib")
	}
	defer zr.Close()
	// Reading to EOF makes the zlib reader check the Adler-32 trailer.
	raw, err := io.ReadAll(io.LimitReader(zr, MaxDocLen+1))
	if err != nil {
		return nil, malformed("bad zlib stream")
	}
	if len(raw) > MaxDocLen {
		return nil, malformed("document larger than MaxDocLen")
	}
	// bytes.Reader is an io.ByteReader, so the decompressor read no
	// further than the stream's end; anything left is trailing junk.
	if br.Len() != 0 {
		return nil, malformed("bytes after the zlib stream")
	}
	return raw, nil
}

// str returns field k, which must be a JSON string.
func str(m map[string]json.RawMessage, k string) (string, error) {
	v, ok := m[k]
	if !ok {
		return "", malformed(k + " missing")
	}
	var s string
	// A JSON null unmarshals into a string without error; demand a string.
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", malformed(k + " is not a string")
	}
	return s, nil
}

// num returns field k, which must be a JSON number written as a
// non-negative integer below 2^63, as its text and its value. JSON has
// already refused leading zeros and signs other than '-', so the text is
// the canonical decimal the signer signed.
func num(m map[string]json.RawMessage, k string) (string, uint64, error) {
	v, ok := m[k]
	if !ok {
		return "", 0, malformed(k + " missing")
	}
	n, err := strconv.ParseUint(string(v), 10, 63)
	if err != nil {
		return "", 0, malformed(k + " is not a non-negative integer number")
	}
	return string(v), n, nil
}

// writeJSString writes s as JavaScript's JSON.stringify does, which is not
// encoding/json's way: only '"', '\\' and control characters are escaped,
// the usual ones by their short forms and the rest as \u00xx in lower-case
// hex; '<', '>', '&', U+2028 and U+2029 stay as they are. s is valid UTF-8,
// so there are no lone surrogates to escape.
func writeJSString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
