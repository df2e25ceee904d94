package hub

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// The groupings of a report.
const (
	ReportByHour  = "hour"
	ReportByDay   = "day"
	ReportByTeam  = "team"
	ReportByAgent = "agent"
)

// Bounds of a report's range: hours are kept 30 days, days 400 (by default).
const (
	maxHourlyRange = 31 * 24 * time.Hour
	maxDailyRange  = 401 * 24 * time.Hour
)

// ReportQuery is what a report covers: [From, To), which should fall on
// local hours (or days, for every grouping but hour), grouped by Group,
// for one team or one agent when Team or Agent is set.
type ReportQuery struct {
	From, To    time.Time
	Group       string
	Team, Agent string
}

// ReportRow is one line of a report: a bucket (its start as Key), a team
// or an agent ("" for the sessions of none), with its figures.
type ReportRow struct {
	Key, Label string
	ReportFigures
}

// Report is the answer to a ReportQuery.
type Report struct {
	ReportQuery
	Location *time.Location
	Rows     []ReportRow
	Total    ReportRow
	// Statuses are the shown statuses the rows have time in, sorted.
	Statuses []string
}

// Reports reads the figures the transitions keep per hour and day
// (ReportStore) into reports: no session is read, so a report costs the
// same however many sessions are kept.
type Reports struct {
	store  ReportStore
	agents AgentStore
	teams  TeamStore
	loc    *time.Location
	now    func() time.Time
}

// NewReports returns Reports in loc (UTC when nil); now defaults to time.Now.
func NewReports(store ReportStore, agents AgentStore, teams TeamStore, loc *time.Location, now func() time.Time) *Reports {
	if loc == nil {
		loc = time.UTC
	}
	if now == nil {
		now = time.Now
	}
	return &Reports{store: store, agents: agents, teams: teams, loc: loc, now: now}
}

// Location is the time zone of the reports' hours and days.
func (r *Reports) Location() *time.Location { return r.loc }

// Totals returns the whole contact center's figures since reports began.
func (r *Reports) Totals(ctx context.Context) (*ReportFigures, error) {
	return r.store.ReportTotals(ctx)
}

// starts returns the local hours or days that begin in [from, to).
func (r *Reports) starts(g ReportGrain, from, to time.Time) []time.Time {
	var out []time.Time
	if g == GrainHour {
		// Local hours: in a zone 30 or 45 minutes off UTC they do not
		// start on UTC's.
		l := from.In(r.loc)
		for t := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, r.loc); t.Before(to); t = t.Add(time.Hour) {
			if !t.Before(from) {
				out = append(out, t.In(r.loc))
			}
		}
		return out
	}
	y, m, d := from.In(r.loc).Date()
	for t := time.Date(y, m, d, 0, 0, 0, 0, r.loc); t.Before(to); t = t.AddDate(0, 0, 1) {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}

// Report computes the report q asks for.
func (r *Reports) Report(ctx context.Context, q ReportQuery) (*Report, error) {
	g := GrainDay
	limit := maxDailyRange
	switch q.Group {
	case ReportByHour:
		g, limit = GrainHour, maxHourlyRange
	case ReportByDay, ReportByTeam, ReportByAgent:
	default:
		return nil, Errorf(EINVALID, "group must be hour, day, team or agent")
	}
	switch {
	case !q.From.Before(q.To):
		return nil, Errorf(EINVALID, "from must be before to")
	case q.To.Sub(q.From) > limit:
		return nil, Errorf(EINVALID, "a report by %s covers at most %d days", q.Group, int(limit/(24*time.Hour)))
	case q.Team != "" && q.Agent != "":
		return nil, Errorf(EINVALID, "filter by team or by agent, not both")
	}
	starts := r.starts(g, q.From, q.To)
	dim := "*"
	if q.Team != "" {
		dim = "t:" + q.Team
	} else if q.Agent != "" {
		dim = "a:" + q.Agent
	}
	read := dim // hour and day reports read one dimension: their cost is the range's
	if q.Group == ReportByTeam || q.Group == ReportByAgent {
		read = ""
	}
	buckets, err := r.store.ReportBuckets(ctx, g, starts, read)
	if err != nil {
		return nil, err
	}
	var agents []*Agent // their names and current statuses, when the report is by or of agents
	if q.Group == ReportByAgent || q.Agent != "" {
		if agents, err = r.agents.Agents(ctx); err != nil {
			return nil, err
		}
	}
	rep := &Report{ReportQuery: q, Location: r.loc}
	switch q.Group {
	case ReportByHour, ReportByDay:
		layout := "2006-01-02"
		if g == GrainHour {
			layout = "2006-01-02 15:04"
		}
		for _, b := range buckets {
			row := ReportRow{Key: b.Start.Format(time.RFC3339), Label: b.Start.Format(layout)}
			row.Add(b.Dims[dim])
			rep.Rows = append(rep.Rows, row)
		}
		if q.Agent != "" {
			// The status the agent is in now counts up to now.
			for _, a := range agents {
				if a.ID == q.Agent {
					for i := range rep.Rows {
						end := rep.Rows[i].Start(g, r.loc)
						r.openSpan(&rep.Rows[i].ReportFigures, a, end, nextStart(g, end))
					}
				}
			}
		}
	case ReportByTeam:
		rep.Rows = r.byPrefix(buckets, "t:", q.Team, dim)
		names := map[string]string{}
		if teams, err := r.teams.Teams(ctx); err == nil {
			for _, t := range teams {
				names[t.ID] = t.Name
			}
		} else {
			return nil, err
		}
		for i := range rep.Rows {
			rep.Rows[i].Label = cmp.Or(names[rep.Rows[i].Key], rep.Rows[i].Key, "No team")
		}
	case ReportByAgent:
		rep.Rows = r.byPrefix(buckets, "a:", q.Agent, dim)
		names := map[string]string{}
		for _, a := range agents {
			names[a.ID] = a.Name
		}
		for _, a := range agents {
			if a.Role == RoleBot || q.Agent != "" && a.ID != q.Agent {
				continue
			}
			i := slices.IndexFunc(rep.Rows, func(row ReportRow) bool { return row.Key == a.ID })
			if i < 0 {
				rep.Rows = append(rep.Rows, ReportRow{Key: a.ID})
				i = len(rep.Rows) - 1
			}
			r.openSpan(&rep.Rows[i].ReportFigures, a, q.From, q.To)
			if rep.Rows[i].Empty() {
				rep.Rows = slices.Delete(rep.Rows, i, i+1)
			}
		}
		for i := range rep.Rows {
			rep.Rows[i].Label = cmp.Or(names[rep.Rows[i].Key], rep.Rows[i].Key, "No agent")
		}
	}
	rep.Total = ReportRow{Key: "total", Label: "Total"}
	for _, b := range buckets {
		rep.Total.Add(b.Dims[dim])
	}
	seen := map[string]bool{}
	for _, row := range rep.Rows {
		for s := range row.Status {
			seen[s] = true
		}
		if q.Group == ReportByAgent {
			rep.Total.addStatus(row.Status)
		}
	}
	if q.Group != ReportByAgent && q.Agent != "" {
		rep.Total.Status = nil
		for _, row := range rep.Rows {
			rep.Total.addStatus(row.Status)
		}
	}
	for s := range seen {
		rep.Statuses = append(rep.Statuses, s)
	}
	slices.Sort(rep.Statuses)
	return rep, nil
}

// Start is the start of a bucket row (its Key).
func (row *ReportRow) Start(_ ReportGrain, loc *time.Location) time.Time {
	t, _ := time.Parse(time.RFC3339, row.Key)
	return t.In(loc)
}

func nextStart(g ReportGrain, t time.Time) time.Time {
	if g == GrainHour {
		return t.Add(time.Hour)
	}
	return t.AddDate(0, 0, 1)
}

func (f *ReportFigures) addStatus(st map[string]int64) {
	for s, v := range st {
		if f.Status == nil {
			f.Status = map[string]int64{}
		}
		f.Status[s] += v
	}
}

// byPrefix sums the buckets' dimensions that start with prefix (teams or
// agents) into one row each, sorted by key, with a row "" for the rest of
// all (the sessions of no team, or of no agent) when it counted anything.
// only keeps one of them.
func (r *Reports) byPrefix(buckets []ReportBucket, prefix, only, all string) []ReportRow {
	sums := map[string]*ReportFigures{}
	rest := &ReportFigures{}
	for _, b := range buckets {
		rest.Add(b.Dims["*"])
		for dim, f := range b.Dims {
			key, ok := strings.CutPrefix(dim, prefix)
			if !ok {
				continue
			}
			if sums[key] == nil {
				sums[key] = &ReportFigures{}
			}
			sums[key].Add(f)
			rest.Sub(f)
		}
	}
	var rows []ReportRow
	for key, f := range sums {
		if only == "" || key == only {
			rows = append(rows, ReportRow{Key: key, ReportFigures: *f})
		}
	}
	rest.Status = nil
	if only == "" && all == "*" && !rest.Empty() {
		rows = append(rows, ReportRow{Key: "", ReportFigures: *rest})
	}
	slices.SortFunc(rows, func(a, b ReportRow) int { return strings.Compare(a.Key, b.Key) })
	return rows
}

// openSpan adds the time agent a has spent in its current status since
// it began, within [from, to) and up to now: the transitions count a
// status's time when it ends.
func (r *Reports) openSpan(f *ReportFigures, a *Agent, from, to time.Time) {
	if a.StatusSince.IsZero() || a.Status == "" {
		return
	}
	lo := maxTime(a.StatusSince, from)
	hi := minTime(r.now(), to)
	if hi.After(lo) {
		f.addStatus(map[string]int64{a.Status: hi.Sub(lo).Milliseconds()})
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Today is the start of today in the reports' time zone.
func (r *Reports) Today() time.Time {
	y, m, d := r.now().In(r.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, r.loc)
}
