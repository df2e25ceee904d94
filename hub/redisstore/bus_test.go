package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
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
	r.waitWithin(t, 5*time.Second, what, cond)
}

// waitWithin is wait with a bound of its own.
func (r *busRecorder) waitWithin(t *testing.T, within time.Duration, what string, cond func(got []string, resyncs int) bool) {
	t.Helper()
	deadline := time.After(within)
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
			t.Fatalf("%s: not within %v (got %q, %d resyncs)", what, within, r.got, r.resyncs)
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

// startBus runs st's bus, with a fan-out on it, until the test ends;
// checkEvery, when not 0, is how long the bus may hear nothing before it
// pings. before, when not nil, runs on the bus before it starts reading.
func startBus(tb testing.TB, st *redisstore.Store, checkEvery time.Duration, before ...func(*redisstore.Bus)) (*hub.Fanout, *redisstore.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	bus := st.NewBus(ctx)
	if checkEvery > 0 {
		bus.SetCheckInterval(checkEvery)
	}
	for _, f := range before {
		f(bus)
	}
	fan := hub.NewFanout(bus, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); bus.Run(fan) }()
	go func() { defer wg.Done(); fan.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		bus.Close()
		wg.Wait()
	})
	return fan, bus
}

// wireLog keeps what a client wrote on each of its connections.
type wireLog struct {
	mu      sync.Mutex
	conns   []*bytes.Buffer // guarded by mu
	changed chan struct{}
}

// dial is a go-redis Dialer whose connections log their writes to w.
func (w *wireLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns = append(w.conns, &bytes.Buffer{})
	return &loggedConn{Conn: c, w: w, buf: w.conns[len(w.conns)-1]}, nil
}

// pinged reports whether a connection wrote a SUBSCRIBE and then a PING.
func (w *wireLog) pinged() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.conns {
		wire := bytes.ToLower(b.Bytes())
		if i := bytes.Index(wire, []byte("subscribe")); i >= 0 && bytes.Contains(wire[i:], []byte("$4\r\nping\r\n")) {
			return true
		}
	}
	return false
}

type loggedConn struct {
	net.Conn
	w   *wireLog
	buf *bytes.Buffer // guarded by w.mu
}

func (c *loggedConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.buf.Write(p)
	c.w.mu.Unlock()
	select {
	case c.w.changed <- struct{}{}:
	default:
	}
	return c.Conn.Write(p)
}

// subscribedBus runs a bus, checking every checkEvery, on a store whose
// client dials with dial, and a recorder subscribed to topic on it; it
// returns, with the bus, once the subscription is confirmed. before is
// startBus's.
func subscribedBus(t *testing.T, dial func(context.Context, string, string) (net.Conn, error),
	checkEvery time.Duration, topic string, before ...func(*redisstore.Bus)) (*redistest.Redis, *busRecorder, *redisstore.Bus) {
	t.Helper()
	r := redistest.New(t)
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.Dialer = dial
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() }) // after the bus's (cleanups run last first)
	st, err := redisstore.New(rdb, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	fan, bus := startBus(t, st, checkEvery, before...)
	rec := newBusRecorder()
	fan.Add(topic, rec)
	rec.wait(t, "subscribed", func(_ []string, resyncs int) bool { return resyncs == 1 })
	return r, rec, bus
}

// TestBusPingsWhenSilent: a bus that hears nothing for its check interval
// pings Redis over its PubSub connection (a ping that cannot be written
// has go-redis reconnect and resubscribe), and the reply to it disturbs
// nothing: the events published after it reach the subscriber in order.
func TestBusPingsWhenSilent(t *testing.T) {
	w := &wireLog{changed: make(chan struct{}, 1)}
	const topic = "session:cs_Silent"
	r, rec, _ := subscribedBus(t, w.dial, 50*time.Millisecond, topic)
	ctx := context.Background()

	deadline := time.After(5 * time.Second)
	for !w.pinged() {
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatal("the silent bus wrote no PING within 5 s (check interval 50 ms)")
		}
	}
	for n := range 3 {
		msg := fmt.Sprintf(`{"type":"message","seq":%d}`, n+1)
		if got := r.Client.Publish(ctx, r.Prefix+":ch:"+topic, msg).Val(); got != 1 {
			t.Fatalf("PUBLISH reached %d subscribers; want the bus", got)
		}
	}
	rec.wait(t, "the events after the ping", func(got []string, _ int) bool { return len(got) == 3 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for n, data := range rec.got {
		if want := fmt.Sprintf(`{"type":"message","seq":%d}`, n+1); data != want {
			t.Fatalf("got %q; want the three events in order", rec.got)
		}
	}
}

// deafDialer is a go-redis Dialer whose connections can be made deaf: from
// deafen on, every connection made so far stops carrying bytes either way
// without an error, as one to a host that vanished does (writes vanish
// into the kernel's buffer, reads wait; each until its deadline).
// Connections dialed later work.
type deafDialer struct {
	mu    sync.Mutex
	conns []*deafConn // guarded by mu
	dials atomic.Int32
}

func (d *deafDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	dc := &deafConn{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, dc)
	d.mu.Unlock()
	return dc, nil
}

func (d *deafDialer) deafen() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.deaf.Store(true)
	}
}

type deafConn struct {
	net.Conn
	deaf atomic.Bool
	// writeBy is the write deadline (unix nanos, 0 for none), which a
	// write into the kernel's buffer still honors once deaf.
	writeBy atomic.Int64
}

func (c *deafConn) SetWriteDeadline(t time.Time) error {
	c.writeBy.Store(deadlineNanos(t))
	return c.Conn.SetWriteDeadline(t)
}

func (c *deafConn) SetDeadline(t time.Time) error {
	c.writeBy.Store(deadlineNanos(t))
	return c.Conn.SetDeadline(t)
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Read drops what arrives once deaf and goes on waiting; the read deadline
// still ends it.
func (c *deafConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.deaf.Load() {
			return n, err
		}
	}
}

func (c *deafConn) Write(p []byte) (int, error) {
	if c.deaf.Load() {
		if by := c.writeBy.Load(); by != 0 && time.Now().UnixNano() >= by {
			return 0, os.ErrDeadlineExceeded
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// TestBusReconnectsWhenDeaf: a PubSub connection that stops carrying bytes
// without an error (a Redis host gone without a reset, a partition) is
// dropped once the bus has heard nothing for its deaf bound (between 4
// and 8 check intervals, 1 to 2 s at the least): the bus dials again,
// resubscribes, and the confirmation has the subscriber catch up
// (Resync); the events published after it arrive. Before the bound, only the pings went out, into the
// void, and the bus waited for as long as TCP would.
func TestBusReconnectsWhenDeaf(t *testing.T) {
	d := &deafDialer{}
	const topic = "session:cs_Deaf"
	r, rec, _ := subscribedBus(t, d.dial, 100*time.Millisecond, topic) // deaf bound 1-2 s
	channel := r.Prefix + ":ch:" + topic
	ctx := context.Background()
	if got := r.Client.Publish(ctx, channel, `{"type":"message","seq":1}`).Val(); got != 1 {
		t.Fatalf("PUBLISH reached %d subscribers; want the bus", got)
	}
	rec.wait(t, "the event before", func(got []string, _ int) bool { return len(got) == 1 })

	deafThenBack(t, d, r, rec, channel, "the connection went deaf", func() {})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.got[0] != `{"type":"message","seq":1}` || rec.got[1] != `{"type":"message","seq":3}` {
		t.Fatalf("got %q; want the events before and after", rec.got)
	}
}

// deafThenBack makes the bus's connection (dialed by d) deaf, publishes
// seq 2 into it, runs after (what names it), and checks that the bus
// resubscribes on a new connection and that seq 3 reaches the recorder,
// which had seq 1 and one subscription before.
func deafThenBack(t *testing.T, d *deafDialer, r *redistest.Redis, rec *busRecorder, channel, what string, after func()) {
	t.Helper()
	ctx := context.Background()
	dials := d.dials.Load()
	d.deafen()
	r.Client.Publish(ctx, channel, `{"type":"message","seq":2}`) // the deaf connection's; the catch-up's to find
	after()
	rec.wait(t, "a new subscription after "+what, func(_ []string, resyncs int) bool { return resyncs == 2 })
	if d.dials.Load() == dials {
		t.Fatal("resubscribed without a new connection")
	}
	// The server drops the deaf connection's subscription once it sees
	// the connection closed, which a loaded machine may take a moment to.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := r.Client.PubSubNumSub(ctx, channel).Val()[channel]
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions to the channel after the reconnect; want the bus's only", n)
		}
		time.Sleep(10 * time.Millisecond) // polling the server, the condition above
	}
	if got := r.Client.Publish(ctx, channel, `{"type":"message","seq":3}`).Val(); got != 1 {
		t.Fatalf("PUBLISH reached %d subscribers after the reconnect; want the bus", got)
	}
	rec.wait(t, "the event after", func(got []string, _ int) bool { return len(got) == 2 })
}

// TestBusReconnect: a bus whose connection went silent (the server it is
// on froze, and the store moved on to another) is told to reconnect, as
// the Guard does when the store's epoch changes: it resubscribes on a new
// connection at once, long before its silence bound (16 to 32 s here),
// and the next event arrives. Told again right after, it leaves its new
// connection alone: no dial, and the next event arrives on it.
func TestBusReconnect(t *testing.T) {
	d := &deafDialer{}
	const topic = "session:cs_Reconnect"
	// A second Reconnect is a no-op within a minute of a drop here, not
	// 5 s: under -race on a loaded machine the waits below can outlast 5 s.
	r, rec, bus := subscribedBus(t, d.dial, 2*time.Second, topic, func(b *redisstore.Bus) { b.SetFreshDrop(time.Minute) })
	channel := r.Prefix + ":ch:" + topic
	ctx := context.Background()
	r.Client.Publish(ctx, channel, `{"type":"message","seq":1}`)
	rec.wait(t, "the event before", func(got []string, _ int) bool { return len(got) == 1 })

	deafThenBack(t, d, r, rec, channel, "Reconnect", bus.Reconnect)

	dials := d.dials.Load()
	bus.Reconnect() // its connection is seconds old
	r.Client.Publish(ctx, channel, `{"type":"message","seq":4}`)
	rec.wait(t, "the event after the second Reconnect", func(got []string, _ int) bool { return len(got) == 3 })
	if n := d.dials.Load(); n != dials {
		t.Fatalf("a Reconnect right after a drop dialed %d more connections; want none", n-dials)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := []string{`{"type":"message","seq":1}`, `{"type":"message","seq":3}`, `{"type":"message","seq":4}`}; !slices.Equal(rec.got, want) {
		t.Fatalf("got %q; want %q", rec.got, want)
	}
}
