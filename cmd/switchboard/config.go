package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/api"
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
	// AdminKey authorizes the back-office APIs; "" (the default) generates a
	// random key at each start and prints it.
	AdminKey string
	// MaxOpenSessions caps the open sessions of the contact center; 0 (the
	// default) means no cap.
	MaxOpenSessions int
	// AgentCapacity is the capacity of an agent first seen through an admin
	// assign, and of the demo agent; default 5.
	AgentCapacity int
	// Retention is how long ended sessions and their events are kept;
	// default 30 days.
	Retention time.Duration
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
	// WS tunes the WebSocket endpoint. Only WS.AllowedOrigins, the host
	// patterns of the sites that may embed the widget, is read from the
	// environment (empty, the default, allows only the hub's own host);
	// tests shorten the timings.
	WS api.WSOptions
	// AgentTokenTTL and CustomerTokenTTL bound token lifetimes; defaults 12h and 24h.
	AgentTokenTTL, CustomerTokenTTL time.Duration
}

// setting is one configuration value: its flag, its variable, its default
// and how it is checked and stored.
type setting struct {
	flag, env, def, usage string
	set                   func(c *Config, v string) error
}

var settings = []setting{
	{"addr", "SWITCHBOARD_ADDR", ":8080", "HTTP listen address (host:port)", func(c *Config, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return errors.New("must be host:port, such as :8080 or 127.0.0.1:8080")
		}
		c.Addr = v
		return nil
	}},
	{"redis-url", "SWITCHBOARD_REDIS_URL", "", "Redis URL: redis://, rediss://, redis+sentinel://, redis+cluster:// or unix://; empty starts an embedded, non-persistent Redis", func(c *Config, v string) error {
		if v != "" {
			rdb, err := redisClient(v)
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
	{"admin-key", "SWITCHBOARD_ADMIN_KEY", "", "admin API key (Bearer); empty generates one at each start", func(c *Config, v string) error {
		if v != "" && (len(v) < 16 || strings.ContainsAny(v, " \t\r\n")) {
			return errors.New("must be at least 16 characters with no spaces")
		}
		c.AdminKey = v
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
	return c, nil
}

// Usage writes the flags, their variables and defaults to w.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: switchboard [flags]   |   switchboard healthcheck [-addr host:port]")
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
