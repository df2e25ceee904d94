package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultTenant is the id of the contact center that holds everything when
// no tenant is configured: a single-tenant deployment is one whose only
// tenant is this one. Its keys keep the deployment's key prefix unchanged
// (docs/tenants.md), so data written before tenants existed is its data.
const DefaultTenant = "default"

// tenantIDPattern is what a tenant id looks like: a DNS label of 2 to 32
// characters, lower case, since it is also the tenant's host name under
// SWITCHBOARD_TENANT_DOMAIN (acme.chat.example.com).
var tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$`)

// ValidTenantID reports whether id can name a tenant.
func ValidTenantID(id string) bool { return tenantIDPattern.MatchString(id) }

// reservedTenantIDs cannot be created: the default tenant exists already,
// and the others are host names a deployment commonly serves itself on.
var reservedTenantIDs = []string{DefaultTenant, "www", "api", "admin", "operator", "static", "cdn"}

// Tenant is one contact center of a deployment, as the operator registry
// keeps it.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Disabled tenants are refused on every surface (403 in the surface's
	// format) and their sockets are closed.
	Disabled bool `json:"disabled"`
	// AdminKeyHash is the SHA-256 of the tenant's admin key, hex. The key
	// itself is shown once, when made; it is 32 random base62 characters,
	// so a fast hash is enough and lets a request find its tenant by key.
	AdminKeyHash string         `json:"admin_key_hash"`
	Settings     TenantSettings `json:"settings"`
	// Credentials are the tenant's own for the CCAI and Tencent-Desk
	// surfaces: their key or sdkappid also tells whose a request is.
	Credentials TenantCredentials `json:"credentials"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// TenantSettings are what an operator sets per tenant. A zero field means
// the deployment's configured default.
type TenantSettings struct {
	// AllowedOrigins are the web origins whose pages may embed the widget
	// and call the APIs from a browser, besides the deployment's.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// Statuses are the agent statuses this tenant's agents may pick
	// besides Available and Offline, instead of the deployment's.
	Statuses []string `json:"statuses,omitempty"`
	// AgentCapacity is the capacity of an agent first seen through an
	// admin assign.
	AgentCapacity int `json:"agent_capacity,omitempty"`
	// MaxOpenSessions caps this tenant's open sessions; past it, creating
	// one is refused with "max sessions reached".
	MaxOpenSessions int `json:"max_open_sessions,omitempty"`
	// RetentionDays is how long ended sessions are kept.
	RetentionDays int `json:"retention_days,omitempty"`
}

// With returns p with the tenant's settings over it: a zero setting keeps
// p's.
func (p Policy) With(s TenantSettings) Policy {
	if s.MaxOpenSessions > 0 {
		p.MaxOpenSessions = s.MaxOpenSessions
	}
	if s.AgentCapacity > 0 {
		p.AgentCapacity = s.AgentCapacity
	}
	if s.RetentionDays > 0 {
		p.Retention = time.Duration(s.RetentionDays) * 24 * time.Hour
	}
	return p
}

// TenantCredentials are a tenant's credentials of the published surfaces
// whose callers sign in with a deployment-style credential rather than a
// Switchboard key: the CCAI agent-status API (HTTP Basic key and secret)
// and the Tencent-Desk query (sdkappid and the usersig key). Each key and
// sdkappid belongs to one tenant of the deployment.
type TenantCredentials struct {
	CCAIKey           string   `json:"ccai_key,omitempty"`
	CCAISecret        string   `json:"ccai_secret,omitempty"`
	SDKAppID          uint64   `json:"sdkappid,omitempty"`
	UsersigKey        string   `json:"usersig_key,omitempty"`
	AdminIdentifiers  []string `json:"admin_identifiers,omitempty"`
	CustomerServiceID string   `json:"customer_service_id,omitempty"`
	// IdentitySecret verifies the customer ids the tenant's site vouches
	// for (SWITCHBOARD_IDENTITY_SECRET is the default tenant's); none
	// refuses site-given customer ids.
	IdentitySecret string `json:"identity_secret,omitempty"`
}

// Validate checks the credentials' shapes.
func (c TenantCredentials) Validate() error {
	switch {
	case (c.CCAIKey == "") != (c.CCAISecret == ""):
		return Errorf(EINVALID, "give ccai_key and ccai_secret together")
	case c.CCAIKey != "" && (len(c.CCAIKey) < 8 || len(c.CCAIKey) > 128 || strings.ContainsAny(c.CCAIKey, ": \t\r\n")):
		return Errorf(EINVALID, "ccai_key must be 8 to 128 characters without spaces or colons")
	case c.CCAISecret != "" && (len(c.CCAISecret) < 16 || len(c.CCAISecret) > 256):
		return Errorf(EINVALID, "ccai_secret must be 16 to 256 characters")
	case (c.SDKAppID == 0) != (c.UsersigKey == ""):
		return Errorf(EINVALID, "give sdkappid and usersig_key together")
	case c.SDKAppID > 1<<53:
		return Errorf(EINVALID, "sdkappid is out of range")
	case c.UsersigKey != "" && (len(c.UsersigKey) < 16 || len(c.UsersigKey) > 256):
		return Errorf(EINVALID, "usersig_key must be 16 to 256 characters")
	case len(c.AdminIdentifiers) > 20:
		return Errorf(EINVALID, "at most 20 admin_identifiers")
	case c.IdentitySecret != "" && (len(c.IdentitySecret) < 16 || len(c.IdentitySecret) > 256):
		return Errorf(EINVALID, "identity_secret must be 16 to 256 characters")
	case len(c.CustomerServiceID) > 64:
		return Errorf(EINVALID, "customer_service_id must be at most 64 characters")
	}
	for _, id := range c.AdminIdentifiers {
		if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\r\n") {
			return Errorf(EINVALID, "admin_identifiers: %q must be 1 to 64 characters without spaces", id)
		}
	}
	return nil
}

// Validate checks the settings' ranges.
func (s TenantSettings) Validate() error {
	switch {
	case s.AgentCapacity < 0 || s.AgentCapacity > 1000:
		return Errorf(EINVALID, "agent_capacity must be between 1 and 1000")
	case s.MaxOpenSessions < 0:
		return Errorf(EINVALID, "max_open_sessions must not be negative")
	case s.RetentionDays < 0 || s.RetentionDays > 3650:
		return Errorf(EINVALID, "retention_days must be between 1 and 3650")
	case len(s.AllowedOrigins) > 100:
		return Errorf(EINVALID, "at most 100 allowed_origins")
	case len(s.Statuses) > 50:
		return Errorf(EINVALID, "at most 50 statuses")
	}
	for _, o := range s.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.String() != o {
			return Errorf(EINVALID, "allowed_origins: %q is not an origin such as https://shop.example.com", o)
		}
	}
	for _, st := range s.Statuses {
		if st == "" || len(st) > 64 || strings.ContainsAny(st, "\r\n\t") {
			return Errorf(EINVALID, "statuses: %q must be 1 to 64 characters on one line", st)
		}
	}
	return nil
}

// TenantCreate is what creating a tenant takes.
type TenantCreate struct {
	ID       string
	Name     string
	Settings TenantSettings
}

// Validate checks a new tenant.
func (c TenantCreate) Validate() error {
	if !ValidTenantID(c.ID) {
		return Errorf(EINVALID, "id must be 2 to 32 characters of a-z, 0-9 and -, starting and ending with a letter or digit")
	}
	if slices.Contains(reservedTenantIDs, c.ID) {
		return Errorf(ECONFLICT, "tenant id %q is reserved", c.ID)
	}
	if len(c.Name) > 200 {
		return Errorf(EINVALID, "name must be at most 200 characters")
	}
	return c.Settings.Validate()
}

// TenantUpdate changes a tenant; nil fields stay as they are.
type TenantUpdate struct {
	Name        *string
	Disabled    *bool
	Settings    *TenantSettings
	Credentials *TenantCredentials
}

// The kinds of credential a request can name its tenant by.
const (
	CredentialCCAI     = "ccai"
	CredentialSDKAppID = "sdkappid"
)

// ErrCredentialTaken refuses a CCAI key or sdkappid another tenant holds.
var ErrCredentialTaken = &Error{Code: ECONFLICT, Message: "another tenant holds this ccai_key or sdkappid"}

// ErrTenantNotFound and ErrTenantExists are the registry's refusals.
var (
	ErrTenantNotFound = &Error{Code: ENOTFOUND, Message: "tenant not found"}
	ErrTenantExists   = &Error{Code: ECONFLICT, Message: "tenant exists"}
	// ErrTenantDisabled refuses every request of a disabled tenant.
	ErrTenantDisabled = &Error{Code: EFORBIDDEN, Message: "tenant disabled"}
	// ErrDefaultTenant refuses changes the default tenant cannot take: it
	// is configured by the deployment (SWITCHBOARD_ADMIN_KEY and friends).
	ErrDefaultTenant = &Error{Code: ECONFLICT, Message: "the default tenant is configured by the deployment, not through the operator API"}
)

// TenantStore is the operator registry of tenants.
type TenantStore interface {
	// CreateTenant stores t unless its id is taken (ErrTenantExists).
	CreateTenant(ctx context.Context, t *Tenant) error
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// TenantsByID returns those of ids that exist, in one round trip.
	TenantsByID(ctx context.Context, ids []string) (map[string]*Tenant, error)
	// Tenants lists every registered tenant, by id.
	Tenants(ctx context.Context) ([]*Tenant, error)
	// UpdateTenant applies u and returns the result.
	UpdateTenant(ctx context.Context, id string, u TenantUpdate, now time.Time) (*Tenant, error)
	// RotateTenantKey replaces the tenant's admin key hash: the old key
	// stops working at once.
	RotateTenantKey(ctx context.Context, id, keyHash string, now time.Time) (*Tenant, error)
	// TenantByKey returns the id of the tenant whose admin key hashes to
	// keyHash, ErrTenantNotFound for none.
	TenantByKey(ctx context.Context, keyHash string) (string, error)
	// TenantByCredential returns the id of the tenant whose CCAI key
	// (kind CredentialCCAI) or sdkappid (CredentialSDKAppID) is value.
	TenantByCredential(ctx context.Context, kind, value string) (string, error)
}

// HashKey returns the hash a tenant's admin key is kept and looked up by.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewTenantKey returns a fresh admin key for a tenant, in the form of the
// deployment's generated admin key.
func NewTenantKey() string { return "sk_" + NewSecret(32) }
