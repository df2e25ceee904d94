// Package api serves every HTTP surface of Switchboard from one router: the
// Customer Service API, health and readiness, and the web pages. Each
// surface renders domain values and errors in its own format; the mapping
// from error codes to HTTP statuses is one table (errors.go).
package api

import (
	"cmp"
	"context"
	"crypto/hmac"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/switchboardhq/switchboard/api/keyrate"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/api/realtime"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/files"
)

// Config is what a Server needs. Every field is required unless its comment
// says otherwise.
type Config struct {
	Sessions *hub.Service
	Agents   hub.AgentStore
	// History reads session streams for the WebSocket catch-up; the
	// connection has authorized the session already.
	History realtime.EventReader
	// Chats serves past conversations (the KF5 surface, the desktop's
	// scroll-back and side panel) and ratings.
	Chats *hub.History
	// Location is the time zone of the KF5 surface's times and dates; UTC when nil.
	Location *time.Location
	// Webhooks manages webhook endpoints and failed deliveries; nil
	// answers the webhook endpoints 404.
	Webhooks WebhookAdmin
	// Desk runs presence, statuses and routing.
	Desk *hub.Desk
	// Teams keeps teams.
	Teams hub.TeamStore
	// OpenSessionOf returns a customer's newest open session id ("" for
	// none), for the Tencent-Desk query by ClientUserId.
	OpenSessionOf func(ctx context.Context, customerID string) (string, error)
	// Tencent configures the Tencent-Desk session-state surface; with no
	// key it answers every request 141004.
	Tencent TencentConfig
	// CCAI holds the HTTP Basic credentials of the CCAI agent-status
	// surface; with no key it refuses every request.
	CCAI CCAIConfig
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// for a client's IP address (rate limits, agents' ip_addrs); none by default.
	TrustedProxies []netip.Prefix
	// Fanout routes bus events to this instance's sockets.
	Fanout *hub.Fanout
	Tokens *hub.Tokens
	// AdminKey authorizes the back-office surfaces (Bearer).
	AdminKey string
	// AdminKeyHash, instead of AdminKey, is the SHA-256 (hub.HashKey) of
	// the admin key: a tenant's, of which the registry keeps only the hash.
	AdminKeyHash string
	// IdentitySecret verifies the customer ids a site vouches for; nil
	// refuses every customer_id on the widget endpoint.
	IdentitySecret []byte
	// AgentTokenTTL and CustomerTokenTTL bound token lifetimes; defaults
	// 12 h and 24 h.
	AgentTokenTTL, CustomerTokenTTL time.Duration
	// WS tunes the WebSocket endpoint.
	WS WSOptions
	// ICE returns the STUN and TURN servers for a party's calls, with
	// fresh TURN credentials (hub/ice); nil: none (a LAN needs none).
	ICE func(user string) []protocol.ICEServer
	// Canned keeps canned replies; nil answers their endpoints 404.
	Canned hub.CannedStore
	// Reports reads the supervisors' reports (GET /api/v1/reports/...);
	// nil answers them 404.
	Reports *hub.Reports
	// Files keeps attachments' bytes (hub/files); nil refuses uploads.
	Files files.Store
	// MaxFileBytes bounds an attachment; default 10 MB. AllowedTypes are
	// the content types accepted, sniffed from the bytes; default
	// files.DefaultAllowed.
	MaxFileBytes int64
	AllowedTypes []string
	// Hours are the business hours: outside them the widget offers its
	// offline form (GET /api/v1/widget/availability); nil: always open.
	Hours *hub.Hours
	// IdleSweepEvery is how often the instance looks for idle sessions to
	// warn and close (Service.SweepIdle; the store says whether idle
	// auto-close is on); default 5 s.
	IdleSweepEvery time.Duration
	// Ping reports whether the store is reachable, for /readyz.
	Ping func(context.Context) error
	// Collectors are more metrics for /metrics (the store guard's); optional.
	Collectors []prometheus.Collector
	// Instance, when set, is the Server of the instance's default tenant,
	// and this one a tenant's (TenantRouter): it shares the instance's
	// metrics, pinger, unauthenticated-socket caps and per-address
	// limits, which are the instance's, not a tenant's. Its Run runs only
	// its own queue watch.
	Instance *Server
	// Tenant is the id of the tenant this Server serves, with Instance:
	// its figures in /metrics carry it.
	Tenant string
	// Operator enables the operator API; its zero value leaves it off.
	Operator OperatorConfig
	// Web serves the pages under "/"; nil serves none.
	Web http.Handler
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
}

// WSOptions tune the WebSocket endpoint (realtime.Options).
type WSOptions = realtime.Options

// Server is the HTTP handler of one hub instance.
type Server struct {
	// Immutable after NewServer.
	sessions      *hub.Service
	agents        hub.AgentStore
	history       realtime.EventReader
	fanout        *hub.Fanout
	chats         *hub.History
	location      *time.Location
	webhooks      WebhookAdmin
	desk          *hub.Desk
	teams         hub.TeamStore
	openSessionOf func(context.Context, string) (string, error)
	creds         atomic.Pointer[Credentials] // a tenant's may change
	trusted       []netip.Prefix
	tokens        *hub.Tokens
	adminKey      []byte
	adminKeyHash  atomic.Pointer[string] // hex SHA-256 of the admin key, when only that is known; rotations replace it
	// origins are the allowed origin patterns in force: the deployment's
	// (ws.AllowedOrigins) and a tenant's (ApplySettings); nil: the deployment's.
	origins          atomic.Pointer[[]string]
	operatorKey      []byte // "" turns the operator API off
	tenants          hub.TenantStore
	operatorChanged  func(*hub.Tenant)
	tenantWebhooks   func(string) WebhookAdmin // the operator's way to a tenant's webhooks
	instance         *Server                   // the instance's default-tenant Server when this is a tenant's; nil otherwise
	idleEvery        time.Duration             // how often Run sweeps idle sessions
	hours            *hub.Hours                // business hours (nil: always open)
	files            files.Store               // attachments (nil: none)
	canned           hub.CannedStore           // canned replies (nil: none)
	reports          *hub.Reports              // supervisors' reports (nil: none)
	maxFileBytes     int64
	allowedTypes     []string
	agentTokenTTL    time.Duration
	customerTokenTTL time.Duration
	ws               WSOptions
	ping             func(context.Context) error
	logger           *slog.Logger
	metrics          *metrics
	widgetLimit      *keyrate.Limiter
	loginLimit       *keyrate.Limiter
	basicOK          basicCache
	handler          http.Handler

	// rt serves the WebSocket endpoint (api/realtime).
	rt *realtime.Engine

	// draining is set once shutdown begins: readiness fails (and rt
	// refuses new WebSocket upgrades) from then on.
	draining atomic.Bool

	// shared is an instance's route table, which its tenants' Servers use
	// too (nil on a tenant's); leaves are this Server's handlers of its
	// routes, in its order. Both are set by NewServer.
	shared *sharedRouter
	leaves []http.Handler
	// tm are this tenant's series of the instance's metrics; nil on an
	// instance's own Server. Set by NewServer.
	tm *tenantMetrics
}

// NewServer returns a Server with every route registered.
func NewServer(cfg Config) *Server {
	s := &Server{
		sessions: cfg.Sessions, agents: cfg.Agents, history: cfg.History, fanout: cfg.Fanout, tokens: cfg.Tokens,
		desk: cfg.Desk, teams: cfg.Teams, openSessionOf: cfg.OpenSessionOf,
		trusted: cfg.TrustedProxies, chats: cfg.Chats, location: cfg.Location, webhooks: cfg.Webhooks,
		adminKey: []byte(cfg.AdminKey), operatorKey: []byte(cfg.Operator.Key), tenants: cfg.Operator.Tenants, operatorChanged: cfg.Operator.Changed, tenantWebhooks: cfg.Operator.Webhooks,
		agentTokenTTL: cfg.AgentTokenTTL, customerTokenTTL: cfg.CustomerTokenTTL, idleEvery: cmp.Or(cfg.IdleSweepEvery, 5*time.Second), hours: cfg.Hours,
		files: cfg.Files, canned: cfg.Canned, reports: cfg.Reports, maxFileBytes: cmp.Or(cfg.MaxFileBytes, 10<<20), allowedTypes: cfg.AllowedTypes,
		ws: cfg.WS, ping: cfg.Ping, logger: cfg.Logger,
		widgetLimit: keyrate.New(rate.Every(6*time.Second), 10), // 10 at once, then 10 a minute
		loginLimit:  keyrate.New(rate.Every(3*time.Second), 10),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Instance == nil {
		s.metrics = newMetrics()
	}
	if s.location == nil {
		s.location = time.UTC
	}
	if s.agentTokenTTL <= 0 {
		s.agentTokenTTL = 12 * time.Hour
	}
	if s.customerTokenTTL <= 0 {
		s.customerTokenTTL = 24 * time.Hour
	}
	if cfg.AdminKeyHash != "" {
		s.SetAdminKeyHash(cfg.AdminKeyHash)
	}
	s.SetCredentials(Credentials{CCAI: cfg.CCAI, Tencent: cfg.Tencent, Identity: cfg.IdentitySecret})
	s.ws.SetDefaults()
	var instanceRT *realtime.Engine
	if in := cfg.Instance; in != nil {
		s.instance = in
		s.metrics, s.widgetLimit, s.loginLimit = in.metrics, in.widgetLimit, in.loginLimit
		s.tm = s.metrics.forTenant(cmp.Or(cfg.Tenant, "unnamed"))
		instanceRT = in.rt
	} else {
		s.metrics.registry.MustRegister(cfg.Collectors...)
	}
	s.rt = realtime.New(realtime.Config{
		Sessions: s.sessions, Agents: s.agents, History: s.history, Chats: s.chats, Desk: s.desk, Fanout: s.fanout,
		Options: s.ws, Authenticate: s.principalFromToken, ClientIP: s.clientIP, Bearer: bearer,
		Origins: s.allowedOrigins, Refuse: s.nativeError, Metrics: s.metrics.realtime(s.tm), ICE: cfg.ICE,
		Instance: instanceRT, Logger: s.logger,
	})
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.Handle("/ws", s.rt)
	s.routeCustomerService(r)
	s.routeOperator(r) // before routeNative, whose /api/v1 subrouter would answer its paths 404
	s.routeNative(r)
	s.routeDesk(r)
	s.routeTencent(r)
	s.routeCCAI(r)
	s.routeKF5(r)
	s.routeHistory(r)
	s.routeWebhooks(r)
	s.routeFiles(r)
	s.routeCanned(r)
	// Unknown paths of the API surfaces answer in their own format, with
	// any method, before the pages' catch-all could take them.
	r.PathPrefix("/customer-service").HandlerFunc(s.notFound)
	r.PathPrefix("/api/").HandlerFunc(s.notFound)
	r.PathPrefix("/apps/api/").HandlerFunc(s.ccaiNotFound)
	r.PathPrefix("/v4/").HandlerFunc(s.tencentNotFound)
	r.PathPrefix("/apiv2/").HandlerFunc(s.kf5NotFound)
	if cfg.Web != nil {
		r.PathPrefix("/").Handler(cfg.Web).Methods(http.MethodGet, http.MethodHead)
	}
	if in := cfg.Instance; in != nil {
		if h, ok := in.shared.adopt(s, r); ok {
			s.handler = s.logRequests(s.cors(h)) // r, its regexps and all, is dropped
			return s
		}
		s.logger.Warn("a tenant's routes differ from the instance's: it keeps a router of its own")
	} else {
		s.shared = newSharedRouter(s, r)
	}
	s.handler = s.logRequests(s.cors(r))
	return s
}

// Run runs the instance's pinger and queue-position pusher until ctx ends; the hub's
// desk runs beside it (hub.Desk.Run).
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.sweepIdle(ctx) }()
	if s.files != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.sweepFiles(ctx) }()
	}
	s.rt.Run(ctx)
	wg.Wait()
}

// every runs f every d until ctx ends (the instance's periodic work).
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// sweepIdle warns and closes idle sessions every idleEvery until ctx ends.
func (s *Server) sweepIdle(ctx context.Context) {
	every(ctx, s.idleEvery, func() {
		warned, closed, err := s.sessions.SweepIdle(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("idle sessions not swept", "err", err)
		case warned+closed > 0:
			s.logger.Info("idle sessions", "warned", warned, "closed", closed)
		}
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes readiness fail and refuses new WebSocket upgrades, so that
// load balancers stop sending new traffic while in-flight requests finish.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.rt.Drain()
}

// Shutdown drains the server and closes every WebSocket with the shutdown
// close code (reconnect elsewhere and resume), waiting for their handlers
// until ctx ends. The HTTP server's own Shutdown does not see hijacked
// connections, so the caller runs this first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	return s.rt.CloseAll(ctx, protocol.CloseShutdown, "server shutting down")
}

// Connections returns the number of open WebSocket connections.
func (s *Server) Connections() int { return s.rt.Connections() }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		s.logger.Warn("readiness: redis unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "redis unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// surfaceError renders an error for a request that matched no route, in the
// format of the surface its path belongs to.
func (s *Server) surfaceError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.URL.Path == "/customer-service" || strings.HasPrefix(r.URL.Path, "/customer-service/") {
		writeJSON(w, status, csMessage{Code: -1, Message: msg})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		code := hub.ENOTFOUND
		if status == http.StatusMethodNotAllowed {
			code = hub.EINVALID
		}
		s.nativeError(w, r, &hub.Error{Code: code, Message: msg}, status)
		return
	}
	http.Error(w, msg, status)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.surfaceError(w, r, http.StatusNotFound, "not found")
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.surfaceError(w, r, http.StatusMethodNotAllowed, "method not allowed")
}

// methods maps the HTTP methods a path serves to their handlers.
type methods map[string]http.HandlerFunc

// methods returns a handler that dispatches on the request method and
// answers any other method with 405 and an Allow header, in the surface's
// format. Routes register their methods here rather than with mux's
// Methods matcher: gorilla/mux v1.8.1 answers 404 instead of 405 when a
// later route of the same subrouter matches the path prefix.
func (s *Server) methods(m methods) http.Handler {
	return methodsWith(m, s.methodNotAllowed)
}

// methodsIn is methods for a surface whose errors render as
// fail(w, status, message).
func (s *Server) methodsIn(m methods, fail func(http.ResponseWriter, int, string)) http.Handler {
	return methodsWith(m, func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}

func methodsWith(m methods, wrong http.HandlerFunc) http.Handler {
	allow := make([]string, 0, len(m)+1)
	for method := range m {
		allow = append(allow, method)
	}
	if _, ok := m[http.MethodGet]; ok {
		m[http.MethodHead] = m[http.MethodGet]
		allow = append(allow, http.MethodHead)
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := m[r.Method]; ok {
			h(w, r)
			return
		}
		w.Header().Set("Allow", allowed)
		wrong(w, r)
	})
}

// requireAdminKey admits requests bearing the admin key
// ("Authorization: Bearer <key>"), compared in constant time, and renders
// a refusal with the surface's own error renderer.
func (s *Server) requireAdminKey(render func(http.ResponseWriter, *http.Request, error)) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, ok := bearer(r)
			if !ok || !s.isAdminKey(key) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
				render(w, r, hub.ErrUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isAdminKey compares key with the admin key (or its hash) in constant time.
func (s *Server) isAdminKey(key string) bool {
	if h := s.adminKeyHash.Load(); h != nil {
		return hmac.Equal([]byte(hub.HashKey(key)), []byte(*h))
	}
	return len(s.adminKey) > 0 && hmac.Equal([]byte(key), s.adminKey)
}

// RenderError answers err in the format of the surface r's path belongs
// to, for a request refused before any surface saw it (TenantRouter: an
// unknown or disabled tenant).
func (s *Server) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	p := r.URL.Path
	switch {
	case p == "/customer-service" || strings.HasPrefix(p, "/customer-service/"):
		s.csError(w, r, err)
	case strings.HasPrefix(p, "/api/"):
		s.nativeErr(w, r, err)
	case strings.HasPrefix(p, "/apps/api/"):
		s.ccaiError(w, s.errorStatus(w, r, err), hub.ErrorMessage(err))
	case strings.HasPrefix(p, "/v4/"):
		s.tencentFail(w, tencentInvalid, hub.ErrorMessage(err)+".")
	case strings.HasPrefix(p, "/apiv2/"):
		s.kf5Error(w, r, err)
	default:
		http.Error(w, hub.ErrorMessage(err), s.errorStatus(w, r, err))
	}
}

// Credentials are the secrets a tenant's operator may change while its
// Server serves: those of the surfaces that sign in with their own (CCAI's
// Basic key and secret, Tencent-Desk's sdkappid and usersig key) and the
// secret a site's backend vouches for its customers' ids with.
type Credentials struct {
	CCAI     CCAIConfig
	Tencent  TencentConfig
	Identity []byte // as Config.IdentitySecret
}

// SetCredentials replaces the credentials (a tenant's were changed
// through the operator API).
func (s *Server) SetCredentials(c Credentials) { s.creds.Store(&c) }

func (s *Server) ccaiConf() CCAIConfig       { return s.creds.Load().CCAI }
func (s *Server) tencentConf() TencentConfig { return s.creds.Load().Tencent }

// SetAdminKeyHash makes the admin key the one whose hub.HashKey is hash
// (a tenant's key was rotated).
func (s *Server) SetAdminKeyHash(hash string) { s.adminKeyHash.Store(&hash) }

// ApplySettings applies a tenant's settings, made or changed through the
// operator API, to what this Server serves from now on: its allowed
// origins (besides the deployment's), its agent statuses, and its limits
// (max open sessions, agent capacity, retention).
func (s *Server) ApplySettings(t hub.TenantSettings) {
	o := append(slices.Clone(s.ws.AllowedOrigins), t.AllowedOrigins...)
	s.origins.Store(&o)
	s.sessions.ApplySettings(t)
	s.desk.ApplySettings(t)
}

// allowedOrigins are the origin patterns whose pages may call this Server
// from a browser and open its sockets.
func (s *Server) allowedOrigins() []string {
	if o := s.origins.Load(); o != nil {
		return *o
	}
	return s.ws.AllowedOrigins
}

// Enable undoes Disable: the tenant was enabled again.
func (s *Server) Enable() {
	s.draining.Store(false)
	s.rt.Enable()
}

// Disable serves a tenant that was disabled: readiness and upgrades are
// refused as in Drain, and every socket is closed with the tenant-disabled
// code, which clients do not reconnect after.
func (s *Server) Disable(ctx context.Context) error {
	s.Drain()
	return s.rt.CloseAll(ctx, protocol.CloseTenantDisabled, "tenant disabled")
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// WebSocket upgrade needs its Hijacker).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs each request's method, path, status and duration. It
// never logs headers, query strings or bodies: they may hold keys, tokens
// or what customers wrote.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		code := strconv.Itoa(rec.status/100) + "xx"
		s.metrics.requests.WithLabelValues(code).Inc()
		if s.tm != nil {
			s.tm.requests.WithLabelValues(code).Inc()
		}
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return
		}
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("took", time.Since(start)))
	})
}
