package api_test

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// call is one request of a concurrent burst.
type call struct {
	method, path, body string
}

// burst sends the calls at once, alternating between the env's instances,
// and returns the answers in the order of calls. Every goroutine waits on
// one barrier before sending, so that the requests overlap as much as the
// scheduler allows rather than trickling in as they are spawned.
func (e *env) burst(calls []call) []response {
	e.t.Helper()
	out := make([]response, len(calls))
	errs := make([]error, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		in := e.hubs[i%len(e.hubs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = in.send(c.method, c.path, c.body, "Bearer "+adminKey)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			e.t.Fatalf("call %d: %v", i, err)
		}
	}
	return out
}

// tally counts answers by status and message, e.g. "409 agent already assigned".
func tally(res []response) map[string]int {
	m := map[string]int{}
	for _, r := range res {
		msg, _ := r.Body["message"].(string)
		if msg == "" && r.Body["data"] != nil {
			msg = "data"
		}
		m[fmt.Sprint(r.Status, " ", msg)]++
	}
	return m
}

// wantTally compares a tally with the expected one.
func wantTally(t testing.TB, got, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
}

// wantStatsFromListing checks that the stats agree with the given counts
// [total waiting active ended] and with a listing of every session.
func (e *env) wantStatsFromListing(want [4]int64) {
	e.t.Helper()
	var fromList [4]int64
	for _, s := range e.listAll("") {
		fromList[0]++
		switch str(e.t, s, "status") {
		case "Waiting":
			fromList[1]++
		case "Active":
			fromList[2]++
		case "Ended":
			fromList[3]++
		}
	}
	if fromList != want {
		e.t.Errorf("listing counts [total waiting active ended] = %v, want %v", fromList, want)
	}
	if got := e.stats(); got != want {
		e.t.Errorf("stats [total waiting active ended] = %v, want %v", got, want)
	}
	for i, in := range e.hubs { // every instance sees the same
		d := wantData(e.t, in.do(http.MethodGet, "/customer-service/stats", "", adminKey))
		got := [4]int64{num(e.t, d, "total_sessions"), num(e.t, d, "waiting_sessions"),
			num(e.t, d, "active_sessions"), num(e.t, d, "ended_sessions")}
		if got != want {
			e.t.Errorf("instance %d: stats %v, want %v", i, got, want)
		}
	}
}

// TestRaceAssignOneSessionTwoInstances fires 50 assigns of 50 different
// agents to one Waiting session across two instances: exactly one wins and
// the session's agent is the winner's.
func TestRaceAssignOneSessionTwoInstances(t *testing.T) {
	e := newEnv(t, hub.Policy{AgentCapacity: 1}, 2)
	t.Logf("redis: %s", e.r.Kind())
	id := e.create("contested")
	calls := make([]call, 50)
	for i := range calls {
		calls[i] = call{http.MethodPost, "/customer-service/sessions/" + id + "/assign",
			fmt.Sprintf(`{"agent_id":"agent_%02d","agent_name":"Agent %02d"}`, i, i)}
	}
	res := e.burst(calls)
	wantTally(t, tally(res), map[string]int{"200 agent assigned": 1, "409 agent already assigned": 49})
	for i, r := range res {
		if r.Status == http.StatusOK {
			wantFields(t, "winner's session", e.detail(id), map[string]string{
				"status": "Active", "agent_id": fmt.Sprintf("agent_%02d", i), "agent_name": fmt.Sprintf("Agent %02d", i),
			})
		} else {
			wantError(t, r, http.StatusConflict, "agent already assigned")
		}
	}
	e.wantStatsFromListing([4]int64{1, 0, 1, 0})
}

// TestRaceCreateMaxOpenTwoInstances fires 100 creates across two instances
// with MaxOpenSessions 10: exactly 10 open, 90 are refused with 429, and the
// sessions that exist are exactly those whose create succeeded.
func TestRaceCreateMaxOpenTwoInstances(t *testing.T) {
	e := newEnv(t, hub.Policy{MaxOpenSessions: 10}, 2)
	t.Logf("redis: %s", e.r.Kind())
	calls := make([]call, 100)
	for i := range calls {
		calls[i] = call{http.MethodPost, "/customer-service/sessions",
			fmt.Sprintf(`{"title":"burst %d","customer_name":"Customer %d"}`, i, i)}
	}
	res := e.burst(calls)
	wantTally(t, tally(res), map[string]int{"200 data": 10, "429 max sessions reached": 90})
	var created []string
	for i, r := range res {
		if r.Status != http.StatusOK {
			wantError(t, r, http.StatusTooManyRequests, "max sessions reached")
			continue
		}
		d := wantData(t, r)
		created = append(created, str(t, d, "id"))
		wantFields(t, "created", d, map[string]string{"title": fmt.Sprint("burst ", i), "status": "Waiting"})
	}
	var listed []string
	for _, s := range e.listAll("") {
		listed = append(listed, str(t, s, "id"))
	}
	sort.Strings(created)
	sort.Strings(listed)
	if fmt.Sprint(created) != fmt.Sprint(listed) {
		t.Errorf("listed sessions %v, want the created ones %v", listed, created)
	}
	e.wantStatsFromListing([4]int64{10, 10, 0, 0})
	// The limit holds after the burst, and closing one frees one place.
	wantError(t, e.hubs[1].do(http.MethodPost, "/customer-service/sessions", createOK, adminKey),
		http.StatusTooManyRequests, "max sessions reached")
	e.close(created[0])
	wantData(t, e.hubs[1].do(http.MethodPost, "/customer-service/sessions", createOK, adminKey))
	e.wantStatsFromListing([4]int64{11, 10, 0, 1})
}

// TestRaceAgentCapacityTwoInstances fires 20 assigns of one agent (capacity
// 3, given by the policy at its first assign) to 20 different sessions
// across two instances: exactly 3 succeed and 17 are refused with 429.
func TestRaceAgentCapacityTwoInstances(t *testing.T) {
	e := newEnv(t, hub.Policy{AgentCapacity: 3}, 2)
	t.Logf("redis: %s", e.r.Kind())
	ids := make([]string, 20)
	calls := make([]call, 20)
	for i := range ids {
		ids[i] = e.create(fmt.Sprint("session ", i))
		calls[i] = call{http.MethodPost, "/customer-service/sessions/" + ids[i] + "/assign",
			`{"agent_id":"agent_busy","agent_name":"Agent Busy"}`}
	}
	res := e.burst(calls)
	wantTally(t, tally(res), map[string]int{"200 agent assigned": 3, "429 max sessions reached": 17})
	won := map[string]bool{}
	for i, r := range res {
		if r.Status == http.StatusOK {
			won[ids[i]] = true
		} else {
			wantError(t, r, http.StatusTooManyRequests, "max sessions reached")
		}
	}
	for _, id := range ids {
		d := e.detail(id)
		if won[id] {
			wantFields(t, id, d, map[string]string{"status": "Active", "agent_id": "agent_busy", "agent_name": "Agent Busy"})
		} else {
			wantFields(t, id, d, map[string]string{"status": "Waiting", "agent_id": "", "agent_name": ""})
		}
	}
	for _, s := range e.listAll("Active") {
		if id := str(t, s, "id"); !won[id] {
			t.Errorf("session %s is Active, but its assign was refused", id)
		}
	}
	e.wantStatsFromListing([4]int64{20, 17, 3, 0})
}
