package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/webhook"
	"github.com/switchboardhq/switchboard/web"
)

// tenantStacks are the tenants this instance serves besides the default
// one, each built on its first request (api.TenantRouter calls build).
type tenantStacks struct {
	mu     sync.Mutex
	stores []*redisstore.Store         // guarded by mu: for the janitor
	hooks  map[string]api.WebhookAdmin // guarded by mu: each served tenant's webhooks, by tenant id
}

func (ts *tenantStacks) add(id string, s *redisstore.Store, hooks api.WebhookAdmin) {
	ts.mu.Lock()
	ts.stores = append(ts.stores, s)
	if ts.hooks == nil {
		ts.hooks = map[string]api.WebhookAdmin{}
	}
	ts.hooks[id] = hooks
	ts.mu.Unlock()
}

// tenantWebhooks are tenant id's webhook endpoints for the operator API:
// when this instance serves the tenant, adding one wakes its sender here.
func (m *Main) tenantWebhooks(id string) api.WebhookAdmin {
	m.tenants.mu.Lock()
	defer m.tenants.mu.Unlock()
	if hooks := m.tenants.hooks[id]; hooks != nil {
		return hooks
	}
	return m.store.ForTenant(id) // not served here: whichever instance serves it delivers
}

func (ts *tenantStacks) all() []*redisstore.Store {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]*redisstore.Store(nil), ts.stores...)
}

// tenantWebhookPoll is how often a tenant's webhook sender looks for
// endpoints added on other instances (the default tenant's looks every
// SWITCHBOARD_WEBHOOK_POLL, 1 s): a thousand tenants do not cost a thousand
// lookups a second. The instance an endpoint is added on delivers to it at
// once (kickOnPut); the others only take over its deliveries if that
// instance goes away, within this. Deliveries to known endpoints are not
// delayed by it.
const tenantWebhookPoll = time.Minute

// kickOnPut is a tenant's webhook administration that wakes the tenant's
// sender on this instance when an endpoint is added through it.
type kickOnPut struct {
	api.WebhookAdmin
	sender *webhook.Sender
}

func (k kickOnPut) PutEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	if err := k.WebhookAdmin.PutEndpoint(ctx, e); err != nil {
		return err
	}
	k.sender.Kick()
	return nil
}

// buildTenant starts the serving stack of tenant t on this instance: its
// store (its own hash tag), service, desk, fan-out on the instance's one
// PubSub connection, webhook sender and api.Server. Its goroutines stop
// with the instance.
//
// Each served tenant runs its own desk, queue watch, fan-out and webhook
// sender goroutines (its sockets are pinged, counted and capped with the
// instance's): a tenant costs this instance four idle goroutines and its
// desk's sweeps (docs/tenants.md).
func (m *Main) buildTenant(ctx context.Context, t *hub.Tenant) (*api.Server, error) {
	cfg := m.Config
	store := m.store.ForTenant(t.ID)
	// The tenant's events carry the store's epoch from the first (the
	// guard moves it with the store's: docs/tenants.md).
	if err := m.Guard.InitTenant(ctx, t.ID); err != nil {
		return nil, err
	}
	logger := m.Logger.With("tenant", t.ID)
	view := m.bus.Tenant(store)
	fanout := hub.NewFanout(view, logger)
	view.Handle(fanout)
	desk := hub.NewDesk(store, cfg.Desk, nil, logger)
	owner, _ := os.Hostname()
	sender := &webhook.Sender{
		Queue: store, History: store, Owner: owner + "-" + hub.NewSecret(6), Log: logger,
		MaxAge: cfg.Webhook.MaxAge, MinBackoff: cfg.Webhook.MinBackoff, MaxBackoff: cfg.Webhook.MaxBackoff,
		LeaseTTL: cfg.Webhook.LeaseTTL, Poll: max(cfg.Webhook.Poll, tenantWebhookPoll),
	}
	hooks := kickOnPut{store, sender}
	creds := api.TenantSurfaceCredentials(t)
	srv := api.NewServer(api.Config{
		CCAI:             creds.CCAI,
		Tencent:          creds.Tencent,
		IdentitySecret:   creds.Identity,
		Sessions:         hub.NewService(store, hub.Policy{MaxOpenSessions: cfg.MaxOpenSessions, AgentCapacity: cfg.AgentCapacity, Retention: cfg.Retention}, nil),
		Agents:           store,
		History:          store,
		Chats:            hub.NewHistory(store, nil),
		Location:         cfg.Location,
		Webhooks:         hooks,
		Fanout:           fanout,
		Desk:             desk,
		Teams:            store,
		OpenSessionOf:    store.OpenSessionOf,
		TrustedProxies:   cfg.TrustedProxies,
		Tokens:           m.tokens.ForTenant(t.ID),
		AdminKeyHash:     t.AdminKeyHash,
		AgentTokenTTL:    cfg.AgentTokenTTL,
		CustomerTokenTTL: cfg.CustomerTokenTTL,
		WS:               cfg.WS,
		ICE:              iceFor(cfg.ICE),
		Hours:            cfg.Hours,
		Files:            m.files,
		Canned:           store,
		Reports:          hub.NewReports(store, store, store, cfg.Location, nil),
		MaxFileBytes:     cfg.MaxFileBytes,
		Ping:             store.Ping,
		Web:              web.Handler(),
		Logger:           logger,
		Instance:         m.api,
		Tenant:           t.ID,
	})
	srv.ApplySettings(t.Settings)
	m.tenants.add(t.ID, store, hooks)
	m.wg.Add(4)
	go func() { defer m.wg.Done(); fanout.Run(m.background) }()
	go func() { defer m.wg.Done(); desk.Run(m.background) }()
	go func() { defer m.wg.Done(); srv.Run(m.background) }()
	go func() { defer m.wg.Done(); sender.Run(m.background) }()
	logger.Info("serving tenant")
	return srv, nil
}
