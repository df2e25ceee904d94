package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestTextRoundTrip: the header a message carries is found again inside
// the hub's JSON event, and the text has the asked size.
func TestTextRoundTrip(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	text := makeText(4999, 1, 42, at, 200)
	if len(text) != 200 {
		t.Fatalf("text of %d bytes, want 200", len(text))
	}
	ev, _ := json.Marshal(map[string]any{"type": "message.created", "seq": 7, "message": map[string]string{"text": text}})
	conv, dir, seq, ns, ok := parseText(ev)
	if !ok || conv != 4999 || dir != 1 || seq != 42 || ns != at.UnixNano() {
		t.Fatalf("parsed %d %d %d %d %v", conv, dir, seq, ns, ok)
	}
	if _, _, _, _, ok := parseText([]byte(`{"text":"sbl 1 2 x"}`)); ok {
		t.Fatal("a malformed header parsed")
	}
}

// TestLostDuplicatedOutOfOrder: the recorder tells each fault apart.
func TestLostDuplicatedOutOfOrder(t *testing.T) {
	c := &conversation{sid: "cs_1"}
	rec := &recorder{}
	rec.setConversations([]*conversation{c}, nil)
	msg := func(dir int, seq int64) []byte {
		return []byte(makeText(0, dir, seq, time.Now(), 64))
	}
	c.acked[0] = 4
	for _, seq := range []int64{1, 2, 4, 3, 3} { // 4 before 3, then 3 again
		rec.receive(msg(0, seq), 1)
	}
	for _, seq := range []int64{1, 2, 3} { // the sender's own copy misses 4
		rec.receive(msg(0, seq), 0)
	}
	if d := rec.dups.Load(); d != 1 {
		t.Errorf("duplicates %d, want 1", d)
	}
	if o := rec.ooo.Load(); o != 2 { // 4 jumped ahead, 3 filled in late
		t.Errorf("out of order %d, want 2", o)
	}
	if lost, _ := rec.lost(); lost != 1 {
		t.Errorf("lost %d, want 1", lost)
	}
	if n := len(rec.window); n != 4 { // latency is taken at the other party only
		t.Errorf("%d latencies, want 4", n)
	}
	p := percentiles([]int64{1e6, 2e6, 3e6, 4e6})
	if p.P50 != 2 || p.Max != 4 || p.Count != 4 {
		t.Errorf("percentiles %+v", p)
	}
}

// TestResyncReload: after a resync, the live stream may jump ahead once
// (not out of order); a reload fills what it skipped (not duplicates),
// and the live copy of a message the reload showed first is no duplicate.
func TestResyncReload(t *testing.T) {
	c := &conversation{sid: "cs_1"}
	rec := &recorder{}
	rec.setConversations([]*conversation{c}, nil)
	msg := func(seq int64) []byte { return []byte(makeText(0, 0, seq, time.Now(), 64)) }
	c.acked[0] = 6
	rec.receive(msg(1), 1)
	rec.resync("cs_1", 1)
	rec.receive(msg(4), 1) // the first live message after the resync
	for _, seq := range []int64{2, 3, 4, 5} {
		rec.reload(msg(seq), 1)
	}
	rec.receive(msg(5), 1) // live, after the reload showed it
	rec.receive(msg(6), 1)
	if d, o := rec.dups.Load(), rec.ooo.Load(); d != 0 || o != 0 {
		t.Fatalf("duplicates %d, out of order %d, want 0 and 0", d, o)
	}
	if r := rec.reloaded.Load(); r != 3 {
		t.Fatalf("reloaded %d, want 3 (2, 3 and 5)", r)
	}
	c.recvMu.Lock()
	for seq := int64(1); seq <= 6; seq++ {
		if !c.streams[0][1].has(seq) {
			c.recvMu.Unlock()
			t.Fatalf("seq %d not seen", seq)
		}
	}
	c.recvMu.Unlock()
	rec.receive(msg(3), 1) // the live copy of 3, which the reload showed first
	rec.receive(msg(3), 1) // and a true repeat, which still counts
	if d := rec.dups.Load(); d != 1 {
		t.Fatalf("a repeat after the reload: duplicates %d, want 1", d)
	}
}

// TestResyncRebuildsTheView: a resync tells the client to drop what it
// shows of the session and rebuild it from the store (the widget and the
// desktop do, keeping a message by its client_msg_id). A message it saw
// live that the store then lost (a primary gone before its replica had
// it: never acknowledged) comes again when its sender retries it, live
// or in the reload: once is no duplicate; twice is.
func TestResyncRebuildsTheView(t *testing.T) {
	msg := func(seq int64) []byte { return []byte(makeText(0, 0, seq, time.Now(), 64)) }
	for _, reloadHasIt := range []bool{false, true} {
		t.Run(fmt.Sprintf("reload has it %v", reloadHasIt), func(t *testing.T) {
			c := &conversation{sid: "cs_1"}
			rec := &recorder{}
			rec.setConversations([]*conversation{c}, nil)
			c.acked[0] = 3
			for seq := int64(1); seq <= 4; seq++ { // 4 goes out live, then is lost
				rec.receive(msg(seq), 1)
			}
			rec.resync("cs_1", 1)
			for seq := int64(1); seq <= 3; seq++ {
				rec.reload(msg(seq), 1)
			}
			if reloadHasIt { // the retry was stored before the reload read the store
				rec.reload(msg(4), 1)
			}
			rec.receive(msg(4), 1) // the retry, live
			rec.receive(msg(5), 1)
			if d, o := rec.dups.Load(), rec.ooo.Load(); d != 0 || o != 0 {
				t.Fatalf("duplicates %d, out of order %d, want 0 and 0", d, o)
			}
			rec.receive(msg(4), 1) // a second copy in the rebuilt view
			rec.receive(msg(2), 1) // the live copy of what the reload showed
			rec.receive(msg(2), 1) // and a second one
			if d := rec.dups.Load(); d != 2 {
				t.Fatalf("duplicates %d, want 2", d)
			}
			if r := rec.reloaded.Load(); r != 0 {
				t.Fatalf("reloaded %d, want 0: every message was seen live first", r)
			}
		})
	}
}

// TestDriveLimit: with a limit, drive hands out exactly that many
// messages, however long the window, so that the warm-up sends every
// conversation's first message from the customer, then every agent's
// first reply, and the runs after it go on with the same turn.
func TestDriveLimit(t *testing.T) {
	const n = 50
	convs := make([]*conversation, n)
	for i := range convs {
		convs[i] = &conversation{idx: i, sid: fmt.Sprintf("cs_%d", i)}
	}
	l := &load{rec: &recorder{}, jobs: make(chan job, 3*n)}
	l.rec.setConversations(convs, nil)
	take := func(k int) []job {
		out := make([]job, k)
		for i := range out {
			out[i] = <-l.jobs
		}
		return out
	}
	for dir := range 2 {
		l.limit = n
		l.drive(context.Background(), 1e6, 0)
		l.limit = 0
		if q := len(l.jobs); q != n {
			t.Fatalf("phase %d handed out %d messages, want %d", dir, q, n)
		}
		for i, j := range take(n) {
			if j.c != convs[i] || j.dir != dir {
				t.Fatalf("phase %d, message %d: conversation %d direction %d", dir, i, j.c.idx, j.dir)
			}
		}
	}
	// Without a limit, the window bounds it: none in an empty window.
	l.drive(context.Background(), 1e6, 0)
	if q := len(l.jobs); q != 0 {
		t.Fatalf("an empty window handed out %d", q)
	}
	if l.next != 2*n || l.enqueued.Load() != 2*n {
		t.Fatalf("next %d, enqueued %d, want %d", l.next, l.enqueued.Load(), 2*n)
	}
}

// BenchmarkMakeText: the text of every message the tool sends.
func BenchmarkMakeText(b *testing.B) {
	at := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		makeText(4999, 1, int64(i), at, 200)
	}
}
