package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// TestReportsAPI scripts three sessions around a local midnight (Asia/
// Shanghai) through the store with chosen times, in time order (a status
// is counted when it ends), then reads the reports
// over HTTP: the figures are the ones computed by hand, the two days split
// at local midnight, the CSV says what the JSON says, only supervisors and
// the admin key may read them, and bad parameters get the native error.
func TestReportsAPI(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e := newRTEnv(t, 1, rtOptions{location: loc})
	in := e.hubs[0]
	st := in.store
	ctx := context.Background()
	y, m, d := time.Now().In(loc).AddDate(0, 0, -2).Date()
	dayA := time.Date(y, m, d, 0, 0, 0, 0, loc)
	dayB := dayA.AddDate(0, 0, 1)
	at := func(day time.Time, h, min, s int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Minute + time.Duration(s)*time.Second)
	}
	agentToken := e.quickAgent("a1")
	pol := hub.DeskPolicy{PresenceTTL: 72 * time.Hour}
	if err := st.Connect(ctx, hub.Presence{AgentID: "a1", ConnID: "c1", IP: "10.0.0.1"}, at(dayA, 23, 50, 0), pol); err != nil {
		t.Fatal(err)
	}
	a1 := hub.Principal{Kind: hub.PrincipalAgent, ID: "a1", Role: hub.RoleAgent}
	newSession := func(cust string, when time.Time) string {
		s, err := st.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), CustomerID: cust, CustomerName: cust, Title: "t",
			State: hub.StateQueuing, CreatedAt: when}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	msg := func(sid string, by hub.Principal, when time.Time) {
		t.Helper()
		_, _, err := st.AppendMessage(ctx, sid, by, hub.Message{Type: "chat.msg", Text: "x", ClientMsgID: when.String()}, when, time.Hour)
		must(err)
	}
	c1 := hub.Principal{Kind: hub.PrincipalCustomer, ID: "c1"}
	s1 := newSession("c1", at(dayA, 23, 59, 0))
	msg(s1, c1, at(dayA, 23, 59, 5))
	_, err = st.TakeSession(ctx, s1, "a1", "pick", at(dayA, 23, 59, 12)) // waited 12 s
	must(err)
	msg(s1, a1, at(dayA, 23, 59, 45)) // first response 40 s
	s2 := newSession("c2", at(dayB, 0, 1, 0))
	_, err = st.CloseSession(ctx, s2, hub.Principal{Kind: hub.PrincipalCustomer, ID: "c2"}, at(dayB, 0, 1, 30), 30*24*time.Hour)
	must(err) // abandoned
	s3 := newSession("c3", at(dayB, 0, 2, 0))
	_, err = st.TakeSession(ctx, s3, "a1", "pick", at(dayB, 0, 3, 40)) // waited 100 s
	must(err)
	_, err = st.CloseSession(ctx, s1, a1, at(dayB, 0, 4, 12), 30*24*time.Hour)
	must(err) // handled 5 min
	_, err = st.RateSession(ctx, s1, "c1", hub.Rating{Score: 5}, at(dayB, 0, 5, 0))
	must(err)
	_, err = st.CloseSession(ctx, s3, hub.Principal{Kind: hub.PrincipalCustomer, ID: "c3"}, at(dayB, 0, 10, 0), 30*24*time.Hour)
	must(err) // handled 380 s

	base := in.http.URL + "/api/v1/reports/sessions?from=" + dayA.Format("2006-01-02") + "&to=" + dayB.Format("2006-01-02")
	var rep struct {
		From, To, Timezone, Group string
		ServiceLevelS             int64 `json:"service_level_s"`
		Columns                   []string
		Rows                      []map[string]any
		Total                     map[string]any
	}
	if code := httpJSON(t, "GET", base+"&group=day", rtAdminKey, "", &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.Timezone != "Asia/Shanghai" || rep.Group != "day" || rep.ServiceLevelS != 20 || len(rep.Rows) != 2 ||
		rep.From != dayA.Format(time.RFC3339) || rep.To != dayB.AddDate(0, 0, 1).Format(time.RFC3339) {
		t.Fatalf("report head %+v", rep)
	}
	want := func(row map[string]any, fields map[string]any) {
		t.Helper()
		for k, v := range fields {
			if fmt.Sprint(row[k]) != fmt.Sprint(v) {
				t.Errorf("%v: %s = %v, want %v", row["label"], k, row[k], v)
			}
		}
	}
	// 23:59 and 00:01 local are different days.
	want(rep.Rows[0], map[string]any{"label": dayA.Format("2006-01-02"), "created": 1, "answered": 1, "abandoned": 0, "ended": 0,
		"wait_avg_s": 12, "first_response_avg_s": 40, "handle_avg_s": nil, "service_level": 1, "rating_avg": nil})
	want(rep.Rows[1], map[string]any{"label": dayB.Format("2006-01-02"), "created": 2, "answered": 1, "abandoned": 1, "ended": 3,
		"wait_avg_s": 100, "handle_avg_s": 340, "service_level": 0, "abandon_rate": 0.5, "rating_avg": 5, "rating_count": 1, "csat": 1})
	// Over both days: waits of 12 s and 100 s; p50 and p90 read from the
	// histogram's buckets (10,15] and (90,120].
	want(rep.Total, map[string]any{"key": "total", "created": 3, "answered": 2, "abandoned": 1, "wait_avg_s": 56,
		"wait_p50_s": 15, "wait_p90_s": 114, "answered_within_sl": 1, "service_level": 0.333, "abandon_rate": 0.333})

	// The CSV says the same, column by column.
	for _, q := range []string{"&group=day&format=csv", "&group=hour", "&group=agent", "&group=team&sl=120"} {
		var js struct {
			Columns []string
			Rows    []map[string]any
			Total   map[string]any
		}
		jq := strings.Replace(q, "&format=csv", "", 1)
		if code := httpJSON(t, "GET", base+jq, rtAdminKey, "", &js); code != 200 {
			t.Fatalf("%s: %d", jq, code)
		}
		req, _ := http.NewRequest("GET", base+jq, nil)
		req.Header.Set("Authorization", "Bearer "+rtAdminKey)
		req.Header.Set("Accept", "text/csv")
		if strings.Contains(q, "format=csv") {
			req, _ = http.NewRequest("GET", base+q, nil)
			req.Header.Set("Authorization", "Bearer "+rtAdminKey)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment; filename=switchboard-report-") {
			t.Fatalf("%s: %d %v", q, res.StatusCode, res.Header)
		}
		lines, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(lines[0], ",") != strings.Join(js.Columns, ",") || len(lines) != len(js.Rows)+2 {
			t.Fatalf("%s: CSV header %v and %d lines; JSON columns %v and %d rows", q, lines[0], len(lines), js.Columns, len(js.Rows))
		}
		for i, row := range append(js.Rows, js.Total) {
			for j, col := range js.Columns {
				v, ok := row[col]
				if name, isStatus := strings.CutPrefix(col, "status_"); isStatus {
					v, ok = row["status_s"].(map[string]any)[strings.TrimSuffix(name, "_s")]
				}
				if !ok {
					t.Fatalf("%s: JSON row %d has no %s", q, i, col)
				}
				jv := ""
				if v != nil {
					jv = fmt.Sprint(v)
				}
				if lines[i+1][j] != jv {
					t.Errorf("%s row %d %s: CSV %q, JSON %q", q, i, col, lines[i+1][j], jv)
				}
			}
		}
		switch {
		case strings.Contains(q, "hour"):
			if len(js.Rows) != 48 || js.Rows[24]["created"] != float64(2) {
				t.Errorf("by hour: %d rows, 00:00 of the second day %v", len(js.Rows), js.Rows[24])
			}
		case strings.Contains(q, "agent"):
			if len(js.Rows) != 2 || js.Rows[1]["key"] != "a1" || js.Rows[1]["answered"] != float64(2) ||
				js.Rows[1]["status_s"].(map[string]any)["In-call"] != float64(648) {
				t.Errorf("by agent: %v", js.Rows)
			}
		case strings.Contains(q, "sl=120"):
			if js.Total["service_level"] != 0.667 {
				t.Errorf("service level within 120 s: %v", js.Total["service_level"])
			}
		}
	}

	// Supervisors and the admin key only; bad parameters change nothing.
	var nerr struct {
		Error struct{ Code, Message string }
	}
	if code := httpJSON(t, "GET", base, agentToken, "", &nerr); code != http.StatusForbidden || nerr.Error.Message != "supervisors only" {
		t.Errorf("an agent: %d %+v", code, nerr)
	}
	if code := httpJSON(t, "GET", base, "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no key: %d", code)
	}
	for q, msg := range map[string]string{
		"&group=week":                 "group must be hour, day, team or agent",
		"&sl=7":                       "sl must be one of",
		"&format=xml":                 "format must be json or csv",
		"&team=t1&agent=a1":           "filter by team or by agent, not both",
		"&group=hour&from=2020-01-01": "a report by hour covers at most 31 days",
	} {
		url := base + q
		if strings.Contains(q, "from=") {
			url = in.http.URL + "/api/v1/reports/sessions?to=" + dayB.Format("2006-01-02") + q
		}
		nerr.Error.Message = ""
		if code := httpJSON(t, "GET", url, rtAdminKey, "", &nerr); code != http.StatusBadRequest || !strings.HasPrefix(nerr.Error.Message, msg) {
			t.Errorf("%s: %d %q, want 400 %q", q, code, nerr.Error.Message, msg)
		}
	}
	if code := httpJSON(t, "GET", in.http.URL+"/api/v1/reports/sessions?from=tuesday", rtAdminKey, "", &nerr); code != 400 || !strings.Contains(nerr.Error.Message, "from: want a date") {
		t.Errorf("from=tuesday: %d %+v", code, nerr)
	}
	// The session keeps its figures, and the native API shows them.
	var ns struct {
		Figures map[string]any
	}
	if code := httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+s1, rtAdminKey, "", &ns); code != 200 {
		t.Fatalf("session: %d", code)
	}
	if fmt.Sprint(ns.Figures) != "map[abandoned:false agent_ids:[a1] first_response_s:40 handle_s:300 team_id: transfers:0 wait_s:12]" {
		t.Errorf("figures %v", ns.Figures)
	}
	// And the history surface (the customer's past sessions) shows them.
	var past struct {
		Sessions []struct{ Figures map[string]any }
	}
	if code := httpJSON(t, "GET", in.http.URL+"/api/v1/customers/c1/sessions", rtAdminKey, "", &past); code != 200 || len(past.Sessions) != 1 ||
		fmt.Sprint(past.Sessions[0].Figures) != fmt.Sprint(ns.Figures) {
		t.Errorf("past sessions: %d %+v", code, past)
	}
}
