package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// seedChats creates n sessions, one a minute from a fixed day, for n/10
// customers, ending every other one, and returns the day.
func seedChats(b *testing.B, st *redisstore.Store, n int) time.Time {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	redistest.SeedChats(b, st, start, n, 0)
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
