package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the instance's Prometheus metrics, on their own registry so
// that two servers in one test process do not collide.
type metrics struct {
	registry    *prometheus.Registry
	connections prometheus.Gauge
	framesIn    prometheus.Counter
	delivered   prometheus.Counter
	dropped     prometheus.Counter
	queueLength prometheus.Gauge
	kicked      *prometheus.CounterVec
	requests    *prometheus.CounterVec
	resyncs     *prometheus.CounterVec
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
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_queue_length", Help: "Sessions waiting in the queue, as this instance last read it.",
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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total", Help: "HTTP requests by status class.",
		}, []string{"code"}),
	}
	m.registry.MustRegister(m.queueLength, m.connections, m.framesIn, m.delivered, m.dropped, m.kicked, m.requests, m.resyncs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
