package realtime

import (
	"net/http"
	"sync"

	"github.com/switchboardhq/switchboard/hub"
)

// unauthLimiter caps the WebSockets that have not authenticated yet, per
// client address and on the instance in all. Such a socket proves nothing
// and still costs the instance a connection, its buffers and a reader for
// up to AuthTimeout (and a close handshake after it): without a cap one
// address could hold thousands. Authenticated sockets are never capped per
// address, since many customers share one NAT; the address is the one
// clientIP gives, so the clients behind a trusted load balancer are told
// apart.
//
// A slot is taken before the upgrade, so that a refusal costs no
// WebSocket; it becomes the socket's once the socket exists (attach) and
// is given back when the socket authenticates or ends, whichever is first
// (done), or at once when the upgrade fails (release).
type unauthLimiter struct {
	// Immutable after newUnauthLimiter.
	perAddr, total int

	mu     sync.Mutex
	byAddr map[string]int   // guarded by mu: slots held per address; no zero entries
	n      int              // guarded by mu: slots held in all
	conns  map[*conn]string // guarded by mu: the sockets holding a slot, with its address
}

func newUnauthLimiter(perAddr, total int) *unauthLimiter {
	return &unauthLimiter{perAddr: perAddr, total: total, byAddr: map[string]int{}, conns: map[*conn]string{}}
}

// The cap that refused an upgrade: the "cap" label of
// switchboard_ws_unauthenticated_refused_total.
const (
	UnauthRefusedAddr  = "address"
	UnauthRefusedTotal = "total"
)

// acquire takes a slot for an upgrade from addr; it returns "" when it
// did, or which cap refused it.
func (l *unauthLimiter) acquire(addr string) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.byAddr[addr] >= l.perAddr:
		return UnauthRefusedAddr
	case l.n >= l.total:
		return UnauthRefusedTotal
	}
	l.byAddr[addr]++
	l.n++
	return ""
}

// release gives back a slot acquire took for addr that no socket holds.
func (l *unauthLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(addr)
}

func (l *unauthLimiter) releaseLocked(addr string) {
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
	l.n--
}

// attach hands the slot acquire took for c.ip to c.
func (l *unauthLimiter) attach(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[c] = c.ip
}

// done gives back c's slot, if it still holds one: its auth succeeded, or
// it ended. Safe to call more than once; it reports whether it gave one.
func (l *unauthLimiter) done(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	addr, ok := l.conns[c]
	if ok {
		delete(l.conns, c)
		l.releaseLocked(addr)
	}
	return ok
}

// admitUnauth takes an unauthenticated socket's slot for an upgrade from
// addr, or answers 429 in the native API's format (nothing upgraded yet)
// and counts the refusal. It reports whether the upgrade may go on; the
// caller then owes the slot an attach (the socket exists) or an
// unauthRelease (it does not).
func (e *Engine) admitUnauth(w http.ResponseWriter, r *http.Request, addr string) bool {
	why := e.unauth.acquire(addr)
	if why == "" {
		e.metrics.Unauthenticated.Inc()
		return true
	}
	e.metrics.UnauthRefused.WithLabelValues(why).Inc()
	msg := "too many unauthenticated sockets from this address"
	if why == UnauthRefusedTotal {
		msg = "too many unauthenticated sockets"
	}
	// The connection goes with the answer: a client that keeps it open
	// would hold its goroutine and buffers for the idle timeout.
	w.Header().Set("Connection", "close")
	e.refuse(w, r, &hub.Error{Code: hub.ELIMIT, Message: msg}, http.StatusTooManyRequests)
	return false
}

// unauthRelease gives back the slot of an upgrade from addr that failed.
func (e *Engine) unauthRelease(addr string) {
	e.unauth.release(addr)
	e.metrics.Unauthenticated.Dec()
}

// unauthDone gives back c's slot if it still holds one: call it when c's
// auth succeeded and when c ends.
func (e *Engine) unauthDone(c *conn) {
	if e.unauth.done(c) {
		e.metrics.Unauthenticated.Dec()
	}
}
