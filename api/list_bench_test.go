package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// benchSizes are the numbers of kept sessions the listing benchmarks
// compare. 100,000 needs a real redis-server: seeding them on miniredis
// takes minutes.
var benchSizes = []int{1_000, 100_000}

// newSeededEnv returns a hub instance whose Redis holds n sessions created
// one a minute up to the test clock's now (t0), for n/10 customers; every
// other one has ended (kept for a year), the rest wait in the queue.
func newSeededEnv(b *testing.B, n int) *env {
	b.Helper()
	if n > 10_000 && os.Getenv(redistest.EnvURL) == "" {
		b.Skipf("%d sessions need a real redis-server: set %s", n, redistest.EnvURL)
	}
	e := newEnv(b, hub.Policy{}, 1)
	began := time.Now()
	redistest.SeedChats(b, e.hubs[0].store, t0.UTC().Add(-time.Duration(n)*time.Minute), n, time.Minute)
	b.Logf("redis: %s; %d sessions seeded in %v", e.r.Kind(), n, time.Since(began).Round(time.Millisecond))
	return e
}

// benchGet runs GET path with the admin key as one benchmark op and fails
// unless it answers 200 with a body containing want (the total, which
// proves that the answer counted every seeded session).
func benchGet(b *testing.B, e *env, path string, want []byte) {
	b.Helper()
	in := e.hubs[0]
	c := in.ts.Client()
	req, err := http.NewRequest(http.MethodGet, in.ts.URL+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	var body bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body.Reset()
		_, err = body.ReadFrom(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || !bytes.Contains(body.Bytes(), want) {
			b.Fatalf("GET %s: %d %v: %.300s (want it to contain %s)", path, res.StatusCode, err, body.Bytes(), want)
		}
	}
	b.ReportMetric(float64(body.Len()), "resp-bytes")
}

// wantPage fails unless GET path returns a page of size sessions (in
// "sessions", or "data.sessions" for the Customer Service API).
func wantPage(b *testing.B, e *env, path string, size int) {
	b.Helper()
	res := e.do(http.MethodGet, path, "", adminKey)
	if res.Status != http.StatusOK {
		b.Fatalf("GET %s: %s", path, res)
	}
	obj := res.Body
	if d, ok := obj["data"].(map[string]any); ok {
		obj = d
	}
	if list, _ := obj["sessions"].([]any); len(list) != size {
		b.Fatalf("GET %s: %d sessions, want %d", path, len(list), size)
	}
}

// BenchmarkSessionList measures the HTTP listings of sessions, newest
// first, with 1,000 and with 100,000 sessions kept: the supervisor view's
// GET /api/v1/sessions (50 a page, the default) and the Customer Service
// API's GET /customer-service/sessions (100 a page, its maximum), each on
// its first and its last page. The request goes through the real router,
// admin-key authentication, hub.Service and one list.lua call (prune a
// batch, ZREVRANGE the index, HGETALL each session of the page, ZCARD)
// and back as JSON. The point of comparing the sizes: the cost must depend
// on the page, not on how many sessions are kept.
func BenchmarkSessionList(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("of="+strconv.Itoa(n), func(b *testing.B) {
			e := newSeededEnv(b, n)
			total := []byte(`"total":` + strconv.Itoa(n) + "}")
			pages := []struct {
				name, path string
				size       int
			}{
				{"supervisor-first-page", "/api/v1/sessions", 50},
				{"supervisor-last-page", fmt.Sprintf("/api/v1/sessions?offset=%d&limit=50", n-50), 50},
				{"cs-first-page", "/customer-service/sessions?per_page=100", 100},
				{"cs-last-page", fmt.Sprintf("/customer-service/sessions?per_page=100&page=%d", n/100), 100},
			}
			for _, p := range pages {
				wantPage(b, e, p.path, p.size)
				b.Run(p.name, func(b *testing.B) { benchGet(b, e, p.path, total) })
			}
		})
	}
}

// BenchmarkStats measures the HTTP statistics endpoints with 1,000 and
// with 100,000 sessions kept: the supervisor view's GET /api/v1/stats
// (session counts, the queue, agents by status, ratings, ended today: one
// call each to stats.lua and queue_info.lua, the agents, the rating totals
// and a ZCOUNT) and the Customer Service API's GET /customer-service/stats
// (stats.lua alone: prune a batch, then ZCARD of four indexes). Counts are
// kept as index sizes, so the cost must not grow with the sessions kept.
func BenchmarkStats(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("of="+strconv.Itoa(n), func(b *testing.B) {
			e := newSeededEnv(b, n)
			b.Run("api-v1-stats", func(b *testing.B) {
				benchGet(b, e, "/api/v1/stats", []byte(fmt.Sprintf(`"total":%d,`, n)))
			})
			b.Run("cs-stats", func(b *testing.B) {
				benchGet(b, e, "/customer-service/stats", []byte(fmt.Sprintf(`"total_sessions":%d,`, n)))
			})
		})
	}
}
