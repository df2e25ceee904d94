package api

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// reportColumns are the figures of a report row, in the order of the CSV
// header and of the JSON columns (docs/reports.md defines each); the
// status_<name>_s columns follow for reports with time in status.
var reportColumns = []string{"key", "label", "created", "answered", "abandoned", "ended", "transfers", "offline",
	"wait_avg_s", "wait_p50_s", "wait_p90_s", "answered_within_sl", "service_level",
	"first_response_avg_s", "first_response_p50_s", "first_response_p90_s", "handle_avg_s",
	"abandon_rate", "rating_avg", "rating_count", "csat"}

// getReport answers GET /api/v1/reports/sessions (and /agents, grouped by
// agent unless told otherwise) in JSON, or in CSV with format=csv or
// Accept: text/csv. The range is from..to, local dates of the hub's time
// zone (to included) or RFC 3339 instants (to excluded); both default to
// today.
func (s *Server) getReport(group string) principalHandler {
	return func(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
		if s.reports == nil {
			s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "reports are not kept here"))
			return
		}
		q, sl, err := s.reportQuery(r, group)
		if err != nil {
			s.nativeErr(w, r, err)
			return
		}
		rep, err := s.reports.Report(r.Context(), q)
		if err != nil {
			s.nativeErr(w, r, err)
			return
		}
		cols := slices.Clone(reportColumns)
		for _, st := range rep.Statuses {
			cols = append(cols, "status_"+st+"_s")
		}
		if wantsCSV(r) {
			name := fmt.Sprintf("switchboard-report-%s-%s-%s.csv", q.Group,
				q.From.In(rep.Location).Format("2006-01-02"), q.To.Add(-time.Nanosecond).In(rep.Location).Format("2006-01-02"))
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
			cw := csv.NewWriter(w)
			cw.Write(cols)
			for _, row := range append(slices.Clone(rep.Rows), rep.Total) {
				vals := reportValues(&row, sl, rep.Statuses)
				line := make([]string, len(vals))
				for i, v := range vals {
					line[i] = csvValue(v)
				}
				cw.Write(line)
			}
			cw.Flush()
			return
		}
		out := reportJSON{From: q.From.In(rep.Location).Format(time.RFC3339), To: q.To.In(rep.Location).Format(time.RFC3339),
			Timezone: rep.Location.String(), Group: q.Group, ServiceLevelS: sl, Columns: cols,
			Rows: make([]reportRow, 0, len(rep.Rows))}
		for i := range rep.Rows {
			out.Rows = append(out.Rows, reportObject(&rep.Rows[i], sl, rep.Statuses, q.Group))
		}
		out.Total = reportObject(&rep.Total, sl, rep.Statuses, q.Group)
		writeJSON(w, http.StatusOK, out)
	}
}

// reportJSON is a report as JSON: its rows and total carry the columns by
// name (the status_<name>_s ones as one status_s object).
type reportJSON struct {
	From          string      `json:"from"`
	To            string      `json:"to"`
	Timezone      string      `json:"timezone"`
	Group         string      `json:"group"`
	ServiceLevelS int64       `json:"service_level_s"`
	Columns       []string    `json:"columns"`
	Rows          []reportRow `json:"rows"`
	Total         reportRow   `json:"total"`
}

// reportRow is a row as a JSON object with its members in column order.
type reportRow struct {
	names []string
	vals  []any
}

func (r reportRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range r.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, err := json.Marshal(r.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func reportObject(row *hub.ReportRow, sl int64, statuses []string, group string) reportRow {
	vals := reportValues(row, sl, statuses)
	out := reportRow{names: slices.Clone(reportColumns), vals: slices.Clone(vals[:len(reportColumns)])}
	if len(statuses) > 0 || group == hub.ReportByAgent {
		st := reportRow{names: statuses, vals: vals[len(reportColumns):]}
		out.names = append(out.names, "status_s")
		out.vals = append(out.vals, st)
	}
	return out
}

// reportValues computes a row's columns: nil where there is nothing to
// average or divide by.
func reportValues(row *hub.ReportRow, sl int64, statuses []string) []any {
	f := &row.ReportFigures
	offered := f.WaitN + f.Abandoned // live sessions with an outcome: answered from the queue, or abandoned
	vals := []any{row.Key, row.Label, f.Created, f.Answered, f.Abandoned, f.Ended, f.Transfers, f.Offline,
		avgSeconds(f.WaitSum, f.WaitN), quantile(&f.Wait, 0.5), quantile(&f.Wait, 0.9), f.Wait.Within(sl), ratio(f.Wait.Within(sl), offered),
		avgSeconds(f.FRTSum, f.FRTN), quantile(&f.FRT, 0.5), quantile(&f.FRT, 0.9), avgSeconds(f.HandleSum, f.HandleN),
		ratio(f.Abandoned, offered), ratioOf(f.RatingSum, f.RatingN, 100), f.RatingN, ratio(f.RatingPos, f.RatingN)}
	for _, st := range statuses {
		vals = append(vals, round3(float64(f.Status[st])/1000))
	}
	return vals
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func avgSeconds(sumMS, n int64) any {
	if n <= 0 {
		return nil
	}
	return round3(float64(sumMS) / float64(n) / 1000)
}

func quantile(h *hub.Histogram, q float64) any {
	v, ok := h.Quantile(q)
	if !ok {
		return nil
	}
	return round3(v)
}

func ratio(a, b int64) any {
	if b <= 0 {
		return nil
	}
	return round3(float64(a) / float64(b))
}

// ratioOf is a/b rounded to 1/scale (an average rating to two decimals).
func ratioOf(a, b int64, scale float64) any {
	if b <= 0 {
		return nil
	}
	return math.Round(float64(a)/float64(b)*scale) / scale
}

func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// wantsCSV reports whether the caller asked for CSV: format=csv, or an
// Accept that names text/csv and not JSON.
func wantsCSV(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "csv":
		return true
	case "json":
		return false
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/csv") && !strings.Contains(accept, "application/json")
}

// reportQuery reads a report's parameters.
func (s *Server) reportQuery(r *http.Request, group string) (hub.ReportQuery, int64, error) {
	v := r.URL.Query()
	loc := s.reports.Location()
	q := hub.ReportQuery{Group: cmp.Or(v.Get("group"), group), Team: v.Get("team"), Agent: v.Get("agent")}
	if f := v.Get("format"); f != "" && f != "csv" && f != "json" {
		return q, 0, hub.Errorf(hub.EINVALID, "format must be json or csv")
	}
	today := s.reports.Today()
	var err error
	if q.From, err = reportTime(v.Get("from"), loc, today, false); err != nil {
		return q, 0, hub.Errorf(hub.EINVALID, "from: %v", err)
	}
	if q.To, err = reportTime(v.Get("to"), loc, today, true); err != nil {
		return q, 0, hub.Errorf(hub.EINVALID, "to: %v", err)
	}
	sl := int64(20)
	if raw := v.Get("sl"); raw != "" {
		sl, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || !slices.Contains(hub.ReportBounds, sl) {
			return q, 0, hub.Errorf(hub.EINVALID, "sl must be one of %v seconds", hub.ReportBounds)
		}
	}
	return q, sl, nil
}

// reportTime reads a range end: a local date (the day's start; with end,
// the next day's: to is inclusive), an RFC 3339 instant, or "" for today.
func reportTime(raw string, loc *time.Location, today time.Time, end bool) (time.Time, error) {
	if raw == "" {
		raw = today.Format("2006-01-02")
	}
	if d, err := time.ParseInLocation("2006-01-02", raw, loc); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a date (YYYY-MM-DD) or an RFC 3339 time, got %q", raw)
	}
	return t, nil
}
