package redistest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// SeedChats creates n sessions through the store's own scripts, 8 at a
// time: one a minute from start, for n/10 customers; every other one ends
// endAfter after it began (kept for a year), the rest wait in the queue.
// The benchmarks of the listings use it at 1,000 and 100,000 sessions.
func SeedChats(tb testing.TB, st *redisstore.Store, start time.Time, n int, endAfter time.Duration) {
	tb.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				at := start.Add(time.Duration(i) * time.Minute)
				s := &hub.Session{ID: hub.NewSessionID(), Title: "Order", CustomerID: fmt.Sprintf("c%d", i%max(1, n/10)),
					CustomerName: "Customer", State: hub.StateQueuing, CreatedAt: at, StartedBy: "visitor"}
				if _, err := st.CreateSession(ctx, s, 0); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if _, err := st.CloseSession(ctx, s.ID, hub.SystemPrincipal, at.Add(endAfter), 365*24*time.Hour); err != nil {
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
		tb.Fatal(err)
	}
}
