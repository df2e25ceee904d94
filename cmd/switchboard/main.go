// Command switchboard runs one Switchboard hub instance: the HTTP surfaces
// on one listener, backed by Redis (or, with no Redis URL, an embedded
// in-process miniredis for trying it out).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // SWITCHBOARD_TIMEZONE works in images without a zoneinfo database

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/files"
	"github.com/switchboardhq/switchboard/hub/ice"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/webhook"
	"github.com/switchboardhq/switchboard/web"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:], os.Getenv))
	}
	if len(os.Args) > 1 && os.Args[1] == "audit" {
		os.Exit(auditCommand(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "usersig" {
		os.Exit(usersigCommand(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	cfg, err := ParseConfig(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		Usage(os.Stdout)
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard: "+err.Error())
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain(cfg, logger)
	if err := m.Open(ctx); err != nil {
		logger.Error("start failed", "err", err)
		m.Close()
		os.Exit(1)
	}
	m.PrintBanner(os.Stdout)
	<-ctx.Done()
	stop() // a second signal kills the process the default way
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	if err := m.Close(); err != nil {
		logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
	logger.Info("stopped")
}

// Main is one running hub: what main() starts and what end-to-end tests
// start, twice over for two instances sharing one Redis.
type Main struct {
	// Immutable after NewMain.
	Config Config
	Logger *slog.Logger

	// Desk is set by Open; end-to-end tests drive its sweeps.
	Desk *hub.Desk
	// Webhooks is set by Open: this instance's webhook sender.
	Webhooks *webhook.Sender
	// Guard is set by Open: it notices a store that lost or rolled back
	// data and keeps the store's epoch moving (redisstore.Guard).
	Guard *redisstore.Guard

	// Set by Open, read-only afterwards.
	mini      *miniredis.Miniredis // nil unless embedded
	files     files.Store          // attachments; nil: off
	filesTmp  string               // the temporary directory of files of the embedded Redis, removed at Close
	rdb       redis.UniversalClient
	store     *redisstore.Store
	bus       *redisstore.Bus
	fanout    *hub.Fanout
	api       *api.Server // the default tenant's
	router    *api.TenantRouter
	tokens    *hub.Tokens
	tenants   tenantStacks
	ln        net.Listener
	http      *http.Server
	pprof     *http.Server // nil unless Config.PprofAddr
	pprofURL  string
	adminKey  string
	demoEmail string
	demoPass  string

	background     context.Context // ends at Close: the background goroutines' context
	stopBackground context.CancelFunc
	wg             sync.WaitGroup // the server, janitor, bus and fan-out goroutines
	closeOnce      sync.Once
	closeErr       error
}

// NewMain returns a Main for cfg; nothing starts until Open.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Main{Config: cfg, Logger: logger}
}

// Open connects to Redis (starting the embedded one if none is
// configured), seeds the demo agent when asked, opens the listener (so that
// an address ending in :0 is bound before Open returns) and serves in the
// background.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	// Every new Redis connection checks the store's marker and epoch
	// before it carries anything else (redisstore.Guard): the guard is
	// set below, before the first command dials.
	var guard *redisstore.Guard
	onConnect := func(ctx context.Context, cn *redis.Conn) error { return guard.OnConnect(ctx, cn) }
	if cfg.RedisURL == "" {
		mini, err := miniredis.Run()
		if err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		m.mini = mini
		m.rdb = redis.NewClient(&redis.Options{Addr: mini.Addr(), OnConnect: onConnect})
		m.Logger.Warn("using an embedded in-process Redis (miniredis): NOTHING IS PERSISTED, all data is lost when the process exits, and only this one instance can use it; set SWITCHBOARD_REDIS_URL for real use")
	} else {
		rdb, err := redisClient(cfg.RedisURL, onConnect)
		if err != nil {
			return fmt.Errorf("redis url: %w", err)
		}
		m.rdb = rdb
	}
	if err := m.openFiles(ctx); err != nil {
		return err
	}
	store, err := redisstore.New(m.rdb, redisstore.Options{Prefix: cfg.KeyPrefix, MaxSessionEvents: cfg.MaxSessionEvents,
		MinReplicas: cfg.MinReplicas, ReplicaTimeout: cfg.WaitTimeout, IdleWarn: cfg.IdleWarn, IdleClose: cfg.IdleClose,
		Location: cfg.Location, ReportHours: cfg.ReportHourly, ReportDays: cfg.ReportDaily})
	if err != nil {
		return err
	}
	m.store = store
	guard = store.NewGuard(m.Logger)
	m.Guard = guard
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.Ping(pingCtx); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}

	m.adminKey = cfg.AdminKey
	if m.adminKey == "" {
		m.adminKey = "sk_" + hub.NewSecret(32)
	}
	if cfg.Demo == "true" || cfg.Demo == "auto" && m.mini != nil {
		if err := m.seedDemo(ctx); err != nil {
			return fmt.Errorf("seeding the demo agent: %w", err)
		}
	}

	secret := cfg.TokenSecret
	if secret == "" {
		if secret, err = store.SharedSecret(ctx, "tokens", hub.NewSecret(48)); err != nil {
			return fmt.Errorf("token secret: %w", err)
		}
		if m.mini == nil {
			m.Logger.Warn("SWITCHBOARD_TOKEN_SECRET is not set: tokens are signed with a secret generated once and kept in Redis; set it for production")
		}
	}
	tokens, err := hub.NewTokens([]byte(secret))
	if err != nil {
		return err
	}
	sessions := hub.NewService(store, hub.Policy{
		MaxOpenSessions: cfg.MaxOpenSessions,
		AgentCapacity:   cfg.AgentCapacity,
		Retention:       cfg.Retention,
	}, nil)
	m.tokens = tokens
	background, stopBackground := context.WithCancel(context.Background())
	m.background, m.stopBackground = background, stopBackground
	m.bus = store.NewBus(background)
	guard.OnChange(m.bus.Reconnect) // its connection may be to the server the store left
	m.fanout = hub.NewFanout(m.bus, m.Logger)
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.bus.Run(m.fanout) }()
	go func() { defer m.wg.Done(); m.fanout.Run(background) }()
	m.Desk = hub.NewDesk(store, cfg.Desk, nil, m.Logger)
	var identity []byte
	if cfg.IdentitySecret != "" {
		identity = []byte(cfg.IdentitySecret)
	}
	peers := api.NewPeerLimit(cfg.HTTPMaxConnsPerAddr, cfg.TrustedProxies)
	m.api = api.NewServer(api.Config{
		Sessions:         sessions,
		Agents:           store,
		History:          store,
		Chats:            hub.NewHistory(store, nil),
		Location:         cfg.Location,
		Webhooks:         store,
		Fanout:           m.fanout,
		Desk:             m.Desk,
		Teams:            store,
		OpenSessionOf:    store.OpenSessionOf,
		Tencent:          cfg.Tencent,
		CCAI:             cfg.CCAI,
		TrustedProxies:   cfg.TrustedProxies,
		Tokens:           tokens,
		AdminKey:         m.adminKey,
		IdentitySecret:   identity,
		AgentTokenTTL:    cfg.AgentTokenTTL,
		CustomerTokenTTL: cfg.CustomerTokenTTL,
		WS:               cfg.WS,
		ICE:              iceFor(cfg.ICE),
		Hours:            cfg.Hours,
		Files:            m.files,
		MaxFileBytes:     cfg.MaxFileBytes,
		Canned:           store,
		Reports:          hub.NewReports(store, store, store, cfg.Location, nil),
		Ping:             store.Ping,
		Collectors: append(guardMetrics(guard), newReportCollector(store, m.Logger), prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_http_conns_refused_total",
			Help: "Connections closed as they were accepted: their address held SWITCHBOARD_HTTP_MAX_CONNS_PER_ADDR open already.",
		}, func() float64 { return float64(peers.Refused()) })),
		Operator: api.OperatorConfig{Key: cfg.OperatorKey, Tenants: store.Tenants(),
			Changed: func(t *hub.Tenant) { m.router.Changed(t) }, Webhooks: m.tenantWebhooks},
		Web:    web.Handler(),
		Logger: m.Logger,
	})

	m.router = api.NewTenantRouter(api.TenantRouterConfig{
		Default: m.api, Domain: cfg.TenantDomain, Registry: store.Tenants(), Build: m.buildTenant,
	})

	ln, err := listen(ctx, cfg.Addr)
	if err != nil {
		return err
	}
	m.ln = ln
	m.http = &http.Server{
		Handler:           m.router,
		ConnState:         peers.ConnState,
		ReadHeaderTimeout: cmp.Or(cfg.HTTPReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       cmp.Or(cfg.HTTPReadTimeout, 30*time.Second),
		WriteTimeout:      cmp.Or(cfg.HTTPWriteTimeout, 2*time.Minute),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    cmp.Or(cfg.HTTPMaxHeaderBytes, 64<<10),
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.http.Serve(peers.Listener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.runJanitor(background, time.Minute)
	}()
	m.wg.Add(1)
	go func() { defer m.wg.Done(); guard.Run(background, cmp.Or(cfg.EpochClock, time.Second)) }()
	owner, _ := os.Hostname()
	m.Webhooks = &webhook.Sender{
		Queue: store, History: store, Owner: owner + "-" + hub.NewSecret(6), Log: m.Logger,
		MaxAge: cfg.Webhook.MaxAge, MinBackoff: cfg.Webhook.MinBackoff, MaxBackoff: cfg.Webhook.MaxBackoff,
		LeaseTTL: cfg.Webhook.LeaseTTL, Poll: cfg.Webhook.Poll,
	}
	m.wg.Add(3)
	go func() { defer m.wg.Done(); m.Desk.Run(background) }()
	go func() { defer m.wg.Done(); m.api.Run(background) }()
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.router.Run(background) }()
	go func() { defer m.wg.Done(); m.Webhooks.Run(background) }()
	if cfg.PprofAddr != "" {
		if err := m.servePprof(cfg.PprofAddr); err != nil {
			return err
		}
	}
	m.Logger.Info("listening", "addr", ln.Addr().String(), "redis", m.redisKind())
	return nil
}

// listen opens the API's listener. Its connections have no TCP keepalive:
// the hub finds a peer that is gone without it (a socket by its WebSocket
// pings, PongTimeout after a ping goes unanswered; an idle HTTP connection by
// IdleTimeout; a request by ReadTimeout and WriteTimeout), and Go's
// default, a 15 s keepalive, costs four setsockopt calls on every accepted
// connection, one in nine of the hub's system calls a connect
// (docs/performance.md, "TCP keepalive off").
func listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}

// servePprof serves net/http/pprof on addr, a listener apart from the API's
// (profiles show memory; they must not be reachable where the API is).
func (m *Main) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.pprofURL = "http://" + ln.Addr().String()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("pprof server", "err", err)
		}
	}()
	m.Logger.Info("profiler listening", "addr", ln.Addr().String())
	return nil
}

// runJanitor drops expired ended sessions from the indexes every interval,
// in the default tenant and in each tenant this instance serves.
// Reads prune a batch too; this keeps the indexes small when nobody reads.
// Every instance runs one; the work is idempotent.
func (m *Main) runJanitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, st := range append([]*redisstore.Store{m.store}, m.tenants.all()...) {
				if n, err := st.Prune(ctx, now); err != nil && ctx.Err() == nil {
					m.Logger.Warn("janitor: prune failed", "prefix", st.Prefix(), "err", err)
				} else if n > 0 {
					m.Logger.Info("janitor: pruned expired sessions", "prefix", st.Prefix(), "count", n)
				}
			}
		}
	}
}

// seedDemo creates (or resets) the demo agent with a fresh random password.
func (m *Main) seedDemo(ctx context.Context) error {
	m.demoEmail = "demo@switchboard.local"
	// Shared through Redis, so every instance seeding the demo agent prints
	// the same, working password.
	pass, err := m.store.SharedSecret(ctx, "demo-password", hub.NewSecret(12))
	if err != nil {
		return err
	}
	m.demoPass = pass
	hash, err := hub.HashPassword(m.demoPass)
	if err != nil {
		return err
	}
	return m.store.PutAgent(ctx, &hub.Agent{
		ID: "agent_demo", Name: "Demo Agent", Email: m.demoEmail, Role: hub.RoleSupervisor,
		Capacity: m.Config.AgentCapacity, PasswordHash: hash,
	})
}

func (m *Main) redisKind() string {
	if m.mini != nil {
		return "embedded miniredis (not persisted)"
	}
	return "external"
}

// URL returns the base URL at which this instance answers, with localhost
// for a wildcard listen address.
func (m *Main) URL() string {
	host, port, _ := net.SplitHostPort(m.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// AdminKey returns the admin API key in force (generated when not configured).
func (m *Main) AdminKey() string { return m.adminKey }

// PrintBanner writes what a newcomer needs to w: the URLs, the admin key
// and the demo agent's login. It goes to stdout, never to the logs, which
// must not hold secrets.
func (m *Main) PrintBanner(w io.Writer) {
	u := m.URL()
	fmt.Fprintf(w, "\nSwitchboard is running at %s\n", u)
	if m.mini != nil {
		fmt.Fprintln(w, "  WARNING: embedded in-process Redis: nothing is persisted; data is lost on exit.")
	}
	fmt.Fprintf(w, "  Demo page (widget):   %s/\n", u)
	fmt.Fprintf(w, "  Agent desktop:        %s/agent\n", u)
	fmt.Fprintf(w, "  Supervisor view:      %s/supervisor\n", u)
	fmt.Fprintf(w, "  Customer Service API: %s/customer-service/sessions\n", u)
	fmt.Fprintf(w, "  Health / readiness:   %s/healthz  %s/readyz\n", u, u)
	if m.Config.AdminKey == "" {
		fmt.Fprintf(w, "  Admin API key:        %s   (random at each start; set SWITCHBOARD_ADMIN_KEY to fix it)\n", m.adminKey)
	} else {
		fmt.Fprintln(w, "  Admin API key:        from SWITCHBOARD_ADMIN_KEY")
	}
	if m.demoEmail != "" {
		fmt.Fprintf(w, "  Demo agent:           %s / %s   (a supervisor: signs in to both)\n", m.demoEmail, m.demoPass)
	}
	key := m.adminKey
	if m.Config.AdminKey != "" {
		key = "$SWITCHBOARD_ADMIN_KEY" // configured: a secret the banner does not repeat
	}
	fmt.Fprintf(w, "\nTry:\n  curl -s -H \"Authorization: Bearer %s\" %s/customer-service/stats\n\n", key, u)
}

// Close shuts the instance down gracefully within Config.ShutdownTimeout:
// readiness fails and new upgrades are refused, every WebSocket gets the
// shutdown close code, the listener closes and in-flight requests finish,
// then the background goroutines stop and Redis is closed. It is safe to
// call more than once.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		timeout := m.Config.ShutdownTimeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if m.api != nil {
			servers := []*api.Server{m.api}
			if m.router != nil {
				servers = append(servers, m.router.Servers()...)
			}
			for _, srv := range servers {
				if err := srv.Shutdown(ctx); err != nil {
					m.closeErr = fmt.Errorf("closing websockets: %w", err)
				}
			}
		}
		if m.http != nil {
			if err := m.http.Shutdown(ctx); err != nil {
				m.closeErr = fmt.Errorf("http shutdown: %w", err)
				m.http.Close()
			}
		}
		if m.pprof != nil {
			m.pprof.Close()
		}
		if m.stopBackground != nil {
			m.stopBackground()
		}
		if m.bus != nil {
			m.bus.Close()
		}
		m.wg.Wait()
		if m.rdb != nil {
			m.rdb.Close()
		}
		if m.mini != nil {
			m.mini.Close()
		}
		if m.filesTmp != "" {
			os.RemoveAll(m.filesTmp) // the embedded store's files went with its Redis
		}
	})
	return m.closeErr
}

// healthcheck is the Docker HEALTHCHECK: it GETs /healthz on this host's
// listen address and exits 0 when the hub answers 200.
func healthcheck(args []string, getenv func(string) string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	def := getenv("SWITCHBOARD_ADDR")
	if def == "" {
		def = ":8080"
	}
	addr := fs.String("addr", def, "listen address of the hub")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck: bad address:", err)
		return 2
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}

// guardMetrics exposes what the guard counts on /metrics.
func guardMetrics(g *redisstore.Guard) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_store_data_lost_total",
			Help: "Times this instance saw the Redis store lose or roll back data (its marker gone, or its clock gone back).",
		}, func() float64 { return float64(g.Lost()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_store_epoch_changes_total",
			Help: "Store epoch changes this instance made or saw (Redis restarted, failed over or lost data): clients resync what they cannot verify.",
		}, func() float64 { return float64(g.Changes()) }),
	}
}

// iceFor hands the calls' ICE servers to the API, each time with TURN
// credentials minted then (nil when none are configured).
func iceFor(c *ice.Config) func(user string) []protocol.ICEServer {
	if c.Empty() {
		return nil
	}
	return func(user string) []protocol.ICEServer {
		servers := c.For(user, time.Now())
		out := make([]protocol.ICEServer, len(servers))
		for i, s := range servers {
			out[i] = protocol.ICEServer(s)
		}
		return out
	}
}

// openFiles opens the attachments' store: S3 when configured, else the
// directory, else (embedded Redis only) a temporary directory.
func (m *Main) openFiles(ctx context.Context) error {
	cfg := m.Config
	var err error
	switch {
	case cfg.S3URL != "":
		m.files, err = files.NewS3(ctx, cfg.S3URL)
	case cfg.FilesDir != "":
		m.files, err = files.NewDir(cfg.FilesDir)
	case cfg.RedisURL == "":
		if m.filesTmp, err = os.MkdirTemp("", "switchboard-files-"); err == nil {
			m.files, err = files.NewDir(m.filesTmp)
		}
	default:
		m.Logger.Info("attachments are off: set SWITCHBOARD_S3_URL or SWITCHBOARD_FILES_DIR")
	}
	if err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	return nil
}
