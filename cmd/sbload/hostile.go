package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
)

// The hostile mode (`sbload hostile`) measures what broken and hostile
// clients cost everyone else. Against running hubs (-hubs, -key) it sets
// up the steady load's conversations and runs that load for the same
// duration quiet, then while hostile actors, each from loopback addresses
// of their own (127.200.x.y, apart from the load's 127.1.x.y), do their
// worst (-pairs times, alternating; the medians are compared):
//
//   - unauth: -unauth sockets (5,000) opened at once from ONE address and
//     held without authenticating: the hubs refuse all but their
//     per-address cap with 429 and close the rest with 4003 (-unauth-every
//     repeats the wave);
//   - slowloris: -slowloris connections trickling a request's headers a
//     byte at a time, connecting again when the hub cuts them;
//   - deaf: -deaf customers with a socket that never reads while their
//     session gets messages (from the customer's other socket), connected
//     anew every -deaf-cycle;
//   - flood: -flood customers' sockets writing frames flat out, connecting
//     again -flood-pause after the hub closed them (4004).
//
// The actors run in a child process (this binary again), so that their
// garbage and goroutines do not stall the load's own clients, and so that
// their CPU shows apart: on a small machine the attackers' CPU is taken
// from the hubs'. -actor-hubs points them at another server instead, for a
// control run: what the attack costs the machine, not the hubs.
//
// It reports the normal clients' p50 and p99 in both kinds of run and
// their ratio, the hubs' RSS (before, at the peak of each kind of run,
// after), where the machine's CPU went, and what the actors met; it exits
// 1 when the hostile p99 is above -max-p99-ratio times the quiet one, a
// hub's RSS grew more than -max-rss-growth, the hubs kept the actors'
// sockets or goroutines after they left, a message was lost, duplicated
// or refused, or other processes kept the machine busy (the comparison is
// then void).

// hostileOptions are the hostile mode's command line.
type hostileOptions struct {
	Hubs []string `json:"hubs"`
	// ActorHubs are what the actors attack: the hubs, unless a control
	// run points them elsewhere (a server of their own, to tell what the
	// attack costs the machine from what it costs the hubs).
	ActorHubs []string `json:"actor_hubs"`
	// ActorsIdle runs the actors' process at SCHED_IDLE (chrt --idle):
	// on one machine they then get only the CPU the hubs, Redis and the
	// load leave, as attackers on machines of their own would. The
	// attack still reaches the hubs whole; what it no longer does is
	// take their cores (a control run showed that to be half the
	// inflation: docs/reliability.md).
	ActorsIdle    bool          `json:"actors_idle"`
	Conversations int           `json:"conversations"`
	Rate          float64       `json:"rate"`
	Duration      time.Duration `json:"-"`
	Pairs         int           `json:"pairs"`
	Size          int           `json:"message_bytes"`
	Workers       int           `json:"workers"`
	Settle        time.Duration `json:"-"`

	Unauth         int           `json:"unauth"`
	UnauthEvery    time.Duration `json:"-"`
	Slowloris      int           `json:"slowloris"`
	SlowInterval   time.Duration `json:"-"`
	SlowSpread     time.Duration `json:"-"`
	Deaf           int           `json:"deaf"`
	DeafCycle      time.Duration `json:"-"`
	DeafRate       float64       `json:"deaf_rate"`
	DeafSize       int           `json:"deaf_message_bytes"`
	Flood          int           `json:"flood"`
	FloodFrame     string        `json:"flood_frame"`
	FloodPause     time.Duration `json:"-"`
	MaxP99Ratio    float64       `json:"max_p99_ratio"`
	MaxRSSGrowthMB float64       `json:"max_rss_growth_mb"`
	MaxOtherCores  float64       `json:"max_other_cores"`

	key, out string
	quiet    bool
	child    bool     // this process runs the actors for its parent
	args     []string // the command line, for the child
}

func hostileMain(args []string) int {
	var o hostileOptions
	var hubs, actorHubs string
	fs := flag.NewFlagSet("hostile", flag.ExitOnError)
	fs.StringVar(&hubs, "hubs", "http://127.0.0.1:8080", "comma-separated hub base URLs (on loopback: the actors need their own 127.200.x.y addresses)")
	fs.StringVar(&o.key, "key", os.Getenv("SWITCHBOARD_ADMIN_KEY"), "the hubs' admin key (default $SWITCHBOARD_ADMIN_KEY)")
	fs.StringVar(&actorHubs, "actor-hubs", "", "comma-separated base URLs the actors attack (default: -hubs); a control run points them at another server, with -deaf 0 -flood 0")
	fs.IntVar(&o.Conversations, "conversations", 500, "conversations of the normal load")
	fs.Float64Var(&o.Rate, "rate", 500, "messages per second of the normal load")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "length of each run (quiet, hostile)")
	fs.IntVar(&o.Pairs, "pairs", 1, "quiet and hostile runs, alternating; their medians are compared")
	fs.IntVar(&o.Size, "size", 200, "message size of the normal load")
	fs.IntVar(&o.Workers, "workers", 256, "concurrent senders of the normal load")
	fs.DurationVar(&o.Settle, "settle", 3*time.Second, "pause after the setup and between the runs")
	fs.IntVar(&o.Unauth, "unauth", 5000, "unauthenticated sockets opened at once from one address, per wave")
	fs.DurationVar(&o.UnauthEvery, "unauth-every", 0, "another wave of unauthenticated sockets starts this often (once the last one's sockets are closed); 0: one wave per hostile run")
	fs.IntVar(&o.Slowloris, "slowloris", 1000, "connections trickling their headers")
	fs.DurationVar(&o.SlowInterval, "slowloris-interval", time.Second, "a slowloris connection writes one byte this often")
	fs.DurationVar(&o.SlowSpread, "slowloris-spread", 10*time.Second, "the slowloris connections start spread over this (the hubs' header timeout: then they are cut, and reconnect, spread as well)")
	fs.IntVar(&o.Deaf, "deaf", 10, "customers whose socket never reads")
	fs.DurationVar(&o.DeafCycle, "deaf-cycle", 15*time.Second, "a deaf socket connects again this often (a socket that never reads cannot tell that the hub closed it)")
	fs.Float64Var(&o.DeafRate, "deaf-rate", 5, "messages per second into each deaf customer's session")
	fs.IntVar(&o.DeafSize, "deaf-size", 3900, "size of those messages")
	fs.IntVar(&o.Flood, "flood", 10, "sockets flooding frames")
	fs.StringVar(&o.FloodFrame, "flood-frame", "send", "what the flooders send: send (messages), typing or ping")
	fs.DurationVar(&o.FloodPause, "flood-pause", time.Second, "a flooder reconnects this long after the hub closed it")
	fs.Float64Var(&o.MaxP99Ratio, "max-p99-ratio", 1.5, "bound on the hostile runs' p99 over the quiet runs'")
	fs.Float64Var(&o.MaxRSSGrowthMB, "max-rss-growth", 256, "bound on a hub's peak RSS in the hostile runs over its peak in the quiet ones, MB")
	fs.Float64Var(&o.MaxOtherCores, "max-other-cores", 0.3, "a run during which other processes (not the hubs, this tool or its actors) kept more cores than this busy on average makes the comparison void")
	fs.StringVar(&o.out, "out", "", "write the JSON report here")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.BoolVar(&o.ActorsIdle, "actors-idle", true, "run the actors at SCHED_IDLE (chrt --idle), standing in for attackers on machines of their own; false: at the same priority as the hubs")
	fs.BoolVar(&o.child, "actors-child", false, "(internal) run the actors for a parent sbload hostile")
	fs.Parse(args)
	o.Hubs, o.ActorHubs, o.args = strings.Split(hubs, ","), strings.Split(cmp.Or(actorHubs, hubs), ","), args
	if o.Conversations < 1 || o.Rate <= 0 || o.Pairs < 1 || o.Size < 48 || !slices.Contains([]string{"send", "typing", "ping"}, o.FloodFrame) {
		fmt.Fprintln(os.Stderr, "sbload hostile: bad -conversations, -rate, -pairs, -size or -flood-frame")
		return 2
	}
	if !allLoopback(o.Hubs) || !allLoopback(o.ActorHubs) {
		fmt.Fprintln(os.Stderr, "sbload hostile: the hubs must be on loopback (the actors bind 127.200.x.y)")
		return 2
	}
	if o.child {
		raiseFileLimit(uint64(o.Unauth + o.Slowloris + 4*o.Deaf + 4*o.Flood + 1024))
		return actorsChild(o)
	}
	raiseFileLimit(uint64(4*o.Conversations + 4096))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runHostile(ctx, o)
	return finish("hostile", rep, err, o.out)
}

// HostileReport is what a hostile run found; -out writes it as JSON.
type HostileReport struct {
	Options hostileOptions `json:"options"`
	Runs    []HostileRun   `json:"runs"`
	// The medians of the quiet and of the hostile runs (each figure on its
	// own), and the hostile ones over the quiet ones.
	QuietP50, QuietP99, HostileP50, HostileP99 float64
	P50Ratio                                   float64      `json:"p50_ratio"`
	P99Ratio                                   float64      `json:"p99_ratio"`
	Hubs                                       []HostileHub `json:"hubs"`
	// What the actors met, summed over the hostile runs.
	Actors ActorsResult `json:"actors"`

	Lost, Duplicated, OutOfOrder, SendErrors int64
	Pass                                     bool     `json:"pass"`
	Why                                      []string `json:"why,omitempty"`
}

// HostileRun is one measured run and where the machine's CPU went.
type HostileRun struct {
	Hostile bool      `json:"hostile"`
	Result  RunResult `json:"result"`
	// Cores busy on the machine on average, and the shares of the hubs,
	// of this tool's load, of the actors' process, and of everything else
	// (Redis, and whatever else the machine runs).
	Cores, HubCores, LoadCores, ActorCores, OtherCores float64
}

// HostileHub is one hub's resources through the runs.
type HostileHub struct {
	Name string `json:"name"`
	// RSS before the first run, its peak in the quiet and in the hostile
	// runs, and after the actors left (and the hub let their sockets go).
	RSSBefore      float64 `json:"rss_before"`
	RSSQuietPeak   float64 `json:"rss_quiet_peak"`
	RSSHostilePeak float64 `json:"rss_hostile_peak"`
	RSSAfter       float64 `json:"rss_after"`
	HeapAfter      float64 `json:"heap_inuse_after"`
	// Goroutines and sockets at the end of the first quiet run, at the
	// peak of the hostile runs, and after the last.
	GoroutinesQuiet, GoroutinesPeak, GoroutinesAfter float64
	SocketsQuiet, SocketsPeak, SocketsAfter          float64
	// What the hub counted during the hostile runs.
	Refused429 float64            `json:"unauth_refused_429"`
	Kicked     map[string]float64 `json:"kicked"`
}

// ActorsResult is what the actors met.
type ActorsResult struct {
	Unauth    UnauthResult    `json:"unauth"`
	Slowloris SlowlorisResult `json:"slowloris"`
	Deaf      DeafResult      `json:"deaf"`
	Flood     FloodResult     `json:"flood"`
}

// UnauthResult is what the unauthenticated sockets met.
type UnauthResult struct {
	Addr        string `json:"addr"`
	Waves       int64  `json:"waves"`
	Opened      int64  `json:"attempts"`
	Refused429  int64  `json:"refused_429"`
	Accepted    int64  `json:"accepted"`
	Closed4003  int64  `json:"closed_4003"`
	ClosedOther int64  `json:"closed_other"`
	Errors      int64  `json:"errors"`
	// HeldMaxS is how long an accepted socket stayed open, at most.
	HeldMaxS float64 `json:"held_max_s"`
}

// SlowlorisResult is what the header tricklers met.
type SlowlorisResult struct {
	Conns     int     `json:"conns"`
	Opened    int64   `json:"opened"`
	Cut       int64   `json:"cut_by_hub"`
	Answered  int64   `json:"answered"` // a trickled request must never be
	Errors    int64   `json:"errors"`
	MeanLifeS float64 `json:"mean_life_s"`
	MaxLifeS  float64 `json:"max_life_s"`
}

// DeafResult is what the never-reading customers met.
type DeafResult struct {
	Sessions   int   `json:"sessions"`
	Sent       int64 `json:"messages_sent"`
	SendErrors int64 `json:"send_errors"`
	Connects   int64 `json:"connects"`
	Ended      int64 `json:"writes_failed"`
	Errors     int64 `json:"errors"`
}

// FloodResult is what the flooders met.
type FloodResult struct {
	Sockets     int   `json:"sockets"`
	Connects    int64 `json:"connects"`
	Frames      int64 `json:"frames_written"`
	Closed4004  int64 `json:"closed_4004"`
	ClosedOther int64 `json:"closed_other"`
	Errors      int64 `json:"errors"`
}

// add sums b into a.
func (a *ActorsResult) add(b ActorsResult) {
	u, v := &a.Unauth, b.Unauth
	u.Addr = v.Addr
	u.Waves, u.Opened, u.Refused429, u.Accepted = u.Waves+v.Waves, u.Opened+v.Opened, u.Refused429+v.Refused429, u.Accepted+v.Accepted
	u.Closed4003, u.ClosedOther, u.Errors, u.HeldMaxS = u.Closed4003+v.Closed4003, u.ClosedOther+v.ClosedOther, u.Errors+v.Errors, max(u.HeldMaxS, v.HeldMaxS)
	s, w := &a.Slowloris, b.Slowloris
	if n := s.Cut + w.Cut; n > 0 {
		s.MeanLifeS = (s.MeanLifeS*float64(s.Cut) + w.MeanLifeS*float64(w.Cut)) / float64(n)
	}
	s.Conns, s.Opened, s.Cut, s.Answered, s.Errors, s.MaxLifeS = w.Conns, s.Opened+w.Opened, s.Cut+w.Cut, s.Answered+w.Answered, s.Errors+w.Errors, max(s.MaxLifeS, w.MaxLifeS)
	d, e := &a.Deaf, b.Deaf
	d.Sessions, d.Sent, d.SendErrors, d.Connects, d.Ended, d.Errors = e.Sessions, d.Sent+e.Sent, d.SendErrors+e.SendErrors, d.Connects+e.Connects, d.Ended+e.Ended, d.Errors+e.Errors
	f, g := &a.Flood, b.Flood
	f.Sockets, f.Connects, f.Frames, f.Closed4004, f.ClosedOther, f.Errors = g.Sockets, f.Connects+g.Connects, f.Frames+g.Frames, f.Closed4004+g.Closed4004, f.ClosedOther+g.ClosedOther, f.Errors+g.Errors
}

func runHostile(ctx context.Context, o hostileOptions) (*HostileReport, error) {
	rep := &HostileReport{Options: o}
	t := &sbTarget{urls: o.Hubs, key: o.key, api: httpClient(nil), bind: true}
	servers := make([]server, len(o.Hubs))
	for i, u := range o.Hubs {
		servers[i] = server{name: u, metrics: strings.TrimSuffix(u, "/") + "/metrics"}
	}
	lo := options{Mode: "steady", Hubs: o.Hubs, Conversations: o.Conversations, PerAgent: 1, Rate: o.Rate,
		Duration: o.Duration, Size: o.Size, Workers: o.Workers, quiet: o.quiet}
	l := &load{o: lo, rec: &recorder{started: time.Now()}, servers: servers, jobs: make(chan job, 4096)}
	before, err := sampleAll(ctx, servers)
	if err != nil {
		return nil, err
	}
	logf("hostile: setting up %d conversations", o.Conversations)
	l.socks, err = setupSwitchboard(ctx, t, o.Conversations, 1, l.rec, logf)
	defer func() {
		for _, s := range l.socks {
			if s != nil {
				s.close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker() }()
	}
	defer func() { close(l.jobs); wg.Wait() }()
	if !sleepCtx(ctx, o.Settle) {
		return nil, ctx.Err()
	}

	hubs := make([]HostileHub, len(servers))
	for i, s := range servers {
		hubs[i] = HostileHub{Name: s.name, RSSBefore: before[i].RSS, Kicked: map[string]float64{}}
	}
	var quietP50, quietP99, hostileP50, hostileP99 []float64
	var after []procSample
	for pair := range o.Pairs {
		// A quiet run.
		peaks := watchPeaks(ctx, servers)
		cpu := startCPU(ctx, servers, 0)
		r := HostileRun{Result: l.run(ctx, fmt.Sprintf("quiet %d", pair+1), o.Rate, o.Duration, 0)}
		cpu(&r)
		peak := peaks()
		rep.Runs = append(rep.Runs, r)
		quietP50, quietP99 = append(quietP50, r.Result.Latency.P50), append(quietP99, r.Result.Latency.P99)
		quietEnd, err := sampleAll(ctx, servers)
		if err != nil {
			return rep, err
		}
		for i := range hubs {
			hubs[i].RSSQuietPeak = max(hubs[i].RSSQuietPeak, peak[i].RSS)
			if pair == 0 {
				hubs[i].GoroutinesQuiet, hubs[i].SocketsQuiet = quietEnd[i].Goroutines, quietEnd[i].Conns
			}
		}
		counted := hubCounters(ctx, o.Hubs)

		// The actors get ready (their chats, in a process of their own),
		// then a hostile run while they do their worst.
		actors, err := startActors(ctx, o)
		if err != nil {
			return rep, err
		}
		if !sleepCtx(ctx, o.Settle) {
			actors.kill()
			return rep, ctx.Err()
		}
		actors.begin()
		peaks = watchPeaks(ctx, servers)
		cpu = startCPU(ctx, servers, actors.pid())
		r = HostileRun{Hostile: true, Result: l.run(ctx, fmt.Sprintf("hostile %d", pair+1), o.Rate, o.Duration, 0)}
		cpu(&r)
		res, err := actors.stop()
		peak = peaks()
		if err != nil {
			return rep, fmt.Errorf("actors: %w", err)
		}
		rep.Actors.add(res)
		rep.Runs = append(rep.Runs, r)
		hostileP50, hostileP99 = append(hostileP50, r.Result.Latency.P50), append(hostileP99, r.Result.Latency.P99)
		for i, c := range hubCounters(ctx, o.Hubs) {
			hubs[i].Refused429 += c.refused - counted[i].refused
			for k, v := range c.kicked {
				if d := v - counted[i].kicked[k]; d > 0 {
					hubs[i].Kicked[k] += d
				}
			}
			hubs[i].RSSHostilePeak = max(hubs[i].RSSHostilePeak, peak[i].RSS)
			hubs[i].GoroutinesPeak = max(hubs[i].GoroutinesPeak, peak[i].Goroutines)
			hubs[i].SocketsPeak = max(hubs[i].SocketsPeak, peak[i].Conns)
		}

		// The hubs must let the actors' sockets go.
		logf("hostile: actors gone; waiting for the hubs to release their sockets")
		for deadline := time.Now().Add(30 * time.Second); ; {
			if after, err = sampleAll(ctx, servers); err != nil {
				return rep, err
			}
			released := true
			for i := range after {
				released = released && after[i].Conns <= quietEnd[i].Conns
			}
			if released || time.Now().After(deadline) || !sleepCtx(ctx, 250*time.Millisecond) {
				break
			}
		}
		if !sleepCtx(ctx, o.Settle) {
			return rep, ctx.Err()
		}
	}
	for i := range hubs {
		hubs[i].RSSAfter, hubs[i].HeapAfter = after[i].RSS, after[i].Heap
		hubs[i].GoroutinesAfter, hubs[i].SocketsAfter = after[i].Goroutines, after[i].Conns
	}
	rep.Hubs = hubs
	rep.QuietP50, rep.QuietP99, rep.HostileP50, rep.HostileP99 = median(quietP50), median(quietP99), median(hostileP50), median(hostileP99)
	rep.Lost, _ = l.rec.lost()
	rep.Duplicated, rep.OutOfOrder, rep.SendErrors = l.rec.dups.Load(), l.rec.ooo.Load(), l.rec.sendErrs.Load()
	rep.judge()
	return rep, nil
}

// judge computes the ratios and checks the bounds.
func (rep *HostileReport) judge() {
	o := rep.Options
	why := func(format string, args ...any) { rep.Why = append(rep.Why, fmt.Sprintf(format, args...)) }
	if rep.QuietP50 > 0 {
		rep.P50Ratio = rep.HostileP50 / rep.QuietP50
	}
	if rep.QuietP99 > 0 {
		rep.P99Ratio = rep.HostileP99 / rep.QuietP99
	}
	for _, r := range rep.Runs {
		if r.Result.Latency.Count == 0 {
			why("run %s delivered nothing", r.Result.Name)
		}
		if r.Result.SentPerSecond < 0.95*o.Rate {
			why("run %s sent %.0f/s, not %.0f/s", r.Result.Name, r.Result.SentPerSecond, o.Rate)
		}
		if r.OtherCores > o.MaxOtherCores {
			why("during run %s other processes kept %.2f cores busy (bound %.2f): the machine was not ours, the comparison is void",
				r.Result.Name, r.OtherCores, o.MaxOtherCores)
		}
	}
	if rep.P99Ratio > o.MaxP99Ratio {
		why("p99 %.2fms under attack is %.2fx the quiet %.2fms (bound %.2fx)", rep.HostileP99, rep.P99Ratio, rep.QuietP99, o.MaxP99Ratio)
	}
	for _, h := range rep.Hubs {
		if g := (h.RSSHostilePeak - h.RSSQuietPeak) / (1 << 20); g > o.MaxRSSGrowthMB {
			why("%s: RSS peaked %.0f MB above the quiet runs' peak (bound %.0f MB)", h.Name, g, o.MaxRSSGrowthMB)
		}
		if h.SocketsAfter > h.SocketsQuiet {
			why("%s: %.0f sockets open after the actors left, %.0f before", h.Name, h.SocketsAfter, h.SocketsQuiet)
		}
		if h.GoroutinesAfter > h.GoroutinesQuiet+200 {
			why("%s: %.0f goroutines after the actors left, %.0f before", h.Name, h.GoroutinesAfter, h.GoroutinesQuiet)
		}
	}
	if rep.Lost+rep.Duplicated+rep.OutOfOrder+rep.SendErrors > 0 {
		why("normal messages: %d lost, %d duplicated, %d out of order, %d refused", rep.Lost, rep.Duplicated, rep.OutOfOrder, rep.SendErrors)
	}
	if o.Unauth > 0 && rep.Actors.Unauth.Refused429 == 0 {
		why("no unauthenticated socket was refused 429")
	}
	if rep.Actors.Slowloris.Answered > 0 {
		why("%d slowloris requests were answered", rep.Actors.Slowloris.Answered)
	}
	rep.Pass = len(rep.Why) == 0
}

func (rep *HostileReport) print(w io.Writer) {
	o := rep.Options
	prio := "the same priority as the hubs"
	if o.ActorsIdle {
		prio = "SCHED_IDLE"
	}
	fmt.Fprintf(w, "\n== sbload hostile: %d hubs, %d conversations, %.0f msg/s, %d x (quiet, hostile) of %v; actors at %s ==\n",
		len(o.Hubs), o.Conversations, o.Rate, o.Pairs, o.Duration, prio)
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "%-10s p50 %6.2fms p99 %8.2fms max %7.1fms (%d samples, %.0f msg/s); cores: %.2f busy = hubs %.2f + load %.2f + actors %.2f + other %.2f\n",
			r.Result.Name, r.Result.Latency.P50, r.Result.Latency.P99, r.Result.Latency.Max, r.Result.Latency.Count, r.Result.SentPerSecond,
			r.Cores, r.HubCores, r.LoadCores, r.ActorCores, r.OtherCores)
	}
	fmt.Fprintf(w, "median     quiet p50 %.2fms p99 %.2fms; hostile p50 %.2fms p99 %.2fms; ratio p50 %.2fx p99 %.2fx (bound %.2fx)\n",
		rep.QuietP50, rep.QuietP99, rep.HostileP50, rep.HostileP99, rep.P50Ratio, rep.P99Ratio, o.MaxP99Ratio)
	mb := func(b float64) float64 { return b / (1 << 20) }
	for _, h := range rep.Hubs {
		fmt.Fprintf(w, "%s: RSS %.0f MB before, peak %.0f MB quiet, %.0f MB hostile, %.0f MB after (heap in use %.0f MB)\n",
			h.Name, mb(h.RSSBefore), mb(h.RSSQuietPeak), mb(h.RSSHostilePeak), mb(h.RSSAfter), mb(h.HeapAfter))
		fmt.Fprintf(w, "    sockets %.0f quiet, %.0f peak, %.0f after; goroutines %.0f quiet, %.0f peak, %.0f after; refused 429: %.0f; kicked: %v\n",
			h.SocketsQuiet, h.SocketsPeak, h.SocketsAfter, h.GoroutinesQuiet, h.GoroutinesPeak, h.GoroutinesAfter, h.Refused429, h.Kicked)
	}
	a := rep.Actors
	u := a.Unauth
	fmt.Fprintf(w, "unauth (%s, %d at once): %d waves, %d attempts: %d refused 429, %d accepted (%d closed 4003, %d otherwise, held %.1fs at most), %d errors\n",
		u.Addr, o.Unauth, u.Waves, u.Opened, u.Refused429, u.Accepted, u.Closed4003, u.ClosedOther, u.HeldMaxS, u.Errors)
	s := a.Slowloris
	fmt.Fprintf(w, "slowloris: %d connections, %d opened, %d cut by the hub (lived %.1fs on average, %.1fs at most), %d answered, %d errors\n",
		s.Conns, s.Opened, s.Cut, s.MeanLifeS, s.MaxLifeS, s.Answered, s.Errors)
	d := a.Deaf
	fmt.Fprintf(w, "deaf: %d sessions, %d messages sent into them (%d refused), %d connects (%d seen closed), %d errors\n",
		d.Sessions, d.Sent, d.SendErrors, d.Connects, d.Ended, d.Errors)
	f := a.Flood
	fmt.Fprintf(w, "flood (%s frames): %d sockets, %d connects, %d frames written, %d closed 4004, %d otherwise, %d errors\n",
		o.FloodFrame, f.Sockets, f.Connects, f.Frames, f.Closed4004, f.ClosedOther, f.Errors)
	fmt.Fprintf(w, "normal messages: lost %d, duplicated %d, out of order %d, refused %d\n", rep.Lost, rep.Duplicated, rep.OutOfOrder, rep.SendErrors)
	if rep.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL: "+strings.Join(rep.Why, "; "))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// machineBusy returns the CPU seconds the machine has been busy (not idle
// nor waiting for I/O), from /proc/stat.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy float64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user already
			busy += v
		}
	}
	return busy / 100 // USER_HZ
}

// startCPU starts accounting a run's CPU: the machine's, the hubs'
// (their /metrics), this process's, and the actors' (pid; 0 for none).
// The returned function fills r.
func startCPU(ctx context.Context, servers []server, actors int) func(r *HostileRun) {
	t0, m0 := time.Now(), machineBusy()
	h0, _ := sampleAll(ctx, servers)
	s0, _ := procStat(os.Getpid())
	var a0 procSample
	if actors != 0 {
		a0, _ = procStat(actors)
	}
	return func(r *HostileRun) {
		d := time.Since(t0).Seconds()
		h1, _ := sampleAll(ctx, servers)
		s1, _ := procStat(os.Getpid())
		r.Cores = (machineBusy() - m0) / d
		for i := range min(len(h0), len(h1)) {
			r.HubCores += (h1[i].CPU - h0[i].CPU) / d
		}
		r.LoadCores = (s1.CPU - s0.CPU) / d
		if actors != 0 {
			if a1, err := procStat(actors); err == nil {
				r.ActorCores = (a1.CPU - a0.CPU) / d
			}
		}
		r.OtherCores = max(0, r.Cores-r.HubCores-r.LoadCores-r.ActorCores)
	}
}

// watchPeaks samples the servers every 200 ms until the returned function
// is called, which returns each one's largest RSS, heap, goroutines and
// sockets seen (each field on its own).
func watchPeaks(ctx context.Context, servers []server) func() []procSample {
	peak := make([]procSample, len(servers))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if ps, err := sampleAll(ctx, servers); err == nil {
				for i, p := range ps {
					peak[i].RSS, peak[i].Goroutines = max(peak[i].RSS, p.RSS), max(peak[i].Goroutines, p.Goroutines)
					peak[i].Conns, peak[i].Heap = max(peak[i].Conns, p.Conns), max(peak[i].Heap, p.Heap)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() []procSample { cancel(); <-done; return peak }
}

// actorProc is the child process running the actors. It prints "ready"
// once their chats are open, starts at the "go" line on its stdin, stops
// when its stdin closes, and then prints what they met as JSON.
type actorProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startActors starts the actors' process and waits until it is ready; it
// is killed if ctx ends first.
func startActors(ctx context.Context, o hostileOptions) (*actorProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append(append([]string{"hostile"}, o.args...), "-actors-child")
	cmd := exec.CommandContext(ctx, self, args...)
	if o.ActorsIdle {
		// chrt sets the policy before exec, so that every thread of the
		// actors' process has it.
		chrt, err := exec.LookPath("chrt")
		if err != nil {
			return nil, fmt.Errorf("-actors-idle needs chrt (util-linux): %w", err)
		}
		cmd = exec.CommandContext(ctx, chrt, append([]string{"--idle", "0", self}, args...)...)
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &actorProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := a.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		a.kill()
		return nil, fmt.Errorf("the actors did not start: %q %v", line, err)
	}
	return a, nil
}

func (a *actorProc) pid() int { return a.cmd.Process.Pid }

func (a *actorProc) begin() { io.WriteString(a.in, "go\n") }

// stop ends the actors and returns what they met.
func (a *actorProc) stop() (ActorsResult, error) {
	a.in.Close()
	var res ActorsResult
	err := json.NewDecoder(a.out).Decode(&res)
	if werr := a.cmd.Wait(); err == nil {
		err = werr
	}
	return res, err
}

func (a *actorProc) kill() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// actorsChild is the actors' process (see actorProc).
func actorsChild(o hostileOptions) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &sbTarget{urls: o.ActorHubs, key: o.key, api: httpClient(nil), bind: true}
	h := &hostiles{o: o, t: t}
	if err := h.prepare(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sbload hostile actors:", err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	if line, err := in.ReadString('\n'); err != nil || strings.TrimSpace(line) != "go" {
		return 1
	}
	actx, cancel := context.WithCancel(ctx)
	wait := h.start(actx)
	io.Copy(io.Discard, in) // until the parent closes our stdin
	cancel()
	res := wait()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// hubCount is what a hub counted so far of the actors' doing.
type hubCount struct {
	refused float64
	kicked  map[string]float64
}

// hubCounters reads each hub's 429 refusals and kicks by reason.
func hubCounters(ctx context.Context, hubs []string) []hubCount {
	out := make([]hubCount, len(hubs))
	for i, u := range hubs {
		out[i].kicked = map[string]float64{}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := getMetrics(ctx, strings.TrimSuffix(u, "/")+"/metrics")
		if err != nil {
			cancel()
			continue
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			name, val, ok := strings.Cut(sc.Text(), " ")
			v, err := strconv.ParseFloat(val, 64)
			if !ok || err != nil {
				continue
			}
			switch {
			case strings.HasPrefix(name, "switchboard_ws_unauthenticated_refused_total"):
				out[i].refused += v
			case strings.HasPrefix(name, `switchboard_ws_kicked_total{reason="`):
				out[i].kicked[strings.TrimSuffix(strings.TrimPrefix(name, `switchboard_ws_kicked_total{reason="`), `"}`)] = v
			}
		}
		res.Body.Close()
		cancel()
	}
	return out
}

// hostiles are the actors of a hostile run.
type hostiles struct {
	o hostileOptions
	t *sbTarget

	// Set by prepare, read-only afterwards: the deaf customers' and the
	// flooders' sessions and tokens.
	deaf, flood []actorSession

	unauth    struct{ waves, opened, refused, accepted, closed4003, closedOther, errors, heldMaxMS atomic.Int64 }
	slow      struct{ opened, cut, answered, errors, lifeMS, maxLifeMS atomic.Int64 }
	deafN     struct{ sent, sendErrs, connects, ended, errors atomic.Int64 }
	floodN    struct{ connects, frames, closed4004, closedOther, errors atomic.Int64 }
	errLogged atomic.Int64
}

// actorSession is a customer's chat opened by an actor from its address.
type actorSession struct {
	src       net.IP
	sid, tok  string
	hub, send int // the hubs of its hostile socket and of its sender
}

// Actor addresses: 127.200.<kind>.<n>.
const (
	actorUnauth    = 0
	actorSlowloris = 1
	actorDeaf      = 2
	actorFlood     = 3
)

func actorAddr(kind, n int) net.IP {
	return net.IPv4(127, 200, byte(kind*16+n/254), byte(1+n%254))
}

func (h *hostiles) logErr(format string, args ...any) {
	if h.errLogged.Add(1) <= 10 {
		logf("hostile: "+format, args...)
	}
}

// prepare opens the deaf customers' and the flooders' chats.
func (h *hostiles) prepare(ctx context.Context) error {
	open := func(kind, n int) ([]actorSession, error) {
		out := make([]actorSession, n)
		err := parallel(ctx, n, 16, func(ctx context.Context, i int) error {
			src := actorAddr(kind, i)
			hc := httpClient(src)
			defer hc.CloseIdleConnections()
			var res struct {
				Session struct{ ID string }
				Token   string
			}
			u := h.t.urls[i%len(h.t.urls)] + "/api/v1/widget/sessions"
			if err := call(ctx, hc, "POST", u, "", map[string]any{"name": fmt.Sprintf("Hostile %d.%d", kind, i), "title": "Hostile"}, &res); err != nil {
				return err
			}
			out[i] = actorSession{src: src, sid: res.Session.ID, tok: res.Token, hub: i % len(h.t.urls), send: (i + 1) % len(h.t.urls)}
			return nil
		})
		return out, err
	}
	var err error
	if h.deaf, err = open(actorDeaf, h.o.Deaf); err != nil {
		return fmt.Errorf("deaf customers: %w", err)
	}
	if h.flood, err = open(actorFlood, h.o.Flood); err != nil {
		return fmt.Errorf("flooders: %w", err)
	}
	return nil
}

// start sets every actor going until ctx ends; the returned function
// waits for them to stop and returns what they met.
func (h *hostiles) start(ctx context.Context) (wait func() ActorsResult) {
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	if h.o.Unauth > 0 {
		run(func() { h.unauthWaves(ctx) })
	}
	for i := range h.o.Slowloris {
		run(func() { h.slowloris(ctx, i) })
	}
	for _, s := range h.deaf {
		run(func() { h.deafSocket(ctx, s) })
		run(func() { h.deafSender(ctx, s) })
	}
	for _, s := range h.flood {
		run(func() { h.flooder(ctx, s) })
	}
	logf("hostile: actors started: %d unauthenticated at once from %s, %d slowloris, %d deaf, %d flooding (%s)",
		h.o.Unauth, actorAddr(actorUnauth, 0), h.o.Slowloris, h.o.Deaf, h.o.Flood, h.o.FloodFrame)
	return func() ActorsResult {
		wg.Wait()
		var r ActorsResult
		u := &h.unauth
		r.Unauth = UnauthResult{Addr: actorAddr(actorUnauth, 0).String(), Waves: u.waves.Load(), Opened: u.opened.Load(),
			Refused429: u.refused.Load(), Accepted: u.accepted.Load(), Closed4003: u.closed4003.Load(),
			ClosedOther: u.closedOther.Load(), Errors: u.errors.Load(), HeldMaxS: float64(u.heldMaxMS.Load()) / 1000}
		s := &h.slow
		r.Slowloris = SlowlorisResult{Conns: h.o.Slowloris, Opened: s.opened.Load(), Cut: s.cut.Load(), Answered: s.answered.Load(),
			Errors: s.errors.Load(), MaxLifeS: float64(s.maxLifeMS.Load()) / 1000}
		if n := s.cut.Load(); n > 0 {
			r.Slowloris.MeanLifeS = float64(s.lifeMS.Load()) / 1000 / float64(n)
		}
		d := &h.deafN
		r.Deaf = DeafResult{Sessions: h.o.Deaf, Sent: d.sent.Load(), SendErrors: d.sendErrs.Load(), Connects: d.connects.Load(),
			Ended: d.ended.Load(), Errors: d.errors.Load()}
		f := &h.floodN
		r.Flood = FloodResult{Sockets: h.o.Flood, Connects: f.connects.Load(), Frames: f.frames.Load(), Closed4004: f.closed4004.Load(),
			ClosedOther: f.closedOther.Load(), Errors: f.errors.Load()}
		return r
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// unauthWaves opens -unauth sockets at once from one address, spread over
// the hubs, and holds those accepted without authenticating until the hub
// closes them; then, with UnauthEvery, the next wave that long after the
// last began, until ctx ends.
func (h *hostiles) unauthWaves(ctx context.Context) {
	src := actorAddr(actorUnauth, 0)
	for ctx.Err() == nil {
		h.unauth.waves.Add(1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range h.o.Unauth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				h.unauth.opened.Add(1)
				ws, status, err := rawWSDial(ctx, h.t.urls[i%len(h.t.urls)], src, 0)
				switch {
				case status == http.StatusTooManyRequests:
					h.unauth.refused.Add(1)
					return
				case err != nil:
					if ctx.Err() == nil {
						h.unauth.errors.Add(1)
						h.logErr("unauth dial: %v", err)
					}
					return
				}
				defer ws.close()
				h.unauth.accepted.Add(1)
				t0 := time.Now()
				stop := context.AfterFunc(ctx, ws.close)
				defer stop()
				code := ws.readClose()
				if ctx.Err() != nil {
					return // we left first
				}
				atomicMax(&h.unauth.heldMaxMS, time.Since(t0).Milliseconds())
				if code == int(protocol.CloseAuthTimeout) {
					h.unauth.closed4003.Add(1)
				} else {
					h.unauth.closedOther.Add(1)
				}
			}()
		}
		next := time.After(h.o.UnauthEvery)
		close(start)
		wg.Wait()
		if h.o.UnauthEvery <= 0 {
			return
		}
		select {
		case <-next:
		case <-ctx.Done():
		}
	}
}

// slowloris trickles a request's headers on one connection, a byte every
// SlowInterval, reconnecting when the hub cuts it, until ctx ends.
func (h *hostiles) slowloris(ctx context.Context, i int) {
	src := actorAddr(actorSlowloris, i%64)
	u, _ := url.Parse(h.t.urls[i%len(h.t.urls)])
	junk := []byte("abcdefghijklmnopqrstuvwxyz")
	// The first connections start spread out, so that the cuts and the
	// reconnections are too.
	if !sleepCtx(ctx, time.Duration(i)*h.o.SlowSpread/time.Duration(max(1, h.o.Slowloris))) {
		return
	}
	for ctx.Err() == nil {
		conn, err := actorDialer(src, 0).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			if ctx.Err() == nil {
				h.slow.errors.Add(1)
				h.logErr("slowloris dial: %v", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		h.slow.opened.Add(1)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		t0 := time.Now()
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+u.Host+"\r\nX-Slow: ")
		buf := make([]byte, 512)
		for k := 0; err == nil; k++ {
			conn.SetReadDeadline(time.Now().Add(h.o.SlowInterval))
			var n int
			n, err = conn.Read(buf)
			if n > 0 {
				h.slow.answered.Add(1) // the hub answered a request it never got whole
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				_, err = conn.Write(junk[k%len(junk) : k%len(junk)+1])
			}
		}
		stop()
		conn.Close()
		if ctx.Err() == nil {
			life := time.Since(t0).Milliseconds()
			h.slow.cut.Add(1)
			h.slow.lifeMS.Add(life)
			atomicMax(&h.slow.maxLifeMS, life)
		}
	}
}

// deafSocket keeps a socket of s's customer open that authenticates and
// then never reads (its kernel receive buffer small, so that the hub's
// writes back up soon). It cannot tell when the hub ends it (it would have
// to read what is queued before the close), so it writes a ping command a
// second, stops when a write fails, and otherwise connects anew every
// DeafCycle; the hubs count the kicks.
func (h *hostiles) deafSocket(ctx context.Context, s actorSession) {
	auth, _ := json.Marshal(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: s.tok})
	ping, _ := json.Marshal(protocol.Command{Type: protocol.CmdPing, ID: "p"})
	for ctx.Err() == nil {
		ws, _, err := rawWSDial(ctx, h.t.urls[s.hub], s.src, 4096)
		if err != nil {
			if ctx.Err() == nil {
				h.deafN.errors.Add(1)
				h.logErr("deaf dial: %v", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		h.deafN.connects.Add(1)
		err = ws.writeText(auth)
		for end := time.Now().Add(h.o.DeafCycle); err == nil && time.Now().Before(end) && sleepCtx(ctx, time.Second); {
			err = ws.writeText(ping)
		}
		ws.close()
		if err != nil && ctx.Err() == nil {
			h.deafN.ended.Add(1)
		}
	}
}

// deafSender sends DeafRate messages a second into s's session from
// another socket of the customer (one that reads).
func (h *hostiles) deafSender(ctx context.Context, s actorSession) {
	c, err := client.Dial(ctx, client.Config{URL: h.t.wsURL(s.send), Token: s.tok, HTTPClient: wsClient(s.src), AutoReconnect: true})
	if err != nil {
		h.deafN.errors.Add(1)
		h.logErr("deaf sender dial: %v", err)
		return
	}
	defer c.CloseNow()
	go func() {
		for range c.Events() { // read, and drop
		}
	}()
	text := strings.Repeat("d", h.o.DeafSize)
	tick := time.NewTicker(time.Duration(float64(time.Second) / h.o.DeafRate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.Send(sctx, s.sid, text)
		cancel()
		if err == nil {
			h.deafN.sent.Add(1)
		} else if ctx.Err() == nil {
			h.deafN.sendErrs.Add(1)
		}
	}
}

// flooder authenticates as s's customer and writes frames flat out; when
// the hub closes the socket it waits FloodPause and starts again.
func (h *hostiles) flooder(ctx context.Context, s actorSession) {
	auth, _ := json.Marshal(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: s.tok})
	for n := 0; ctx.Err() == nil; n++ {
		ws, _, err := rawWSDial(ctx, h.t.urls[s.hub], s.src, 0)
		if err != nil {
			if ctx.Err() == nil {
				h.floodN.errors.Add(1)
				h.logErr("flood dial: %v", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		h.floodN.connects.Add(1)
		closed := make(chan int, 1)
		go func() { closed <- ws.readClose() }()
		stop := context.AfterFunc(ctx, ws.close)
		err = ws.writeText(auth)
		for k := 0; err == nil; k++ {
			var cmd protocol.Command
			switch h.o.FloodFrame {
			case "send":
				cmd = protocol.Command{Type: protocol.CmdSend, ID: "f", SessionID: s.sid,
					ClientMsgID: fmt.Sprintf("flood-%d-%d", n, k), Text: "flood " + strconv.Itoa(k)}
			case "typing":
				on := k%2 == 0
				cmd = protocol.Command{Type: protocol.CmdTyping, ID: "f", SessionID: s.sid, On: &on}
			default:
				cmd = protocol.Command{Type: protocol.CmdPing, ID: "f"}
			}
			b, _ := json.Marshal(cmd)
			if err = ws.writeText(b); err == nil {
				h.floodN.frames.Add(1)
			}
			select {
			case code := <-closed:
				closed <- code
				err = errors.New("closed")
			default:
			}
		}
		code := <-closed
		stop()
		ws.close()
		if ctx.Err() != nil {
			return
		}
		if code == int(protocol.CloseRateLimited) {
			h.floodN.closed4004.Add(1)
		} else {
			h.floodN.closedOther.Add(1)
		}
		sleepCtx(ctx, h.o.FloodPause)
	}
}

// actorDialer dials from src. The port is picked at connect time
// (IP_BIND_ADDRESS_NO_PORT), so that thousands of sockets from one
// address to two hubs share its ~28,000 ephemeral ports by destination;
// rcvbuf, when not 0, is the socket's kernel receive buffer.
func actorDialer(src net.IP, rcvbuf int) *net.Dialer {
	return &net.Dialer{
		Timeout:   10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: src},
		Control: func(network, address string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				const ipBindAddressNoPort = 24 // Linux; elsewhere an unknown option, ignored
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
				if rcvbuf > 0 {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
				}
			})
		},
	}
}

// rawWS is a WebSocket client connection spoken by hand: the handshake,
// and frames masked with a zero key. An actor so costs the tool little
// (5,000 at once) and misbehaves at will (never reads, floods).
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	once sync.Once
}

// rawWSDial opens hubURL's /ws from src offering the protocol; status is
// the HTTP status of the answer (101 when err is nil).
func rawWSDial(ctx context.Context, hubURL string, src net.IP, rcvbuf int) (*rawWS, int, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return nil, 0, err
	}
	conn, err := actorDialer(src, rcvbuf).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, 0, err
	}
	var key [16]byte
	rand.Read(key[:])
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	_, err = fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		u.Host, base64.StdEncoding.EncodeToString(key[:]), protocol.Subprotocol)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	br := bufio.NewReaderSize(conn, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		res.Body.Close()
		conn.Close()
		return nil, res.StatusCode, fmt.Errorf("upgrade refused: %s", res.Status)
	}
	conn.SetDeadline(time.Time{})
	return &rawWS{conn: conn, br: br}, res.StatusCode, nil
}

// writeText writes one text frame (not safe for concurrent use).
func (w *rawWS) writeText(p []byte) error {
	b := append(w.wbuf[:0], 0x81) // FIN, text
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0) // the mask key: zero leaves the payload as is
	b = append(b, p...)
	w.wbuf = b
	w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.conn.Write(b)
	return err
}

// readClose reads frames until the hub's close frame and returns its
// code, or -1 when the connection ended without one.
func (w *rawWS) readClose() int {
	var h [8]byte
	for {
		if _, err := io.ReadFull(w.br, h[:2]); err != nil {
			return -1
		}
		op, n := h[0]&0x0f, int64(h[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(w.br, h[:2]); err != nil {
				return -1
			}
			n = int64(binary.BigEndian.Uint16(h[:2]))
		case 127:
			if _, err := io.ReadFull(w.br, h[:8]); err != nil {
				return -1
			}
			n = int64(binary.BigEndian.Uint64(h[:8]))
		}
		if op != 0x8 {
			if _, err := io.CopyN(io.Discard, w.br, n); err != nil {
				return -1
			}
			continue
		}
		if n < 2 {
			return 1005 // no status
		}
		if _, err := io.ReadFull(w.br, h[:2]); err != nil {
			return -1
		}
		return int(binary.BigEndian.Uint16(h[:2]))
	}
}

func (w *rawWS) close() { w.once.Do(func() { w.conn.Close() }) }
