package realtime

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's series of the instance's Prometheus metrics
// (api/metrics.go registers them). On a tenant's Engine the Tenant ones
// are that tenant's series and QueueLength and QueueWatched are too; on
// the instance's own they are nil and the instance's.
type Metrics struct {
	Connections       prometheus.Gauge // the instance's open sockets, every tenant's included
	TenantConnections prometheus.Gauge // this tenant's; nil on the instance's own Engine
	FramesIn          prometheus.Counter
	Delivered         prometheus.Counter // frames written
	Coalesced         prometheus.Counter // writes that carried several frames
	Dropped           prometheus.Counter // ephemeral frames dropped on a half-full queue
	Kicked            *prometheus.CounterVec
	Resyncs           *prometheus.CounterVec
	// CatchUpRetries counts catch-ups put off while the store was unavailable.
	CatchUpRetries prometheus.Counter
	// QueueLength is the queue's length as last read; QueueWatched the
	// customers told their queue position (the waiting ones).
	QueueLength, QueueWatched prometheus.Gauge
	// Unauthenticated are the sockets holding an unauthenticated slot
	// (unauth.go); UnauthRefused counts the upgrades refused 429 for want
	// of one, by the cap that refused (UnauthRefusedAddr, UnauthRefusedTotal).
	Unauthenticated prometheus.Gauge
	UnauthRefused   *prometheus.CounterVec
}
