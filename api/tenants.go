package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// TenantRouter serves every tenant of a deployment on one listener: it
// finds the tenant of each request and hands the request to that tenant's
// Server. docs/tenants.md says how a tenant is found on each surface.
//
// The tenant of a request is, in this order: the host (acme.<Domain>);
// the "tenant" query parameter or the X-Switchboard-Tenant header (for the
// widget's and the desktop's unauthenticated calls and the WebSocket when
// no host names one); the credential (a tenant's admin key, CCAI key or
// Tencent-Desk sdkappid, through the registry; a token, which names its
// tenant); else the default tenant.
// Naming a tenant never grants anything: the tenant's own Server still
// authenticates the request, so another tenant's key or token is refused
// there (401).
type TenantRouter struct {
	// Immutable after NewTenantRouter.
	def      *Server
	domain   string // lower case, without a leading dot; "" resolves no host
	registry hub.TenantStore
	build    func(ctx context.Context, t *hub.Tenant) (*Server, error)
	ttl      time.Duration

	mu      sync.Mutex
	served  map[string]*servedTenant // guarded by mu: the tenants this instance has a Server for
	tenants map[string]cachedTenant  // guarded by mu: registry reads, for ttl
	keys    map[string]cachedKey     // guarded by mu: "key:<admin key hash>", "ccai:<key>", "sdkappid:<n>" → tenant id, for ttl
}

type servedTenant struct {
	once     sync.Once
	srv      *Server
	err      error
	disabled bool        // guarded by TenantRouter.mu
	applied  *hub.Tenant // guarded by TenantRouter.mu: the registry entry last applied to srv
}

type cachedTenant struct {
	t   *hub.Tenant // nil: not registered
	at  time.Time
	err error
}

type cachedKey struct {
	id string // "" for no tenant
	at time.Time
}

// TenantRouterConfig configures a TenantRouter.
type TenantRouterConfig struct {
	// Default serves the default tenant and the deployment's own paths
	// (health, readiness, metrics, the operator API).
	Default *Server
	// Domain is SWITCHBOARD_TENANT_DOMAIN: tenant acme is served on
	// acme.<Domain>. "" finds tenants by parameter and credential only.
	Domain   string
	Registry hub.TenantStore
	// Build returns the Server of tenant t, starting what it needs; it is
	// called once per tenant on this instance.
	Build func(ctx context.Context, t *hub.Tenant) (*Server, error)
	// TTL is how long a registry read is believed; default 2 s. A tenant
	// disabled, enabled or rotated takes effect within it on every instance.
	TTL time.Duration
}

// NewTenantRouter returns a TenantRouter.
func NewTenantRouter(cfg TenantRouterConfig) *TenantRouter {
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Second
	}
	return &TenantRouter{
		def: cfg.Default, domain: strings.Trim(strings.ToLower(cfg.Domain), "."), registry: cfg.Registry,
		build: cfg.Build, ttl: cfg.TTL,
		served: map[string]*servedTenant{}, tenants: map[string]cachedTenant{}, keys: map[string]cachedKey{},
	}
}

// ServeHTTP implements http.Handler.
func (tr *TenantRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/healthz" || p == "/readyz" || p == "/metrics" || strings.HasPrefix(p, "/api/v1/operator/") {
		tr.def.ServeHTTP(w, r)
		return
	}
	id, named := tr.tenantOf(r)
	if id == hub.DefaultTenant {
		tr.def.ServeHTTP(w, r)
		return
	}
	srv, err := tr.server(r.Context(), id)
	if err != nil {
		if !named && errors.Is(err, hub.ErrTenantNotFound) {
			// A credential that names no tenant: the default tenant
			// refuses it in its own words.
			tr.def.ServeHTTP(w, r)
			return
		}
		tr.def.RenderError(w, r, err)
		return
	}
	srv.ServeHTTP(w, r)
}

// tenantOf returns the tenant r is for, and whether the host or a
// parameter named it (rather than a credential).
func (tr *TenantRouter) tenantOf(r *http.Request) (string, bool) {
	if tr.domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		if sub, ok := strings.CutSuffix(host, "."+tr.domain); ok {
			if !strings.Contains(sub, ".") {
				return sub, true
			}
		}
	}
	if id := r.URL.Query().Get("tenant"); id != "" {
		return id, true
	}
	if id := r.Header.Get("X-Switchboard-Tenant"); id != "" {
		return id, true
	}
	// The surfaces whose callers sign in with their own credentials: the
	// CCAI key (HTTP Basic user) and the Tencent-Desk sdkappid name a
	// tenant unless they are the deployment's own.
	if strings.HasPrefix(r.URL.Path, "/apps/api/") {
		if user, _, ok := r.BasicAuth(); ok && user != "" && user != tr.def.ccaiConf().Key {
			if id := tr.tenantByCredential(r.Context(), hub.CredentialCCAI, user); id != "" {
				return id, false
			}
		}
		return hub.DefaultTenant, false
	}
	if strings.HasPrefix(r.URL.Path, "/v4/") {
		if v := r.URL.Query().Get("sdkappid"); v != "" && v != strconv.FormatUint(tr.def.tencentConf().SDKAppID, 10) {
			if id := tr.tenantByCredential(r.Context(), hub.CredentialSDKAppID, v); id != "" {
				return id, false
			}
		}
		return hub.DefaultTenant, false
	}
	tok, ok := bearer(r)
	if !ok || tr.def.isAdminKey(tok) {
		return hub.DefaultTenant, false
	}
	if strings.HasPrefix(tok, "v1.") {
		if id := hub.PeekTenant(tok); id != "" {
			return id, false
		}
		return hub.DefaultTenant, false
	}
	if id := tr.tenantByKey(r.Context(), tok); id != "" {
		return id, false
	}
	return hub.DefaultTenant, false
}

// tenantByKey returns the tenant whose admin key is key ("" for none),
// through a cache: a flood of wrong keys costs one registry read per key
// and ttl.
func (tr *TenantRouter) tenantByKey(ctx context.Context, key string) string {
	hash := hub.HashKey(key)
	return tr.lookup(ctx, "key:"+hash, func() (string, error) { return tr.registry.TenantByKey(ctx, hash) })
}

// tenantByCredential returns the tenant whose credential of kind is value
// ("" for none), through the same cache.
func (tr *TenantRouter) tenantByCredential(ctx context.Context, kind, value string) string {
	if len(value) > 256 {
		return ""
	}
	return tr.lookup(ctx, kind+":"+value, func() (string, error) { return tr.registry.TenantByCredential(ctx, kind, value) })
}

// lookup returns what read says under cache key name, read at most once per ttl.
func (tr *TenantRouter) lookup(ctx context.Context, name string, read func() (string, error)) string {
	now := time.Now()
	tr.mu.Lock()
	c, ok := tr.keys[name]
	tr.mu.Unlock()
	if ok && now.Sub(c.at) < tr.ttl {
		return c.id
	}
	id, err := read()
	if err != nil && !errors.Is(err, hub.ErrTenantNotFound) {
		return "" // the default tenant will refuse the key; nothing cached
	}
	tr.mu.Lock()
	if len(tr.keys) > 10_000 {
		clear(tr.keys) // bounded: wrong keys do not grow it without end
	}
	tr.keys[name] = cachedKey{id: id, at: now}
	tr.mu.Unlock()
	return id
}

// tenant returns tenant id's registry entry, read at most once per ttl.
func (tr *TenantRouter) tenant(ctx context.Context, id string) (*hub.Tenant, error) {
	if !hub.ValidTenantID(id) {
		return nil, hub.ErrTenantNotFound
	}
	now := time.Now()
	tr.mu.Lock()
	c, ok := tr.tenants[id]
	tr.mu.Unlock()
	if ok && now.Sub(c.at) < tr.ttl {
		return c.t, c.err
	}
	t, err := tr.registry.Tenant(ctx, id)
	if err != nil && !errors.Is(err, hub.ErrTenantNotFound) {
		return nil, err // unavailable: not cached
	}
	tr.remember(id, t, err, now)
	return t, err
}

// remember caches a registry read and applies it to the tenant's Server:
// its admin key, and whether it is disabled.
func (tr *TenantRouter) remember(id string, t *hub.Tenant, err error, now time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.tenants) > 10_000 {
		clear(tr.tenants)
	}
	tr.tenants[id] = cachedTenant{t: t, at: now, err: err}
	st := tr.served[id]
	if st == nil || st.srv == nil {
		return
	}
	off := t == nil || t.Disabled
	if t != nil && !reflect.DeepEqual(t, st.applied) {
		st.applied = t
		st.srv.SetAdminKeyHash(t.AdminKeyHash)
		st.srv.SetCredentials(TenantSurfaceCredentials(t))
		st.srv.ApplySettings(t.Settings)
	}
	if off && !st.disabled {
		st.disabled = true
		go st.srv.Disable(context.Background())
	} else if !off && st.disabled {
		st.disabled = false
		st.srv.Enable()
	}
}

// Changed applies at once a change of tenant t made through this instance
// (the operator API): disabling closes its sockets here now; the other
// instances see it within the cache's lifetime.
func (tr *TenantRouter) Changed(t *hub.Tenant) { tr.remember(t.ID, t, nil, time.Now()) }

// server returns tenant id's Server, building it on first use; a disabled
// or unknown tenant is refused.
func (tr *TenantRouter) server(ctx context.Context, id string) (*Server, error) {
	t, err := tr.tenant(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Disabled {
		return nil, hub.ErrTenantDisabled
	}
	tr.mu.Lock()
	st := tr.served[id]
	if st == nil {
		st = &servedTenant{}
		tr.served[id] = st
	}
	tr.mu.Unlock()
	st.once.Do(func() {
		srv, err := tr.build(context.WithoutCancel(ctx), t)
		tr.mu.Lock()
		st.srv, st.err, st.applied = srv, err, t
		tr.mu.Unlock()
	})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if st.err != nil {
		// Not built (the store was away): the next request tries again.
		if tr.served[id] == st {
			delete(tr.served, id)
		}
		return nil, st.err
	}
	return st.srv, nil
}

// Run re-reads, every ttl, the registry entries of the tenants this
// instance serves, in one round trip, so that disabling a tenant closes its
// sockets on every instance within ttl, with nobody's request needed.
func (tr *TenantRouter) Run(ctx context.Context) {
	t := time.NewTicker(tr.ttl)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tr.mu.Lock()
		ids := make([]string, 0, len(tr.served))
		for id, st := range tr.served {
			if st.srv != nil {
				ids = append(ids, id)
			}
		}
		tr.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		got, err := tr.registry.TenantsByID(ctx, ids)
		if err != nil {
			continue // the store is away; the next tick tries again
		}
		now := time.Now()
		for _, id := range ids {
			t := got[id]
			var err error
			if t == nil {
				err = hub.ErrTenantNotFound
			}
			tr.remember(id, t, err, now)
		}
	}
}

// Servers returns the Servers of the tenants this instance has served
// (the default tenant's is not among them), for shutdown.
func (tr *TenantRouter) Servers() []*Server {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]*Server, 0, len(tr.served))
	for _, st := range tr.served {
		if st.srv != nil {
			out = append(out, st.srv)
		}
	}
	return out
}
