// Package ice gives the browsers of a call their ICE servers: the STUN and
// TURN URLs of SWITCHBOARD_ICE_SERVERS, and for TURN a credential minted
// for the caller that expires (SWITCHBOARD_TURN_TTL). The credential is the
// TURN REST API scheme (draft-uberti-behave-turn-rest), which coturn
// verifies with use-auth-secret and the same shared secret: the hub and
// coturn share one secret and nothing else, and a credential that leaks is
// worth little for long.
package ice

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Server is one RTCIceServer of a browser's RTCConfiguration.
type Server struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Config is the ICE servers a deployment hands out. Immutable after Parse.
type Config struct {
	stun, turn []string
	secret     []byte
	ttl        time.Duration
}

// DefaultTTL is how long a TURN credential lasts when no TTL is given: a
// call is set up within it, and an allocation outlives it once made.
const DefaultTTL = time.Hour

// Parse reads the URLs of SWITCHBOARD_ICE_SERVERS (separated by commas or
// spaces: stun:, stuns:, turn: and turns: URLs with a host, an optional
// port and, for TURN, an optional ?transport=udp|tcp), the TURN secret and
// the credentials' lifetime (0: DefaultTTL). No URLs is valid: browsers on
// one machine or a LAN need none. TURN URLs need the secret.
func Parse(servers, secret string, ttl time.Duration) (*Config, error) {
	c := &Config{secret: []byte(secret), ttl: ttl}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	for _, u := range strings.FieldsFunc(servers, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		turn, err := check(u)
		if err != nil {
			return nil, err
		}
		if turn {
			c.turn = append(c.turn, u)
		} else {
			c.stun = append(c.stun, u)
		}
	}
	if len(c.turn) > 0 && secret == "" {
		return nil, fmt.Errorf("TURN URLs need SWITCHBOARD_TURN_SECRET")
	}
	return c, nil
}

// check validates one ICE server URL (RFC 7064, RFC 7065) and reports
// whether it is a TURN one.
func check(raw string) (turn bool, err error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return false, fmt.Errorf("ICE server %q: want stun:, stuns:, turn: or turns: followed by a host", raw)
	}
	switch scheme {
	case "stun", "stuns":
	case "turn", "turns":
		turn = true
	default:
		return false, fmt.Errorf("ICE server %q: scheme %q is not stun, stuns, turn or turns", raw, scheme)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(hostport, "//") || hostport == "" {
		return false, fmt.Errorf("ICE server %q: want %s:host[:port] (no //)", raw, scheme)
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.Count(hostport, ":") > 0 && !strings.HasPrefix(hostport, "[") {
		return false, fmt.Errorf("ICE server %q: bad host or port", raw)
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return false, fmt.Errorf("ICE server %q: no host", raw)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false, fmt.Errorf("ICE server %q: port %q is not 1 to 65535", raw, port)
		}
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		tr := q.Get("transport")
		if err != nil || !turn || len(q) != 1 || tr != "udp" && tr != "tcp" {
			return false, fmt.Errorf("ICE server %q: only turn URLs take a query, and only ?transport=udp or ?transport=tcp", raw)
		}
	}
	return turn, nil
}

// Empty reports whether no ICE servers are configured.
func (c *Config) Empty() bool { return c == nil || len(c.stun)+len(c.turn) == 0 }

// For returns the ICE servers for user (a party: "customer-<id>",
// "agent-<id>"), with a TURN credential that expires TTL after now. The
// scheme's username is "<unix expiry>:<user>", so a ':' in user is
// replaced: coturn reads the expiry up to the first one.
func (c *Config) For(user string, now time.Time) []Server {
	if c.Empty() {
		return nil
	}
	var out []Server
	if len(c.stun) > 0 {
		out = append(out, Server{URLs: c.stun})
	}
	if len(c.turn) > 0 {
		name := strconv.FormatInt(now.Add(c.ttl).Unix(), 10) + ":" + strings.ReplaceAll(user, ":", "_")
		out = append(out, Server{URLs: c.turn, Username: name, Credential: credential(c.secret, name)})
	}
	return out
}

// credential is the scheme's password: base64(HMAC-SHA1(secret, username)).
func credential(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a credential as coturn's use-auth-secret does: the HMAC of
// the username under the secret, and an expiry (the username up to its
// first ':') not yet past.
func Verify(secret, username, cred string, now time.Time) bool {
	exp, _, _ := strings.Cut(username, ":")
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > n {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(credential([]byte(secret), username)), []byte(cred)) == 1
}
