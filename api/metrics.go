package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboardhq/switchboard/api/realtime"
)

// metrics are the instance's Prometheus metrics, on their own registry so
// that two servers in one test process do not collide.
type metrics struct {
	registry    *prometheus.Registry
	connections prometheus.Gauge
	framesIn    prometheus.Counter
	delivered   prometheus.Counter
	flushes     prometheus.Counter
	dropped     prometheus.Counter
	queueLength prometheus.Gauge
	// queueWatched counts the customers whose queue position this
	// instance recomputes on every queue change: the waiting ones.
	queueWatched prometheus.Gauge
	kicked       *prometheus.CounterVec
	requests     *prometheus.CounterVec
	resyncs      *prometheus.CounterVec
	// catchUpRetries counts catch-ups put off while the store was unavailable.
	catchUpRetries prometheus.Counter
	// unauthenticated are the WebSockets holding an unauthenticated
	// slot (api/realtime/unauth.go); unauthRefused counts the upgrades refused 429
	// for want of one, by the cap that refused ("address" or "total").
	unauthenticated prometheus.Gauge
	unauthRefused   *prometheus.CounterVec

	// The same per tenant other than the default one (whose figures are
	// the unlabelled ones above, less the tenants' for the totals):
	// one series per served tenant and metric.
	tenantConnections  *prometheus.GaugeVec
	tenantRequests     *prometheus.CounterVec
	tenantQueueLength  *prometheus.GaugeVec
	tenantQueueWatched *prometheus.GaugeVec
}

// tenantMetrics are one tenant's series of the instance's metrics.
type tenantMetrics struct {
	connections, queueLength, queueWatched prometheus.Gauge
	requests                               *prometheus.CounterVec // by code
}

func (m *metrics) forTenant(id string) *tenantMetrics {
	return &tenantMetrics{
		connections:  m.tenantConnections.WithLabelValues(id),
		queueLength:  m.tenantQueueLength.WithLabelValues(id),
		queueWatched: m.tenantQueueWatched.WithLabelValues(id),
		requests:     m.tenantRequests.MustCurryWith(prometheus.Labels{"tenant": id}),
	}
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_ws_connections", Help: "WebSocket connections open on this instance.",
		}),
		framesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ws_frames_received_total", Help: "Frames received from WebSocket clients.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ws_frames_sent_total", Help: "Frames written to WebSocket clients (events, replies, errors).",
		}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ws_coalesced_writes_total", Help: "Writes that carried several queued frames to a WebSocket client in one system call.",
		}),
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_queue_length", Help: "Sessions waiting in the queue, as this instance last read it.",
		}),
		queueWatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_queue_watched_customers", Help: "Connected customers this instance tells their queue position: those whose session waits.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ws_ephemeral_dropped_total", Help: "Ephemeral events (typing, queue positions) dropped because a send queue was half full.",
		}),
		kicked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_ws_kicked_total", Help: "Sockets closed by the hub for not keeping up, by reason.",
		}, []string{"reason"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_ws_resyncs_total", Help: "resync frames sent: a session a socket could not catch up on, by reason.",
		}, []string{"reason"}),
		unauthenticated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_ws_unauthenticated", Help: "WebSockets open on this instance that have not authenticated yet.",
		}),
		unauthRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_ws_unauthenticated_refused_total",
			Help: "WebSocket upgrades refused (429) because too many unauthenticated sockets were open, from the client's address or in all, by cap.",
		}, []string{"cap"}),
		catchUpRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ws_catchup_retries_total", Help: "Socket catch-ups put off because the store was unavailable (retried with backoff; the socket stays open).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total", Help: "HTTP requests by status class.",
		}, []string{"code"}),
		tenantConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_tenant_ws_connections", Help: "WebSocket connections open on this instance, by tenant (tenants other than the default one).",
		}, []string{"tenant"}),
		tenantRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_tenant_http_requests_total", Help: "HTTP requests by tenant (other than the default one) and status class.",
		}, []string{"tenant", "code"}),
		tenantQueueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_tenant_queue_length", Help: "Sessions waiting in a tenant's queue (tenants other than the default one), as this instance last read it.",
		}, []string{"tenant"}),
		tenantQueueWatched: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_tenant_queue_watched_customers", Help: "Connected customers this instance tells their queue position, by tenant (other than the default one).",
		}, []string{"tenant"}),
	}
	m.registry.MustRegister(m.queueLength, m.queueWatched, m.connections, m.framesIn, m.delivered, m.flushes, m.dropped, m.kicked, m.requests, m.resyncs, m.catchUpRetries,
		m.unauthenticated, m.unauthRefused, m.tenantConnections, m.tenantRequests, m.tenantQueueLength, m.tenantQueueWatched,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.unauthRefused.WithLabelValues(realtime.UnauthRefusedAddr) // shown at 0 before the first refusal
	m.unauthRefused.WithLabelValues(realtime.UnauthRefusedTotal)
	return m
}

// realtime returns the real-time engine's series: the instance's, or with
// tm a tenant's (its queue figures are the tenant's alone).
func (m *metrics) realtime(tm *tenantMetrics) *realtime.Metrics {
	rm := &realtime.Metrics{
		Connections: m.connections, FramesIn: m.framesIn, Delivered: m.delivered, Coalesced: m.flushes,
		Dropped: m.dropped, Kicked: m.kicked, Resyncs: m.resyncs, CatchUpRetries: m.catchUpRetries,
		QueueLength: m.queueLength, QueueWatched: m.queueWatched,
		Unauthenticated: m.unauthenticated, UnauthRefused: m.unauthRefused,
	}
	if tm != nil {
		rm.TenantConnections, rm.QueueLength, rm.QueueWatched = tm.connections, tm.queueLength, tm.queueWatched
	}
	return rm
}
