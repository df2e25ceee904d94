package api

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
)

// PeerLimit caps the HTTP connections one peer address holds open before
// they become WebSockets: requests in flight, idle keep-alive connections,
// headers still trickling in. A peer past the cap has its next connection
// closed as it is accepted, in the accept loop, with no goroutine, no
// buffers and no parsing: a burst of thousands of connections from one
// address (a slowloris, an upgrade flood) then costs the instance little
// beyond the kernel's accept. Sockets that upgraded no longer count: many
// customers behind one NAT hold as many WebSockets as they like. Peers in
// trusted (the load balancers, whose connections carry everyone's
// requests) are never capped.
//
// Wrap the listener with Listener and set the http.Server's ConnState to
// ConnState.
type PeerLimit struct {
	// Immutable after NewPeerLimit.
	max     int
	trusted []netip.Prefix

	mu      sync.Mutex
	byPeer  map[netip.Addr]int      // guarded by mu: counted connections per peer; no zero entries
	conns   map[net.Conn]netip.Addr // guarded by mu: the counted connections
	refused atomic.Int64
}

// NewPeerLimit returns a cap of max connections per peer (0: 256).
func NewPeerLimit(max int, trusted []netip.Prefix) *PeerLimit {
	if max <= 0 {
		max = 256
	}
	return &PeerLimit{max: max, trusted: trusted, byPeer: map[netip.Addr]int{}, conns: map[net.Conn]netip.Addr{}}
}

// Refused returns how many connections were closed at accept.
func (l *PeerLimit) Refused() int64 { return l.refused.Load() }

// Listener wraps ln: a connection from a peer at its cap is closed at once.
func (l *PeerLimit) Listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, l: l}
}

type limitedListener struct {
	net.Listener
	l *PeerLimit
}

// Accept returns the next connection within the cap, closing the others.
func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.l.admit(c) {
			return c, nil
		}
		c.Close()
		ll.l.refused.Add(1)
	}
}

func (l *PeerLimit) admit(c net.Conn) bool {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return true
	}
	peer := ap.Addr().Unmap()
	for _, p := range l.trusted {
		if p.Contains(peer) {
			return true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byPeer[peer] >= l.max {
		return false
	}
	l.byPeer[peer]++
	l.conns[c] = peer
	return true
}

// ConnState is the http.Server's ConnState hook: a connection stops
// counting once hijacked (a WebSocket) or closed.
func (l *PeerLimit) ConnState(c net.Conn, st http.ConnState) {
	if st != http.StateHijacked && st != http.StateClosed {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	peer, ok := l.conns[c]
	if !ok {
		return
	}
	delete(l.conns, c)
	if l.byPeer[peer]--; l.byPeer[peer] <= 0 {
		delete(l.byPeer, peer)
	}
}
