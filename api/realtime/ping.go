package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
)

// pingSlots is how many groups the sockets are pinged in: every
// PingInterval/pingSlots one group is due, so pings are spread evenly
// rather than all at once.
const pingSlots = 16

// pinger keeps an instance's sockets alive with one goroutine instead of one
// per socket: every PingInterval each socket that read no frame during it is
// pinged (a client that talks proves itself alive, and costs nothing more);
// the ping's round trip runs in a goroutine that lives only until the pong,
// and a pong missing after PongTimeout closes the socket. An idle socket so
// costs one ping per interval and no goroutine or timer in between.
type pinger struct {
	interval, timeout time.Duration
	logger            *slog.Logger

	mu    sync.Mutex
	slots [pingSlots]map[*conn]struct{} // guarded by mu
	next  int                           // guarded by mu: the slot the next socket joins
}

func newPinger(interval, timeout time.Duration, logger *slog.Logger) *pinger {
	p := &pinger{interval: interval, timeout: timeout, logger: logger}
	for i := range p.slots {
		p.slots[i] = map[*conn]struct{}{}
	}
	return p
}

// add makes c pinged from now on; c.pingSlot remembers where.
func (p *pinger) add(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.pingSlot = p.next
	p.next = (p.next + 1) % pingSlots
	p.slots[c.pingSlot][c] = struct{}{}
}

func (p *pinger) remove(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.slots[c.pingSlot], c)
}

// run pings one slot per tick until ctx ends.
func (p *pinger) run(ctx context.Context) {
	t := time.NewTicker(p.interval / pingSlots)
	defer t.Stop()
	var due []*conn
	for slot := 0; ; slot = (slot + 1) % pingSlots {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quiet := time.Now().Add(-p.interval).UnixNano()
		p.mu.Lock()
		for c := range p.slots[slot] {
			if c.lastRead.Load() < quiet {
				due = append(due, c)
			}
		}
		p.mu.Unlock()
		for i, c := range due {
			go p.ping(c)
			due[i] = nil
		}
		due = due[:0]
	}
}

func (p *pinger) ping(c *conn) {
	if c.isClosed() {
		return // closing already (a close handshake may take seconds)
	}
	ctx, cancel := context.WithTimeout(c.ctx, p.timeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil && c.ctx.Err() == nil && c.beginClose() {
		c.e.logger.LogAttrs(c.ctx, slog.LevelDebug, "ws: ping unanswered", slog.String("ip", c.ip))
		c.e.metrics.Kicked.WithLabelValues("pong_timeout").Inc()
		c.finishClose(protocol.ClosePongTimeout, "pong timeout")
	}
}
