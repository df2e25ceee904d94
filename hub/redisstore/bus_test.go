package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// busRecorder is a fan-out subscriber that keeps what reached it.
type busRecorder struct {
	mu      sync.Mutex
	got     []string // the Data of each delivery
	resyncs int
	changed chan struct{}
}

func newBusRecorder() *busRecorder { return &busRecorder{changed: make(chan struct{}, 100)} }

func (r *busRecorder) Deliver(d *hub.Delivery) {
	r.mu.Lock()
	r.got = append(r.got, string(d.Data))
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *busRecorder) Resync(string) {
	r.mu.Lock()
	r.resyncs++
	r.mu.Unlock()
	r.changed <- struct{}{}
}

// wait blocks until cond holds of r, or fails the test after 5 s.
func (r *busRecorder) wait(t *testing.T, what string, cond func(got []string, resyncs int) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r.got, r.resyncs)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("%s: not within 5 s (got %q, %d resyncs)", what, r.got, r.resyncs)
		}
	}
}

// TestBusRoutesTenants runs three tenants' fan-outs on one Bus (one PubSub
// connection): each subscribes the same topic name, and an event published
// on one tenant's channel reaches that tenant's subscriber only.
func TestBusRoutesTenants(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := f.store.NewBus(ctx)
	tenants := []string{hub.DefaultTenant, "acme", "globex"}
	recs := map[string]*busRecorder{}
	var wg sync.WaitGroup
	defer wg.Wait() // last: after the bus closed and the fan-outs stopped
	defer bus.Close()
	defer cancel()
	const topic = "session:cs_SameIdInEveryTenant"
	for _, id := range tenants {
		var fan *hub.Fanout
		if id == hub.DefaultTenant {
			fan = hub.NewFanout(bus, nil)
			wg.Add(1)
			go func() { defer wg.Done(); bus.Run(fan) }()
		} else {
			view := bus.Tenant(f.store.ForTenant(id))
			fan = hub.NewFanout(view, nil)
			view.Handle(fan)
		}
		wg.Add(1)
		go func() { defer wg.Done(); fan.Run(ctx) }()
		recs[id] = newBusRecorder()
		fan.Add(topic, recs[id])
	}
	for _, id := range tenants {
		recs[id].wait(t, id+" subscribed", func(_ []string, resyncs int) bool { return resyncs == 1 })
	}
	for _, id := range tenants {
		channel := redisstore.TenantPrefix(f.r.Prefix, id) + ":ch:" + topic
		for n := range 3 {
			msg := fmt.Sprintf(`{"type":"message","seq":%d,"tenant":%q}`, n+1, id)
			if got := f.r.Client.Publish(ctx, channel, msg).Val(); got != 1 {
				t.Fatalf("PUBLISH %s reached %d subscribers; want the one connection", channel, got)
			}
		}
	}
	for _, id := range tenants {
		recs[id].wait(t, id+"'s events", func(got []string, _ int) bool { return len(got) >= 3 })
	}
	for _, id := range tenants {
		r := recs[id]
		r.mu.Lock()
		for n, data := range r.got {
			if want := fmt.Sprintf(`{"type":"message","seq":%d,"tenant":%q}`, n+1, id); data != want || len(r.got) != 3 {
				t.Errorf("tenant %s got %q; want its own three events in order", id, r.got)
				break
			}
		}
		r.mu.Unlock()
	}
}
