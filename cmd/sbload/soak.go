package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// The soak (`sbload soak`) runs a contact center's day, compressed: its
// own Redis and hub processes (retention shortened), agents signed in once,
// and waves of conversations that chat under a steady load while a share
// of the sockets drops and resumes every second, then end, and the next
// wave begins. It samples the hubs' RSS and goroutines and Redis's memory
// all along and reports how each grows (the slope of a least-squares line
// over the samples after the first wave): a leak shows as a slope, the
// work itself does not, since ended conversations leave with retention.
// It ends with the store's audit (every key has a TTL or a bound).

// soakOptions are the soak's command line.
type soakOptions struct {
	Duration      time.Duration `json:"-"`
	Wave          time.Duration `json:"-"`
	Hubs          int           `json:"hubs"`
	Conversations int           `json:"conversations"`
	Rate          float64       `json:"rate"`
	StormShare    float64       `json:"storm_share"`
	Retention     time.Duration `json:"-"`
	Sample        time.Duration `json:"-"`
	Size          int           `json:"message_bytes"`

	bin, dir, out string
	quiet         bool
}

// SoakSample is one look at the processes.
type SoakSample struct {
	T          float64   `json:"t_seconds"`
	RSS        []float64 `json:"hub_rss_bytes"`
	Goroutines []float64 `json:"hub_goroutines"`
	RedisMem   float64   `json:"redis_used_memory_bytes"`
	RedisKeys  int64     `json:"redis_keys"`
}

// Slope is how a quantity grew: per hour, and over the measured part of
// the run as a share of its mean.
type Slope struct {
	Name     string  `json:"name"`
	Mean     float64 `json:"mean"`
	PerHour  float64 `json:"per_hour"`
	OverRun  float64 `json:"over_run"` // slope x the measured time
	Relative float64 `json:"relative"` // OverRun / Mean
	Bound    float64 `json:"bound"`    // the largest OverRun that passes
	Pass     bool    `json:"pass"`
	Unit     string  `json:"unit"`
}

// SoakResult is the soak's report.
type SoakResult struct {
	Load       string  `json:"load"`
	Seconds    float64 `json:"seconds"`
	Waves      int     `json:"waves"`
	Sent       int64   `json:"sent"`
	Lost       int64   `json:"lost"`
	Duplicated int64   `json:"duplicated"`
	OutOfOrder int64   `json:"out_of_order"`
	SendErrors int64   `json:"send_errors"`
	Reconnects int64   `json:"reconnects"`
	// WaveLatency is each wave's latency; WorstP99 the highest p99 of them.
	WaveLatency []Percentiles `json:"wave_latency"`
	WorstP99    float64       `json:"worst_p99_ms"`
	Slopes      []Slope       `json:"slopes"`
	Samples     []SoakSample  `json:"samples"`
	AuditKeys   int           `json:"audit_keys"`
	Violations  []string      `json:"audit_violations"`
	Pass        bool          `json:"pass"`
	Why         []string      `json:"why"`
}

func soakMain(args []string) int {
	var o soakOptions
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	fs.DurationVar(&o.Duration, "duration", 30*time.Minute, "length of the soak")
	fs.DurationVar(&o.Wave, "wave", 3*time.Minute, "life of one wave of conversations")
	fs.IntVar(&o.Hubs, "hubs", 2, "hub processes")
	fs.IntVar(&o.Conversations, "conversations", 500, "conversations per wave")
	fs.Float64Var(&o.Rate, "rate", 500, "messages per second")
	fs.Float64Var(&o.StormShare, "storm-share", 0.02, "share of the sockets dropped and resumed every second")
	fs.DurationVar(&o.Retention, "retention", 2*time.Minute, "SWITCHBOARD_RETENTION of the hubs: ended conversations leave after it")
	fs.DurationVar(&o.Sample, "sample", 10*time.Second, "how often the processes are sampled")
	fs.IntVar(&o.Size, "size", 200, "message size in bytes")
	fs.StringVar(&o.bin, "switchboard", "switchboard", "the switchboard binary the hubs run")
	fs.StringVar(&o.dir, "dir", "", "folder for logs and data (default: a temporary one, removed when the soak passes)")
	fs.StringVar(&o.out, "out", "", "write the JSON report here")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.Parse(args)
	if o.Duration <= 0 || o.Wave <= 0 || o.Conversations < 1 || o.Rate <= 0 || o.Hubs < 1 {
		fmt.Fprintln(os.Stderr, "sbload soak: bad -duration, -wave, -conversations, -rate or -hubs")
		return 2
	}
	raiseFileLimit(uint64(4*o.Conversations + 4096))
	res, err := runSoak(context.Background(), o)
	return finish("soak", res, err, o.out)
}

func runSoak(ctx context.Context, o soakOptions) (res *SoakResult, err error) {
	dir, keep, err := runDir(o.dir, "sbsoak-")
	if err != nil {
		return nil, err
	}
	defer func() { keep(err != nil || res == nil || !res.Pass) }()
	rs, err := redisPlain(dir)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	defer rs.close()
	const prefix = "{sbsoak}"
	key := "sk_soak_" + strings.Repeat("k", 24)
	env := []string{"SWITCHBOARD_REDIS_URL=" + rs.url, "SWITCHBOARD_KEY_PREFIX=" + prefix, "SWITCHBOARD_DEMO=false",
		"SWITCHBOARD_LOG_LEVEL=warn", "SWITCHBOARD_ADMIN_KEY=" + key, "SWITCHBOARD_TOKEN_SECRET=" + strings.Repeat("soak-secret-", 4),
		"SWITCHBOARD_RETENTION=" + o.Retention.String()}
	var hubs []*hubProc
	defer func() {
		for _, h := range hubs {
			h.stop()
		}
	}()
	urls := make([]string, o.Hubs)
	servers := make([]server, o.Hubs)
	for i := range o.Hubs {
		h, err := startHub(ctx, o.bin, dir, i, env)
		if err != nil {
			return nil, err
		}
		hubs = append(hubs, h)
		urls[i] = h.url
		servers[i] = server{name: h.url, metrics: h.url + "/metrics"}
	}
	rdb := rs.primary.Client()
	t := &sbTarget{urls: urls, key: key, api: httpClient(nil), bind: allLoopback(urls)}
	lo := options{Mode: "soak", Hubs: urls, Conversations: o.Conversations, PerAgent: 1, Rate: o.Rate, Size: o.Size,
		Workers: 256, StormShare: o.StormShare, quiet: o.quiet}
	rec := &recorder{started: time.Now()}
	l := &load{o: lo, rec: rec, servers: servers, jobs: make(chan job, 4096)}
	var workers sync.WaitGroup
	for range lo.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); l.worker() }()
	}
	defer func() { close(l.jobs); workers.Wait() }()

	ag, err := setupAgents(ctx, t, o.Conversations, 1, o.Conversations, rec, logf)
	defer func() {
		for _, s := range ag.socks {
			if s != nil {
				s.close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	res = &SoakResult{Load: fmt.Sprintf("%d hubs, %d conversations a wave (new every %v), %.0f msg/s, %.0f%% of the sockets dropped and resumed every second, retention %v",
		o.Hubs, o.Conversations, o.Wave, o.Rate, 100*o.StormShare, o.Retention)}

	// Sample all along.
	sctx, stopSampling := context.WithCancel(ctx)
	start := time.Now()
	var mu sync.Mutex
	var samples []SoakSample
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(o.Sample)
		defer tick.Stop()
		for {
			s := SoakSample{T: time.Since(start).Seconds()}
			for _, sv := range servers {
				p, _ := sv.sample(sctx)
				s.RSS = append(s.RSS, p.RSS)
				s.Goroutines = append(s.Goroutines, p.Goroutines)
			}
			s.RedisMem, s.RedisKeys = redisMemory(sctx, rdb)
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	warmUp := 0.0
	for wave := 0; time.Since(start) < o.Duration && ctx.Err() == nil; wave++ {
		customers, err := ag.conversations(ctx, t, o.Conversations, 0, rec, logf)
		if err != nil {
			stopSampling()
			sampling.Wait()
			return nil, fmt.Errorf("wave %d: %w", wave+1, err)
		}
		l.socks = append(customers, ag.socks...)
		d := min(o.Wave, o.Duration-time.Since(start))
		r := l.run(ctx, fmt.Sprintf("wave %d", wave+1), o.Rate, max(d, time.Second), o.StormShare)
		res.Waves++
		res.Sent += r.Sent
		res.Lost += r.Lost
		res.Reconnects += r.Reconnects
		res.WaveLatency = append(res.WaveLatency, r.Latency)
		// The wave's customers end their chats and leave.
		err = parallel(ctx, len(customers), 32, func(ctx context.Context, i int) error {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			s := customers[i]
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.sb.CloseSession(cctx, rec.conversations()[i].sid)
		})
		for _, s := range customers {
			s.close()
		}
		if err != nil {
			logf("soak: closing wave %d: %v", wave+1, err)
		}
		if wave == 0 {
			warmUp = time.Since(start).Seconds()
		}
	}
	stopSampling()
	sampling.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Duplicated, res.OutOfOrder, res.SendErrors = rec.dups.Load(), rec.ooo.Load(), rec.sendErrs.Load()
	for _, p := range res.WaveLatency {
		res.WorstP99 = max(res.WorstP99, p.P99)
	}
	res.Samples = samples

	// The slopes, after the first wave (the processes warm up: pools,
	// caches, the agents' sockets).
	var measured []SoakSample
	for _, s := range samples {
		if s.T >= warmUp {
			measured = append(measured, s)
		}
	}
	if len(measured) < 3 {
		measured = samples
	}
	for i := range o.Hubs {
		res.Slopes = append(res.Slopes,
			slope(fmt.Sprintf("hub %d RSS", i), "bytes", measured, func(s SoakSample) float64 { return s.RSS[i] }, 0.10, 20e6),
			slope(fmt.Sprintf("hub %d goroutines", i), "", measured, func(s SoakSample) float64 { return s.Goroutines[i] }, 0.10, 50))
	}
	res.Slopes = append(res.Slopes, slope("Redis used_memory", "bytes", measured, func(s SoakSample) float64 { return s.RedisMem }, 0.10, 20e6))

	// The audit.
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	if err != nil {
		return res, err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	a, err := store.Audit(actx, time.Now())
	if err != nil {
		return res, fmt.Errorf("audit: %w", err)
	}
	res.AuditKeys, res.Violations = a.Keys, a.Violations
	why := func(format string, args ...any) { res.Why = append(res.Why, fmt.Sprintf(format, args...)) }
	if res.Lost+res.Duplicated+res.OutOfOrder+res.SendErrors > 0 {
		why("%d lost, %d duplicated, %d out of order, %d sends refused", res.Lost, res.Duplicated, res.OutOfOrder, res.SendErrors)
	}
	for _, s := range res.Slopes {
		if !s.Pass {
			why("%s grew %.0f%s over the run (bound %.0f)", s.Name, s.OverRun, s.Unit, s.Bound)
		}
	}
	if len(a.Violations) > 0 {
		why("%d keys break their bound", len(a.Violations))
	}
	for i, h := range hubs {
		if !h.alive() {
			why("hub %d died", i)
		}
	}
	res.Pass = len(res.Why) == 0
	return res, nil
}

// redisMemory returns INFO memory's used_memory and the number of keys.
func redisMemory(ctx context.Context, rdb *redis.Client) (float64, int64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, _ := rdb.Info(ctx, "memory").Result()
	var used float64
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			used, _ = strconv.ParseFloat(v, 64)
		}
	}
	n, _ := rdb.DBSize(ctx).Result()
	return used, n
}

// slope fits a least-squares line to f over the samples: its slope per
// hour, and how much that makes over the measured time. It passes when
// that is at most rel of the mean or abs, whichever is larger.
func slope(name, unit string, ss []SoakSample, f func(SoakSample) float64, rel, abs float64) Slope {
	out := Slope{Name: name, Unit: unit}
	n := float64(len(ss))
	if n < 2 {
		out.Pass = true
		return out
	}
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.T, f(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	out.Mean = sy / n
	den := n*sxx - sx*sx
	if den == 0 {
		out.Pass = true
		return out
	}
	perSecond := (n*sxy - sx*sy) / den
	span := ss[len(ss)-1].T - ss[0].T
	out.PerHour = perSecond * 3600
	out.OverRun = perSecond * span
	if out.Mean != 0 {
		out.Relative = out.OverRun / out.Mean
	}
	out.Bound = math.Max(rel*out.Mean, abs)
	out.Pass = out.OverRun <= out.Bound
	return out
}

func (res *SoakResult) print(w io.Writer) {
	fmt.Fprintf(w, "\n== soak: %s ==\n%.0fs, %d waves; sent %d, lost %d, duplicated %d, out of order %d, send errors %d, %d reconnects; worst wave p99 %.2fms\n",
		res.Load, res.Seconds, res.Waves, res.Sent, res.Lost, res.Duplicated, res.OutOfOrder, res.SendErrors, res.Reconnects, res.WorstP99)
	for _, s := range res.Slopes {
		scale, unit := 1.0, s.Unit
		if unit == "bytes" {
			scale, unit = 1e6, " MB"
		}
		fmt.Fprintf(w, "  %-22s mean %10.1f%s  slope %+9.2f%s/h  over the run %+8.2f%s (%+.1f%%, bound %.1f%s)\n",
			s.Name, s.Mean/scale, unit, s.PerHour/scale, unit, s.OverRun/scale, unit, 100*s.Relative, s.Bound/scale, unit)
	}
	fmt.Fprintf(w, "audit: %d keys, %d violations\n", res.AuditKeys, len(res.Violations))
	for _, v := range res.Violations {
		fmt.Fprintln(w, "  VIOLATION", v)
	}
	if res.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL: "+strings.Join(res.Why, "; "))
	}
}
