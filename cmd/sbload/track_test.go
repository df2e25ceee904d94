package main

import (
	"encoding/json"
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
	c := &conversation{}
	rec := &recorder{convs: []*conversation{c}}
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
