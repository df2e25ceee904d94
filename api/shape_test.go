package api_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// timeRE is the document's time format: RFC 3339, UTC, whole seconds.
var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// TestResponseShapesMatchSeed walks one session through its life (create,
// assign, close) and compares every endpoint's answer with the published
// example of that endpoint (testdata/customer-service): the same keys at
// every level, the same JSON types, the same envelope code and the same
// messages. It also checks the values the document defines: statuses,
// times and the duration of the Active phase in whole seconds.
func TestResponseShapesMatchSeed(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	t.Logf("redis: %s", e.r.Kind())

	// Create, with the document's own request body.
	res := e.do(http.MethodPost, "/customer-service/sessions", seedText(t, "create_request"), adminKey)
	sameShape(t, "create", wantBody(t, res), seed(t, "create"))
	created := wantData(t, res)
	id := str(t, created, "id")
	if !hub.ValidSessionID(id) {
		t.Errorf("create: id %q is not a session id", id)
	}
	wantFields(t, "create", created, map[string]string{
		"title": "After-sales inquiry", "customer_name": "John", "status": "Waiting", "created_at": t0UTC,
	})
	if str(t, created, "customer_id") == "" {
		t.Errorf("create: customer_id is empty, want a generated id")
	}

	// Waiting: detail, list and stats.
	e.clock.Advance(5 * time.Second)
	res = e.do(http.MethodGet, "/customer-service/sessions/"+id, "", adminKey)
	sameShape(t, "detail (Waiting)", wantBody(t, res), seed(t, "detail"))
	d := wantData(t, res)
	wantFields(t, "detail (Waiting)", d, map[string]string{
		"id": id, "title": "After-sales inquiry", "customer_id": str(t, created, "customer_id"),
		"customer_name": "John", "agent_id": "", "agent_name": "", "status": "Waiting", "created_at": t0UTC,
	})
	wantDuration(t, "detail (Waiting)", d, 0)

	res = e.do(http.MethodGet, "/customer-service/sessions", "", adminKey)
	sameShape(t, "list (Waiting)", wantBody(t, res), seed(t, "list"))
	wantListOf(t, "list (Waiting)", wantData(t, res), d)

	res = e.do(http.MethodGet, "/customer-service/stats", "", adminKey)
	sameShape(t, "stats", wantBody(t, res), seed(t, "stats"))
	if got, want := e.stats(), [4]int64{1, 1, 0, 0}; got != want {
		t.Errorf("stats [total waiting active ended] = %v, want %v", got, want)
	}

	// Assign, with the document's own request body.
	res = e.do(http.MethodPost, "/customer-service/sessions/"+id+"/assign", seedText(t, "assign_request"), adminKey)
	sameShape(t, "assign", wantBody(t, res), seed(t, "assign"))
	wantMessage(t, res, "agent assigned")

	// Active for 320.4 s: the duration is 320 whole seconds, in detail and list.
	e.clock.Advance(320*time.Second + 400*time.Millisecond)
	res = e.do(http.MethodGet, "/customer-service/sessions/"+id, "", adminKey)
	sameShape(t, "detail (Active)", wantBody(t, res), seed(t, "detail"))
	d = wantData(t, res)
	wantFields(t, "detail (Active)", d, map[string]string{
		"agent_id": "agent_001", "agent_name": "Agent Wang", "status": "Active", "created_at": t0UTC,
	})
	wantDuration(t, "detail (Active)", d, 320)
	res = e.do(http.MethodGet, "/customer-service/sessions", "", adminKey)
	sameShape(t, "list (Active)", wantBody(t, res), seed(t, "list"))
	wantListOf(t, "list (Active)", wantData(t, res), d)
	if got, want := e.stats(), [4]int64{1, 0, 1, 0}; got != want {
		t.Errorf("stats [total waiting active ended] = %v, want %v", got, want)
	}

	// Close at 320.4 s of Active; time after the end does not count.
	res = e.do(http.MethodDelete, "/customer-service/sessions/"+id, "", adminKey)
	sameShape(t, "close", wantBody(t, res), seed(t, "close"))
	wantMessage(t, res, "session closed")
	e.clock.Advance(time.Hour)
	res = e.do(http.MethodGet, "/customer-service/sessions/"+id, "", adminKey)
	sameShape(t, "detail (Ended)", wantBody(t, res), seed(t, "detail"))
	d = wantData(t, res)
	wantFields(t, "detail (Ended)", d, map[string]string{
		"agent_id": "agent_001", "agent_name": "Agent Wang", "status": "Ended", "created_at": t0UTC,
	})
	wantDuration(t, "detail (Ended)", d, 320)
	res = e.do(http.MethodGet, "/customer-service/sessions", "", adminKey)
	sameShape(t, "list (Ended)", wantBody(t, res), seed(t, "list"))
	wantListOf(t, "list (Ended)", wantData(t, res), d)
	if got, want := e.stats(), [4]int64{1, 0, 0, 1}; got != want {
		t.Errorf("stats [total waiting active ended] = %v, want %v", got, want)
	}

	// The error envelope, with the document's own example error.
	res = e.do(http.MethodGet, "/customer-service/sessions/"+hub.NewSessionID(), "", adminKey)
	sameShape(t, "error", wantBody(t, res), seed(t, "error"))
	wantError(t, res, http.StatusNotFound, seed(t, "error").(map[string]any)["message"].(string))
}

// TestDurationCountsOnlyTheActivePhase checks the duration of sessions
// that never were Active (0, however long they waited or have been ended)
// and that the time before the assign does not count.
func TestDurationCountsOnlyTheActivePhase(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	waiting := e.create("waits")
	closedWaiting := e.create("closed while waiting")
	active := e.create("active")
	e.clock.Advance(90 * time.Second)
	e.assign(active, "agent_001")
	e.close(closedWaiting)
	e.clock.Advance(59*time.Second + 999*time.Millisecond)

	for _, c := range []struct {
		id     string
		status string
		want   int64
	}{
		{waiting, "Waiting", 0},
		{closedWaiting, "Ended", 0},
		{active, "Active", 59},
	} {
		d := e.detail(c.id)
		wantFields(t, c.id, d, map[string]string{"status": c.status})
		wantDuration(t, c.id+" ("+c.status+")", d, c.want)
	}
	e.clock.Advance(time.Millisecond)
	wantDuration(t, "active after 60 s", e.detail(active), 60)
}

// wantBody returns the decoded answer for a shape comparison, failing
// the test when there is none.
func wantBody(t testing.TB, res response) map[string]any {
	t.Helper()
	if res.Body == nil {
		t.Fatalf("answer is not one JSON object: %s", res)
	}
	return res.Body
}

// wantFields checks string fields of a session, and that created_at (when
// present) has the document's time format.
func wantFields(t testing.TB, where string, got map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if s := str(t, got, k); s != v {
			t.Errorf("%s: %s = %q, want %q", where, k, s, v)
		}
	}
	if ca, ok := got["created_at"].(string); ok && !timeRE.MatchString(ca) {
		t.Errorf("%s: created_at %q does not match %s", where, ca, timeRE)
	}
	if st, ok := got["status"].(string); ok && st != "Waiting" && st != "Active" && st != "Ended" {
		t.Errorf("%s: status %q is none of Waiting, Active, Ended", where, st)
	}
}

// wantDuration checks that duration is the integer secs.
func wantDuration(t testing.TB, where string, got map[string]any, secs int64) {
	t.Helper()
	if d := num(t, got, "duration"); d != secs {
		t.Errorf("%s: duration %d, want %d (whole seconds of the Active phase)", where, d, secs)
	}
}

// wantListOf checks that a listing holds exactly the given session, as its
// detail shows it.
func wantListOf(t testing.TB, where string, data map[string]any, detail map[string]any) {
	t.Helper()
	if n := num(t, data, "total"); n != 1 {
		t.Errorf("%s: total %d, want 1", where, n)
	}
	list, _ := data["sessions"].([]any)
	if len(list) != 1 {
		t.Fatalf("%s: %d sessions, want 1", where, len(list))
	}
	got := list[0].(map[string]any)
	for k, v := range detail {
		if got[k] != v {
			t.Errorf("%s: %s = %v, the detail says %v", where, k, got[k], v)
		}
	}
}
