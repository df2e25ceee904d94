package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/hub"
)

// reportCollector exports the contact center's report totals (what the
// transitions count in Redis, lua/lib.lua report) at each scrape: the
// wait and first-response histograms and the session outcome counters.
// They are the deployment's, not this instance's: every instance exports
// the same values, so a dashboard takes max() over instances, never sum()
// (docs/grafana-reports.json does). One HGETALL per scrape.
type reportCollector struct {
	store  hub.ReportStore
	logger *slog.Logger
}

var (
	reportWaitDesc = prometheus.NewDesc("switchboard_report_wait_seconds",
		"Time from a session's creation to its first agent's acceptance (offline messages left out), for the whole deployment.", nil, nil)
	reportFRTDesc = prometheus.NewDesc("switchboard_report_first_response_seconds",
		"Time from a customer's first message to the agent's first reply, for the whole deployment.", nil, nil)
	reportSessionsDesc = prometheus.NewDesc("switchboard_report_sessions_total",
		"Sessions by outcome, for the whole deployment: created, answered, abandoned (the customer left before any agent answered), ended, transferred.", []string{"outcome"}, nil)
	reportRatingsDesc = prometheus.NewDesc("switchboard_report_ratings_total",
		"Customer ratings given, and those of 4 or 5 stars (positive), for the whole deployment.", []string{"kind"}, nil)
)

func newReportCollector(store hub.ReportStore, logger *slog.Logger) prometheus.Collector {
	return &reportCollector{store: store, logger: logger}
}

func (c *reportCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reportWaitDesc
	ch <- reportFRTDesc
	ch <- reportSessionsDesc
	ch <- reportRatingsDesc
}

func (c *reportCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f, err := c.store.ReportTotals(ctx)
	if err != nil {
		c.logger.Warn("report metrics: reading the totals", "err", err)
		return
	}
	ch <- histogram(reportWaitDesc, &f.Wait, f.WaitSum)
	ch <- histogram(reportFRTDesc, &f.FRT, f.FRTSum)
	for outcome, v := range map[string]int64{"created": f.Created, "answered": f.Answered, "abandoned": f.Abandoned,
		"ended": f.Ended, "transferred": f.Transfers} {
		ch <- prometheus.MustNewConstMetric(reportSessionsDesc, prometheus.CounterValue, float64(v), outcome)
	}
	ch <- prometheus.MustNewConstMetric(reportRatingsDesc, prometheus.CounterValue, float64(f.RatingN), "all")
	ch <- prometheus.MustNewConstMetric(reportRatingsDesc, prometheus.CounterValue, float64(f.RatingPos), "positive")
}

// histogram turns a report histogram (counts per bucket, sum in ms) into
// a Prometheus one (cumulative counts per upper bound, sum in seconds).
func histogram(d *prometheus.Desc, h *hub.Histogram, sumMS int64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(hub.ReportBounds))
	var cum uint64
	for i, b := range hub.ReportBounds {
		cum += uint64(max(h.Counts[i], 0))
		buckets[float64(b)] = cum
	}
	cum += uint64(max(h.Counts[len(hub.ReportBounds)], 0))
	return prometheus.MustNewConstHistogram(d, cum, float64(sumMS)/1000, buckets)
}
