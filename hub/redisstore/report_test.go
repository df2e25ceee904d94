package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// The scripted day of TestReportsScriptedDay: what each session does and
// when, from which the test computes every report figure by brute force.
type dayPlan struct {
	created  time.Time
	offline  bool
	custMsgs []time.Time // the customer's messages
	take     time.Time   // zero: never answered
	agent    string      // who takes it
	replies  []time.Time // the agent's messages (by the holder at that moment)
	transfer time.Time   // zero: none
	to       string
	end      time.Time
	endBy    string // "customer", "agent" or "system"
	rated    time.Time
	score    int

	id string // the session, once created
}

// dayOp is one step of the scripted day, run in time order.
type dayOp struct {
	at  time.Time
	seq int
	run func(st *redisstore.Store)
}

// TestReportsScriptedDay runs a contact center's day (260 sessions, four
// agents in two teams, a lunch break, transfers, abandoned chats, offline
// messages, ratings) through two store instances on one Redis, with the
// times passed to the scripts, and checks every report figure (counts,
// averages, percentiles from the histograms, service level, time in each
// status) by hour, by day, by team and by agent against a brute-force
// computation over the same script. The time zone is Asia/Shanghai, and
// two sessions at 23:59 and 00:01 local time land in different days.
func TestReportsScriptedDay(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	t.Logf("redis: %s", r.Kind())
	var st [2]*redisstore.Store
	for i := range st {
		if st[i], err = redisstore.New(r.NewClient(), redisstore.Options{Prefix: r.Prefix, Location: loc}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// Three days ago: the scripts get these times, and Redis expires the
	// hourly figures 30 days after their hour by its own clock.
	y, m, d := time.Now().In(loc).AddDate(0, 0, -3).Date()
	day0 := time.Date(y, m, d, 0, 0, 0, 0, loc)
	at := func(h, m, s int) time.Time {
		return day0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
	}
	pol := hub.DeskPolicy{PresenceTTL: 48 * time.Hour, SkipFor: time.Minute} // no offers: picks and direct transfers

	teams := map[string]string{"a1": "t1", "a2": "t1", "a3": "t2", "a4": "t2"} // each agent's first team
	for _, tm := range []*hub.Team{{ID: "t1", Name: "Sales"}, {ID: "t2", Name: "Support"}} {
		if _, err := st[0].PutTeam(ctx, tm, true); err != nil {
			t.Fatal(err)
		}
	}
	agentTeams := map[string][]string{"a1": {"t1"}, "a2": {"t1"}, "a3": {"t2"}, "a4": {"t2", "t1"}}
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		if err := st[1].PutAgent(ctx, &hub.Agent{ID: id, Name: "Agent " + id, Role: hub.RoleAgent, Capacity: 50,
			TeamIDs: agentTeams[id], CreatedAt: at(6, 0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	connectAt := map[string]time.Time{"a1": at(7, 0, 0), "a2": at(7, 0, 0), "a3": at(7, 30, 0), "a4": at(9, 30, 0)}
	disconnectAt := at(23, 30, 0)
	lunchFrom, lunchTo := at(12, 0, 0), at(13, 0, 0) // a2 shows "lunch"

	// The plan.
	rng := rand.New(rand.NewPCG(18, 2026))
	secs := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second }
	online := func(a string, from, to time.Time) bool {
		if from.Before(connectAt[a]) || !to.Before(disconnectAt) {
			return false
		}
		return a != "a2" || !to.After(lunchFrom.Add(-time.Minute)) || !from.Before(lunchTo.Add(time.Minute))
	}
	pickAgent := func(from, to time.Time, not string) string {
		for range 20 {
			a := []string{"a1", "a2", "a3", "a4"}[rng.IntN(4)]
			if a != not && online(a, from, to) {
				return a
			}
		}
		return ""
	}
	var plans []*dayPlan
	for i := range 258 {
		p := &dayPlan{created: at(8, 0, 0).Add(time.Duration(i)*200*time.Second + secs(0, 100))}
		plans = append(plans, p)
		switch kind := rng.IntN(100); {
		case i%40 == 7: // an offline message, picked up two hours later
			p.offline = true
			p.take = p.created.Add(2 * time.Hour)
			p.end = p.take.Add(secs(60, 600))
			if p.agent = pickAgent(p.take, p.end, ""); p.agent == "" {
				p.offline, p.take = false, time.Time{}
				p.end, p.endBy = p.created.Add(secs(20, 200)), "customer"
				continue
			}
			p.replies = []time.Time{p.take.Add(secs(5, 60))}
			p.endBy = "agent"
		case kind < 15: // abandoned: the customer leaves before any agent answers
			if rng.IntN(4) > 0 {
				p.custMsgs = []time.Time{p.created.Add(secs(1, 10))}
			}
			p.end, p.endBy = p.created.Add(secs(15, 700)), "customer"
		case kind < 17: // closed unanswered by the hub
			p.end, p.endBy = p.created.Add(secs(30, 300)), "system"
		default:
			p.take = p.created.Add(secs(1, 1500))
			handle := secs(60, 1800)
			p.end = p.take.Add(handle)
			if p.agent = pickAgent(p.take, p.end, ""); p.agent == "" {
				p.take, p.end, p.endBy = time.Time{}, p.created.Add(secs(15, 700)), "customer"
				continue
			}
			reply := p.take.Add(secs(1, 50))
			if rng.IntN(10) == 0 { // the agent greets first; the customer's first message comes after
				p.replies = []time.Time{p.take.Add(5 * time.Second)}
				p.custMsgs = []time.Time{p.take.Add(20 * time.Second)}
				reply = p.take.Add(secs(21, 55))
			} else {
				p.custMsgs = []time.Time{p.created.Add(secs(0, min(30, int(p.take.Sub(p.created)/time.Second))))}
			}
			p.replies = append(p.replies, reply, reply.Add(10*time.Second))
			p.custMsgs = append(p.custMsgs, reply.Add(5*time.Second))
			if rng.IntN(8) == 0 {
				p.transfer = reply.Add(30 * time.Second)
				if p.to = pickAgent(p.transfer, p.end, p.agent); p.to == "" || !p.transfer.Before(p.end.Add(-time.Second)) {
					p.transfer, p.to = time.Time{}, ""
				}
			}
			p.endBy = []string{"agent", "agent", "customer"}[rng.IntN(3)]
		}
		if !p.take.IsZero() && rng.IntN(5) < 2 {
			p.rated, p.score = p.end.Add(10*time.Second), 1+rng.IntN(5)
		}
	}
	// Two sessions either side of local midnight, both abandoned.
	plans = append(plans,
		&dayPlan{created: at(23, 59, 0), end: at(23, 59, 40), endBy: "customer"},
		&dayPlan{created: at(24, 1, 0), end: at(24, 1, 30), endBy: "customer"})

	// The ops, in time order, alternately on the two instances.
	var ops []dayOp
	add := func(when time.Time, run func(st *redisstore.Store)) {
		ops = append(ops, dayOp{at: when, seq: len(ops), run: run})
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var now time.Time
	for a, when := range connectAt {
		add(when, func(s *redisstore.Store) {
			must("connect "+a, s.Connect(ctx, hub.Presence{AgentID: a, ConnID: "c-" + a, IP: "10.0.0.1"}, now, pol))
		})
		add(disconnectAt, func(s *redisstore.Store) {
			must("disconnect "+a, s.Disconnect(ctx, hub.Presence{AgentID: a, ConnID: "c-" + a}, now, pol))
		})
	}
	add(lunchFrom, func(s *redisstore.Store) {
		_, err := s.SetStatus(ctx, []string{"a2"}, "lunch", true, now)
		must("lunch", err)
	})
	add(lunchTo, func(s *redisstore.Store) {
		_, err := s.SetStatus(ctx, []string{"a2"}, hub.AgentAvailable, true, now)
		must("back", err)
	})
	msgN := 0
	for i, p := range plans {
		cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: fmt.Sprintf("cust-%d", i), Name: "C"}
		add(p.created, func(s *redisstore.Store) {
			sess, err := s.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), CustomerID: cust.ID, CustomerName: "C",
				Title: fmt.Sprint(i), State: hub.StateQueuing, CreatedAt: now, Offline: p.offline}, 0)
			must("create", err)
			p.id = sess.ID
		})
		send := func(by hub.Principal) func(s *redisstore.Store) {
			return func(s *redisstore.Store) {
				msgN++
				_, _, err := s.AppendMessage(ctx, p.id, by, hub.Message{Type: "chat.msg", Text: "hi", ClientMsgID: fmt.Sprint("m", msgN)}, now, time.Hour)
				must("message", err)
			}
		}
		for _, m := range p.custMsgs {
			add(m, send(cust))
		}
		if !p.take.IsZero() {
			add(p.take, func(s *redisstore.Store) { _, err := s.TakeSession(ctx, p.id, p.agent, "pick", now); must("pick", err) })
		}
		for _, m := range p.replies {
			who := p.agent
			if !p.transfer.IsZero() && !m.Before(p.transfer) {
				who = p.to
			}
			add(m, send(hub.Principal{Kind: hub.PrincipalAgent, ID: who, Role: hub.RoleAgent}))
		}
		if !p.transfer.IsZero() {
			add(p.transfer, func(s *redisstore.Store) {
				_, err := s.Transfer(ctx, p.id, hub.Principal{Kind: hub.PrincipalAgent, ID: p.agent, Role: hub.RoleAgent},
					hub.Transfer{AgentID: p.to}, now, pol)
				must("transfer", err)
			})
		}
		add(p.end, func(s *redisstore.Store) {
			by := hub.SystemPrincipal
			switch p.endBy {
			case "customer":
				by = cust
			case "agent":
				by = hub.Principal{Kind: hub.PrincipalAgent, ID: p.holder(), Role: hub.RoleAgent}
			}
			_, err := s.CloseSession(ctx, p.id, by, now, 30*24*time.Hour)
			must("close "+p.endBy, err)
		})
		if !p.rated.IsZero() {
			add(p.rated, func(s *redisstore.Store) {
				_, err := s.RateSession(ctx, p.id, cust.ID, hub.Rating{Score: p.score}, now)
				must("rate", err)
			})
		}
	}
	slices.SortStableFunc(ops, func(a, b dayOp) int { return a.at.Compare(b.at) })
	for i, op := range ops {
		now = op.at
		op.run(st[i%2])
	}
	t.Logf("%d sessions, %d steps", len(plans), len(ops))

	// The brute force: every figure from the plan.
	type key struct{ grain, bucket, dim string }
	want := map[key]*hub.ReportFigures{}
	waits := map[key][]int64{}
	frts := map[key][]int64{}
	hourOf := func(t time.Time) string { return t.In(loc).Truncate(time.Hour).Format(time.RFC3339) }
	dayOf := func(t time.Time) string {
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc).Format(time.RFC3339)
	}
	count := func(when time.Time, team, agent string, f func(*hub.ReportFigures, key)) {
		dims := []string{"*"}
		if team != "" {
			dims = append(dims, "t:"+team)
		}
		if agent != "" {
			dims = append(dims, "a:"+agent)
		}
		for _, dim := range dims {
			for _, k := range []key{{"h", hourOf(when), dim}, {"d", dayOf(when), dim}} {
				if want[k] == nil {
					want[k] = &hub.ReportFigures{}
				}
				f(want[k], k)
			}
		}
	}
	var abandoned, answered, transferred, rated int
	for _, p := range plans {
		team := ""
		count(p.created, "", "", func(f *hub.ReportFigures, _ key) {
			f.Created++
			if p.offline {
				f.Offline++
			}
		})
		if !p.take.IsZero() {
			answered++
			team = teams[p.agent]
			wait := p.take.Sub(p.created).Milliseconds()
			count(p.take, team, p.agent, func(f *hub.ReportFigures, k key) {
				f.Answered++
				if !p.offline {
					f.WaitN++
					f.WaitSum += wait
					waits[k] = append(waits[k], wait)
				}
			})
			// The first reply after the customer's first message.
			if len(p.custMsgs) > 0 {
				first := slices.MinFunc(p.custMsgs, time.Time.Compare)
				for _, m := range p.replies {
					if m.After(first) {
						frt := m.Sub(first).Milliseconds()
						count(m, team, p.agent, func(f *hub.ReportFigures, k key) {
							f.FRTN++
							f.FRTSum += frt
							frts[k] = append(frts[k], frt)
						})
						break
					}
				}
			}
			if !p.transfer.IsZero() {
				transferred++
				count(p.transfer, team, p.agent, func(f *hub.ReportFigures, _ key) { f.Transfers++ })
			}
		}
		holder := p.holder()
		count(p.end, team, holder, func(f *hub.ReportFigures, _ key) {
			f.Ended++
			if !p.take.IsZero() {
				f.HandleN++
				f.HandleSum += p.end.Sub(p.take).Milliseconds()
			} else if p.endBy == "customer" {
				f.Abandoned++
			}
		})
		if p.take.IsZero() && p.endBy == "customer" {
			abandoned++
		}
		if !p.rated.IsZero() {
			rated++
			count(p.rated, team, holder, func(f *hub.ReportFigures, _ key) {
				f.RatingN++
				f.RatingSum += int64(p.score)
				if p.score >= 4 {
					f.RatingPos++
				}
			})
		}
	}
	for k, ws := range waits {
		for _, w := range ws {
			want[k].Wait.Counts[bucketOf(w)]++
		}
	}
	for k, fs := range frts {
		for _, v := range fs {
			want[k].FRT.Counts[bucketOf(v)]++
		}
	}
	if len(plans) < 200 || abandoned < 20 || answered < 150 || transferred < 10 || rated < 40 {
		t.Fatalf("the script is too thin: %d sessions, %d abandoned, %d answered, %d transferred, %d rated",
			len(plans), abandoned, answered, transferred, rated)
	}

	// Time in status, from each agent's timeline: Offline until it
	// connects, then In-call while it holds a session (in Agent), else what
	// it chose, Offline again from the disconnect.
	reportNow := at(26, 0, 0) // the reports are read at 02:00 the next day
	statusMS := map[key]map[string]int64{}
	for a := range connectAt {
		type change struct {
			at    time.Time
			delta int
			lunch int // +1 lunch begins, -1 ends
			conn  int // +1 connect, -1 disconnect
		}
		var cs []change
		cs = append(cs, change{at: connectAt[a], conn: 1}, change{at: disconnectAt, conn: -1})
		if a == "a2" {
			cs = append(cs, change{at: lunchFrom, lunch: 1}, change{at: lunchTo, lunch: -1})
		}
		for _, p := range plans {
			switch {
			case p.take.IsZero():
			case !p.transfer.IsZero() && p.agent == a:
				cs = append(cs, change{at: p.take, delta: 1}, change{at: p.transfer, delta: -1})
			case !p.transfer.IsZero() && p.to == a:
				cs = append(cs, change{at: p.transfer, delta: 1}, change{at: p.end, delta: -1})
			case p.agent == a:
				cs = append(cs, change{at: p.take, delta: 1}, change{at: p.end, delta: -1})
			}
		}
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].at.Before(cs[j].at) })
		status, since := "Offline", cs[0].at // the time before the first connect is not counted (the agent was made at 06:00: it is)
		since = at(6, 0, 0)
		active, lunch, conn := 0, false, false
		credit := func(from, to time.Time, s string) {
			for t := from; t.Before(to); {
				next := t.In(loc).Truncate(time.Hour).Add(time.Hour)
				end := next
				if to.Before(end) {
					end = to
				}
				for _, k := range []key{{"h", hourOf(t), "a:" + a}, {"d", dayOf(t), "a:" + a}} {
					if statusMS[k] == nil {
						statusMS[k] = map[string]int64{}
					}
					statusMS[k][s] += end.Sub(t).Milliseconds()
				}
				t = end
			}
		}
		for _, c := range cs {
			active += c.delta
			conn = conn || c.conn > 0
			if c.conn < 0 {
				conn = false
			}
			lunch = lunch && c.lunch >= 0 || c.lunch > 0
			next := "Offline"
			switch {
			case !conn:
			case active > 0:
				next = "In-call"
			case lunch:
				next = "lunch"
			default:
				next = "Available"
			}
			if next != status {
				credit(since, c.at, status)
				status, since = next, c.at
			}
		}
		credit(since, reportNow, status)
	}

	reports := hub.NewReports(st[0], st[0], st[0], loc, func() time.Time { return reportNow })
	check := func(what string, got *hub.ReportFigures, k key) {
		t.Helper()
		w := want[k]
		if w == nil {
			w = &hub.ReportFigures{}
		}
		gotStatus, wantStatus := got.Status, statusMS[k]
		g, e := *got, *w
		g.Status, e.Status = nil, nil
		if fmt.Sprint(g) != fmt.Sprint(e) {
			t.Errorf("%s: figures\n got %+v\nwant %+v", what, g, e)
		}
		for s, ms := range wantStatus {
			if gotStatus[s] != ms {
				t.Errorf("%s: %s for %d ms, want %d", what, s, gotStatus[s], ms)
			}
		}
		for s, ms := range gotStatus {
			if _, ok := wantStatus[s]; !ok && ms != 0 {
				t.Errorf("%s: %s for %d ms, want none", what, s, ms)
			}
		}
		checkQuantiles(t, what+" wait", &got.Wait, waits[k])
		checkQuantiles(t, what+" first response", &got.FRT, frts[k])
	}

	// By hour, for all and for each team and agent.
	for _, dim := range []string{"*", "t:t1", "t:t2", "a:a1", "a:a2", "a:a3", "a:a4"} {
		q := hub.ReportQuery{From: day0, To: day0.AddDate(0, 0, 1), Group: hub.ReportByHour}
		switch dim[0] {
		case 't':
			q.Team = dim[2:]
		case 'a':
			q.Agent = dim[2:]
		}
		rep, err := reports.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 24 {
			t.Fatalf("%s by hour: %d rows, want 24", dim, len(rep.Rows))
		}
		for _, row := range rep.Rows {
			check(dim+" "+row.Label, &row.ReportFigures, key{"h", row.Key, dim})
		}
		check(dim+" day total", &rep.Total.ReportFigures, key{"d", day0.Format(time.RFC3339), dim})
	}
	// By day across midnight: the sessions at 23:59 and 00:01 are in
	// different days.
	rep, err := reports.Report(ctx, hub.ReportQuery{From: day0, To: day0.AddDate(0, 0, 2), Group: hub.ReportByDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[1].Created != 1 || rep.Rows[1].Abandoned != 1 || rep.Rows[0].Created != int64(len(plans)-1) {
		t.Fatalf("by day: %+v", rep.Rows)
	}
	for _, row := range rep.Rows {
		check("day "+row.Label, &row.ReportFigures, key{"d", row.Key, "*"})
	}
	// By team and by agent over the day.
	for _, g := range []string{hub.ReportByTeam, hub.ReportByAgent} {
		rep, err := reports.Report(ctx, hub.ReportQuery{From: day0, To: day0.AddDate(0, 0, 1), Group: g})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, row := range rep.Rows {
			keys = append(keys, row.Key)
			if row.Key == "" {
				continue // the sessions of no team or agent: all minus the rest, checked by the sum below
			}
			check(g+" "+row.Label, &row.ReportFigures, key{"d", day0.Format(time.RFC3339), string(g[0]) + ":" + row.Key})
		}
		wantKeys := []string{"", "t1", "t2"}
		if g == hub.ReportByAgent {
			wantKeys = []string{"", "a1", "a2", "a3", "a4"}
		}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("%s rows %q, want %q", g, keys, wantKeys)
		}
		sum := &hub.ReportFigures{}
		for _, row := range rep.Rows {
			if g == hub.ReportByTeam || row.Key == "" {
				sum.Add(&row.ReportFigures)
			}
		}
		if g == hub.ReportByTeam {
			sum.Status = nil
			if fmt.Sprint(*sum) != fmt.Sprint(*want[key{"d", day0.Format(time.RFC3339), "*"}]) {
				t.Errorf("the teams' rows do not add up to the day's")
			}
		}
	}
	// The session keeps its own figures.
	for _, p := range plans[:40] {
		s, err := st[1].Session(ctx, p.id)
		if err != nil {
			t.Fatal(err)
		}
		f := s.Figures
		if p.take.IsZero() {
			if f.Wait != nil || f.Handle != nil || f.Abandoned != (p.endBy == "customer") || f.Team != "" {
				t.Errorf("unanswered session %s figures %+v", p.id, f)
			}
			continue
		}
		if *f.Wait != p.take.Sub(p.created) || *f.Handle != p.end.Sub(p.take) || f.Abandoned || f.Team != teams[p.agent] ||
			(f.Transfers == 1) != !p.transfer.IsZero() || f.Agents[0] != p.agent {
			t.Errorf("session %s figures %+v (wait %v handle %v), plan %+v", p.id, f, *f.Wait, *f.Handle, p)
		}
	}
	// The totals (what /metrics exports) count the whole script.
	tot, err := st[1].ReportTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Created != int64(len(plans)) || tot.Abandoned != int64(abandoned) || tot.Answered != int64(answered) || tot.Transfers != int64(transferred) || tot.RatingN != int64(rated) {
		t.Errorf("totals %+v; want %d created, %d abandoned, %d answered, %d transferred, %d rated", tot, len(plans), abandoned, answered, transferred, rated)
	}
}

// holder is the agent who holds the session at its end.
func (p *dayPlan) holder() string {
	if p.to != "" {
		return p.to
	}
	return p.agent
}

// bucketOf is the histogram bucket of a duration in ms.
func bucketOf(ms int64) int {
	for i, b := range hub.ReportBounds {
		if ms <= b*1000 {
			return i
		}
	}
	return len(hub.ReportBounds)
}

// checkQuantiles checks the p50 and p90 read from the histogram against
// the exact ones (nearest rank): within the bucket that holds the exact one.
func checkQuantiles(t *testing.T, what string, h *hub.Histogram, vals []int64) {
	t.Helper()
	if len(vals) == 0 {
		if _, ok := h.Quantile(0.5); ok {
			t.Errorf("%s: a quantile without values", what)
		}
		return
	}
	sorted := slices.Sorted(slices.Values(vals))
	for _, q := range []float64{0.5, 0.9} {
		exact := sorted[int(math.Ceil(q*float64(len(sorted))))-1]
		b := bucketOf(exact)
		lo, hi := 0.0, math.Inf(1)
		if b > 0 {
			lo = float64(hub.ReportBounds[b-1])
		}
		if b < len(hub.ReportBounds) {
			hi = float64(hub.ReportBounds[b])
		}
		got, ok := h.Quantile(q)
		if !ok || got < lo || got > hi {
			t.Errorf("%s p%.0f = %v, the exact %v ms is in (%v, %v] s", what, q*100, got, exact, lo, hi)
		}
	}
	// Service level at each bound: exact.
	for _, sl := range hub.ReportBounds {
		var n int64
		for _, v := range vals {
			if v <= sl*1000 {
				n++
			}
		}
		if got := h.Within(sl); got != n {
			t.Errorf("%s within %d s: %d, want %d", what, sl, got, n)
		}
	}
}

// TestReportsAgentFromBefore: an agent kept by a version before reports
// has no status_since; its first status change counts nothing (its time
// in the status it leaves is unknown) and starts the count, and its
// sessions without figures read as such.
func TestReportsAgentFromBefore(t *testing.T) {
	d := newDeskFix(t, hub.DeskPolicy{PresenceTTL: time.Hour})
	d.now = time.Now().Add(-3 * time.Hour).Truncate(time.Hour) // within the hourly figures' retention
	day := d.now.Truncate(24 * time.Hour)
	d.agent("old", 2, hub.RoleAgent)
	d.agent("new", 2, hub.RoleAgent)
	if err := d.r.Client.HDel(d.ctx, d.key("agent", "old"), "status_since").Err(); err != nil {
		t.Fatal(err)
	}
	if err := d.r.Client.HSet(d.ctx, d.key("agent", "new"), "status_since", d.now.UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	d.advance(time.Hour)
	d.connect("old", "c1") // Offline -> Available: the hour Offline is not known, not counted
	d.connect("new", "c2") // the same, counted for the agent that knows since when
	d.advance(90 * time.Second)
	d.disconnect("old", "c1") // Available -> Offline: 90 s counted
	d.disconnect("new", "c2")
	rows, err := hub.NewReports(d.st, d.st, d.st, time.UTC, func() time.Time { return d.now }).Report(d.ctx,
		hub.ReportQuery{From: day, To: day.AddDate(0, 0, 2), Group: hub.ReportByAgent})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Rows) != 2 || rows.Rows[1].Key != "old" || rows.Rows[1].Status["Available"] != 90_000 || rows.Rows[1].Status["Offline"] != 0 ||
		rows.Rows[0].Status["Available"] != 90_000 || rows.Rows[0].Status["Offline"] != 3_600_000 {
		t.Fatalf("rows %+v", rows.Rows)
	}
}

// TestReportsHalfHourZone: in Asia/Kolkata (UTC+5:30) a session created at
// 10:40 local counts in the 10:00 local hour, which starts at 04:30 UTC.
func TestReportsHalfHourZone(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	y, m, d := time.Now().In(loc).AddDate(0, 0, -1).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if _, err := st.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), CustomerID: "c", CustomerName: "C",
		State: hub.StateQueuing, CreatedAt: day.Add(10*time.Hour + 40*time.Minute)}, 0); err != nil {
		t.Fatal(err)
	}
	rep, err := hub.NewReports(st, st, st, loc, nil).Report(ctx, hub.ReportQuery{From: day, To: day.AddDate(0, 0, 1), Group: hub.ReportByHour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 24 || rep.Rows[10].Label != day.Format("2006-01-02")+" 10:00" || rep.Rows[10].Created != 1 || rep.Total.Created != 1 {
		t.Fatalf("rows %d, row 10 %q created %d, total %d", len(rep.Rows), rep.Rows[10].Label, rep.Rows[10].Created, rep.Total.Created)
	}
}
