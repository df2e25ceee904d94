package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestReportMetrics runs three sessions through the store (one answered
// after 12 s, one after 100 s, one abandoned) and reads what /metrics
// would export: the outcome counters and the wait histogram, cumulative
// by bound, with its sum in seconds.
func TestReportMetrics(t *testing.T) {
	r := redistest.New(t)
	st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().Add(-time.Hour)
	if err := st.PutAgent(ctx, &hub.Agent{ID: "a1", Name: "A", Role: hub.RoleAgent, Capacity: 5, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.Connect(ctx, hub.Presence{AgentID: "a1", ConnID: "c", IP: "10.0.0.1"}, now, hub.DeskPolicy{PresenceTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for i, wait := range []time.Duration{12 * time.Second, 100 * time.Second, 0} {
		s, err := st.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), CustomerID: "c" + string(rune('0'+i)), CustomerName: "C",
			State: hub.StateQueuing, CreatedAt: now}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			if _, err := st.CloseSession(ctx, s.ID, hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}, now.Add(time.Second), time.Hour); err != nil {
				t.Fatal(err)
			}
		} else if _, err := st.TakeSession(ctx, s.ID, "a1", "pick", now.Add(wait)); err != nil {
			t.Fatal(err)
		}
	}
	c := newReportCollector(st, slog.New(slog.DiscardHandler))
	want := `
# HELP switchboard_report_sessions_total Sessions by outcome, for the whole deployment: created, answered, abandoned (the customer left before any agent answered), ended, transferred.
# TYPE switchboard_report_sessions_total counter
switchboard_report_sessions_total{outcome="abandoned"} 1
switchboard_report_sessions_total{outcome="answered"} 2
switchboard_report_sessions_total{outcome="created"} 3
switchboard_report_sessions_total{outcome="ended"} 1
switchboard_report_sessions_total{outcome="transferred"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "switchboard_report_sessions_total"); err != nil {
		t.Error(err)
	}
	wantWait := `
# HELP switchboard_report_wait_seconds Time from a session's creation to its first agent's acceptance (offline messages left out), for the whole deployment.
# TYPE switchboard_report_wait_seconds histogram
switchboard_report_wait_seconds_bucket{le="5"} 0
switchboard_report_wait_seconds_bucket{le="10"} 0
switchboard_report_wait_seconds_bucket{le="15"} 1
switchboard_report_wait_seconds_bucket{le="20"} 1
switchboard_report_wait_seconds_bucket{le="30"} 1
switchboard_report_wait_seconds_bucket{le="45"} 1
switchboard_report_wait_seconds_bucket{le="60"} 1
switchboard_report_wait_seconds_bucket{le="90"} 1
switchboard_report_wait_seconds_bucket{le="120"} 2
switchboard_report_wait_seconds_bucket{le="180"} 2
switchboard_report_wait_seconds_bucket{le="300"} 2
switchboard_report_wait_seconds_bucket{le="600"} 2
switchboard_report_wait_seconds_bucket{le="900"} 2
switchboard_report_wait_seconds_bucket{le="1800"} 2
switchboard_report_wait_seconds_bucket{le="3600"} 2
switchboard_report_wait_seconds_bucket{le="+Inf"} 2
switchboard_report_wait_seconds_sum 112
switchboard_report_wait_seconds_count 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantWait), "switchboard_report_wait_seconds"); err != nil {
		t.Error(err)
	}
}
