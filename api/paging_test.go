package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// TestListPaging creates 105 sessions (more than the 100 a page may hold),
// makes some Active and some Ended, and checks page, per_page and status on
// the listing: the page holds the right sessions newest first, total is the
// number matching the filter whatever the page, per_page is capped at 100,
// and a page past the end is an empty array, not null.
func TestListPaging(t *testing.T) {
	e := newEnv(t, hub.Policy{AgentCapacity: 200}, 1)
	const n = 105
	ids := make([]string, n) // in creation order
	for i := range n {
		ids[i] = e.create(fmt.Sprint("session ", i))
		e.clock.Advance(time.Second)
	}
	status := map[string]string{}
	for _, id := range ids {
		status[id] = "Waiting"
	}
	for i := 0; i < n; i += 3 { // every third Active
		e.assign(ids[i], "agent_001")
		status[ids[i]] = "Active"
	}
	for i := 1; i < n; i += 5 { // every fifth Ended (some of them after being Active)
		e.close(ids[i])
		status[ids[i]] = "Ended"
	}
	// newest returns the ids with the given status ("" for all), newest first.
	newest := func(st string) []string {
		var out []string
		for i := n - 1; i >= 0; i-- {
			if st == "" || status[ids[i]] == st {
				out = append(out, ids[i])
			}
		}
		return out
	}
	// window returns want[from:from+size], clipped.
	window := func(want []string, from, size int) []string {
		from = min(from, len(want))
		return want[from:min(from+size, len(want))]
	}
	all, waiting, active, ended := newest(""), newest("Waiting"), newest("Active"), newest("Ended")

	cases := []struct {
		query string
		want  []string
		total int
	}{
		{"", window(all, 0, 20), n}, // default: page 1 of 20
		{"page=1", window(all, 0, 20), n},
		{"page=2", window(all, 20, 20), n},
		{"page=6", window(all, 100, 20), n}, // the last, partial page
		{"page=7", nil, n},                  // past the end
		{"page=1000000", nil, n},
		{"per_page=1", window(all, 0, 1), n},
		{"per_page=7&page=3", window(all, 14, 7), n},
		{"per_page=100", window(all, 0, 100), n},
		{"per_page=101", window(all, 0, 100), n}, // capped
		{"per_page=1000", window(all, 0, 100), n},
		{"per_page=1000&page=2", window(all, 100, 100), n}, // the cap applies to the offset too
		{"per_page=105", window(all, 0, 100), n},
		{"page=&per_page=", window(all, 0, 20), n}, // empty means default
		{"status=Waiting&per_page=100", window(waiting, 0, 100), len(waiting)},
		{"status=Waiting&per_page=10&page=2", window(waiting, 10, 10), len(waiting)},
		{"status=Active&per_page=100", window(active, 0, 100), len(active)},
		{"status=Active&per_page=5&page=3", window(active, 10, 5), len(active)},
		{"status=Ended&per_page=100", window(ended, 0, 100), len(ended)},
		{"status=Ended&page=99", nil, len(ended)},
		{"status=active&per_page=100", window(active, 0, 100), len(active)}, // any letter case
		{"status=ENDED&per_page=100", window(ended, 0, 100), len(ended)},
		{"status=&per_page=3", window(all, 0, 3), n}, // empty means every status
	}
	for _, c := range cases {
		name := c.query
		if name == "" {
			name = "no query"
		}
		t.Run(name, func(t *testing.T) {
			d := wantData(t, e.do(http.MethodGet, "/customer-service/sessions?"+c.query, "", adminKey))
			if total := num(t, d, "total"); total != int64(c.total) {
				t.Errorf("total %d, want %d (the number of sessions matching, not the page size)", total, c.total)
			}
			list, ok := d["sessions"].([]any)
			if !ok {
				t.Fatalf("sessions is %s, want an array (empty pages too)", jsonType(d["sessions"]))
			}
			var got []string
			for _, s := range list {
				s := s.(map[string]any)
				id := str(t, s, "id")
				got = append(got, id)
				if st := str(t, s, "status"); st != status[id] {
					t.Errorf("session %s: status %s, want %s", id, st, status[id])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("page holds %d sessions %v\nwant %d sessions %v", len(got), got, len(c.want), c.want)
			}
		})
	}

	// The stats agree with the listing.
	want := [4]int64{n, int64(len(waiting)), int64(len(active)), int64(len(ended))}
	if got := e.stats(); got != want {
		t.Errorf("stats [total waiting active ended] = %v, want %v", got, want)
	}
	if got := len(e.listAll("")); got != n {
		t.Errorf("paging through the listing gives %d sessions, want %d", got, n)
	}
}
