package api_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// streamer sends messages from c into sid, one after the other, until stop
// is closed; it keeps the seq of the last one sent.
type streamer struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	last int64 // guarded by mu
	sent int   // guarded by mu
	err  error // guarded by mu
}

func stream(ctx context.Context, c *client.Client, sid, prefix string) *streamer {
	s := &streamer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			default:
			}
			r, err := c.Send(ctx, sid, fmt.Sprint(prefix, i))
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				return
			}
			s.last, s.sent = r.Seq, i+1
			s.mu.Unlock()
		}
	}()
	return s
}

// finish stops the stream and returns the seq of its last message.
func (s *streamer) finish(t *testing.T) int64 {
	t.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatalf("streaming: %v", s.err)
	}
	return s.last
}

// TestThousandMessagesEachWay: a customer on A and an agent on B each send
// 1,000 messages at once; both, and the agent's second tab on A, receive
// all 2,000 message.created events once each, every sender's in its order,
// and the two tabs see the very same stream.
func TestThousandMessagesEachWay(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: fastWS})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	cust := e.dial(a, custTok)
	agent := e.dial(b, agentTok)
	views := []view{{"customer", cust, record(t, cust)}, {"agent", agent, record(t, agent)}}
	e.assign(a, sid, "ag1")
	for _, v := range views {
		v.rec.waitSeq(t, 10*time.Second, sid, 3) // member.joined
	}
	// The second tab opens on the other instance once the session is under
	// way: it catches up on the history, then follows live.
	tab2 := e.dial(a, agentTok)
	views = append(views, view{"agent tab 2", tab2, record(t, tab2)})

	const n = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for _, s := range []struct {
		c      *client.Client
		prefix string
	}{{cust, "c"}, {agent, "a"}} {
		go func() {
			for i := range n {
				if _, err := s.c.Send(ctx, sid, fmt.Sprint(s.prefix, i)); err != nil {
					errs <- fmt.Errorf("%s%d: %w", s.prefix, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	last, _ := e.sessionSeq(a, sid)
	if want := int64(3 + 2*n); last != want { // created, state, joined, then the messages
		t.Fatalf("session seq %d after the messages, want %d", last, want)
	}

	var streams [][]client.Frame
	for _, v := range views {
		v.rec.waitSeq(t, 30*time.Second, sid, last)
		frames, _ := v.rec.snapshot()
		wantContiguous(t, v.who, frames, sid, 1, last)
		wantStats(t, v.who, v.c)
		idx := map[string]int{"c": 0, "a": 0}
		for _, f := range frames {
			if f.Type != hub.EventMessage {
				continue
			}
			text, _, from := f.Message()
			p := map[string]string{hub.PrincipalCustomer: "c", hub.PrincipalAgent: "a"}[from.Role]
			if want := fmt.Sprint(p, idx[p]); p == "" || text != want {
				t.Fatalf("%s: seq %d is %q from %s, want %q", v.who, f.Seq, text, from.Role, want)
			}
			idx[p]++
		}
		if idx["c"] != n || idx["a"] != n {
			t.Fatalf("%s: %d customer and %d agent messages, want %d each", v.who, idx["c"], idx["a"], n)
		}
		streams = append(streams, durableOf(frames))
	}
	for i, v := range views[1:] {
		if !slices.EqualFunc(streams[0], streams[i+1], func(f, g client.Frame) bool { return f.Seq == g.Seq && string(f.Raw) == string(g.Raw) }) {
			t.Fatalf("%s and %s saw different streams", views[0].who, v.who)
		}
	}
}

// view is one client's view of the stream.
type view struct {
	who string
	c   *client.Client
	rec *recorder
}

func durableOf(frames []client.Frame) []client.Frame {
	var out []client.Frame
	for _, f := range frames {
		if f.Seq > 0 {
			out = append(out, f)
		}
	}
	return out
}

// TestResumeAfterCuts: the customer's socket is cut ten times while the
// agent streams messages; after each Reconnect it resumes where it left
// off, so it sees every seq once, in order. Then its instance stops
// altogether: resuming on the other instance from its last seq replays
// exactly the events it missed.
func TestResumeAfterCuts(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: fastWS})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	cust := e.dial(a, custTok)
	agent := e.dial(b, agentTok)
	e.assign(b, sid, "ag1")
	next(t, agent, ofType(hub.EventMemberJoined))
	rec := record(t, cust)
	record(t, agent) // keeps the agent's buffer drained

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	s := stream(ctx, agent, sid, "m")
	missed := int64(0) // events sent between a cut and the reconnect: only a catch-up brings them
	for cut := range 10 {
		n := rec.count()
		rec.waitUntil(t, 10*time.Second, fmt.Sprintf("events before cut %d", cut), func(fs []client.Frame) bool { return len(fs) >= n+5 })
		cust.CloseNow()
		seen := cust.Last(sid)
		// A few messages go out while the customer is away.
		waitFor(t, 10*time.Second, "messages during the cut", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.last >= seen+3 })
		if err := cust.Reconnect(ctx); err != nil {
			t.Fatalf("reconnect %d: %v", cut, err)
		}
		s.mu.Lock()
		missed += max(0, s.last-seen)
		s.mu.Unlock()
	}
	t.Logf("%d events sent while the customer was cut off", missed)
	if missed < 30 {
		t.Fatalf("only %d events sent while the customer was cut off", missed)
	}
	n := rec.count()
	rec.waitUntil(t, 10*time.Second, "events after the last cut", func(fs []client.Frame) bool { return len(fs) >= n+5 })
	last := s.finish(t)
	rec.waitSeq(t, 10*time.Second, sid, last)
	frames, _ := rec.snapshot()
	wantContiguous(t, "customer", frames, sid, 1, last)
	wantStats(t, "customer", cust)

	// Instance A goes away: its socket ends with the shutdown code.
	a.stop()
	if code := waitDone(t, cust, 10*time.Second); code != protocol.CloseShutdown {
		t.Fatalf("customer closed with %d, want %d", code, protocol.CloseShutdown)
	}
	seen := cust.Last(sid)
	if seen != last {
		t.Fatalf("customer's last seq %d, want %d", seen, last)
	}
	// Events published while the customer is away...
	s = stream(ctx, agent, sid, "away")
	waitFor(t, 10*time.Second, "messages while away", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.sent >= 20 })
	// ... are replayed on B from where it left off (api/client cannot move
	// to another URL keeping its progress, so the auth frame's resume is
	// written by hand), then live ones follow.
	raw, hello := rawAuth(t, b, custTok, map[string]int64{sid: seen})
	if !slices.Equal(hello.Sessions, []string{sid}) {
		t.Fatalf("hello on B follows %v", hello.Sessions)
	}
	final := s.finish(t)
	if final < seen+20 {
		t.Fatalf("only %d events while away", final-seen)
	}
	want := seen + 1
	for want <= final {
		f := raw.read()
		if f.Seq == 0 {
			if f.Type == protocol.FrameResync {
				t.Fatalf("on B: %s", f.Raw)
			}
			continue
		}
		if f.SessionID != sid || f.Seq != want {
			t.Fatalf("on B: event %s seq %d, want seq %d", f.Type, f.Seq, want)
		}
		want++
	}
	// A fresh client on B (no progress) gets the whole history, once.
	fresh := e.dial(b, custTok)
	frec := record(t, fresh)
	frec.waitSeq(t, 10*time.Second, sid, final)
	frames, _ = frec.snapshot()
	wantContiguous(t, "fresh client on B", frames, sid, 1, final)
	wantStats(t, "fresh client on B", fresh)
}

// TestPubSubKillResubscribes: killing every PubSub connection of the
// redis-server while the agent streams messages loses nothing: each
// instance's bus reconnects and resubscribes, and its sockets catch up from
// the streams on the events published while it was down.
func TestPubSubKillResubscribes(t *testing.T) {
	if os.Getenv(redistest.EnvURL) == "" {
		t.Skip("CLIENT KILL TYPE pubsub needs a real redis-server (" + redistest.EnvURL + ")")
	}
	e := newRTEnv(t, 2, rtOptions{ws: fastWS})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	cust := e.dial(a, custTok)
	agent := e.dial(b, agentTok)
	tab2 := e.dial(a, agentTok)
	views := []view{{"customer", cust, record(t, cust)}, {"agent", agent, record(t, agent)}, {"agent tab 2", tab2, record(t, tab2)}}
	e.assign(b, sid, "ag1")
	for _, v := range views {
		v.rec.waitSeq(t, 10*time.Second, sid, 3) // member.joined
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	channel := e.r.Prefix + ":ch:session:" + sid
	sAgent := stream(ctx, agent, sid, "a")
	sCust := stream(ctx, cust, sid, "c")
	crec := views[0].rec
	for kill := range 3 {
		n := crec.count()
		crec.waitUntil(t, 10*time.Second, fmt.Sprintf("events before kill %d", kill), func(fs []client.Frame) bool { return len(fs) >= n+20 })
		killed, err := e.r.Client.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Int()
		if err != nil {
			t.Fatal(err)
		}
		if killed < 2 {
			t.Fatalf("CLIENT KILL TYPE pubsub killed %d connections, want the 2 instances' buses", killed)
		}
		// Both instances resubscribe to the session's channel.
		waitFor(t, 10*time.Second, "both buses resubscribed", func() bool {
			n, err := e.r.Client.PubSubNumSub(ctx, channel).Result()
			return err == nil && n[channel] == 2
		})
	}
	n := crec.count()
	crec.waitUntil(t, 10*time.Second, "events after the last kill", func(fs []client.Frame) bool { return len(fs) >= n+20 })
	sAgent.finish(t)
	sCust.finish(t)
	// And the resubscribed buses carry live events again.
	r, err := agent.Send(ctx, sid, "after")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		v.rec.waitSeq(t, 10*time.Second, sid, r.Seq)
		frames, _ := v.rec.snapshot()
		wantContiguous(t, v.who, frames, sid, 1, r.Seq)
		wantStats(t, v.who, v.c)
	}
}

// TestResyncWhenHistoryTrimmed: when the stream no longer holds the
// events after a client's last seq, the client gets a resync frame with the
// session's current seq and then the live events after it.
func TestResyncWhenHistoryTrimmed(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: fastWS})
	a := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	agent := e.dial(a, agentTok)
	e.assign(a, sid, "ag1")
	next(t, agent, ofType(hub.EventMemberJoined))
	record(t, agent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 300 {
		if _, err := agent.Send(ctx, sid, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Streams are whole histories now; one capped by an earlier version
	// lacks its first events.
	if err := e.r.Client.XTrimMaxLen(ctx, e.r.Prefix+":session:"+sid+":events", 10).Err(); err != nil {
		t.Fatal(err)
	}
	last, _ := e.sessionSeq(a, sid)
	if n, _ := e.r.Client.XLen(ctx, e.r.Prefix+":session:"+sid+":events").Result(); n >= last {
		t.Fatalf("stream holds %d of %d events: not trimmed", n, last)
	}

	// Resuming from seq 1: resync, then live events.
	raw, _ := rawAuth(t, a, custTok, map[string]int64{sid: 1})
	f := raw.read()
	if f.Type != protocol.FrameResync || f.SessionID != sid || f.LastSeq != last || f.Reason != "history_trimmed" {
		t.Fatalf("first frame after resuming from 1: %s, want resync with last_seq %d", f.Raw, last)
	}
	// A fresh client (from 0) gets the same, through api/client.
	cust := e.dial(a, custTok)
	rec := record(t, cust)
	rec.waitUntil(t, 10*time.Second, "resync", func(fs []client.Frame) bool { return len(fs) > 0 })
	if fs := rec.durable(); len(fs) > 0 {
		t.Fatalf("fresh client got event seq %d before the resync", fs[0].Seq)
	}
	if st := cust.Stats(); st.Resyncs != 1 || cust.Last(sid) != last {
		t.Fatalf("fresh client: stats %+v, last %d, want 1 resync to %d", st, cust.Last(sid), last)
	}

	r, err := agent.Send(ctx, sid, "live")
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != last+1 {
		t.Fatalf("live message seq %d, want %d", r.Seq, last+1)
	}
	f = raw.readUntil(func(f rawFrame) bool { return f.Seq > 0 })
	if f.Seq != last+1 || f.Type != hub.EventMessage {
		t.Fatalf("after the resync: %s, want message seq %d", f.Raw, last+1)
	}
	rec.waitSeq(t, 10*time.Second, sid, last+1)
	wantContiguous(t, "fresh client", rec.durable(), sid, last+1, last+1)
	if st := cust.Stats(); st.Gaps != 0 || st.Duplicates != 0 {
		t.Fatalf("fresh client stats %+v", st)
	}

	// Control: resuming within what the stream still holds replays, no resync.
	raw2, _ := rawAuth(t, a, custTok, map[string]int64{sid: last - 3})
	for want := last - 2; want <= last+1; want++ {
		f := raw2.read()
		if f.Type == protocol.FrameResync || f.Seq != want {
			t.Fatalf("resuming from %d: %s, want seq %d", last-3, f.Raw, want)
		}
	}
}
