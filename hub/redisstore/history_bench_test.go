package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// seedChats creates n sessions, one a minute from a fixed day, for n/10
// customers, ending every other one.
func seedChats(b *testing.B, st *redisstore.Store, n int) time.Time {
	b.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				at := start.Add(time.Duration(i) * time.Minute)
				s := &hub.Session{ID: hub.NewSessionID(), Title: "Order", CustomerID: fmt.Sprintf("c%d", i%(n/10)),
					CustomerName: "Customer", State: hub.StateQueuing, CreatedAt: at, StartedBy: "visitor"}
				if _, err := st.CreateSession(ctx, s, 0); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if _, err := st.CloseSession(ctx, s.ID, hub.SystemPrincipal, at, 365*24*time.Hour); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return start
}

// BenchmarkChatSessions lists one page of 100 chats (the KF5 default) out
// of 1,000 and out of 100,000 sessions: the indexes make the cost depend on
// the page, not on how many sessions are kept. Compare the ns/op of the
// two sizes (scripts/bench.sh prints their medians).
func BenchmarkChatSessions(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("of=%d", n), func(b *testing.B) {
			r := redistest.New(b)
			st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
			if err != nil {
				b.Fatal(err)
			}
			start := seedChats(b, st, n)
			ctx := context.Background()
			now := start.Add(time.Duration(n) * time.Minute)
			filters := map[string]hub.ChatFilter{
				"all-last-page": {Offset: n - 100, Limit: 100},
				"one-day":       {From: start.Add(time.Duration(n/2) * time.Minute).Truncate(24 * time.Hour), To: start.Add(time.Duration(n/2)*time.Minute).Truncate(24*time.Hour).AddDate(0, 0, 1), Limit: 100},
				"visitor":       {Visitor: int64(n / 20), Limit: 100},
			}
			for name, f := range filters {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						list, _, err := st.ChatSessions(ctx, f, now)
						if err != nil || len(list) == 0 {
							b.Fatalf("ChatSessions: %d sessions, %v", len(list), err)
						}
						ids := make([]string, len(list))
						for i, s := range list {
							ids[i] = s.ID
						}
						if _, err := st.SessionHistories(ctx, ids); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
