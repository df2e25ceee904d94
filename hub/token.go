package hub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Principal roles: who a token speaks for.
const (
	PrincipalAgent    = "agent"
	PrincipalCustomer = "customer"
)

// Claims are what a token asserts. A customer token names the customer and
// the session it was issued with; an agent token names the agent (its role
// is read from the store on use, so a demotion takes effect at once).
type Claims struct {
	Role      string `json:"r"`
	Subject   string `json:"sub"`
	Name      string `json:"n,omitempty"`
	SessionID string `json:"sid,omitempty"`
	Expires   int64  `json:"exp"`
	// Tenant names the tenant whose Tokens signed the token ("" for the
	// default tenant). It says where to verify a token that arrives with
	// nothing else naming its tenant; the signature, made with that
	// tenant's own key, is what binds it.
	Tenant string `json:"t,omitempty"`
}

// Tokens signs and verifies tokens with one HMAC-SHA256 secret shared by
// every instance. A token is "v1." + base64url(claims JSON) + "." +
// base64url(MAC over the first two parts): small, stateless, and readable
// by nobody who lacks the secret to forge it.
type Tokens struct {
	secret []byte
	tenant string // "" for the default tenant
}

// NewTokens returns a Tokens with secret, which must hold at least 32 bytes.
func NewTokens(secret []byte) (*Tokens, error) {
	if len(secret) < 32 {
		return nil, Errorf(EINVALID, "token secret shorter than 32 bytes")
	}
	return &Tokens{secret: secret}, nil
}

var errBadToken = &Error{Code: EUNAUTHORIZED, Message: "invalid or expired token"}

func (t *Tokens) mac(payload string) string {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ForTenant returns the Tokens of tenant id: they sign with a key derived
// from the deployment's secret and the id (HMAC-SHA256(secret, "tenant:"+id)),
// so that a token of one tenant never verifies on another. The default
// tenant keeps the deployment's secret, and so every token issued before
// tenants existed.
func (t *Tokens) ForTenant(id string) *Tokens {
	if id == DefaultTenant || id == "" {
		return &Tokens{secret: t.secret}
	}
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte("tenant:" + id))
	return &Tokens{secret: m.Sum(nil), tenant: id}
}

// PeekTenant returns the tenant a token names, without verifying it: only
// to choose which tenant's Tokens verify it ("" for the default tenant, or
// a token that is not one).
func PeekTenant(token string) string {
	rest, ok := strings.CutPrefix(token, "v1.")
	i := strings.IndexByte(rest, '.')
	if !ok || i < 0 || i > 2048 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(rest[:i])
	if err != nil {
		return ""
	}
	var c struct {
		Tenant string `json:"t"`
	}
	if json.Unmarshal(b, &c) != nil || !ValidTenantID(c.Tenant) {
		return ""
	}
	return c.Tenant
}

// Sign returns the token for c, naming the Tokens' tenant.
func (t *Tokens) Sign(c Claims) string {
	c.Tenant = t.tenant
	b, _ := json.Marshal(c) // only strings and an int
	payload := "v1." + base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + t.mac(payload)
}

// Verify checks the token's signature and expiry at now and returns its claims.
func (t *Tokens) Verify(token string, now time.Time) (Claims, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, "v1.") || len(token) > 4096 {
		return Claims{}, errBadToken
	}
	payload, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(t.mac(payload))) {
		return Claims{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload[3:])
	if err != nil {
		return Claims{}, errBadToken
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil || c.Subject == "" || c.Tenant != t.tenant ||
		(c.Role != PrincipalAgent && c.Role != PrincipalCustomer) || now.Unix() >= c.Expires {
		return Claims{}, errBadToken
	}
	return c, nil
}

// IdentityHash is what a site's backend computes to vouch for a customer
// id: hex(HMAC-SHA256(identity secret, customer id)). To vouch for the
// customer's ticket-system user id too, it signs "<customer id>:<user id>".
func IdentityHash(secret []byte, customerID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(customerID))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyIdentity reports, in constant time, whether hash vouches for customerID.
func VerifyIdentity(secret []byte, customerID, hash string) bool {
	return len(secret) > 0 && hmac.Equal([]byte(strings.ToLower(hash)), []byte(IdentityHash(secret, customerID)))
}
