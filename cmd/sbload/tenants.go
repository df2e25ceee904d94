package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// The tenants mode (`sbload tenants`) measures what tenants cost an
// instance at rest: it starts one hub on the given Redis, measures it idle
// with the default tenant only, then creates -tenants tenants through the
// operator API, each with an agent and a customer socket in an open chat
// nobody writes in, and measures it idle again: the hub's CPU, goroutines and RSS,
// and the Redis commands a second it causes, before and after, and per
// tenant. It exits 1 when a bound is passed (-max-cpu, -max-redis).

type tenantsOptions struct {
	Tenants  int           `json:"tenants"`
	Idle     time.Duration `json:"idle"`
	Settle   time.Duration `json:"settle"`
	MaxCPU   float64       `json:"max_cpu_cores"`
	MaxRedis float64       `json:"max_redis_cmds_per_s"`
	bin      string
	redisURL string
	out      string
	dir      string
}

// TenantsIdle is one idle measurement.
type TenantsIdle struct {
	Tenants       int     `json:"tenants"`
	Sockets       int     `json:"sockets"`
	CPUCores      float64 `json:"cpu_cores"`
	Goroutines    float64 `json:"goroutines"`
	RSSMB         float64 `json:"rss_mb"`
	RedisCmdsPerS float64 `json:"redis_cmds_per_s"`
	// ByCommand is the Redis commands a second, by command, over the window.
	ByCommand map[string]float64 `json:"redis_by_command"`
}

// TenantsReport is what the tenants mode found.
type TenantsReport struct {
	Options   tenantsOptions `json:"options"`
	Before    TenantsIdle    `json:"before"`
	After     TenantsIdle    `json:"after"`
	SetupS    float64        `json:"setup_s"`
	PerTenant TenantsIdle    `json:"per_tenant"`
	Pass      bool           `json:"pass"`
	Why       []string       `json:"why"`
}

func (r *TenantsReport) passed() (bool, []string) { return r.Pass, r.Why }

func (r *TenantsReport) print(w io.Writer) {
	fmt.Fprintf(w, "== sbload tenants: one hub idle, default tenant only, then %d tenants with an agent and a customer socket each (set up in %.1f s) ==\n",
		r.Options.Tenants, r.SetupS)
	row := func(name string, m TenantsIdle) {
		fmt.Fprintf(w, "%-10s %5d tenants %6d sockets: hub %.3f cores, %6.0f goroutines, RSS %6.1f MB; Redis %7.1f commands/s\n",
			name, m.Tenants, m.Sockets, m.CPUCores, m.Goroutines, m.RSSMB, m.RedisCmdsPerS)
	}
	row("before", r.Before)
	row("after", r.After)
	p := r.PerTenant
	fmt.Fprintf(w, "per tenant: %.5f cores, %.1f goroutines, %.1f KB RSS, %.3f Redis commands/s\n",
		p.CPUCores, p.Goroutines, p.RSSMB*1024, p.RedisCmdsPerS)
	type kv struct {
		k string
		v float64
	}
	var top []kv
	for k, v := range r.After.ByCommand {
		top = append(top, kv{k, v - r.Before.ByCommand[k]})
	}
	for i := range top {
		for j := i + 1; j < len(top); j++ {
			if top[j].v > top[i].v {
				top[i], top[j] = top[j], top[i]
			}
		}
	}
	var parts []string
	for i := 0; i < len(top) && i < 8; i++ {
		parts = append(parts, fmt.Sprintf("%s %.1f", top[i].k, top[i].v))
	}
	fmt.Fprintf(w, "Redis commands/s added, by command: %s\n", strings.Join(parts, ", "))
	verdict := "pass"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Why, "; ")
	}
	fmt.Fprintln(w, "Verdict:", verdict)
}

func tenantsMain(args []string) int {
	var o tenantsOptions
	fs := flag.NewFlagSet("tenants", flag.ExitOnError)
	fs.StringVar(&o.bin, "switchboard", "", "the switchboard binary")
	fs.StringVar(&o.redisURL, "redis-url", "", "a Redis the hub may use (a fresh key prefix is chosen)")
	fs.IntVar(&o.Tenants, "tenants", 1000, "tenants to create")
	fs.DurationVar(&o.Idle, "idle", 30*time.Second, "length of each idle measurement")
	fs.DurationVar(&o.Settle, "settle", 10*time.Second, "pause after the setup before measuring")
	fs.Float64Var(&o.MaxCPU, "max-cpu", 0.25, "bound on the hub's cores idle with every tenant")
	fs.Float64Var(&o.MaxRedis, "max-redis", 0, "bound on the Redis commands a second idle with every tenant; 0: none")
	fs.StringVar(&o.out, "out", "", "write the JSON report here")
	fs.StringVar(&o.dir, "dir", "", "folder for the hub's log (default: a temporary one, kept on failure)")
	fs.Parse(args)
	if o.bin == "" || o.redisURL == "" || o.Tenants < 1 {
		fmt.Fprintln(os.Stderr, "sbload tenants: -switchboard and -redis-url are required, -tenants at least 1")
		return 2
	}
	raiseFileLimit(uint64(4*o.Tenants + 4096))
	rep, err := runTenants(context.Background(), o)
	return finish("tenants", rep, err, o.out)
}

func runTenants(ctx context.Context, o tenantsOptions) (*TenantsReport, error) {
	dir, done, err := runDir(o.dir, "sbload-tenants-")
	if err != nil {
		return nil, err
	}
	failed := true
	defer func() { done(failed) }()
	opt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	operator, admin := "op_"+hub.NewSecret(24), "sk_"+hub.NewSecret(24)
	h, err := startHub(ctx, o.bin, dir, 0, []string{
		"SWITCHBOARD_REDIS_URL=" + o.redisURL, "SWITCHBOARD_KEY_PREFIX={tn" + strings.ToLower(hub.NewSecret(6)) + "}",
		"SWITCHBOARD_OPERATOR_KEY=" + operator, "SWITCHBOARD_ADMIN_KEY=" + admin, "SWITCHBOARD_DEMO=false",
		"SWITCHBOARD_LOG_LEVEL=warn", "SWITCHBOARD_TOKEN_SECRET=" + hub.NewSecret(40),
	})
	if err != nil {
		return nil, err
	}
	defer h.stop()
	rep := &TenantsReport{Options: o}
	time.Sleep(o.Settle)
	logf("tenants: measuring the hub idle with the default tenant only (%v)", o.Idle)
	if rep.Before, err = measureIdle(ctx, h, rdb, o.Idle); err != nil {
		return nil, err
	}
	rep.Before.Tenants = 1

	start := time.Now()
	api := httpClient(nil)
	var socks []*client.Client
	defer func() {
		for _, s := range socks {
			s.CloseNow()
		}
	}()
	ws := "ws" + strings.TrimPrefix(h.url, "http") + "/ws?tenant="
	type pair struct{ agent, customer *client.Client }
	pairs := make([]pair, o.Tenants)
	err = parallel(ctx, o.Tenants, 16, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("t%05d", i)
		var t struct {
			AdminKey string `json:"admin_key"`
		}
		if err := call(ctx, api, "POST", h.url+"/api/v1/operator/tenants", operator, map[string]any{"id": id}, &t); err != nil {
			return err
		}
		if err := call(ctx, api, "POST", h.url+"/api/v1/agents?tenant="+id, t.AdminKey,
			map[string]any{"id": "agent_1", "name": "Agent", "email": "agent@" + id + ".test"}, nil); err != nil {
			return err
		}
		var tok struct {
			Token string `json:"token"`
		}
		if err := call(ctx, api, "POST", h.url+"/api/v1/agents/agent_1/token?tenant="+id, t.AdminKey, nil, &tok); err != nil {
			return err
		}
		var w struct {
			Token   string `json:"token"`
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		}
		if err := call(ctx, httpClient(srcAddr(i)), "POST", h.url+"/api/v1/widget/sessions?tenant="+id, "", map[string]any{"name": "Customer"}, &w); err != nil {
			return err
		}
		// The chat is open and quiet: the agent has it, nobody writes.
		if err := call(ctx, api, "POST", h.url+"/customer-service/sessions/"+w.Session.ID+"/assign?tenant="+id, t.AdminKey,
			map[string]any{"agent_id": "agent_1", "agent_name": "Agent"}, nil); err != nil {
			return err
		}
		a, err := client.Dial(ctx, client.Config{URL: ws + id, Token: tok.Token, HTTPClient: wsClient(srcAddr(o.Tenants + i))})
		if err != nil {
			return fmt.Errorf("tenant %s: agent socket: %w", id, err)
		}
		c, err := client.Dial(ctx, client.Config{URL: ws + id, Token: w.Token, HTTPClient: wsClient(srcAddr(i))})
		if err != nil {
			a.CloseNow()
			return fmt.Errorf("tenant %s: customer socket: %w", id, err)
		}
		pairs[i] = pair{a, c}
		if (i+1)%100 == 0 {
			logf("tenants: %d set up", i+1)
		}
		return nil
	})
	for _, p := range pairs {
		if p.agent != nil {
			socks = append(socks, p.agent, p.customer)
		}
	}
	if err != nil {
		return nil, err
	}
	rep.SetupS = time.Since(start).Seconds()
	time.Sleep(o.Settle)
	logf("tenants: measuring the hub idle with %d tenants (%v)", o.Tenants, o.Idle)
	if rep.After, err = measureIdle(ctx, h, rdb, o.Idle); err != nil {
		return nil, err
	}
	rep.After.Tenants, rep.After.Sockets = 1+o.Tenants, len(socks)
	n := float64(o.Tenants)
	rep.PerTenant = TenantsIdle{Tenants: 1, Sockets: 2,
		CPUCores:      (rep.After.CPUCores - rep.Before.CPUCores) / n,
		Goroutines:    (rep.After.Goroutines - rep.Before.Goroutines) / n,
		RSSMB:         (rep.After.RSSMB - rep.Before.RSSMB) / n,
		RedisCmdsPerS: (rep.After.RedisCmdsPerS - rep.Before.RedisCmdsPerS) / n,
	}
	rep.Pass = true
	if rep.After.CPUCores > o.MaxCPU {
		rep.Pass = false
		rep.Why = append(rep.Why, fmt.Sprintf("the hub idles at %.3f cores with %d tenants (bound %.3f)", rep.After.CPUCores, o.Tenants, o.MaxCPU))
	}
	if o.MaxRedis > 0 && rep.After.RedisCmdsPerS > o.MaxRedis {
		rep.Pass = false
		rep.Why = append(rep.Why, fmt.Sprintf("Redis runs %.0f commands/s for an idle hub with %d tenants (bound %.0f)", rep.After.RedisCmdsPerS, o.Tenants, o.MaxRedis))
	}
	failed = !rep.Pass
	return rep, nil
}

// measureIdle samples the hub and Redis over window.
func measureIdle(ctx context.Context, h *hubProc, rdb *redis.Client, window time.Duration) (TenantsIdle, error) {
	cpu0 := h.metric(ctx, "process_cpu_seconds_total")
	st0, err := redisStats(ctx, rdb)
	if err != nil {
		return TenantsIdle{}, err
	}
	t0 := time.Now()
	time.Sleep(window)
	cpu1 := h.metric(ctx, "process_cpu_seconds_total")
	st1, err := redisStats(ctx, rdb)
	if err != nil {
		return TenantsIdle{}, err
	}
	secs := time.Since(t0).Seconds()
	m := TenantsIdle{
		CPUCores:      (cpu1 - cpu0) / secs,
		Goroutines:    h.metric(ctx, "go_goroutines"),
		RSSMB:         h.metric(ctx, "process_resident_memory_bytes") / (1 << 20),
		RedisCmdsPerS: float64(st1.Calls-st0.Calls-1) / secs, // less the INFO itself
		ByCommand:     map[string]float64{},
	}
	for k, v := range st1.By {
		if d := float64(v - st0.By[k]); d > 0 && k != "info" {
			m.ByCommand[k] = d / secs
		}
	}
	return m, nil
}
