package api_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// benchReceivers dials n sockets with token, each counting into got the
// message.created frames of sid it receives. It returns once every socket
// follows the session (it received the session's first event, which the
// catch-up after joining the topic writes), so that every later event
// reaches all n. done gets a value each time got reaches *want.
func benchReceivers(b *testing.B, url, token, sid string, n int, got, want *atomic.Int64, done chan<- struct{}) []*client.Client {
	b.Helper()
	var mu sync.Mutex
	clients := make([]*client.Client, n) // guarded by mu until every socket is ready
	ready := make(chan error, n)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	b.Cleanup(func() { close(stop); readers.Wait() })
	b.Cleanup(func() { // runs first (cleanups run last registered first)
		mu.Lock()
		defer mu.Unlock()
		for _, c := range clients {
			if c != nil {
				c.CloseNow()
			}
		}
	})
	sem := make(chan struct{}, 16) // dials in flight
	for i := range n {
		sem <- struct{}{}
		readers.Add(1)
		go func() {
			defer readers.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c, err := client.Dial(ctx, client.Config{URL: url, Token: token})
			cancel()
			<-sem
			if err != nil {
				ready <- fmt.Errorf("dial %d: %w", i, err)
				return
			}
			mu.Lock()
			clients[i] = c
			mu.Unlock()
			following := false
			for {
				select {
				case f := <-c.Events():
					if f.SessionID != sid {
						continue
					}
					if !following && f.Seq >= 1 {
						following = true
						ready <- nil
					}
					if f.Type == hub.EventMessage && got.Add(1) == want.Load() {
						done <- struct{}{}
					}
				case <-stop:
					return
				}
			}
		}()
	}
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				b.Fatal(err)
			}
		case <-timeout:
			b.Fatalf("sockets not following the session within 60 s")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]*client.Client(nil), clients...)
}

// BenchmarkFanoutSockets measures one chat message end to end through a
// real hub over real WebSockets, to N sockets following its session: a
// client sends it on its socket (send command, decoded, one Lua script
// that stores and PUBLISHes it, reply), the instance's bus reader gets it
// from Redis PubSub, the fan-out hands it to the N connections' queues,
// each connection's writer writes it to its socket, and each
// coder/websocket client (api/client) reads and decodes it. An op ends
// when all N sockets have received the message, so ns/op is the latency
// of a message to its whole audience and deliveries/s the instance's
// throughput of frames to sockets. The N sockets are tabs of one customer
// (a customer token may open several), one of them the sender; as far as
// the hub's per-recipient work goes (queue, writer, frame write) a tab is
// the same as an agent's or a supervisor's socket.
//
// Client and server share the CPU here, so the figures are a lower bound
// for the hub alone; cpu-ns/op is the process's CPU per message, clients
// and hub together (and miniredis's, unless SWITCHBOARD_TEST_REDIS_URL
// names a redis-server: use one to compare the hub's cost). The clients'
// share is the same before and after a change of the hub's.
// recipients=1000 dials 1000 sockets before timing (a few seconds); keep
// -benchtime small for it (e.g. 200x).
func BenchmarkFanoutSockets(b *testing.B) {
	for _, n := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			e := newRTEnv(b, 1, rtOptions{ws: api.WSOptions{RateLimit: rate.Inf, RateBurst: 1 << 20, AuthBurst: 1 << 20}}) // one customer, n tabs
			in := e.hubs[0]
			ctx := context.Background()
			sid, token := e.customer(in, "Dana Whitfield")
			var got, want atomic.Int64
			want.Store(-1)
			done := make(chan struct{}, 1)
			setup := time.Now()
			clients := benchReceivers(b, in.WSURL(), token, sid, n, &got, &want, done)
			b.Logf("%d sockets following in %v", n, time.Since(setup).Round(time.Millisecond))
			sender := clients[0]
			text := "Hi, my order #48213 still shows as pending after three days, and the tracking link you emailed me " +
				"says the parcel was never handed over. Could you check what happened and tell me when it will ship?"
			ops := int64(0)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				want.Store((ops + 1) * int64(n))
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				r, err := sender.Send(sctx, sid, text)
				cancel()
				if err != nil || r.Seq != ops+2 || r.Duplicate { // seq 1 is session.created
					b.Fatalf("send %d: %+v, %v", ops, r, err)
				}
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					b.Fatalf("message %d: %d of %d deliveries after 10 s", ops, got.Load()-ops*int64(n), n)
				}
				ops++
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if g, w := got.Load(), ops*int64(n); g != w {
				b.Fatalf("%d deliveries, want %d (%d messages x %d sockets)", g, w, ops, n)
			}
			for i, c := range clients {
				if st := c.Stats(); st.Gaps != 0 || st.Duplicates != 0 || st.Resyncs != 0 {
					b.Fatalf("socket %d: %+v", i, st)
				}
			}
			b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkConnect measures what a customer's reconnect costs: dial,
// authenticate with the first frame, hello (the session's head read), the
// session's topic joined and its catch-up from the stream, up to the
// session's first event (a queued session's position may come before it). cpu-ns/op is the process's CPU per connect, client and hub
// together (the client's share is the same before and after a change of
// the hub's); sbload's connect mode measures the hub alone.
func BenchmarkConnect(b *testing.B) {
	e := newRTEnv(b, 1, rtOptions{ws: api.WSOptions{RateLimit: rate.Inf, RateBurst: 1 << 20, AuthRate: rate.Inf, AuthBurst: 1 << 20}})
	in := e.hubs[0]
	sid, token := e.customer(in, "Dana Whitfield")
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := client.Dial(dctx, client.Config{URL: in.WSURL(), Token: token, EventBuffer: 16})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
	wait:
		for {
			select {
			case f := <-c.Events():
				if f.SessionID == sid && f.Seq == 1 { // session.created, from the catch-up
					break wait
				}
			case <-dctx.Done():
				b.Fatal("no catch-up within 10 s")
			}
		}
		cancel()
		c.CloseNow()
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
