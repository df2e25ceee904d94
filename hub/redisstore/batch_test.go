package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// TestConcurrentSendsGetTheirOwnReplies: 100 customers send 30 messages
// each at once, so that the store batches their calls into shared
// pipelines (and, half way, Redis forgets its scripts, as after a
// restart): each sender gets back exactly its own seqs, in order, with no
// gap, and a retry of each message is answered as a duplicate with its
// first seq.
func TestConcurrentSendsGetTheirOwnReplies(t *testing.T) {
	f := newFixture(t, hub.Policy{MaxOpenSessions: 1000})
	ctx := context.Background()
	const senders, each = 100, 30
	type party struct {
		s    *hub.Session
		p    hub.Principal
		seqs []int64
	}
	parties := make([]*party, senders)
	for i := range parties {
		s := f.create(t, fmt.Sprint("chat ", i))
		parties[i] = &party{s: s, p: hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, SessionID: s.ID}}
	}
	var wg sync.WaitGroup
	for _, pt := range parties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				if n == each/2 && pt == parties[0] {
					f.r.Client.ScriptFlush(ctx) // every other sender's next call meets NOSCRIPT
				}
				seq, dup, err := f.svc.SendMessage(ctx, pt.p, pt.s.ID, fmt.Sprint("m-", n), fmt.Sprint("text ", n))
				if err != nil || dup {
					t.Errorf("%s: send %d: seq %d dup %v err %v", pt.s.ID, n, seq, dup, err)
					return
				}
				pt.seqs = append(pt.seqs, seq)
			}
		}()
	}
	wg.Wait()
	for _, pt := range parties {
		if len(pt.seqs) != each {
			continue // reported above
		}
		for i := 1; i < each; i++ {
			if pt.seqs[i] != pt.seqs[i-1]+1 {
				t.Fatalf("%s got seqs %v: not its own, in order", pt.s.ID, pt.seqs)
			}
		}
		got, err := f.svc.Session(ctx, pt.s.ID)
		if err != nil || got.Seq != pt.seqs[each-1] {
			t.Fatalf("%s: the session's seq is %d (%v), the last reply %d", pt.s.ID, got.Seq, err, pt.seqs[each-1])
		}
		seq, dup, err := f.svc.SendMessage(ctx, pt.p, pt.s.ID, "m-3", "again")
		if err != nil || !dup || seq != pt.seqs[3] {
			t.Fatalf("%s: a retry of m-3: seq %d dup %v err %v; want %d, duplicate", pt.s.ID, seq, dup, err, pt.seqs[3])
		}
	}
}
