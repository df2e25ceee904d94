package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

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
