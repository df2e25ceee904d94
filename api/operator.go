package api

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// OperatorConfig enables the operator API (/api/v1/operator): the
// deployment's registry of tenants, behind a key of its own that no
// tenant holds. docs/api.md describes it.
type OperatorConfig struct {
	// Key authorizes the operator API (Bearer); "" turns the API off (its
	// paths answer 404).
	Key     string
	Tenants hub.TenantStore
	// Changed, when set, is told of every tenant the API changed (disabled,
	// enabled, rotated, new settings), so that this instance applies it at
	// once (TenantRouter.Changed); the others see it within their cache's
	// lifetime.
	Changed func(t *hub.Tenant)
	// Webhooks, when set, gives the webhook endpoints of a tenant (not the
	// default one, whose are the Server's own), for the operator's
	// /tenants/{id}/webhooks routes.
	Webhooks func(tenant string) WebhookAdmin
}

// The operator API's tenant, as it shows it. The admin key is in the
// answers of create and rotate only, once: the registry keeps its hash.
type operatorTenant struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Default     bool                `json:"default"`
	Disabled    bool                `json:"disabled"`
	Settings    hub.TenantSettings  `json:"settings"`
	Credentials operatorCredentials `json:"credentials"`
	CreatedAt   *string             `json:"created_at"`
	UpdatedAt   *string             `json:"updated_at"`
	AdminKey    string              `json:"admin_key,omitempty"`
}

// operatorCredentials are a tenant's surface credentials as the operator
// API shows them: the secrets only as whether they are set.
type operatorCredentials struct {
	CCAIKey           string   `json:"ccai_key"`
	CCAISecretSet     bool     `json:"ccai_secret_set"`
	SDKAppID          uint64   `json:"sdkappid"`
	UsersigKeySet     bool     `json:"usersig_key_set"`
	AdminIdentifiers  []string `json:"admin_identifiers"`
	CustomerServiceID string   `json:"customer_service_id"`
	IdentitySecretSet bool     `json:"identity_secret_set"`
}

func toOperatorTenant(t *hub.Tenant) operatorTenant {
	c := t.Credentials
	return operatorTenant{ID: t.ID, Name: t.Name, Disabled: t.Disabled, Settings: t.Settings,
		Credentials: operatorCredentials{CCAIKey: c.CCAIKey, CCAISecretSet: c.CCAISecret != "", SDKAppID: c.SDKAppID,
			UsersigKeySet: c.UsersigKey != "", AdminIdentifiers: append([]string{}, c.AdminIdentifiers...), CustomerServiceID: c.CustomerServiceID,
			IdentitySecretSet: c.IdentitySecret != ""},
		CreatedAt: nativeTime(t.CreatedAt), UpdatedAt: nativeTime(t.UpdatedAt)}
}

// defaultOperatorTenant is the default tenant in the operator's list: it
// is configured by the deployment's settings, not kept in the registry.
var defaultOperatorTenant = operatorTenant{ID: hub.DefaultTenant, Name: "Default", Default: true}

func (s *Server) routeOperator(r *mux.Router) {
	op := r.PathPrefix("/api/v1/operator").Subrouter()
	op.Handle("/tenants", s.methods(methods{http.MethodGet: s.operator(s.listTenants), http.MethodPost: s.operator(s.createTenant)}))
	op.Handle("/tenants/{id}", s.methods(methods{http.MethodGet: s.operator(s.getTenant), http.MethodPatch: s.operator(s.updateTenant)}))
	op.Handle("/tenants/{id}/keys/rotate", s.methods(methods{http.MethodPost: s.operator(s.rotateTenantKey)}))
	op.Handle("/tenants/{id}/credentials", s.methods(methods{http.MethodPut: s.operator(s.putTenantCredentials)}))
	op.Handle("/tenants/{tenant}/webhooks", s.methods(methods{http.MethodGet: s.operatorWebhooks(s.listWebhooks), http.MethodPost: s.operatorWebhooks(s.createWebhook)}))
	op.Handle("/tenants/{tenant}/webhooks/{id}", s.methods(methods{http.MethodGet: s.operatorWebhooks(s.getWebhook), http.MethodDelete: s.operatorWebhooks(s.deleteWebhook)}))
	op.Handle("/tenants/{tenant}/webhooks/{id}/failures", s.methods(methods{http.MethodGet: s.operatorWebhooks(s.listWebhookFailures)}))
	op.Handle("/tenants/{tenant}/webhooks/{id}/failures/{fid}/replay", s.methods(methods{http.MethodPost: s.operatorWebhooks(s.replayWebhookFailure)}))
	op.PathPrefix("/").HandlerFunc(s.operator(s.notFound))
}

// operator admits requests bearing the operator key. With no key
// configured the API does not exist: 404, as for any unknown path.
func (s *Server) operator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.operatorKey) == 0 {
			s.notFound(w, r)
			return
		}
		key, ok := bearer(r)
		if !ok || !hmac.Equal([]byte(key), s.operatorKey) {
			s.nativeErr(w, r, hub.ErrUnauthorized)
			return
		}
		next(w, r)
	}
}

// operatorWebhooks serves a webhook handler of the native API to the
// operator, against the endpoints of the tenant the path names: the same
// requests and answers as that tenant's admin gets on /api/v1/webhooks.
func (s *Server) operatorWebhooks(h webhookHandler) http.HandlerFunc {
	return s.operator(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["tenant"]
		var wh WebhookAdmin
		if id == hub.DefaultTenant {
			wh = s.webhooks
		} else {
			if _, err := s.tenants.Tenant(r.Context(), id); err != nil {
				s.nativeErr(w, r, err)
				return
			}
			if s.tenantWebhooks != nil {
				wh = s.tenantWebhooks(id)
			}
		}
		if wh == nil {
			s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "webhooks are not available"))
			return
		}
		h(w, r, wh)
	})
}

func (s *Server) tenantChanged(t *hub.Tenant) {
	if s.operatorChanged != nil {
		s.operatorChanged(t)
	}
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.tenants.Tenants(r.Context())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := []operatorTenant{defaultOperatorTenant}
	for _, t := range ts {
		out = append(out, toOperatorTenant(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if id == hub.DefaultTenant {
		writeJSON(w, http.StatusOK, defaultOperatorTenant)
		return
	}
	t, err := s.tenants.Tenant(r.Context(), id)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOperatorTenant(t))
}

// decodeSettings reads a settings object strictly: an unknown or
// misspelt setting is refused rather than silently ignored.
func decodeSettings(raw *json.RawMessage) (*hub.TenantSettings, error) {
	if raw == nil {
		return nil, nil
	}
	var st hub.TenantSettings
	dec := json.NewDecoder(bytes.NewReader(*raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, hub.Errorf(hub.EINVALID, "settings: %s", "not an object of known settings")
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	var (
		id, name *string
		settings *json.RawMessage
	)
	if err := decodeJSON(w, r, fields{"id": &id, "name": &name, "settings": &settings}); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	c := hub.TenantCreate{}
	if id != nil {
		c.ID = *id
	}
	if name != nil {
		c.Name = *name
	}
	st, err := decodeSettings(settings)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if st != nil {
		c.Settings = *st
	}
	if err := c.Validate(); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	key := hub.NewTenantKey()
	now := time.Now().UTC()
	t := &hub.Tenant{ID: c.ID, Name: c.Name, Settings: c.Settings, AdminKeyHash: hub.HashKey(key), CreatedAt: now, UpdatedAt: now}
	if err := s.tenants.CreateTenant(r.Context(), t); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := toOperatorTenant(t)
	out.AdminKey = key
	w.Header().Set("Location", "/api/v1/operator/tenants/"+t.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if id == hub.DefaultTenant {
		s.nativeErr(w, r, hub.ErrDefaultTenant)
		return
	}
	var (
		name     *string
		disabled *bool
		settings *json.RawMessage
	)
	if err := decodeJSON(w, r, fields{"name": &name, "disabled": &disabled, "settings": &settings}); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if name != nil && len(*name) > 200 {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "name must be at most 200 characters"))
		return
	}
	st, err := decodeSettings(settings)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	t, err := s.tenants.UpdateTenant(r.Context(), id, hub.TenantUpdate{Name: name, Disabled: disabled, Settings: st}, time.Now().UTC())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	s.tenantChanged(t)
	writeJSON(w, http.StatusOK, toOperatorTenant(t))
}

func (s *Server) rotateTenantKey(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if id == hub.DefaultTenant {
		s.nativeErr(w, r, hub.ErrDefaultTenant)
		return
	}
	key := hub.NewTenantKey()
	t, err := s.tenants.RotateTenantKey(r.Context(), id, hub.HashKey(key), time.Now().UTC())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	s.tenantChanged(t)
	out := toOperatorTenant(t)
	out.AdminKey = key
	writeJSON(w, http.StatusOK, out)
}

// putTenantCredentials replaces tenant id's CCAI and Tencent-Desk
// credentials and its identity secret whole (an absent body member clears
// it). A CCAI key or
// sdkappid that the deployment itself or another tenant holds is refused:
// it is how a request finds its tenant.
func (s *Server) putTenantCredentials(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if id == hub.DefaultTenant {
		s.nativeErr(w, r, hub.ErrDefaultTenant)
		return
	}
	var (
		ccaiKey, ccaiSecret, usersigKey, csID, identity *string
		sdkappid                                        *uint64
		admins                                          *[]string
	)
	if err := decodeJSON(w, r, fields{"ccai_key": &ccaiKey, "ccai_secret": &ccaiSecret, "sdkappid": &sdkappid,
		"usersig_key": &usersigKey, "admin_identifiers": &admins, "customer_service_id": &csID, "identity_secret": &identity}); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	var c hub.TenantCredentials
	for dst, src := range map[*string]*string{&c.CCAIKey: ccaiKey, &c.CCAISecret: ccaiSecret, &c.UsersigKey: usersigKey, &c.CustomerServiceID: csID, &c.IdentitySecret: identity} {
		if src != nil {
			*dst = *src
		}
	}
	if sdkappid != nil {
		c.SDKAppID = *sdkappid
	}
	if admins != nil {
		c.AdminIdentifiers = *admins
	}
	if err := c.Validate(); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	own := s.creds.Load()
	if c.CCAIKey != "" && c.CCAIKey == own.CCAI.Key || c.SDKAppID != 0 && c.SDKAppID == own.Tencent.SDKAppID {
		s.nativeErr(w, r, hub.ErrCredentialTaken)
		return
	}
	t, err := s.tenants.UpdateTenant(r.Context(), id, hub.TenantUpdate{Credentials: &c}, time.Now().UTC())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	s.tenantChanged(t)
	writeJSON(w, http.StatusOK, toOperatorTenant(t))
}

// TenantSurfaceCredentials are tenant t's credentials as a Server takes them.
func TenantSurfaceCredentials(t *hub.Tenant) Credentials {
	c := t.Credentials
	out := Credentials{CCAI: CCAIConfig{Key: c.CCAIKey, Secret: c.CCAISecret},
		Tencent: TencentConfig{SDKAppID: c.SDKAppID, Key: c.UsersigKey, Admins: c.AdminIdentifiers, CustomerServiceID: c.CustomerServiceID}}
	if c.IdentitySecret != "" {
		out.Identity = []byte(c.IdentitySecret)
	}
	return out
}
