package api

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/switchboardhq/switchboard/hub"
)

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

// originAllowed reports whether a browser page of origin may use the hub:
// the hub's own host, or a host matching one of patterns, exactly as the
// WebSocket handshake decides (coder/websocket's OriginPatterns), so that
// one setting, SWITCHBOARD_ALLOWED_ORIGINS, governs both.
func originAllowed(r *http.Request, origin string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// cors lets the widget, embedded in a site on the allow-list, call the
// native API from that site's origin: it answers preflight requests and
// marks responses readable for that origin. Credentials are bearer tokens
// in a header, never cookies, so no Allow-Credentials is needed and a
// foreign page cannot ride on a user's session. Requests from origins not
// on the list are refused with 403, preflight or not: browsers always send
// Origin on cross-origin requests, so a foreign page cannot even open a
// conversation with a form post, while servers and CLIs send none.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !originAllowed(r, origin, s.allowedOrigins()) {
			s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "origin not allowed"))
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Link, X-Total-Count")
		next.ServeHTTP(w, r)
	})
}
