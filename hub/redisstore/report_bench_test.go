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

// seedReportDays runs n sessions through the scripts, spread evenly over
// the 30 days before now: a third abandoned, the rest picked by one of 20
// agents and closed. Returns the start of that range.
func seedReportDays(b *testing.B, st *redisstore.Store, n int, now time.Time) time.Time {
	ctx := context.Background()
	start := now.Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	pol := hub.DeskPolicy{PresenceTTL: 60 * 24 * time.Hour}
	for a := range 20 {
		id := fmt.Sprintf("a%d", a)
		if err := st.PutAgent(ctx, &hub.Agent{ID: id, Name: id, Role: hub.RoleAgent, Capacity: 1 << 30, CreatedAt: start}); err != nil {
			b.Fatal(err)
		}
		if err := st.Connect(ctx, hub.Presence{AgentID: id, ConnID: "c", IP: "10.0.0.1"}, start, pol); err != nil {
			b.Fatal(err)
		}
	}
	step := now.Sub(start) / time.Duration(n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				at := start.Add(time.Duration(i) * step)
				s, err := st.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), CustomerID: fmt.Sprint("c", i), CustomerName: "C",
					State: hub.StateQueuing, CreatedAt: at}, 0)
				if err == nil && i%3 == 0 {
					_, err = st.CloseSession(ctx, s.ID, hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}, at.Add(30*time.Second), 60*24*time.Hour)
				} else if err == nil {
					if _, err = st.TakeSession(ctx, s.ID, fmt.Sprintf("a%d", i%20), "pick", at.Add(time.Duration(i%600)*time.Second)); err == nil {
						_, err = st.CloseSession(ctx, s.ID, hub.SystemPrincipal, at.Add(20*time.Minute), 60*24*time.Hour)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return start
}

// BenchmarkReport reads a report over 30 days by hour (720 hourly
// buckets), and by agent, with 1,000 and with 100,000 sessions kept: the
// report reads the buckets the transitions filled, never the sessions, so
// its cost depends on the range, not on how many sessions there are.
// Compare the ns/op of the two sizes (scripts/bench.sh prints medians).
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("of=%d", n), func(b *testing.B) {
			r := redistest.New(b)
			st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			start := seedReportDays(b, st, n, now)
			reports := hub.NewReports(st, st, st, time.UTC, func() time.Time { return now })
			ctx := context.Background()
			for _, q := range []hub.ReportQuery{
				{From: start, To: start.Add(30 * 24 * time.Hour), Group: hub.ReportByHour},
				{From: start.Truncate(24 * time.Hour), To: start.Truncate(24*time.Hour).AddDate(0, 0, 31), Group: hub.ReportByAgent},
			} {
				b.Run("by="+q.Group, func(b *testing.B) {
					for b.Loop() {
						rep, err := reports.Report(ctx, q)
						if err != nil {
							b.Fatal(err)
						}
						if rep.Total.Created == 0 || rep.Total.Created > int64(n) {
							b.Fatalf("the report counts %d sessions of %d", rep.Total.Created, n)
						}
					}
				})
			}
		})
	}
}
