package hub

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ReportBounds are the upper bounds, in seconds, of the buckets of the
// wait and first-response histograms kept per hour and day (lua/lib.lua
// keeps the same list); a last bucket holds what is longer. A percentile
// read from them is exact to within its bucket, and "answered within N
// seconds" is exact for N among them.
var ReportBounds = []int64{5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600}

// ReportGrain is the length of a report bucket.
type ReportGrain string

// The report buckets: local hours and local days of the hub's time zone.
const (
	GrainHour ReportGrain = "h"
	GrainDay  ReportGrain = "d"
)

// Histogram counts durations by ReportBounds: Counts[i] is how many were
// at most ReportBounds[i] seconds and more than the bound before;
// Counts[len(ReportBounds)] how many were longer than the last.
type Histogram struct {
	Counts [16]int64
}

// Quantile estimates the q-quantile (0 < q <= 1) in seconds the way
// Prometheus's histogram_quantile does: linearly within the bucket that
// holds it; the last bound for a value past it. ok is false without values.
func (h *Histogram) Quantile(q float64) (float64, bool) {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var cum int64
	for i, c := range h.Counts {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i == len(ReportBounds) {
			return float64(ReportBounds[i-1]), true
		}
		lo := 0.0
		if i > 0 {
			lo = float64(ReportBounds[i-1])
		}
		hi := float64(ReportBounds[i])
		return lo + (hi-lo)*(rank-float64(cum))/float64(c), true
	}
	return float64(ReportBounds[len(ReportBounds)-1]), true
}

// Within returns how many values were at most s seconds, s being one of
// ReportBounds (a value between two bounds counts up to the lower one).
func (h *Histogram) Within(s int64) int64 {
	var n int64
	for i, b := range ReportBounds {
		if b > s {
			break
		}
		n += h.Counts[i]
	}
	return n
}

func (h *Histogram) add(o *Histogram, sign int64) {
	for i := range h.Counts {
		h.Counts[i] += sign * o.Counts[i]
	}
}

// ReportFigureNames are the names of the figures every dimension may
// have (agents' st:<status> aside).
var ReportFigureNames = func() []string {
	names := []string{"created", "offline", "answered", "abandoned", "ended", "transfers", "wait_sum", "wait_n",
		"frt_sum", "frt_n", "handle_sum", "handle_n", "rating_sum", "rating_n", "rating_pos"}
	for _, h := range []string{"wait", "frt"} {
		for _, b := range ReportBounds {
			names = append(names, h+"_le_"+strconv.FormatInt(b, 10))
		}
		names = append(names, h+"_le_inf")
	}
	return names
}()

// ReportFigures are the raw figures of a report bucket (or a sum of
// them) for one dimension: what the transitions counted (lua/lib.lua,
// report). Durations are in milliseconds.
type ReportFigures struct {
	Created, Offline, Answered, Abandoned, Ended, Transfers int64
	WaitSum, WaitN                                          int64
	Wait                                                    Histogram
	FRTSum, FRTN                                            int64
	FRT                                                     Histogram
	HandleSum, HandleN                                      int64
	RatingSum, RatingN, RatingPos                           int64
	// Status is an agent's time (ms) in each shown status.
	Status map[string]int64
}

// reportFigureIndex is the index of each name in ReportFigureNames.
var reportFigureIndex = func() map[string]int {
	m := make(map[string]int, len(ReportFigureNames))
	for i, name := range ReportFigureNames {
		m[name] = i
	}
	return m
}()

// figure returns the figure at index i of ReportFigureNames.
func (f *ReportFigures) figure(i int) *int64 {
	switch n := len(ReportBounds) + 1; {
	case i >= 15+n:
		return &f.FRT.Counts[i-15-n]
	case i >= 15:
		return &f.Wait.Counts[i-15]
	}
	return [...]*int64{&f.Created, &f.Offline, &f.Answered, &f.Abandoned, &f.Ended, &f.Transfers, &f.WaitSum, &f.WaitN,
		&f.FRTSum, &f.FRTN, &f.HandleSum, &f.HandleN, &f.RatingSum, &f.RatingN, &f.RatingPos}[i]
}

// SetIndex sets the figure named ReportFigureNames[i].
func (f *ReportFigures) SetIndex(i int, v int64) { *f.figure(i) = v }

// Set sets the figure the store names name (created, wait_sum,
// wait_le_20, st:Available, …); an unknown name is ignored.
func (f *ReportFigures) Set(name string, v int64) {
	if i, ok := reportFigureIndex[name]; ok {
		*f.figure(i) = v
	} else if s, ok := strings.CutPrefix(name, "st:"); ok {
		if f.Status == nil {
			f.Status = map[string]int64{}
		}
		f.Status[s] = v
	}
}

// Add adds o's figures to f.
func (f *ReportFigures) Add(o *ReportFigures) { f.add(o, 1) }

// Sub takes o's figures from f (what is left of all once the teams' are
// taken: the sessions of no team).
func (f *ReportFigures) Sub(o *ReportFigures) { f.add(o, -1) }

func (f *ReportFigures) add(o *ReportFigures, sign int64) {
	if o == nil {
		return
	}
	f.Created += sign * o.Created
	f.Offline += sign * o.Offline
	f.Answered += sign * o.Answered
	f.Abandoned += sign * o.Abandoned
	f.Ended += sign * o.Ended
	f.Transfers += sign * o.Transfers
	f.WaitSum += sign * o.WaitSum
	f.WaitN += sign * o.WaitN
	f.FRTSum += sign * o.FRTSum
	f.FRTN += sign * o.FRTN
	f.HandleSum += sign * o.HandleSum
	f.HandleN += sign * o.HandleN
	f.RatingSum += sign * o.RatingSum
	f.RatingN += sign * o.RatingN
	f.RatingPos += sign * o.RatingPos
	f.Wait.add(&o.Wait, sign)
	f.FRT.add(&o.FRT, sign)
	for s, v := range o.Status {
		if f.Status == nil {
			f.Status = map[string]int64{}
		}
		f.Status[s] += sign * v
	}
}

// Empty reports whether it counted nothing.
func (f *ReportFigures) Empty() bool {
	for _, v := range []int64{f.Created, f.Offline, f.Answered, f.Abandoned, f.Ended, f.Transfers, f.WaitN, f.FRTN, f.HandleN, f.RatingN} {
		if v != 0 {
			return false
		}
	}
	for _, v := range f.Status {
		if v != 0 {
			return false
		}
	}
	return true
}

// ParseReportFields reads one of a bucket's hashes into its figures by
// dimension, adding them to out: with kind "" the whole contact center's
// (figure -> count; dimension "*"), with kind "t" or "a" its teams' or
// agents' ("<id>|<figure>" -> count; dimension "t:<id>" or "a:<id>").
func ParseReportFields(out map[string]*ReportFigures, kind string, h map[string]string) {
	for field, v := range h {
		dim, name := "*", field
		if kind != "" {
			id, figure, ok := strings.Cut(field, "|")
			if !ok {
				continue
			}
			dim, name = kind+":"+id, figure
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		f := out[dim]
		if f == nil {
			f = &ReportFigures{}
			out[dim] = f
		}
		f.Set(name, n)
	}
}

// ReportBucket is the figures of one local hour or day, by dimension.
type ReportBucket struct {
	Start time.Time
	Dims  map[string]*ReportFigures
}

// ReportStore reads the figures the transitions keep.
type ReportStore interface {
	// ReportBuckets returns the buckets of grain g that begin at starts
	// (local hour or day starts), in that order, with the figures of dim
	// only ("*", "t:<team>" or "a:<agent>"), or of every dimension when
	// dim is ""; a bucket that expired or saw nothing has no Dims.
	ReportBuckets(ctx context.Context, g ReportGrain, starts []time.Time, dim string) ([]ReportBucket, error)
	// ReportTotals returns the whole contact center's figures since
	// reports began.
	ReportTotals(ctx context.Context) (*ReportFigures, error)
}
