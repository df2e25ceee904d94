package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

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
func (s *Store) reportArg(t time.Time) string {
	return fmt.Sprintf("%d,%d,%d", s.tzOffset(t), s.opts.ReportHours.Milliseconds(), s.opts.ReportDays.Milliseconds())
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

// ReportBuckets implements hub.ReportStore: one pipeline of HGETALLs, one
// per bucket, whatever the number of sessions kept.
func (s *Store) ReportBuckets(ctx context.Context, g hub.ReportGrain, starts []time.Time) ([]hub.ReportBucket, error) {
	pipe := s.rdb.Pipeline()
	out := make([]hub.ReportBucket, len(starts))
	seen := map[int64]bool{}
	reads := make([]func() (map[string]string, error), len(starts))
	for i, t := range starts {
		n := s.bucketNumber(g, t)
		out[i].Start = t
		if seen[n] {
			continue // the hour that a change from summer time repeats: counted once
		}
		seen[n] = true
		reads[i] = pipe.HGetAll(ctx, s.key("rep", string(g), strconv.FormatInt(n, 10))).Result
	}
	if len(seen) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storeError(err)
		}
	}
	for i, read := range reads {
		if read == nil {
			continue
		}
		h, err := read()
		if err != nil {
			return nil, storeError(err)
		}
		out[i].Dims = hub.ParseReportFields(h)
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
