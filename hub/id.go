package hub

import (
	"crypto/rand"
	"strings"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62 with
// crypto/rand, so that ids cannot be guessed from earlier ones.
func randomBase62(n int) string {
	var sb strings.Builder
	sb.Grow(n)
	buf := make([]byte, n+n/2)
	for sb.Len() < n {
		rand.Read(buf) // never fails (crypto/rand panics instead on a broken platform)
		for _, b := range buf {
			// 248 = 4*62: rejecting bytes above it keeps the draw uniform.
			if b < 248 && sb.Len() < n {
				sb.WriteByte(base62[b%62])
			}
		}
	}
	return sb.String()
}

// sessionIDLen is the length of the random part of a session id: 22 base62
// characters are about 131 bits, unguessable.
const sessionIDLen = 22

// NewSessionID returns a fresh session id, "cs_" and 22 random base62 characters.
func NewSessionID() string { return "cs_" + randomBase62(sessionIDLen) }

// NewCustomerID returns a fresh id for a customer the hub creates itself.
func NewCustomerID() string { return "cust_" + randomBase62(16) }

// NewSecret returns a random base62 string of n characters for keys and
// passwords generated at start.
func NewSecret(n int) string { return randomBase62(n) }

// ValidSessionID reports whether id has the shape of a session id. Surfaces
// check it before any look-up, so a malformed id costs no Redis round trip.
func ValidSessionID(id string) bool {
	if len(id) != 3+sessionIDLen || !strings.HasPrefix(id, "cs_") {
		return false
	}
	for i := 3; i < len(id); i++ {
		if strings.IndexByte(base62, id[i]) < 0 {
			return false
		}
	}
	return true
}

// ValidAgentID reports whether id can name an agent: 1 to 64 characters of
// letters, digits and "_.@-" (so e-mail-like ids such as the Tencent
// surface's "test@qq.com" fit, and no id can break a Redis key).
func ValidAgentID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.@-", c) >= 0) {
			return false
		}
	}
	return true
}
