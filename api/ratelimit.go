package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client IP, for the public endpoints
// (widget sessions, login). Buckets idle for ten minutes are forgotten.
type ipLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*ipBucket // guarded by mu
	swept   time.Time            // guarded by mu
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(limit rate.Limit, burst int) *ipLimiter {
	return &ipLimiter{limit: limit, burst: burst, buckets: map[string]*ipBucket{}}
}

// allow reports whether ip may make one more request now.
func (l *ipLimiter) allow(ip string) bool {
	return l.limiter(ip).Allow()
}

// limiter returns the bucket of key (an address, or a principal), made on
// first use; a caller may keep it (a socket keeps its principal's).
func (l *ipLimiter) limiter(key string) *rate.Limiter {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &ipBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim
}

// clientIP returns the address the request came from. Behind a proxy this
// is the proxy; trusting X-Forwarded-For needs a configured list of
// proxies, which a later release adds.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientIP returns the address of whoever made the request: the peer, or,
// when the peer is a trusted proxy, the rightmost address of
// X-Forwarded-For that is not itself a trusted proxy (the left part of the
// header is whatever the client wrote, so it is never believed).
func (s *Server) clientIP(r *http.Request) string {
	ip := peerIP(r)
	if !s.isTrusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		addr, err := netip.ParseAddr(hop)
		if err != nil {
			return ip // a malformed hop: stop believing the header there
		}
		if !s.isTrusted(hop) {
			return addr.Unmap().String()
		}
		ip = hop
	}
	return ip
}

func (s *Server) isTrusted(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
