package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

var _ hub.ReportStore = (*Store)(nil)

// tzOffset is the offset (ms) of the reports' time zone at t: what the
// scripts add to a Unix time to number its local hour and day.
func (s *Store) tzOffset(t time.Time) int64 {
	_, off := t.In(s.opts.Location).Zone()
	return int64(off) * 1000
}

// reportArg is the report context of message.lua: "tz_ms,rh_ms,rd_ms".
// Every message sends it, so it is appended, not formatted (one allocation
// where fmt.Sprintf made three).
func (s *Store) reportArg(t time.Time) string {
	b := make([]byte, 0, 40)
	b = strconv.AppendInt(b, s.tzOffset(t), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.opts.ReportHours.Milliseconds(), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.opts.ReportDays.Milliseconds(), 10)
	return string(b)
}

// bucketNumber is the number the scripts give the hour or day holding t:
// whole hours or days since the Unix epoch, counted in local time.
func (s *Store) bucketNumber(g hub.ReportGrain, t time.Time) int64 {
	span := int64(time.Hour / time.Millisecond)
	if g == hub.GrainDay {
		span *= 24
	}
	local := t.UnixMilli() + s.tzOffset(t)
	n := local / span
	if local < 0 && local%span != 0 {
		n--
	}
	return n
}

var reportReadScript = script("report_read")

// ReportBuckets implements hub.ReportStore, in one round trip whatever the
// number of sessions kept. For the whole contact center or a team it is
// one script (lua/report_read.lua) reading that dimension's figures in
// every bucket: its cost is the range's alone. An agent's status names
// are not known in advance, and every dimension is every team's and
// agent's: those read whole hashes (a pipeline of HGETALLs), which grow
// with the number of teams and agents, not of sessions.
func (s *Store) ReportBuckets(ctx context.Context, g hub.ReportGrain, starts []time.Time, dim string) ([]hub.ReportBucket, error) {
	out := make([]hub.ReportBucket, len(starts))
	var keys []string
	at := make([]int, len(starts)) // the index in keys of each bucket's hash; -1 for a repeated one
	seen := map[int64]bool{}
	for i, t := range starts {
		out[i].Start = t
		n := s.bucketNumber(g, t)
		at[i] = -1
		if seen[n] {
			continue // the hour that a change from summer time repeats: counted once
		}
		seen[n] = true
		at[i] = len(keys)
		keys = append(keys, s.key("rep", string(g), strconv.FormatInt(n, 10)))
	}
	if len(keys) == 0 {
		return out, nil
	}
	kind, id, _ := strings.Cut(dim, ":")
	if kind == "*" || kind == "t" {
		// One dimension of the contact center's or the teams' hashes.
		args := make([]any, len(hub.ReportFigureNames))
		for i, name := range hub.ReportFigureNames {
			args[i] = name
			if kind == "t" {
				args[i] = id + "|" + name
			}
		}
		hkeys := keys
		if kind == "t" {
			hkeys = make([]string, len(keys))
			for i, k := range keys {
				hkeys[i] = k + ":t"
			}
		}
		res, err := reportReadScript.Run(ctx, s.rdb, hkeys, args...).Slice()
		if err != nil {
			return nil, scriptError(err)
		}
		for i := range out {
			if at[i] < 0 || at[i] >= len(res) {
				continue
			}
			vals, _ := res[at[i]].([]any)
			f := &hub.ReportFigures{}
			for j, v := range vals {
				if n, ok := v.(int64); ok && j < len(hub.ReportFigureNames) {
					f.SetIndex(j, n)
				}
			}
			out[i].Dims = map[string]*hub.ReportFigures{dim: f}
		}
		return out, nil
	}
	// Every dimension (dim ""), or one agent's: the whole hashes.
	suffixes := map[string]string{"": "", "t": ":t", "a": ":a"}
	if kind == "a" {
		suffixes = map[string]string{"a": ":a"}
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]map[string]*redis.MapStringStringCmd, len(keys))
	for i, key := range keys {
		cmds[i] = map[string]*redis.MapStringStringCmd{}
		for k, suffix := range suffixes {
			cmds[i][k] = pipe.HGetAll(ctx, key+suffix)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storeError(err)
	}
	for i := range out {
		if at[i] < 0 {
			continue
		}
		dims := map[string]*hub.ReportFigures{}
		for k, cmd := range cmds[at[i]] {
			hub.ParseReportFields(dims, k, cmd.Val())
		}
		if dim != "" {
			dims = map[string]*hub.ReportFigures{dim: dims[dim]}
		}
		out[i].Dims = dims
	}
	return out, nil
}

// ReportTotals implements hub.ReportStore: the figures of the whole
// contact center since reports began (what /metrics exports).
func (s *Store) ReportTotals(ctx context.Context) (*hub.ReportFigures, error) {
	h, err := s.rdb.HGetAll(ctx, s.key("rep", "total")).Result()
	if err != nil {
		return nil, storeError(err)
	}
	f := &hub.ReportFigures{}
	for name, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		f.Set(name, n)
	}
	return f, nil
}
