package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

func TestTenantPrefix(t *testing.T) {
	for _, c := range []struct{ base, id, want string }{
		{"{sb}", "acme", "{sb:acme}"},
		{"{sb}", hub.DefaultTenant, "{sb}"},
		{"prod:{sb}:x", "acme", "prod:{sb:acme}:x"},
		{"{hostile}", "b2", "{hostile:b2}"},
	} {
		got := redisstore.TenantPrefix(c.base, c.id)
		if got != c.want {
			t.Errorf("TenantPrefix(%q, %q) = %q, want %q", c.base, c.id, got, c.want)
		}
		if err := redisstore.ValidatePrefix(got); err != nil {
			t.Errorf("TenantPrefix(%q, %q) = %q: %v", c.base, c.id, got, err)
		}
	}
}

// TestTenantKeysShareOneSlotEach writes a session, a message and an agent in
// three tenants and reads every key back: each tenant's keys are in one
// slot, the tenants' slots differ, and no tenant sees another's sessions.
func TestTenantKeysShareOneSlotEach(t *testing.T) {
	if got := redistest.Slot("123456789"); got != 0x31C3 {
		t.Fatalf("hashSlot self-check: %#x, want 0x31c3 (the Cluster specification's example)", got)
	}
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	slots := map[string]int{}
	ids := map[string]string{}
	for _, tenant := range []string{hub.DefaultTenant, "acme", "globex"} {
		st := f.store.ForTenant(tenant)
		svc := hub.NewService(st, hub.Policy{AgentCapacity: 2, Retention: 3600e9}, f.clock)
		s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: tenant, CustomerName: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		ids[tenant] = s.ID
		if err := st.PutAgent(ctx, &hub.Agent{ID: "agent_1", Name: "One", Email: "one@" + tenant + ".test", Capacity: 1}); err != nil {
			t.Fatal(err)
		}
		prefix := redisstore.TenantPrefix(f.r.Prefix, tenant)
		keys, err := f.r.Client.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range keys {
			if !strings.HasPrefix(k, prefix+":") {
				continue
			}
			n++
			if slot, ok := slots[tenant]; ok && slot != redistest.Slot(k) {
				t.Errorf("tenant %s: key %s in slot %d, its other keys in %d", tenant, k, redistest.Slot(k), slot)
			}
			slots[tenant] = redistest.Slot(k)
		}
		if n == 0 {
			t.Fatalf("tenant %s wrote no key under %s: %v", tenant, prefix, keys)
		}
	}
	if slots["acme"] == slots["globex"] || slots["acme"] == slots[hub.DefaultTenant] {
		t.Errorf("tenants share a slot: %v", slots)
	}
	for tenant, id := range ids {
		for _, other := range []string{hub.DefaultTenant, "acme", "globex"} {
			_, err := f.store.ForTenant(other).Session(ctx, id)
			if other == tenant && err != nil {
				t.Errorf("tenant %s cannot read its session: %v", tenant, err)
			}
			if other != tenant && err == nil {
				t.Errorf("tenant %s reads tenant %s's session %s", other, tenant, id)
			}
		}
	}
}

func TestTenantRegistry(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	reg := f.store.ForTenant("acme").Tenants() // the registry is the deployment's, from any tenant's store
	key := hub.NewTenantKey()
	acme := &hub.Tenant{ID: "acme", Name: "Acme", AdminKeyHash: hub.HashKey(key), CreatedAt: t0, UpdatedAt: t0,
		Settings: hub.TenantSettings{MaxOpenSessions: 5}}
	if err := reg.CreateTenant(ctx, acme); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reg.CreateTenant(ctx, &hub.Tenant{ID: "acme", AdminKeyHash: hub.HashKey("other")}), hub.ErrTenantExists)
	if err := reg.CreateTenant(ctx, &hub.Tenant{ID: "beta", AdminKeyHash: hub.HashKey(hub.NewTenantKey())}); err != nil {
		t.Fatal(err)
	}
	list, err := reg.Tenants(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "acme" || list[1].ID != "beta" {
		t.Fatalf("Tenants = %v, %v; want acme, beta", list, err)
	}
	if id, err := reg.TenantByKey(ctx, hub.HashKey(key)); err != nil || id != "acme" {
		t.Fatalf("TenantByKey = %q, %v", id, err)
	}

	off := true
	got, err := reg.UpdateTenant(ctx, "acme", hub.TenantUpdate{Disabled: &off}, t0.Add(1e9))
	if err != nil || !got.Disabled || got.Settings.MaxOpenSessions != 5 || got.Name != "Acme" {
		t.Fatalf("UpdateTenant = %+v, %v", got, err)
	}
	if got, err := reg.Tenant(ctx, "acme"); err != nil || !got.Disabled || !got.UpdatedAt.Equal(t0.Add(1e9)) {
		t.Fatalf("Tenant after update = %+v, %v", got, err)
	}
	_, err = reg.UpdateTenant(ctx, "nobody", hub.TenantUpdate{Disabled: &off}, t0)
	wantErr(t, err, hub.ErrTenantNotFound)

	key2 := hub.NewTenantKey()
	if _, err := reg.RotateTenantKey(ctx, "acme", hub.HashKey(key2), t0); err != nil {
		t.Fatal(err)
	}
	_, err = reg.TenantByKey(ctx, hub.HashKey(key))
	wantErr(t, err, hub.ErrTenantNotFound)
	if id, err := reg.TenantByKey(ctx, hub.HashKey(key2)); err != nil || id != "acme" {
		t.Fatalf("TenantByKey(new key) = %q, %v", id, err)
	}
}

// TestTenantRegistryConcurrent: tenants created and changed from many
// goroutines at once (provisioning) all succeed, and a duplicate id is
// refused exactly once per extra attempt.
func TestTenantRegistryConcurrent(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	reg := f.store.Tenants()
	const n = 40
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n { // each id twice
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("t%02d", i%n)
			errs <- reg.CreateTenant(ctx, &hub.Tenant{ID: id, AdminKeyHash: hub.HashKey(fmt.Sprint(i))})
		}()
	}
	wg.Wait()
	close(errs)
	created, exists := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, hub.ErrTenantExists):
			exists++
		default:
			t.Fatalf("create: %v", err)
		}
	}
	if created != n || exists != n {
		t.Fatalf("created %d, refused as existing %d; want %d each", created, exists, n)
	}
	name := "renamed"
	uerrs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reg.UpdateTenant(ctx, fmt.Sprintf("t%02d", i), hub.TenantUpdate{Name: &name}, t0)
			uerrs <- err
		}()
	}
	wg.Wait()
	close(uerrs)
	for err := range uerrs {
		if err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
	}
	list, _ := reg.Tenants(ctx)
	for _, tn := range list {
		if tn.Name != name {
			t.Fatalf("tenant %s not renamed", tn.ID)
		}
	}
}

// TestTenantCredentialsAreUnique: a tenant's CCAI key and sdkappid find it,
// another tenant cannot take them, and replacing them frees the old ones.
func TestTenantCredentialsAreUnique(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	reg := f.store.Tenants()
	for _, id := range []string{"acme", "globex"} {
		if err := reg.CreateTenant(ctx, &hub.Tenant{ID: id, AdminKeyHash: hub.HashKey(id)}); err != nil {
			t.Fatal(err)
		}
	}
	c := hub.TenantCredentials{CCAIKey: "acme-key", CCAISecret: "acme-secret-0123456789", SDKAppID: 1400000777, UsersigKey: "k"}
	if _, err := reg.UpdateTenant(ctx, "acme", hub.TenantUpdate{Credentials: &c}, t0); err != nil {
		t.Fatal(err)
	}
	for kind, v := range map[string]string{hub.CredentialCCAI: "acme-key", hub.CredentialSDKAppID: "1400000777"} {
		if id, err := reg.TenantByCredential(ctx, kind, v); err != nil || id != "acme" {
			t.Fatalf("%s %s: %q, %v", kind, v, id, err)
		}
	}
	for _, taken := range []hub.TenantCredentials{{CCAIKey: "acme-key", CCAISecret: "x"}, {SDKAppID: 1400000777, UsersigKey: "k"}} {
		_, err := reg.UpdateTenant(ctx, "globex", hub.TenantUpdate{Credentials: &taken}, t0)
		wantErr(t, err, hub.ErrCredentialTaken)
	}
	// acme moves to new ones: the old are free for globex.
	c2 := hub.TenantCredentials{CCAIKey: "acme-key-2", CCAISecret: "s"}
	if _, err := reg.UpdateTenant(ctx, "acme", hub.TenantUpdate{Credentials: &c2}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.TenantByCredential(ctx, hub.CredentialSDKAppID, "1400000777"); !errors.Is(err, hub.ErrTenantNotFound) {
		t.Fatalf("the old sdkappid still leads somewhere: %v", err)
	}
	if _, err := reg.UpdateTenant(ctx, "globex", hub.TenantUpdate{Credentials: &c}, t0); err != nil {
		t.Fatalf("globex takes the freed credentials: %v", err)
	}
	if id, _ := reg.TenantByCredential(ctx, hub.CredentialCCAI, "acme-key"); id != "globex" {
		t.Fatalf("acme-key leads to %q", id)
	}
}
