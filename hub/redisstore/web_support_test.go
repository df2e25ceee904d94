package redisstore_test

// The store's side of what the web pages need (commit dad0f1a): the
// delivered marker beside a read marker set before it existed, and the
// index of end times behind ended_today.

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// TestDeliveredBelowPreUpgradeReadMarker: a session whose customer read up
// to some seq before delivered markers existed (a read field, no delivered
// one) takes a delivered at or below that read marker as a no-op, as the
// script's comment promises, and one beyond it as a move with its event.
func TestDeliveredBelowPreUpgradeReadMarker(t *testing.T) {
	f, s, cust, agent := chatFixture(t)
	ctx := context.Background()
	var last int64
	for _, id := range []string{"a-1", "a-2", "a-3"} {
		seq, _, err := f.svc.SendMessage(ctx, agent, s.ID, id, "text "+id)
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	if _, moved, err := f.svc.MarkRead(ctx, cust, s.ID, last-1); err != nil || !moved {
		t.Fatalf("read: %v %v", moved, err)
	}
	// What a session read before the upgrade holds: no delivered field.
	key := f.r.Prefix + ":session:" + s.ID
	field := "delivered:customer:" + cust.ID
	if n, err := f.r.Client.HDel(ctx, key, field).Result(); err != nil || n != 1 {
		t.Fatalf("HDEL %s %s: %d %v (is the field named so?)", key, field, n, err)
	}
	before, _ := f.svc.Session(ctx, s.ID)
	for _, upTo := range []int64{last - 2, last - 1} {
		marker, moved, err := f.svc.MarkDelivered(ctx, cust, s.ID, upTo)
		if err != nil || moved || marker != last-1 {
			t.Errorf("delivered %d below the old read marker %d: marker %d moved %v err %v, want %d, not moved",
				upTo, last-1, marker, moved, err, last-1)
		}
	}
	if after, _ := f.svc.Session(ctx, s.ID); after.Seq != before.Seq {
		t.Fatalf("a delivered below the read marker emitted %d event(s)", after.Seq-before.Seq)
	}
	marker, moved, err := f.svc.MarkDelivered(ctx, cust, s.ID, last)
	if err != nil || !moved || marker != last {
		t.Fatalf("delivered beyond the read marker: %d %v %v", marker, moved, err)
	}
	if after, _ := f.svc.Session(ctx, s.ID); after.Seq != before.Seq+1 {
		t.Fatalf("a delivered beyond the read marker emitted %d events, want 1", after.Seq-before.Seq)
	}
}

// TestEndedSince: the count of sessions ended at or after a moment is
// inclusive at that moment, and loses a session once it retires, whether
// prune retires it on time or a listing heals the indexes after its hash
// expired in Redis first.
func TestEndedSince(t *testing.T) {
	f, ret := histNewFixture(t, 0)
	ctx := context.Background()
	a, b, c := f.create(t, "a"), f.create(t, "b"), f.create(t, "c")
	closeAt := func(s *hub.Session) time.Time {
		t.Helper()
		f.advance(time.Minute)
		at := f.clock()
		if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		return at
	}
	want := func(what string, since time.Time, n int64) {
		t.Helper()
		got, err := f.svc.EndedSince(ctx, since)
		if err != nil || got != n {
			t.Fatalf("%s: EndedSince(%s) = %d %v, want %d", what, since.Format(time.RFC3339Nano), got, err, n)
		}
	}
	start := f.clock()
	atA := closeAt(a)
	atB := closeAt(b)
	want("both", start, 2)
	want("from a's end", atA, 2)
	want("a millisecond after a's end", atA.Add(time.Millisecond), 1)
	want("from b's end", atB, 1)
	want("after b's end", atB.Add(time.Millisecond), 0)

	// a and b expire in Redis while the hub's clock stands still: a
	// listing finds their hashes gone and retires them.
	histExpire(t, f, ret+time.Second, f.r.Prefix+":session:"+a.ID, f.r.Prefix+":session:"+b.ID)
	if _, _, err := f.svc.Sessions(ctx, hub.SessionFilter{Status: hub.StatusEnded, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	want("after the listing healed the indexes", start, 0)

	// c retires by prune when the hub's clock passes its retention.
	atC := closeAt(c)
	want("c", start, 1)
	f.advance(ret + time.Second)
	if _, err := f.store.Prune(ctx, f.clock()); err != nil {
		t.Fatal(err)
	}
	want("after prune", atC, 0)
}
