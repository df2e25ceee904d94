package main

import (
	"golang.org/x/time/rate"

	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/ice"
	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// Config is the hub's configuration, read from SWITCHBOARD_* environment
// variables and the matching flags (a flag wins over its variable).
type Config struct {
	// Addr is the HTTP listen address; default ":8080".
	Addr string
	// RedisURL names the Redis to use; "" (the default) starts an embedded,
	// non-persistent miniredis. See redisClient for the accepted forms.
	RedisURL string
	// KeyPrefix starts every Redis key and carries a Cluster hash tag;
	// default "{sb}".
	KeyPrefix string
	// MinReplicas, when above 0, acknowledges a message only once that many
	// Redis replicas hold it (Redis WAIT, up to WaitTimeout, default 1 s);
	// default 0. See docs/reliability.md for what each setting guarantees.
	MinReplicas int
	WaitTimeout time.Duration
	// PprofAddr, if set, is where Go's profiler is served, on a listener
	// of its own so that it is never exposed with the API; default none.
	PprofAddr string
	// AdminKey authorizes the back-office APIs; "" (the default) generates a
	// random key at each start and prints it.
	AdminKey string
	// OperatorKey authorizes the operator API (/api/v1/operator: the
	// registry of tenants); "" (the default) turns that API off. It must
	// differ from AdminKey: a tenant's administrator is not the operator.
	OperatorKey string
	// TenantDomain, when set, serves tenant acme on acme.<TenantDomain>
	// (docs/tenants.md); "" finds tenants by parameter and credential only.
	TenantDomain string
	// MaxOpenSessions caps the open sessions of the contact center; 0 (the
	// default) means no cap.
	MaxOpenSessions int
	// AgentCapacity is the capacity of an agent first seen through an admin
	// assign, and of the demo agent; default 5.
	AgentCapacity int
	// Retention is how long ended sessions and their events are kept;
	// default 30 days.
	Retention time.Duration
	// MaxSessionEvents bounds the events (messages, markers, state changes)
	// of one session, whose whole history is kept; default 100,000. Past it
	// a send answers "session message limit reached".
	MaxSessionEvents int
	// EpochClock is how often this instance ticks the store's clock, by
	// which it notices a store that went back in time; default 1 s (not
	// read from the environment: tests shorten it).
	EpochClock time.Duration
	// ShutdownTimeout bounds a graceful shutdown; default 15 s.
	ShutdownTimeout time.Duration
	// Demo seeds a demo agent: "auto" (the default) does so with the
	// embedded Redis only, "true" always, "false" never.
	Demo string
	// LogLevel is debug, info (the default), warn or error.
	LogLevel slog.Level
	// TokenSecret signs agent and customer tokens (at least 32 characters);
	// "" (the default) uses one generated once and shared through Redis.
	TokenSecret string
	// IdentitySecret verifies the customer ids a site's backend vouches for;
	// "" (the default) refuses customer ids on the widget endpoint.
	IdentitySecret string
	// WS tunes the WebSocket endpoint. Read from the environment:
	// WS.AllowedOrigins, the host patterns of the sites that may embed the
	// widget (empty, the default, allows only the hub's own host),
	// WS.RatingWindow, and the caps on unauthenticated sockets
	// (WS.MaxUnauthPerAddr, default 100, and WS.MaxUnauth, 10,000); tests
	// shorten the timings.
	WS api.WSOptions
	// AgentTokenTTL and CustomerTokenTTL bound token lifetimes; defaults 12h and 24h.
	AgentTokenTTL, CustomerTokenTTL time.Duration
	// Desk holds routing and presence: the offer timeout (default 30 s; 0
	// auto-accepts), the agents' grace period (60 s), the presence TTL
	// (60 s) and the custom statuses (lunch, break, meeting). Tests shorten
	// the other timings.
	Desk hub.DeskPolicy
	// ICEServers, TURNSecret and TURNTTL are the calls' STUN and TURN
	// servers, the secret shared with the TURN server and the lifetime of
	// the credentials minted with it; ICE is what they make (hub/ice).
	// IdleWarn and IdleClose are idle auto-close: how long a customer may
	// leave the agent's last message unanswered before the session is
	// warned (0: off), and how long after the warning it is closed.
	IdleWarn, IdleClose time.Duration
	// ReportHourly and ReportDaily are how long the reports' hourly and
	// daily figures are kept (SWITCHBOARD_REPORT_HOURLY_RETENTION,
	// SWITCHBOARD_REPORT_DAILY_RETENTION).
	ReportHourly, ReportDaily time.Duration
	// S3URL and FilesDir say where attachments are kept: an S3-compatible
	// store, or a local directory (one instance, or a shared disk); with
	// neither, the embedded Redis keeps them in a temporary directory and a
	// real Redis turns attachments off. MaxFileBytes bounds one.
	S3URL, FilesDir string
	MaxFileBytes    int64
	// BusinessHours (SWITCHBOARD_BUSINESS_HOURS, in Location) are when the
	// widget offers a chat; outside them, its offline form. Hours is what
	// they make.
	BusinessHours          string
	Hours                  *hub.Hours
	ICEServers, TURNSecret string
	TURNTTL                time.Duration
	ICE                    *ice.Config
	// Tencent configures the Tencent-Desk surface (sdkappid, usersig key,
	// admin identifiers, the customer service account).
	Tencent api.TencentConfig
	// CCAI holds the CCAI surface's key and secret; none disables it.
	CCAI api.CCAIConfig
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Location is the time zone of the KF5 surface's times and dates; default UTC.
	Location *time.Location
	// Webhook tunes webhook delivery: how long a delivery is retried
	// (MaxAge, default 24 h); tests shorten the backoff and the lease.
	Webhook WebhookOptions

	// HTTPReadHeaderTimeout bounds reading a request's headers, so that a
	// client trickling them (slowloris) holds a connection 10 s at most;
	// default 10 s (not read from the environment: tests shorten it).
	HTTPReadHeaderTimeout time.Duration
	// HTTPReadTimeout bounds reading a whole request, body included, from
	// its first byte: a slow body is cut there. Bodies are 64 KiB at most,
	// so the default, 30 s, asks 2 KB/s of a client. A WebSocket is not
	// cut: the deadline is cleared when it is hijacked.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds an answer, from the end of its request's
	// headers to its last byte, so that a client that stops reading does
	// not hold the handler and its buffers for ever. Default 2 min: the
	// KF5 surface streams whole transcripts, and a 20,000-message chat of
	// ordinary messages (~250 bytes each in its JSON, 5 MB) takes 40 s at
	// 1 Mbit/s; one of 4,000-character messages (80 MB) needs 6 Mbit/s.
	// Raise it for exports over slower links. WebSockets are not cut.
	HTTPWriteTimeout time.Duration
	// HTTPMaxHeaderBytes bounds a request's headers (and its request
	// line); larger ones get 431. Default 64 KiB, not read from the
	// environment.
	HTTPMaxHeaderBytes int
	// HTTPMaxConnsPerAddr caps the HTTP connections one peer address holds
	// before they become WebSockets (api.PeerLimit; peers in
	// TrustedProxies are not capped); default 256.
	HTTPMaxConnsPerAddr int
}

// setting is one configuration value: its flag, its variable, its default
// and how it is checked and stored.
type setting struct {
	flag, env, def, usage string
	set                   func(c *Config, v string) error
}

var baseSettings = []setting{
	{"addr", "SWITCHBOARD_ADDR", ":8080", "HTTP listen address (host:port)", func(c *Config, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return errors.New("must be host:port, such as :8080 or 127.0.0.1:8080")
		}
		c.Addr = v
		return nil
	}},
	{"redis-url", "SWITCHBOARD_REDIS_URL", "", "Redis URL: redis://, rediss://, redis+sentinel://, redis+cluster:// or unix://; empty starts an embedded, non-persistent Redis", func(c *Config, v string) error {
		if v != "" {
			rdb, err := redisClient(v, nil)
			if err != nil {
				return err
			}
			rdb.Close() // parse only: no connection is made until first use
		}
		c.RedisURL = v
		return nil
	}},
	{"key-prefix", "SWITCHBOARD_KEY_PREFIX", "{sb}", "prefix of every Redis key, with a Cluster hash tag", func(c *Config, v string) error {
		c.KeyPrefix = v
		return redisstore.ValidatePrefix(v)
	}},
	{"redis-min-replicas", "SWITCHBOARD_REDIS_MIN_REPLICAS", "0", "acknowledge a message only once this many Redis replicas hold it (WAIT); 0 acknowledges once the primary has it", func(c *Config, v string) (err error) {
		c.MinReplicas, err = intIn(v, 0, 16)
		return err
	}},
	{"redis-wait-timeout", "SWITCHBOARD_REDIS_WAIT_TIMEOUT", "1s", "how long a send waits for the replicas of SWITCHBOARD_REDIS_MIN_REPLICAS before it answers unavailable (the client retries)", func(c *Config, v string) (err error) {
		c.WaitTimeout, err = durationIn(v, 10*time.Millisecond, time.Minute)
		return err
	}},
	{"admin-key", "SWITCHBOARD_ADMIN_KEY", "", "admin API key (Bearer); empty generates one at each start", func(c *Config, v string) error {
		if v != "" && (len(v) < 16 || strings.ContainsAny(v, " \t\r\n")) {
			return errors.New("must be at least 16 characters with no spaces")
		}
		c.AdminKey = v
		return nil
	}},
	{"operator-key", "SWITCHBOARD_OPERATOR_KEY", "", "operator API key (Bearer) for /api/v1/operator (tenants); empty turns that API off", func(c *Config, v string) error {
		if v != "" && (len(v) < 16 || strings.ContainsAny(v, " \t\r\n")) {
			return errors.New("must be at least 16 characters with no spaces")
		}
		c.OperatorKey = v
		return nil
	}},
	{"tenant-domain", "SWITCHBOARD_TENANT_DOMAIN", "", "serve tenant acme on acme.<this domain>, e.g. chat.example.com; empty finds tenants by parameter and credential only", func(c *Config, v string) error {
		v = strings.Trim(strings.ToLower(v), ".")
		if v != "" && (strings.ContainsAny(v, " \t\r\n/:@") || !strings.Contains(v, ".") && v != "localhost") {
			return errors.New("must be a domain name such as chat.example.com")
		}
		c.TenantDomain = v
		return nil
	}},
	{"max-open-sessions", "SWITCHBOARD_MAX_OPEN_SESSIONS", "0", "most sessions open at once; 0 for no limit", func(c *Config, v string) (err error) {
		c.MaxOpenSessions, err = intIn(v, 0, 10_000_000)
		return err
	}},
	{"agent-capacity", "SWITCHBOARD_AGENT_CAPACITY", "5", "default capacity (concurrent sessions) of an agent", func(c *Config, v string) (err error) {
		c.AgentCapacity, err = intIn(v, 1, 1000)
		return err
	}},
	{"retention", "SWITCHBOARD_RETENTION", "30d", "how long ended sessions are kept: days (30d) or a Go duration (36h)", func(c *Config, v string) (err error) {
		c.Retention, err = parseRetention(v)
		return err
	}},
	{"session-max-events", "SWITCHBOARD_SESSION_MAX_EVENTS", "100000", "most events (messages, read markers, state changes) one session keeps; past it a send is refused with \"session message limit reached\", never trimmed", func(c *Config, v string) (err error) {
		c.MaxSessionEvents, err = intIn(v, 100, 10_000_000)
		return err
	}},
	{"shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", "15s", "bound on a graceful shutdown", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = durationIn(v, time.Millisecond, 10*time.Minute)
		return err
	}},
	{"demo", "SWITCHBOARD_DEMO", "auto", "seed a demo agent: auto (embedded Redis only), true or false", func(c *Config, v string) error {
		switch v {
		case "auto", "true", "false":
			c.Demo = v
			return nil
		}
		return errors.New("must be auto, true or false")
	}},
	{"pprof-addr", "SWITCHBOARD_PPROF_ADDR", "", "serve Go's profiler (/debug/pprof/) on this host:port, apart from the API; empty (the default) serves none. Bind it to loopback: profiles reveal memory", func(c *Config, v string) error {
		if v != "" {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return errors.New("must be host:port, such as 127.0.0.1:6060")
			}
		}
		c.PprofAddr = v
		return nil
	}},
	{"log-level", "SWITCHBOARD_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"token-secret", "SWITCHBOARD_TOKEN_SECRET", "", "secret signing tokens (32+ characters); empty shares a generated one through Redis", func(c *Config, v string) error {
		if v != "" && len(v) < 32 {
			return errors.New("must be at least 32 characters")
		}
		c.TokenSecret = v
		return nil
	}},
	{"identity-secret", "SWITCHBOARD_IDENTITY_SECRET", "", "secret of customer identity verification (16+ characters); empty refuses site-given customer ids", func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return errors.New("must be at least 16 characters")
		}
		c.IdentitySecret = v
		return nil
	}},
	{"allowed-origins", "SWITCHBOARD_ALLOWED_ORIGINS", "", "comma-separated host patterns of sites that may embed the widget, e.g. shop.example.com,*.example.org", func(c *Config, v string) error {
		c.WS.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			if strings.Contains(o, "://") || strings.ContainsAny(o, "/ ") {
				return fmt.Errorf("%q: give host patterns (shop.example.com, *.example.com), not URLs", o)
			}
			c.WS.AllowedOrigins = append(c.WS.AllowedOrigins, o)
		}
		return nil
	}},
	{"agent-token-ttl", "SWITCHBOARD_AGENT_TOKEN_TTL", "12h", "lifetime of an agent's login token", func(c *Config, v string) (err error) {
		c.AgentTokenTTL, err = durationIn(v, time.Minute, 30*24*time.Hour)
		return err
	}},
	{"customer-token-ttl", "SWITCHBOARD_CUSTOMER_TOKEN_TTL", "24h", "lifetime of a customer's widget token", func(c *Config, v string) (err error) {
		c.CustomerTokenTTL, err = durationIn(v, time.Minute, 30*24*time.Hour)
		return err
	}},
	{"http-read-timeout", "SWITCHBOARD_HTTP_READ_TIMEOUT", "30s", "longest time to read a whole request, body included (slow clients are cut); WebSockets are not affected", func(c *Config, v string) (err error) {
		c.HTTPReadTimeout, err = durationIn(v, time.Second, time.Hour)
		return err
	}},
	{"http-write-timeout", "SWITCHBOARD_HTTP_WRITE_TIMEOUT", "2m", "longest time to write an answer (clients that stop reading are cut); raise it for large KF5 transcript exports over slow links; WebSockets are not affected", func(c *Config, v string) (err error) {
		c.HTTPWriteTimeout, err = durationIn(v, time.Second, 24*time.Hour)
		return err
	}},
	{"ws-max-unauth-per-addr", "SWITCHBOARD_WS_MAX_UNAUTH_PER_ADDR", "100", "most WebSockets one client address may have open before they authenticate (past it: 429); behind a load balancer, set SWITCHBOARD_TRUSTED_PROXIES or raise this", func(c *Config, v string) (err error) {
		c.WS.MaxUnauthPerAddr, err = intIn(v, 1, 10_000_000)
		return err
	}},
	{"ws-customer-send-rate", "SWITCHBOARD_WS_CUSTOMER_SEND_RATE", "5", "messages a second one customer may send, in bursts of twice as many (past it a send is refused, nothing stored); 0: no bound but the frame budget", func(c *Config, v string) error {
		n, err := intIn(v, 0, 1_000_000)
		c.WS.CustomerSendRate = rate.Limit(n)
		return err
	}},
	{"ws-max-unauth", "SWITCHBOARD_WS_MAX_UNAUTH", "10000", "most WebSockets open before they authenticate on this instance in all (past it: 429)", func(c *Config, v string) (err error) {
		c.WS.MaxUnauth, err = intIn(v, 1, 10_000_000)
		return err
	}},
	{"http-max-conns-per-addr", "SWITCHBOARD_HTTP_MAX_CONNS_PER_ADDR", "256", "most HTTP connections one address (not a trusted proxy) holds open before they become WebSockets; more are closed as they are accepted", func(c *Config, v string) (err error) {
		c.HTTPMaxConnsPerAddr, err = intIn(v, 1, 1_000_000)
		return err
	}},
}

// deskSettings configure agents at work and the compatibility surfaces.
var deskSettings = []setting{
	{"offer-timeout", "SWITCHBOARD_OFFER_TIMEOUT", "30s", "how long an agent has to accept an offered session; 0 accepts at once", func(c *Config, v string) (err error) {
		c.Desk.OfferTimeout, err = durationOrZero(v, time.Second, time.Hour)
		return err
	}},
	{"agent-grace", "SWITCHBOARD_AGENT_GRACE", "60s", "how long an agent whose last connection closed keeps its status and sessions; 0 for none", func(c *Config, v string) (err error) {
		c.Desk.Grace, err = durationOrZero(v, time.Second, time.Hour)
		return err
	}},
	{"presence-ttl", "SWITCHBOARD_PRESENCE_TTL", "60s", "how long a connection of a stopped instance still counts as live", func(c *Config, v string) (err error) {
		c.Desk.PresenceTTL, err = durationIn(v, 3*time.Second, time.Hour)
		return err
	}},
	{"ice-servers", "SWITCHBOARD_ICE_SERVERS", "", "STUN and TURN URLs for calls, comma-separated (stun:stun.example.com:3478,turn:turn.example.com:3478?transport=udp); empty: none (one machine or a LAN needs none)", func(c *Config, v string) error {
		c.ICEServers = v
		return nil
	}},
	{"turn-secret", "SWITCHBOARD_TURN_SECRET", "", "the secret shared with the TURN server (coturn static-auth-secret): the hub mints time-limited TURN credentials with it", func(c *Config, v string) error {
		c.TURNSecret = v
		return nil
	}},
	{"turn-ttl", "SWITCHBOARD_TURN_TTL", "1h", "how long a minted TURN credential is valid", func(c *Config, v string) (err error) {
		c.TURNTTL, err = durationIn(v, time.Minute, 7*24*time.Hour)
		return err
	}},
	{"s3-url", "SWITCHBOARD_S3_URL", "", "S3-compatible store for attachments: s3://ACCESS:SECRET@host[:port]/bucket[?region=…&secure=false]", func(c *Config, v string) error {
		c.S3URL = v
		return nil
	}},
	{"files-dir", "SWITCHBOARD_FILES_DIR", "", "directory for attachments when there is no S3 store (one instance, or a disk all instances share); empty: a temporary one with the embedded Redis, none otherwise", func(c *Config, v string) error {
		c.FilesDir = v
		return nil
	}},
	{"file-max-bytes", "SWITCHBOARD_FILE_MAX_BYTES", "10485760", "largest attachment, in bytes", func(c *Config, v string) (err error) {
		n, err := intIn(v, 1, 1<<30)
		c.MaxFileBytes = int64(n)
		return err
	}},
	{"business-hours", "SWITCHBOARD_BUSINESS_HOURS", "", "when chats are answered, in SWITCHBOARD_TIMEZONE, e.g. \"mon-fri 09:00-18:00; sat 10:00-14:00\"; outside them the widget offers an offline form; empty: always", func(c *Config, v string) error {
		c.BusinessHours = v
		return nil
	}},
	{"idle-warn", "SWITCHBOARD_IDLE_WARN", "0", "idle auto-close: how long a customer may leave the agent's last message unanswered before the chat is warned that it will close; 0 turns it off", func(c *Config, v string) (err error) {
		c.IdleWarn, err = durationOrZero(v, 10*time.Second, 7*24*time.Hour)
		return err
	}},
	{"idle-close", "SWITCHBOARD_IDLE_CLOSE", "5m", "idle auto-close: how long after the warning the chat is closed (reason idle)", func(c *Config, v string) (err error) {
		c.IdleClose, err = durationIn(v, 10*time.Second, 7*24*time.Hour)
		return err
	}},
	{"report-hourly-retention", "SWITCHBOARD_REPORT_HOURLY_RETENTION", "720h", "how long the reports keep hourly figures (30 days)", func(c *Config, v string) (err error) {
		c.ReportHourly, err = durationIn(v, time.Hour, 5*366*24*time.Hour)
		return err
	}},
	{"report-daily-retention", "SWITCHBOARD_REPORT_DAILY_RETENTION", "9600h", "how long the reports keep daily figures (400 days)", func(c *Config, v string) (err error) {
		c.ReportDaily, err = durationIn(v, 24*time.Hour, 10*366*24*time.Hour)
		return err
	}},
	{"call-ring-timeout", "SWITCHBOARD_CALL_RING_TIMEOUT", "45s", "how long a call rings before it ends unanswered (no_answer)", func(c *Config, v string) (err error) {
		c.Desk.RingTimeout, err = durationIn(v, time.Second, time.Hour)
		return err
	}},
	{"call-grace", "SWITCHBOARD_CALL_GRACE", "20s", "how long a call survives a leg's socket closing before it ends (network_lost); a reconnect that rejoins keeps it", func(c *Config, v string) (err error) {
		c.Desk.CallGrace, err = durationIn(v, time.Second, time.Hour)
		return err
	}},
	{"statuses", "SWITCHBOARD_STATUSES", "lunch,break,meeting", "comma-separated custom statuses agents may choose besides Available", func(c *Config, v string) error {
		c.Desk.Statuses = nil
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			if st == hub.AgentAvailable || st == hub.AgentInCall || st == hub.AgentOffline || len(st) > 40 || strings.ContainsAny(st, "'\"\\") {
				return fmt.Errorf("%q: a custom status is 1 to 40 characters without quotes and not Available, In-call or Offline", st)
			}
			if slices.Contains(c.Desk.Statuses, st) {
				return fmt.Errorf("%q is given twice", st)
			}
			c.Desk.Statuses = append(c.Desk.Statuses, st)
		}
		return nil
	}},
	{"sdkappid", "SWITCHBOARD_SDKAPPID", "0", "SDKAppID the Tencent-Desk surface answers to", func(c *Config, v string) (err error) {
		c.Tencent.SDKAppID, err = strconv.ParseUint(v, 10, 53)
		if err != nil {
			return errors.New("must be a whole number")
		}
		return nil
	}},
	{"usersig-key", "SWITCHBOARD_USERSIG_KEY", "", "key usersigs are signed with (Tencent-Desk surface); empty disables that surface", func(c *Config, v string) error {
		c.Tencent.Key = v
		return nil
	}},
	{"admin-identifiers", "SWITCHBOARD_ADMIN_IDENTIFIERS", "admin", "comma-separated identifiers that may call the Tencent-Desk surface", func(c *Config, v string) error {
		c.Tencent.Admins = nil
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.Tencent.Admins = append(c.Tencent.Admins, id)
			}
		}
		if len(c.Tencent.Admins) == 0 {
			return errors.New("must name at least one identifier")
		}
		return nil
	}},
	{"customer-service-id", "SWITCHBOARD_CUSTOMER_SERVICE_ID", "@customer_service_account", "the CustomerServiceId of this contact center on the Tencent-Desk surface", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.Tencent.CustomerServiceID = v
		return nil
	}},
	{"ccai-key", "SWITCHBOARD_CCAI_KEY", "", "HTTP Basic user name of the CCAI agent-status surface; empty disables it", func(c *Config, v string) error {
		c.CCAI.Key = v
		return nil
	}},
	{"ccai-secret", "SWITCHBOARD_CCAI_SECRET", "", "HTTP Basic password of the CCAI agent-status surface (16+ characters)", func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return errors.New("must be at least 16 characters")
		}
		c.CCAI.Secret = v
		return nil
	}},
	{"trusted-proxies", "SWITCHBOARD_TRUSTED_PROXIES", "", "comma-separated networks (CIDR or addresses) whose X-Forwarded-For is believed", func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				addr, aerr := netip.ParseAddr(p)
				if aerr != nil {
					return fmt.Errorf("%q is not a network or an address", p)
				}
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
		}
		return nil
	}},
}

// settings are every setting, in the order -h lists them.
// historySettings configure history, ratings and webhooks.
var historySettings = []setting{
	{"timezone", "SWITCHBOARD_TIMEZONE", "UTC", "IANA time zone of the KF5 surface's times and date filters, and of the reports' hours and days (e.g. Asia/Shanghai)", func(c *Config, v string) (err error) {
		c.Location, err = time.LoadLocation(v)
		return err
	}},
	{"rating-window", "SWITCHBOARD_RATING_WINDOW", "5m", "how long a customer's socket stays open after its session ended, to rate it; 0 closes it at once", func(c *Config, v string) (err error) {
		c.WS.RatingWindow, err = durationOrZero(v, time.Second, time.Hour)
		return err
	}},
	{"webhook-max-age", "SWITCHBOARD_WEBHOOK_MAX_AGE", "24h", "how long a webhook delivery is retried before it counts as failed", func(c *Config, v string) (err error) {
		c.Webhook.MaxAge, err = durationIn(v, time.Second, 30*24*time.Hour)
		return err
	}},
}

// WebhookOptions tune webhook delivery; the zero value of each field takes
// the webhook.Sender default.
type WebhookOptions struct {
	MaxAge, MinBackoff, MaxBackoff, LeaseTTL, Poll time.Duration
}

var settings = append(append(baseSettings, deskSettings...), historySettings...)

// durationOrZero is durationIn that also takes 0.
func durationOrZero(v string, lo, hi time.Duration) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil && d == 0 {
		return 0, nil
	}
	return durationIn(v, lo, hi)
}

func durationIn(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("must be a duration from %v to %v", lo, hi)
	}
	return d, nil
}

// ParseConfig reads the configuration from args (flags) and getenv, and
// validates it. Its error is one line naming the setting and what is wrong.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*string, len(settings))
	for i, s := range settings {
		def := s.def
		if v, ok := lookup(getenv, s.env); ok {
			def = v
		}
		values[i] = fs.String(s.flag, def, fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("invalid arguments: %v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	var c Config
	for i, s := range settings {
		if err := s.set(&c, strings.TrimSpace(*values[i])); err != nil {
			return Config{}, fmt.Errorf("invalid %s (-%s) %q: %v", s.env, s.flag, *values[i], err)
		}
	}
	if c.MinReplicas > 0 && c.RedisURL == "" {
		return Config{}, errors.New("invalid SWITCHBOARD_REDIS_MIN_REPLICAS: the embedded Redis has no replicas; set SWITCHBOARD_REDIS_URL")
	}
	if c.OperatorKey != "" && c.OperatorKey == c.AdminKey {
		return Config{}, errors.New("invalid SWITCHBOARD_OPERATOR_KEY: it must differ from SWITCHBOARD_ADMIN_KEY")
	}
	hours, err := hub.ParseHours(c.BusinessHours, c.Location)
	if err != nil {
		return Config{}, fmt.Errorf("invalid SWITCHBOARD_BUSINESS_HOURS %q: %v", c.BusinessHours, err)
	}
	c.Hours = hours
	ic, err := ice.Parse(c.ICEServers, c.TURNSecret, c.TURNTTL)
	if err != nil {
		return Config{}, fmt.Errorf("invalid SWITCHBOARD_ICE_SERVERS %q: %v", c.ICEServers, err)
	}
	c.ICE = ic
	if (c.CCAI.Key == "") != (c.CCAI.Secret == "") {
		return Config{}, errors.New("invalid SWITCHBOARD_CCAI_KEY and SWITCHBOARD_CCAI_SECRET: give both or neither")
	}
	return c, nil
}

// Usage writes the flags, their variables and defaults to w.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: switchboard [flags]   |   switchboard healthcheck [-addr host:port]   |   switchboard audit   |   switchboard usersig")
	fmt.Fprintln(w, "Every flag can also be set by its environment variable; the flag wins.")
	for _, s := range settings {
		fmt.Fprintf(w, "  -%s  (%s, default %q)\n        %s\n", s.flag, s.env, s.def, s.usage)
	}
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func intIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// parseRetention reads "30d" (days), a plain number of days, or a Go
// duration, from one minute to ten years.
func parseRetention(v string) (time.Duration, error) {
	var d time.Duration
	days, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
	if err == nil {
		d = time.Duration(days) * 24 * time.Hour
	} else if d, err = time.ParseDuration(v); err != nil {
		d = -1
	}
	if d < time.Minute || d > 3650*24*time.Hour {
		return 0, errors.New("must be days (30d) or a duration (36h), from 1m to 3650d")
	}
	return d, nil
}
