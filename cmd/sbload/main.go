// Command sbload loads a Switchboard cluster the way a contact center
// does and measures it: conversations between customers (started on the
// widget endpoint) and agents (routed and accepted through the real flow),
// each party on its own WebSocket, customers and agents on different
// instances. Every message carries its send time and a sequence, so the
// tool reports end-to-end latency percentiles and counts lost, duplicated
// and out-of-order messages (all three must be 0), with the servers' CPU
// and memory and Redis's commands per message.
//
// Modes: idle (hold the sockets; memory and CPU per connection), steady (a
// fixed message rate), ramp (raise the rate until p99 or errors cross a
// bound: the saturation point), storm (steady, while a share of the
// sockets drop and resume every second) and connect (connect +
// authenticate + resume as fast as one instance takes them).
// --baseline runs the same shape against a bare relay (coder/websocket, no
// Redis, no history) in a child process: the machine's ceiling, which the
// report divides Switchboard's figures by. `sbload report -dir D` writes
// scripts/bench.sh's report from the runs it left in D.
//
//	sbload -hubs http://127.0.0.1:8080,http://127.0.0.1:8081 -key $SWITCHBOARD_ADMIN_KEY \
//	       -redis redis://127.0.0.1:6379 -mode steady -conversations 5000 -rate 1000 -duration 30s -runs 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// options are the command line.
type options struct {
	Mode          string        `json:"mode"`
	Hubs          []string      `json:"hubs"`
	Conversations int           `json:"conversations"`
	PerAgent      int           `json:"conversations_per_agent"`
	Rate          float64       `json:"rate"`
	Duration      time.Duration `json:"-"`
	Runs          int           `json:"runs"`
	Size          int           `json:"message_bytes"`
	Workers       int           `json:"workers"`
	StormShare    float64       `json:"storm_share"`
	RampStart     float64       `json:"ramp_start"`
	RampStep      float64       `json:"ramp_step"`
	RampMaxP99    time.Duration `json:"-"`
	IdleWindow    time.Duration `json:"-"`
	// BackgroundWindow is how long Redis's background work (presence,
	// sweeps, pings: the sockets connected, no messages) is measured
	// before the runs, so that a run tells the send path's cost from it.
	// It spans one presence refresh period (a third of the hubs' default
	// 60 s presence TTL): each hub refreshes all its agents' connections
	// at once every 20 s, 4 commands each, and a 5 s window that caught
	// that burst read 20,000 agents' background as 14,700 commands a
	// second, 3.7 times its average (docs/performance.md, round three).
	BackgroundWindow time.Duration `json:"-"`
	Settle           time.Duration `json:"-"`
	// Warmup sends each conversation's first message each way before the
	// measured runs (steady, storm, ramp): see warmup.
	Warmup   bool   `json:"warmup"`
	Baseline bool   `json:"baseline"`
	Bind     string `json:"bind"`
	// WaitFor, if set, holds the measured runs until this file exists:
	// several load processes on the same hubs (one process opens at most
	// the machine's open-files limit of sockets) set up one after another
	// and then measure the same windows (bench.sh's growth runs).
	WaitFor string `json:"wait_for,omitempty"`

	key, redisURL, out string
	quiet              bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "relay" {
		fs := flag.NewFlagSet("relay", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		fs.Parse(os.Args[2:])
		if err := runRelay(*addr); err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "chaos-table" {
		fs := flag.NewFlagSet("chaos-table", flag.ExitOnError)
		dir := fs.String("dir", ".", "the folder of the chaos runs' JSON results")
		fs.Parse(os.Args[2:])
		if err := chaosTable(*dir, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "chaos-table:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "reliability" {
		os.Exit(reliabilityMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		os.Exit(soakMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "chaos" {
		os.Exit(chaosMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "tenants" {
		os.Exit(tenantsMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "hostile" {
		os.Exit(hostileMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "report" {
		fs := flag.NewFlagSet("report", flag.ExitOnError)
		dir := fs.String("dir", ".", "the folder of scripts/bench.sh's results")
		fs.Parse(os.Args[2:])
		if err := runReport(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var hubs string
	flag.StringVar(&o.Mode, "mode", "steady", "idle, steady, ramp, storm or connect")
	flag.StringVar(&hubs, "hubs", "http://127.0.0.1:8080", "comma-separated hub base URLs; sockets are spread over them")
	flag.StringVar(&o.key, "key", os.Getenv("SWITCHBOARD_ADMIN_KEY"), "the hubs' admin key (default $SWITCHBOARD_ADMIN_KEY)")
	flag.StringVar(&o.redisURL, "redis", "", "the hubs' Redis, for INFO commandstats (optional)")
	flag.IntVar(&o.Conversations, "conversations", 1000, "conversations (a customer and an agent socket each)")
	flag.IntVar(&o.PerAgent, "per-agent", 1, "conversations per agent (its capacity; one socket carries them all)")
	flag.Float64Var(&o.Rate, "rate", 1000, "messages per second (steady, storm)")
	flag.DurationVar(&o.Duration, "duration", 30*time.Second, "length of one measured run (steady, storm) or ramp step")
	flag.IntVar(&o.Runs, "runs", 1, "measured runs on one setup (steady, storm, connect); the report gives their median")
	flag.IntVar(&o.Size, "size", 200, "message size in bytes")
	flag.IntVar(&o.Workers, "workers", 512, "concurrent senders")
	flag.Float64Var(&o.StormShare, "storm-share", 0.02, "share of sockets dropped and resumed every second (storm)")
	flag.Float64Var(&o.RampStart, "ramp-start", 1000, "first rate of the ramp")
	flag.Float64Var(&o.RampStep, "ramp-step", 1000, "rate added per ramp step")
	flag.DurationVar(&o.RampMaxP99, "ramp-p99", 50*time.Millisecond, "the ramp stops at the first step whose p99 is above this")
	flag.DurationVar(&o.IdleWindow, "idle-window", 20*time.Second, "how long idle mode measures CPU")
	flag.DurationVar(&o.BackgroundWindow, "redis-background", 20*time.Second,
		"with -redis: how long Redis's background work (no messages) is measured before the runs, to report the send path's commands and CPU per message apart from it (0: not)")
	flag.DurationVar(&o.Settle, "settle", 5*time.Second, "pause after the setup before measuring")
	flag.BoolVar(&o.Warmup, "warmup", true,
		"before the measured runs (steady, storm, ramp), send each conversation's first message each way, the customer's, then the agent's first reply (it also writes the conversation's first-response figures); reported apart")
	flag.StringVar(&o.WaitFor, "wait-for", "", "after the setup, wait for this file to exist before measuring (several load processes measuring together)")
	flag.BoolVar(&o.Baseline, "baseline", false, "also run the same shape against a bare relay and report ratios")
	flag.StringVar(&o.Bind, "bind", "auto", "bind each socket to its own 127.x.y.z source address: auto (when the hubs are on loopback), always, never")
	flag.StringVar(&o.out, "out", "", "write the JSON report here")
	flag.BoolVar(&o.quiet, "quiet", false, "no progress line")
	cpuprofile := flag.String("cpuprofile", "", "write sbload's own CPU profile here (to see what the tool costs)")
	flag.Parse()
	o.Hubs = strings.Split(hubs, ",")
	if !slices.Contains([]string{"idle", "steady", "ramp", "storm", "connect"}, o.Mode) || o.Conversations < 1 || o.PerAgent < 1 || o.Runs < 1 || o.Size < 48 {
		fmt.Fprintln(os.Stderr, "sbload: bad -mode, -conversations, -per-agent, -runs or -size (at least 48 bytes)")
		os.Exit(2)
	}
	raiseFileLimit(uint64(4*o.Conversations + 4096))
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbload:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		rep.print(os.Stdout)
		if o.out != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(o.out, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "sbload:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(1)
	}
	if rep.Lost+rep.Duplicated+rep.OutOfOrder+rep.SendErrors > 0 {
		fmt.Fprintln(os.Stderr, "sbload: FAIL: messages lost, duplicated, out of order or refused")
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sbload: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (*Report, error) {
	t := &sbTarget{urls: o.Hubs, key: o.key, api: httpClient(nil)}
	t.bind = o.Bind == "always" || o.Bind == "auto" && allLoopback(o.Hubs)
	var rdb *redis.Client
	if o.redisURL != "" {
		opt, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return nil, err
		}
		rdb = redis.NewClient(opt)
		defer rdb.Close()
	}
	servers := make([]server, len(o.Hubs))
	for i, u := range o.Hubs {
		servers[i] = server{name: u, metrics: strings.TrimSuffix(u, "/") + "/metrics"}
	}
	rep, err := measure(ctx, o, "switchboard", servers, rdb, func(rec *recorder) ([]*sock, error) {
		return setupSwitchboard(ctx, t, o.Conversations, o.PerAgent, rec, logf)
	})
	if err != nil || !o.Baseline || o.Mode == "connect" {
		return rep, err
	}
	addr, cmd, err := startRelay()
	if err != nil {
		return rep, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	bo := o
	if bo.Mode == "storm" {
		bo.Mode = "steady" // the relay keeps no history: nothing to resume
	}
	base, err := measure(ctx, bo, "baseline relay", []server{{name: "relay", pid: cmd.Process.Pid}}, nil, func(rec *recorder) ([]*sock, error) {
		return setupRelay(ctx, addr, o.Conversations, t.bind, rec)
	})
	rep.Baseline = base
	if base != nil {
		rep.ratios()
	}
	return rep, err
}

func allLoopback(urls []string) bool {
	for _, u := range urls {
		if !strings.Contains(u, "://127.") && !strings.Contains(u, "://localhost") {
			return false
		}
	}
	return true
}

// load is one setup under measurement.
type load struct {
	o       options
	rec     *recorder
	socks   []*sock
	servers []server
	rdb     *redis.Client

	// bg is Redis's background work per second, measured once before the
	// runs (nil: not measured); owned by measure's goroutine.
	bg *RedisBackground

	jobs     chan job
	enqueued atomic.Int64
	done     atomic.Int64
	next     int64 // owned by drive: the next message's number
	// limit, when above 0, is how many messages drive hands out, however
	// long that takes (warmup); set on measure's goroutine, which drive
	// runs on.
	limit int64
}

type job struct {
	c   *conversation
	dir int
}

// measure sets up, runs the mode and reports, then closes the sockets.
func measure(ctx context.Context, o options, target string, servers []server, rdb *redis.Client, setup func(*recorder) ([]*sock, error)) (*Report, error) {
	rep := &Report{Tool: "sbload", Target: target, Options: o, Started: time.Now().UTC()}
	before, err := sampleAll(ctx, servers)
	if err != nil {
		return nil, err
	}
	l := &load{o: o, rec: &recorder{started: time.Now()}, servers: servers, rdb: rdb, jobs: make(chan job, 4096)}
	logf("%s: setting up %d conversations", target, o.Conversations)
	t0 := time.Now()
	l.socks, err = setup(l.rec)
	rep.SetupSeconds = time.Since(t0).Seconds()
	defer func() {
		for _, s := range l.socks {
			if s != nil {
				s.close()
			}
		}
	}()
	if err != nil {
		return rep, err
	}
	rep.Sockets = len(l.socks)
	var wg sync.WaitGroup
	defer func() { close(l.jobs); wg.Wait() }()
	for range o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker() }()
	}
	select {
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	if o.Warmup && slices.Contains([]string{"steady", "storm", "ramp"}, o.Mode) {
		rate := o.Rate
		if o.Mode == "ramp" {
			rate = o.RampStart
		}
		rep.Warmup = l.warmup(ctx, rate)
	}
	if o.WaitFor != "" {
		logf("set up; waiting for %s", o.WaitFor)
		for {
			if _, err := os.Stat(o.WaitFor); err == nil {
				break
			}
			if !sleepCtx(ctx, 10*time.Millisecond) {
				return rep, ctx.Err()
			}
		}
	}

	if l.rdb != nil && o.BackgroundWindow > 0 && slices.Contains([]string{"steady", "storm", "ramp"}, o.Mode) {
		if l.bg, err = l.background(ctx); err != nil {
			return rep, err
		}
		rep.RedisBackground = l.bg
	}
	switch o.Mode {
	case "idle":
		rep.Idle, err = l.idle(ctx, before)
	case "connect":
		for i := range o.Runs {
			var c *ConnectResult
			if c, err = l.connect(ctx); err != nil {
				break
			}
			logf("connect run %d: %d sockets in %.2fs: %.0f/s", i+1, c.Sockets, c.Seconds, c.PerSecond)
			rep.Connects = append(rep.Connects, *c)
		}
	case "steady", "storm":
		share := 0.0
		if o.Mode == "storm" {
			share = o.StormShare
		}
		for i := range o.Runs {
			r := l.run(ctx, fmt.Sprintf("run %d", i+1), o.Rate, o.Duration, share)
			rep.Runs = append(rep.Runs, r)
			if ctx.Err() != nil {
				break
			}
		}
	case "ramp":
		for rate := o.RampStart; ctx.Err() == nil; rate += o.RampStep {
			r := l.run(ctx, fmt.Sprintf("%.0f/s", rate), rate, o.Duration, 0)
			r.Pass = r.Latency.P99 <= float64(o.RampMaxP99)/1e6 && r.SendErrors == 0 && r.Lost == 0 &&
				r.SentPerSecond >= 0.95*rate
			rep.Runs = append(rep.Runs, r)
			if !r.Pass {
				break
			}
			rep.Saturation = &r
		}
	}
	rep.Lost, _ = l.rec.lost()
	rep.Duplicated, rep.OutOfOrder = l.rec.dups.Load(), l.rec.ooo.Load()
	rep.SendErrors = l.rec.sendErrs.Load()
	for _, s := range l.socks {
		if s != nil && s.sb != nil {
			st := s.sb.Stats()
			rep.ClientDuplicates += int64(st.Duplicates)
			rep.ClientGaps += int64(st.Gaps)
		}
	}
	rep.summarize()
	return rep, err
}

func (l *load) worker() {
	for j := range l.jobs {
		l.send(j)
		l.done.Add(1)
	}
}

func (l *load) send(j job) {
	c := j.c
	s := c.side[j.dir]
	c.sendMu[j.dir].Lock()
	defer c.sendMu[j.dir].Unlock()
	c.sent[j.dir]++
	text := makeText(c.idx, j.dir, c.sent[j.dir], time.Now(), l.o.Size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	start := time.Now()
	s.mu.Lock()
	err := s.send(ctx, c.sid, text)
	s.mu.Unlock()
	cancel()
	took := time.Since(start)
	if err != nil {
		if l.rec.sendErrs.Add(1) <= 5 {
			if s.sb != nil {
				logf("send on socket %d: %v (connected %v to %s, stats %+v)", s.idx, err, s.sb.Connected(), s.sb.URL(), s.sb.Stats())
			} else {
				logf("send on socket %d: %v", s.idx, err)
			}
		}
		if c.failed[j.dir] == nil {
			c.failed[j.dir] = map[int64]struct{}{}
		}
		c.failed[j.dir][c.sent[j.dir]] = struct{}{}
		return
	}
	c.acked[j.dir]++
	l.rec.sent.Add(1)
	l.rec.acked(took)
}

// drive hands out messages at rate for d: message i goes to conversation
// i mod n, from the customer on even rounds and from the agent on odd ones.
func (l *load) drive(ctx context.Context, rate float64, d time.Duration) {
	convs := l.rec.conversations()
	n := int64(len(convs))
	start := time.Now()
	var i int64
	for ctx.Err() == nil {
		el := time.Since(start)
		due := int64(el.Seconds() * rate)
		if l.limit > 0 {
			if i >= l.limit {
				return
			}
			due = min(due, l.limit)
		} else if el >= d {
			return
		}
		for ; i < due; i++ {
			k := l.next
			l.next++
			select {
			case l.jobs <- job{c: convs[k%n], dir: int((k / n) % 2)}:
				l.enqueued.Add(1)
			case <-ctx.Done():
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// warmup sends every conversation's first message each way at rate, the
// customers' first, then the agents' replies, and returns the figures of
// the two. An agent's first reply in a conversation also writes the
// conversation's first-response figures (message.lua: about 15 HINCRBY
// more), once in the conversation's life. Without it a ramp's first step
// carried all of them: 13-14 Redis commands a message where the steps
// after it took 8, which measured how fast every conversation starts at
// once, not the chat the runs are for; one ramp of three stopped there
// (docs/performance.md). The runs after it count the same messages as
// before: a conversation's seqs go on from here.
func (l *load) warmup(ctx context.Context, rate float64) []RunResult {
	n := int64(len(l.rec.conversations()))
	d := time.Duration(float64(n) / rate * float64(time.Second))
	var out []RunResult
	for _, name := range []string{"warm-up: customers' first messages", "warm-up: agents' first replies"} {
		l.limit = n
		out = append(out, l.run(ctx, name, rate, d, 0))
		l.limit = 0
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// run measures one window of traffic at rate for d (with a storm when
// share > 0), then waits for the sends and deliveries to finish.
func (l *load) run(ctx context.Context, name string, rate float64, d time.Duration, share float64) RunResult {
	r := RunResult{Name: name, TargetRate: rate}
	rec := l.rec
	rec.takeWindow()
	before, _ := sampleAll(ctx, l.servers)
	self0 := selfCPU()
	rb, _ := redisStats(ctx, l.rdb)
	tb := time.Now()
	sent0, deliv0, err0 := rec.sent.Load(), rec.delivered.Load(), rec.sendErrs.Load()
	rc0, rce0 := rec.reconnects.Load(), rec.reconnectErrs.Load()
	lost0, _ := rec.lost()

	runCtx, stopRun := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); l.progress(runCtx, name) }()
	if share > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); l.storm(runCtx, share) }()
	}
	t0 := time.Now()
	l.drive(ctx, rate, d)
	// Wait for the sends in flight, then for their deliveries.
	for deadline := time.Now().Add(60 * time.Second); l.done.Load() < l.enqueued.Load() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stopRun()
	bg.Wait()
	r.Seconds = time.Since(t0).Seconds()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if lost, _ := rec.lost(); lost == 0 {
			break
		}
	}
	after, _ := sampleAll(ctx, l.servers)
	r.ToolCPU = selfCPU() - self0
	ra, _ := redisStats(ctx, l.rdb)
	redisSecs := time.Since(tb).Seconds()
	lat, rcl := rec.takeWindow()

	r.Sent = rec.sent.Load() - sent0
	r.SentPerSecond = float64(r.Sent) / d.Seconds()
	r.Delivered = rec.delivered.Load() - deliv0
	r.DeliveredPerSecond = float64(r.Delivered) / d.Seconds()
	r.SendErrors = rec.sendErrs.Load() - err0
	lost, _ := rec.lost()
	r.Lost = lost - lost0
	r.Latency = percentiles(lat)
	r.Reconnects, r.ReconnectErrors = rec.reconnects.Load()-rc0, rec.reconnectErrs.Load()-rce0
	if len(rcl) > 0 {
		p := percentiles(rcl)
		r.ReconnectLatency = &p
	}
	if len(before) == len(after) {
		for i := range after {
			r.ServerCPU += after[i].CPU - before[i].CPU
			r.ServerRSS = append(r.ServerRSS, after[i].RSS)
		}
	}
	if r.ServerCPU > 0 {
		r.DeliveriesPerCPUSecond = float64(r.Delivered) / r.ServerCPU
		r.ServerCores = r.ServerCPU / r.Seconds
		r.ToolPerServerCPU = r.ToolCPU / r.ServerCPU
	}
	if l.rdb != nil && r.Sent > 0 {
		d := ra.sub(rb)
		r.RedisCommandsPerMessage = float64(d.Calls) / float64(r.Sent)
		r.RedisScriptsPerMessage = float64(d.Scripts) / float64(r.Sent)
		r.RedisTop = top(d.By, 8)
		if d.CPU > 0 {
			r.RedisCores = d.CPU / r.Seconds
			r.RedisMicrosPerMessage = d.CPU * 1e6 / float64(r.Sent)
		}
		if bg := l.bg; bg != nil {
			r.RedisSendCommandsPerMessage = max(float64(d.Calls)-bg.CallsPerSecond*redisSecs, 0) / float64(r.Sent)
			r.RedisSendMicrosPerMessage = max(d.CPU-bg.Cores*redisSecs, 0) * 1e6 / float64(r.Sent)
		}
	}
	logf("%s: sent %d (%.0f/s), delivered %d (%.0f/s), p50 %.2fms p99 %.2fms max %.1fms, errors %d, lost %d",
		name, r.Sent, r.SentPerSecond, r.Delivered, r.DeliveredPerSecond, r.Latency.P50, r.Latency.P99, r.Latency.Max, r.SendErrors, r.Lost)
	if r.ServerCPU > 0 {
		logf("%s: sbload itself used %.2f cores, %.2f× the hubs' CPU", name, r.ToolCPU/r.Seconds, r.ToolPerServerCPU)
	}
	if r.RedisMicrosPerMessage > 0 {
		logf("%s: redis %.2f cores, %.1f µs CPU per message: one Redis core carries about %.0f msg/s of this shape",
			name, r.RedisCores, r.RedisMicrosPerMessage, 1e6/r.RedisMicrosPerMessage)
	}
	if l.bg != nil && r.Sent > 0 {
		logf("%s: send path, background taken out: %.2f Redis commands and %.1f µs of Redis CPU per message",
			name, r.RedisSendCommandsPerMessage, r.RedisSendMicrosPerMessage)
	}
	return r
}

func top(m map[string]int64, n int) map[string]int64 {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(m[b] - m[a]) })
	out := map[string]int64{}
	for _, k := range keys[:min(n, len(keys))] {
		out[k] = m[k]
	}
	return out
}

// progress prints a line a second until ctx ends.
func (l *load) progress(ctx context.Context, name string) {
	if l.o.quiet {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rec := l.rec
	start := time.Now()
	sent, deliv := rec.sent.Load(), rec.delivered.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s, d := rec.sent.Load(), rec.delivered.Load()
		p := percentiles(rec.takeSecond())
		fmt.Fprintf(os.Stderr, "  [%s %3.0fs] sent %6d/s  delivered %6d/s  p50 %6.2fms  p99 %7.2fms  errors %d  dup %d  ooo %d  reconnects %d  backlog %d\n",
			name, time.Since(start).Seconds(), s-sent, d-deliv, p.P50, p.P99, rec.sendErrs.Load(), rec.dups.Load(), rec.ooo.Load(),
			rec.reconnects.Load(), l.enqueued.Load()-l.done.Load())
		sent, deliv = s, d
	}
}

// storm drops and resumes share of the sockets every second.
func (l *load) storm(ctx context.Context, share float64) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	k := max(1, int(share*float64(len(l.socks))+0.5))
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, i := range rand.Perm(len(l.socks))[:k] {
			s := l.socks[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.mu.Lock()
				defer s.mu.Unlock()
				rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				t0 := time.Now()
				err := s.reconnect(rctx)
				l.rec.reconnected(time.Since(t0), err)
				if err != nil {
					logf("storm: reconnect socket %d: %v", s.idx, err)
				}
			}()
		}
	}
}

// idle holds the sockets for the idle window and reports the servers'
// memory per connection (their RSS now less before the setup) and CPU.
func (l *load) idle(ctx context.Context, before []procSample) (*IdleResult, error) {
	a, err := sampleAll(ctx, l.servers)
	if err != nil {
		return nil, err
	}
	logf("idle: measuring CPU for %s", l.o.IdleWindow)
	select {
	case <-time.After(l.o.IdleWindow):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b, err := sampleAll(ctx, l.servers)
	if err != nil {
		return nil, err
	}
	perHub := make([]int, len(l.servers))
	for _, s := range l.socks {
		if s.hub < len(perHub) {
			perHub[s.hub]++
		}
	}
	if len(l.servers) == 1 {
		perHub[0] = len(l.socks)
	}
	res := &IdleResult{Sockets: len(l.socks), Window: l.o.IdleWindow.Seconds()}
	var rss, cpu float64
	for i := range l.servers {
		h := IdleServer{Name: l.servers[i].name, Sockets: perHub[i], RSSBefore: before[i].RSS, RSSAfter: b[i].RSS,
			HeapAfter: b[i].Heap, Goroutines: b[i].Goroutines, CPUCores: (b[i].CPU - a[i].CPU) / l.o.IdleWindow.Seconds()}
		if perHub[i] > 0 {
			h.BytesPerSocket = (b[i].RSS - before[i].RSS) / float64(perHub[i])
			h.GoroutinesPerSocket = b[i].Goroutines / float64(perHub[i])
		}
		rss += b[i].RSS - before[i].RSS
		cpu += h.CPUCores
		res.Servers = append(res.Servers, h)
	}
	res.BytesPerSocket = rss / float64(len(l.socks))
	res.CPUCores = cpu
	res.CoresPer5000 = cpu / float64(len(l.socks)) * 5000
	logf("idle: %.1f KB per socket, %.4f cores (%.4f per 5,000 sockets)", res.BytesPerSocket/1024, res.CPUCores, res.CoresPer5000)
	return res, nil
}

// background measures Redis's work while every socket is connected and no
// message is sent, for o.BackgroundWindow: the presence refreshes, sweeps
// and janitors, whose rate follows the sockets and the clock, not the
// messages. A run takes it out of its own figures to report the send
// path's cost per message (RedisSendCommandsPerMessage).
func (l *load) background(ctx context.Context) (*RedisBackground, error) {
	a, err := redisStats(ctx, l.rdb)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if !sleepCtx(ctx, l.o.BackgroundWindow) {
		return nil, ctx.Err()
	}
	b, err := redisStats(ctx, l.rdb)
	if err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	d := b.sub(a)
	bg := &RedisBackground{Seconds: secs, CallsPerSecond: float64(d.Calls) / secs, Cores: d.CPU / secs, Top: top(d.By, 8)}
	logf("redis background (no messages, %.1fs): %.0f commands/s, %.3f cores", secs, bg.CallsPerSecond, bg.Cores)
	return bg, nil
}

// connect closes the customers' sockets on the first instance, waits for
// the instance to let them go, then reconnects them all at once (connect,
// authenticate, resume from the last event) and times it.
func (l *load) connect(ctx context.Context) (*ConnectResult, error) {
	var set []*sock
	for _, s := range l.socks {
		if s.side == 0 && s.hub == 0 && s.sb != nil {
			set = append(set, s)
		}
	}
	if len(set) == 0 {
		return nil, errors.New("connect: no customer sockets on the first hub")
	}
	before, err := l.servers[0].sample(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range set {
		s.sb.CloseNow()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, err := l.servers[0].sample(ctx)
		if err == nil && p.Conns <= before.Conns-float64(len(set)) {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("connect: the hub did not release the closed sockets")
		}
	}
	c0, _ := l.servers[0].sample(ctx)
	self0, t0 := selfCPU(), time.Now()
	err = parallel(ctx, len(set), 64, func(ctx context.Context, i int) error {
		return set[i].reconnect(ctx)
	})
	d, self := time.Since(t0), selfCPU()-self0
	c1, _ := l.servers[0].sample(ctx)
	if err != nil {
		return nil, err
	}
	return &ConnectResult{Sockets: len(set), Seconds: d.Seconds(), PerSecond: float64(len(set)) / d.Seconds(),
		ServerCPU: c1.CPU - c0.CPU, ToolCPU: self}, nil
}
