package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// The chaos mode (`sbload chaos -fault F`) starts its own Redis (a
// standalone server, or a primary, a replica and three sentinels) and hub
// processes from the switchboard binary, all on loopback, builds
// conversations through them, sends a steady load, injects one fault in
// the middle and reports what the parties and the store have at the end:
// messages lost, duplicated, out of order or silently skipped, and how
// long the recovery took. It exits 1 when the fault's bounds are not met.
// scripts/chaos.sh runs every fault and writes docs/reliability.md.

// faults are the faults a chaos run can inject, with what each expects.
var faults = map[string]fault{
	"none": {what: "none (the quiet run)", redis: redisPlain},
	"hub-kill": {what: "SIGKILL of one of two hubs; its clients resume on the other (their URL list)",
		redis: redisPlain, inject: killHub},
	"redis-restart": {storeFault: true, what: "Redis restarted (SIGTERM, AOF everysec), clients connected",
		redis: redisAOF("everysec"), inject: restartRedis(false)},
	"redis-crash-always": {storeFault: true, what: "Redis killed (SIGKILL) and started again, AOF appendfsync always",
		redis: redisAOF("always"), inject: restartRedis(true)},
	"redis-crash-everysec": {storeFault: true, what: "Redis killed (SIGKILL) and started again, AOF appendfsync everysec: the last second may be lost, never silently",
		redis: redisAOF("everysec"), inject: restartRedis(true), mayLoseStore: true},
	"redis-rollback": {storeFault: true, what: "Redis restarted from an RDB snapshot taken 2 s earlier, clients connected",
		redis: redisRDB, inject: rollbackRedis, mayLoseStore: true, wantResync: true},
	"sentinel-failover": {storeFault: true, what: "SENTINEL FAILOVER of a primary with one replica, SWITCHBOARD_REDIS_MIN_REPLICAS=1",
		redis: redisSentinel, inject: sentinelFailover, minReplicas: 1},
	"sentinel": {what: "no fault; Redis under Sentinel (a primary, a replica): the cost of SWITCHBOARD_REDIS_MIN_REPLICAS",
		redis: redisSentinel},
	"sentinel-rollback": {storeFault: true, what: "Sentinel failover to a replica whose replication was paused",
		redis: redisSentinel, inject: sentinelRollback, mayLoseStore: true, wantResync: true},
	// The primary's connections go silent, not closed: the hubs find their
	// PubSub connections dead by their silence, after 12 to 24 s
	// (redisstore.Bus.Run), so the load goes on 30 s past the failover at
	// the least. Replication is asynchronous here (no
	// SWITCHBOARD_REDIS_MIN_REPLICAS: the frozen primary is the only
	// replica the new one could wait for), so the last writes may be lost,
	// never silently.
	"sentinel-frozen": {storeFault: true, what: "the primary frozen (SIGSTOP: a host gone without a reset) and the Sentinels fail over; it stays frozen",
		redis: redisSentinel, inject: sentinelFrozen, mayLoseStore: true, minAfter: 30 * time.Second},
	// Redis Cluster's unplanned failovers: the cluster itself promotes the
	// replica once cluster-node-timeout (2 s here) has passed. The run's
	// tenant lives in one slot ({sbchaos}), so the fault hits its master.
	// Killed, the master comes back and rejoins as the new master's
	// replica, which SWITCHBOARD_REDIS_MIN_REPLICAS=1 waits for: sends are
	// answered unavailable meanwhile, and retried.
	"cluster-kill": {storeFault: true, what: "Redis Cluster (3 masters, 1 replica each): the tenant's master killed (SIGKILL), the cluster promotes its replica, the old master rejoins as a replica; SWITCHBOARD_REDIS_MIN_REPLICAS=1",
		redis: redisCluster, inject: clusterKill, minReplicas: 1},
	// Frozen, it stays so: its connections go silent as in sentinel-frozen,
	// and replication is asynchronous for the same reason. A hub gives up
	// on a command sent to the frozen master after go-redis's read timeout
	// (3 s), which asks for the slot map's reload (cmd/switchboard's
	// followFailovers), and the reload may ask the frozen node first (3 s
	// more): the hubs are ready up to 6 s after the promotion.
	"cluster-frozen": {storeFault: true, what: "Redis Cluster (3 masters, 1 replica each): the tenant's master frozen (SIGSTOP), the cluster promotes its replica; it stays frozen",
		redis: redisCluster, inject: clusterFrozen, mayLoseStore: true, minAfter: 30 * time.Second, readyWithin: 8 * time.Second},
	// A resharding: the run's slot moves to another master under the load,
	// 10 keys to a MIGRATE (redis-cli --cluster reshard's pipeline). While
	// its keys are on both masters, Redis answers the run's scripts
	// TRYAGAIN (or ASK), the hubs answer sends unavailable, and the clients
	// retry them: nothing may be lost, stored twice or skipped.
	// Another shard fails: the run's tenant must not notice, beyond the
	// events its hubs' buses miss while on the frozen node (their silence
	// bound, 12 to 24 s, then a catch-up): nothing lost, no resync, no
	// socket dropped, the hubs ready throughout.
	"cluster-other-frozen": {what: "Redis Cluster (3 masters, 1 replica each): a node of another shard than the tenant's frozen (SIGSTOP; the one the hubs' PubSub connections are on, else another master), the cluster fails it over; it stays frozen",
		redis: redisCluster, inject: clusterOtherFrozen, unaffected: true, minAfter: 30 * time.Second},
	"cluster-reshard": {storeFault: true, what: "Redis Cluster (3 masters, 1 replica each): the tenant's slot moved to another master under the load (MIGRATE, 10 keys at a time, as redis-cli --cluster reshard)",
		redis: redisCluster, inject: clusterReshard},
}

// chaosPrefix is the hubs' SWITCHBOARD_KEY_PREFIX in a chaos run: on a
// Cluster, every key of the run is in its hash tag's slot.
const chaosPrefix = "{sbchaos}"

// fault is one kind of failure.
type fault struct {
	what   string
	redis  func(dir string) (*redisSetup, error)
	inject func(ctx context.Context, r *chaosRun) error
	// mayLoseStore: the fault can lose acknowledged writes (the run checks
	// that none is lost silently instead); wantResync: clients must be told.
	mayLoseStore, wantResync bool
	minReplicas              int
	// storeFault: the fault takes the store away; recovery counts from
	// when it is back (inject calls storeBack).
	storeFault bool
	// minAfter is the least load after the fault (it takes the place of a
	// shorter -after): what the fault's recovery needs to be seen.
	minAfter time.Duration
	// readyWithin bounds the time from the store's return until every hub
	// is ready and takes a write (0: 5 s).
	readyWithin time.Duration
	// unaffected: the fault is not the run's tenant's; no client may be
	// told to resync or lose its connection, and no hub see an epoch change.
	unaffected bool
}

// redisSetup is the Redis of a chaos run.
type redisSetup struct {
	url       string
	primary   *redistest.Server
	replica   *redistest.Server
	sentinels *redistest.Sentinels
	cluster   *redistest.Cluster
}

func (r *redisSetup) close() {
	if r.cluster != nil {
		r.cluster.Close()
	}
	if r.sentinels != nil {
		r.sentinels.Close()
	}
	if r.replica != nil {
		r.replica.Close()
	}
	if r.primary != nil {
		r.primary.Close()
	}
}

func redisPlain(dir string) (*redisSetup, error) {
	s, err := redistest.StartServer(redistest.ServerConfig{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		return nil, err
	}
	return &redisSetup{url: s.URL(), primary: s}, nil
}

func redisAOF(fsync string) func(dir string) (*redisSetup, error) {
	return func(dir string) (*redisSetup, error) {
		s, err := redistest.StartServer(redistest.ServerConfig{Dir: filepath.Join(dir, "redis"), AppendOnly: true, AppendFsync: fsync})
		if err != nil {
			return nil, err
		}
		return &redisSetup{url: s.URL(), primary: s}, nil
	}
}

func redisRDB(dir string) (*redisSetup, error) {
	s, err := redistest.StartServer(redistest.ServerConfig{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		return nil, err
	}
	return &redisSetup{url: s.URL(), primary: s}, nil
}

func redisSentinel(dir string) (*redisSetup, error) {
	p, err := redistest.StartServer(redistest.ServerConfig{Dir: filepath.Join(dir, "primary")})
	if err != nil {
		return nil, err
	}
	r := &redisSetup{primary: p}
	if r.replica, err = redistest.StartServer(redistest.ServerConfig{Dir: filepath.Join(dir, "replica"), ReplicaOf: p.Addr()}); err != nil {
		r.close()
		return nil, err
	}
	if r.sentinels, err = redistest.StartSentinels(3, "sbchaos", p, redistest.SentinelConfig{Dir: filepath.Join(dir, "sentinels")}); err != nil {
		r.close()
		return nil, err
	}
	r.url = r.sentinels.URL(0)
	return r, nil
}

func redisCluster(dir string) (*redisSetup, error) {
	c, err := redistest.StartCluster(3, 1)
	if err != nil {
		return nil, err
	}
	return &redisSetup{url: c.URL(), cluster: c}, nil
}

// killHub kills the first hub with SIGKILL.
func killHub(ctx context.Context, r *chaosRun) error {
	r.hubs[0].kill()
	r.mark("hub 0 killed")
	return nil
}

// restartRedis stops Redis (SIGTERM, or SIGKILL when crash) and starts it
// again on the same port and data.
func restartRedis(crash bool) func(ctx context.Context, r *chaosRun) error {
	return func(ctx context.Context, r *chaosRun) error {
		var err error
		if crash {
			err = r.redis.primary.Kill()
		} else {
			err = r.redis.primary.Stop()
		}
		if err != nil {
			return err
		}
		r.mark("redis down")
		if err := r.redis.primary.Start(); err != nil {
			return err
		}
		r.storeBack()
		return nil
	}
}

// rollbackRedis snapshots Redis, lets the load run 2 s more, kills Redis
// and starts it from that older snapshot.
func rollbackRedis(ctx context.Context, r *chaosRun) error {
	if err := r.redis.primary.Save(); err != nil {
		return err
	}
	r.mark("snapshot taken")
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := r.redis.primary.Kill(); err != nil {
		return err
	}
	r.mark("redis killed")
	if err := r.redis.primary.Start(); err != nil {
		return err
	}
	r.storeBack()
	return nil
}

func sentinelFailover(ctx context.Context, r *chaosRun) error {
	addr, err := r.redis.sentinels.Failover(ctx)
	if err != nil {
		return err
	}
	r.mark("sentinels promoted " + addr)
	r.storeBack()
	return nil
}

// sentinelFrozen freezes the primary for the rest of the run and has the
// Sentinels promote its replica.
func sentinelFrozen(ctx context.Context, r *chaosRun) error {
	if err := r.redis.primary.Pause(); err != nil {
		return err
	}
	r.mark("primary frozen")
	return sentinelFailover(ctx, r)
}

// clusterKill kills the master of the run's slot, waits for the cluster
// to promote its replica, and starts the old master again, which rejoins
// as the new one's replica: the store is back once that replica holds
// what the new master has (sends wait for one replica).
func clusterKill(ctx context.Context, r *chaosRun) error {
	old, m, err := clusterFault(ctx, r, (*redistest.Server).Kill, "killed")
	if err != nil {
		return err
	}
	if err := old.Start(); err != nil {
		return err
	}
	r.mark("the old master started again")
	if err := old.WaitReplicaOf(ctx, m); err != nil {
		return err
	}
	r.mark("the old master replicates the new one")
	r.storeBack()
	return nil
}

// clusterFrozen freezes the master of the run's slot for the rest of the
// run and waits for the cluster to promote its replica.
func clusterFrozen(ctx context.Context, r *chaosRun) error {
	if _, _, err := clusterFault(ctx, r, (*redistest.Server).Pause, "frozen"); err != nil {
		return err
	}
	r.storeBack()
	return nil
}

// clusterOtherFrozen freezes, for the rest of the run, a node that holds
// none of the run's keys: one that the hubs' PubSub connections are on if
// any is, else another master.
func clusterOtherFrozen(ctx context.Context, r *chaosRun) error {
	own, err := r.redis.cluster.MasterOf(ctx, redistest.Slot(chaosPrefix))
	if err != nil {
		return err
	}
	var target *redistest.Server
	why := "another shard's master"
	for _, n := range r.redis.cluster.Nodes {
		if subs, err := n.PubSubClients(ctx); err == nil && subs > 0 && n != own {
			target, why = n, fmt.Sprintf("the node of %d of the hubs' PubSub connections", subs)
			break
		}
	}
	if target == nil {
		if target, err = r.redis.cluster.OtherMaster(ctx, own); err != nil {
			return err
		}
	}
	if err := target.Pause(); err != nil {
		return err
	}
	r.mark(fmt.Sprintf("%s frozen: %s", target.Addr(), why))
	return nil
}

// clusterReshard moves the run's slot, with its keys, to another master.
func clusterReshard(ctx context.Context, r *chaosRun) error {
	slot := redistest.Slot(chaosPrefix)
	from, err := r.redis.cluster.MasterOf(ctx, slot)
	if err != nil {
		return err
	}
	to, err := r.redis.cluster.OtherMaster(ctx, from)
	if err != nil {
		return err
	}
	r.mark(fmt.Sprintf("slot %d moving from %s to %s", slot, from.Addr(), to.Addr()))
	n, err := r.redis.cluster.MoveSlot(ctx, slot, to, 10, 0)
	if err != nil {
		return err
	}
	r.mark(fmt.Sprintf("slot %d moved: %d keys", slot, n))
	r.storeBack()
	return nil
}

// clusterFault applies fault to the master of the run's slot and waits
// until the cluster promoted another node; it returns the old master and
// the new one.
func clusterFault(ctx context.Context, r *chaosRun, fault func(*redistest.Server) error, what string) (old, promoted *redistest.Server, err error) {
	slot := redistest.Slot(chaosPrefix)
	if old, err = r.redis.cluster.MasterOf(ctx, slot); err != nil {
		return nil, nil, err
	}
	if err := fault(old); err != nil {
		return nil, nil, err
	}
	r.mark(fmt.Sprintf("master %s of slot %d %s", old.Addr(), slot, what))
	if promoted, err = r.redis.cluster.WaitPromoted(ctx, slot, old); err != nil {
		return nil, nil, err
	}
	r.mark("the cluster promoted " + promoted.Addr())
	return old, promoted, nil
}

// sentinelRollback pauses the replica's replication for 2 s of load, then
// fails over to it: what the primary took meanwhile is lost.
func sentinelRollback(ctx context.Context, r *chaosRun) error {
	addr, err := r.redis.sentinels.FailoverToLaggingReplica(ctx, r.redis.primary, r.redis.replica, func() error {
		r.mark("replica paused")
		select {
		case <-time.After(2 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return err
	}
	r.mark("sentinels promoted the lagging replica " + addr)
	r.storeBack()
	return nil
}

// chaosOptions are a chaos run's command line.
type chaosOptions struct {
	Fault         string        `json:"fault"`
	Hubs          int           `json:"hubs"`
	Conversations int           `json:"conversations"`
	Rate          float64       `json:"rate"`
	Before        time.Duration `json:"-"`
	After         time.Duration `json:"-"`
	Size          int           `json:"message_bytes"`
	Workers       int           `json:"workers"`
	MinReplicas   int           `json:"min_replicas"`

	bin, dir, out string
	quiet         bool
}

// ChaosResult is one fault's row of docs/reliability.md.
type ChaosResult struct {
	Fault   string   `json:"fault"`
	What    string   `json:"what"`
	Load    string   `json:"load"`
	Marks   []string `json:"marks"` // what happened when, from the start of the load
	Sent    int64    `json:"sent"`
	Acked   int64    `json:"acknowledged"`
	Latency Percentiles
	// AckLatency is each send's time to its acknowledgement (the sender's
	// wait, which SWITCHBOARD_REDIS_MIN_REPLICAS lengthens); MinReplicas
	// is the hubs' setting.
	AckLatency  Percentiles `json:"ack_latency"`
	MinReplicas int         `json:"min_replicas"`
	// Lost: acknowledged, and not shown to the other party, live or in the
	// reload after a resync. StoreLost: acknowledged, and not in the
	// store's history at the end (a fault that rolls Redis back may lose
	// these, never silently). Skipped: in the store's history at the end
	// and not shown to a party: silently skipped, never allowed.
	Lost, StoreLost, Skipped int64
	Duplicated, OutOfOrder   int64
	SendErrors               int64
	Resyncs, Reloaded        int64
	// ResumedS: from the fault until every socket that dropped was
	// connected again; ReadyS: from the store's return (or the fault)
	// until every surviving hub answered /readyz and a write; RecoveredS:
	// from the fault until, besides, the send backlog was back to normal.
	ResumedS, ReadyS, RecoveredS float64
	// What the hubs counted (summed): data losses the guard saw, epoch
	// changes, resync frames sent.
	HubDataLost, HubEpochChanges, HubResyncs float64
	HubsRestarted                            int  `json:"hubs_restarted"`
	Pass                                     bool `json:"pass"`
	Why                                      []string
}

// chaosRun is one run under way.
type chaosRun struct {
	o     chaosOptions
	f     fault
	redis *redisSetup
	hubs  []*hubProc
	t     *sbTarget
	l     *load
	start time.Time // the load's start

	mu        sync.Mutex
	marks     []string  // guarded by mu
	faultAt   time.Time // guarded by mu
	storeAt   time.Time // guarded by mu: when the store was back (zero: the fault time)
	firstDrop time.Time // guarded by mu: the first socket seen disconnected after the fault
	resumedAt time.Time // guarded by mu
	readyAt   time.Time // guarded by mu
	recovered time.Time // guarded by mu
}

func (r *chaosRun) mark(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, fmt.Sprintf("%.2fs %s", time.Since(r.start).Seconds(), what))
	logf("chaos: %s", what)
}

// storeBack records that the store answers again.
func (r *chaosRun) storeBack() {
	r.mu.Lock()
	r.storeAt = time.Now()
	r.mu.Unlock()
	r.mark("store back")
}

func chaosMain(args []string) int {
	var o chaosOptions
	fs := flag.NewFlagSet("chaos", flag.ExitOnError)
	fs.StringVar(&o.Fault, "fault", "hub-kill", "the fault: "+strings.Join(faultNames(), ", "))
	fs.StringVar(&o.bin, "switchboard", "switchboard", "the switchboard binary the hubs run")
	fs.StringVar(&o.dir, "dir", "", "folder for the run's logs and Redis data (default: a temporary one, removed unless the run fails)")
	fs.IntVar(&o.Hubs, "hubs", 2, "hub processes")
	fs.IntVar(&o.Conversations, "conversations", 500, "conversations (a customer and an agent socket each)")
	fs.Float64Var(&o.Rate, "rate", 1000, "messages per second")
	fs.DurationVar(&o.Before, "before", 5*time.Second, "load before the fault")
	fs.DurationVar(&o.After, "after", 15*time.Second, "load after the fault")
	fs.IntVar(&o.Size, "size", 200, "message size in bytes")
	fs.IntVar(&o.Workers, "workers", 256, "concurrent senders")
	fs.IntVar(&o.MinReplicas, "min-replicas", -1, "SWITCHBOARD_REDIS_MIN_REPLICAS of the hubs (-1: the fault's own)")
	fs.StringVar(&o.out, "out", "", "write the JSON result here")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.Parse(args)
	f, ok := faults[o.Fault]
	if !ok || o.Hubs < 1 || o.Conversations < 1 || o.Rate <= 0 {
		fmt.Fprintln(os.Stderr, "sbload chaos: bad -fault, -hubs, -conversations or -rate")
		return 2
	}
	if o.MinReplicas < 0 {
		o.MinReplicas = f.minReplicas
	}
	o.After = max(o.After, f.minAfter)
	raiseFileLimit(uint64(4*o.Conversations + 4096))
	res, err := runChaos(context.Background(), o, f)
	return finish("chaos", res, err, o.out)
}

func faultNames() []string {
	var out []string
	for k := range faults {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func runChaos(ctx context.Context, o chaosOptions, f fault) (res *ChaosResult, err error) {
	dir, keep, err := runDir(o.dir, "sbchaos-"+o.Fault+"-")
	if err != nil {
		return nil, err
	}
	defer func() { keep(err != nil || res == nil || !res.Pass) }()
	rs, err := f.redis(dir)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	defer rs.close()
	r := &chaosRun{o: o, f: f, redis: rs}
	key := "sk_chaos_" + strings.Repeat("k", 24)
	env := []string{"SWITCHBOARD_REDIS_URL=" + rs.url, "SWITCHBOARD_KEY_PREFIX=" + chaosPrefix, "SWITCHBOARD_DEMO=false",
		"SWITCHBOARD_LOG_LEVEL=warn", "SWITCHBOARD_ADMIN_KEY=" + key,
		"SWITCHBOARD_TOKEN_SECRET=" + strings.Repeat("chaos-secret-", 4),
		fmt.Sprintf("SWITCHBOARD_REDIS_MIN_REPLICAS=%d", o.MinReplicas)}
	for i := range o.Hubs {
		h, err := startHub(ctx, o.bin, dir, i, env)
		if err != nil {
			r.stopHubs()
			return nil, err
		}
		r.hubs = append(r.hubs, h)
	}
	defer r.stopHubs()
	urls := make([]string, len(r.hubs))
	for i, h := range r.hubs {
		urls[i] = h.url
	}
	r.t = &sbTarget{urls: urls, key: key, api: httpClient(nil), failover: true}
	r.t.bind = allLoopback(urls)
	lo := options{Mode: "chaos", Hubs: urls, Conversations: o.Conversations, PerAgent: 1, Rate: o.Rate, Size: o.Size,
		Workers: o.Workers, quiet: o.quiet}
	r.l = &load{o: lo, rec: &recorder{started: time.Now(), trackAcks: true}, jobs: make(chan job, 4096)}
	logf("chaos %s: %d hubs, %d conversations, %.0f msg/s, fault after %v, %v after it", o.Fault, o.Hubs, o.Conversations, o.Rate, o.Before, o.After)
	socks, err := setupSwitchboard(ctx, r.t, o.Conversations, 1, r.l.rec, logf)
	r.l.socks = socks
	defer func() {
		for _, s := range r.l.socks {
			if s != nil {
				s.close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	// The hubs' write probe: an agent renamed (a write on any Redis node
	// that is not the primary is refused).
	if err := call(ctx, r.t.api, "POST", urls[0]+"/api/v1/agents", key, map[string]any{"id": "agent_chaos_probe",
		"name": "probe", "email": "probe@chaos.invalid"}, nil); err != nil {
		return nil, err
	}
	reloads := r.startReloads(ctx)
	defer reloads()
	return r.run(ctx)
}

func (r *chaosRun) stopHubs() {
	for _, h := range r.hubs {
		h.stop()
	}
}

// startReloads reloads a conversation's history over REST, for one side,
// after each resync that side gets: what a client does on resync.
func (r *chaosRun) startReloads(ctx context.Context) (stop func()) {
	type req struct {
		c    *conversation
		side int
	}
	ch := make(chan req, 1<<16)
	r.l.rec.onResync = func(c *conversation, side int) {
		select {
		case ch <- req{c, side}:
		default:
			logf("chaos: reload queue full; a resync was not reloaded")
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range ch {
				evs, err := r.history(ctx, q.c.sid)
				if err != nil {
					logf("chaos: reload of %s: %v", q.c.sid, err)
					continue
				}
				for _, ev := range evs {
					r.l.rec.reload(ev, q.side)
				}
			}
		}()
	}
	return func() { close(ch); wg.Wait() }
}

// history returns every message.created event of a session, from the
// store, through any hub that answers (admin key), paging by seq.
func (r *chaosRun) history(ctx context.Context, sid string) ([][]byte, error) {
	var out [][]byte
	var after int64
	for {
		var page struct {
			Events  []json.RawMessage `json:"events"`
			HasMore bool              `json:"has_more"`
		}
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			h := r.hubs[attempt%len(r.hubs)]
			if !h.alive() {
				continue
			}
			url := fmt.Sprintf("%s/api/v1/sessions/%s/messages?after=%d&limit=200", h.url, sid, after)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = call(cctx, r.t.api, "GET", url, r.t.key, nil, &page)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // the store may be coming back
		}
		if err != nil {
			return nil, err
		}
		for _, ev := range page.Events {
			var head struct {
				Seq  int64  `json:"seq"`
				Type string `json:"type"`
			}
			json.Unmarshal(ev, &head)
			after = head.Seq
			if head.Type == "message.created" {
				out = append(out, ev)
			}
		}
		if !page.HasMore {
			return out, nil
		}
	}
}

// run drives the load, injects the fault, waits for the end and audits.
func (r *chaosRun) run(ctx context.Context) (*ChaosResult, error) {
	l, o := r.l, r.o
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker() }()
	}
	defer func() { close(l.jobs); wg.Wait() }()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	r.start = time.Now()
	l.rec.takeWindow()
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); l.progress(runCtx, o.Fault) }()
	go func() { defer bg.Done(); r.watch(runCtx) }()
	var injectErr atomic.Value
	injected := make(chan struct{}) // closed when the fault is in place (or failed)
	bg.Add(1)
	go func() {
		defer bg.Done()
		defer close(injected)
		select {
		case <-time.After(o.Before):
		case <-runCtx.Done():
			return
		}
		r.mu.Lock()
		r.faultAt = time.Now()
		r.mu.Unlock()
		r.mark("fault: " + o.Fault)
		if r.f.inject != nil {
			if err := r.f.inject(ctx, r); err != nil {
				injectErr.Store(err)
				r.mark("fault failed: " + err.Error())
			}
		}
	}()
	// The load runs Before+After, and at least After past the moment the
	// fault is in place (a failover to a lagging replica takes seconds to
	// set up): what follows a fault is what is measured.
	l.drive(ctx, o.Rate, o.Before)
	var doneAt time.Time
	for start := time.Now(); ctx.Err() == nil && time.Since(start) < o.After+2*time.Minute; {
		if doneAt.IsZero() {
			select {
			case <-injected:
				doneAt = time.Now()
			default:
			}
		}
		if !doneAt.IsZero() && time.Since(doneAt) >= o.After {
			break
		}
		l.drive(ctx, o.Rate, 100*time.Millisecond)
	}
	r.mark("load stopped")
	for deadline := time.Now().Add(60 * time.Second); l.done.Load() < l.enqueued.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lost, _ := l.rec.lost(); lost == 0 {
			break
		}
	}
	stopRun()
	bg.Wait()
	if err, _ := injectErr.Load().(error); err != nil {
		return nil, fmt.Errorf("injecting %s: %w", o.Fault, err)
	}
	return r.result(ctx)
}

// watch samples every 100 ms: sockets connected, hubs ready (and taking a
// write), the send backlog; it records when each came back after the fault.
func (r *chaosRun) watch(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var normal int64 // the largest backlog before the fault
	var okSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		backlog := r.l.enqueued.Load() - r.l.done.Load()
		connected := 0
		for _, s := range r.l.socks {
			if s.sb != nil && s.sb.Connected() {
				connected++
			}
		}
		all := connected == len(r.l.socks)
		r.mu.Lock()
		faultAt, storeAt := r.faultAt, r.storeAt
		r.mu.Unlock()
		if faultAt.IsZero() {
			normal = max(normal, backlog)
			continue
		}
		if r.f.storeFault && storeAt.IsZero() {
			continue // the store is not back yet: nothing has recovered
		}
		now := time.Now()
		ready := r.hubsReady(ctx)
		r.mu.Lock()
		if !all && r.firstDrop.IsZero() {
			r.firstDrop = now
		}
		if all && !r.firstDrop.IsZero() && r.resumedAt.IsZero() {
			r.resumedAt = now
		}
		if ready && r.readyAt.IsZero() {
			r.readyAt = now
		}
		if all && ready && backlog <= max(normal, 2*int64(r.o.Rate/10)) {
			if okSince.IsZero() {
				okSince = now
			}
			if now.Sub(okSince) >= time.Second && r.recovered.IsZero() {
				r.recovered = okSince
			}
		} else {
			okSince = time.Time{}
		}
		r.mu.Unlock()
	}
}

// hubsReady reports whether every hub still running answers /readyz and
// takes a write (an agent renamed: on a replica that would be READONLY).
func (r *chaosRun) hubsReady(ctx context.Context) bool {
	for _, h := range r.hubs {
		if !h.alive() {
			continue
		}
		if !h.ready(ctx) {
			return false
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := call(cctx, r.t.api, "PATCH", h.url+"/api/v1/agents/agent_chaos_probe", r.t.key, map[string]any{"name": "probe"}, nil)
		cancel()
		if err != nil {
			return false
		}
	}
	return true
}

// result audits the store and the parties and fills the row.
func (r *chaosRun) result(ctx context.Context) (*ChaosResult, error) {
	rec, o := r.l.rec, r.o
	lat, _ := rec.takeWindow()
	res := &ChaosResult{Fault: o.Fault, What: r.f.what,
		Load:    fmt.Sprintf("%d hubs, %d conversations, %.0f msg/s; the fault after %v, the load %v past it", o.Hubs, o.Conversations, o.Rate, o.Before, o.After),
		Latency: percentiles(lat), AckLatency: percentiles(rec.takeAcks()), MinReplicas: o.MinReplicas, Sent: rec.sent.Load() + rec.sendErrs.Load(), Acked: rec.sent.Load(),
		Duplicated: rec.dups.Load(), OutOfOrder: rec.ooo.Load(), SendErrors: rec.sendErrs.Load(),
		Resyncs: rec.resyncs.Load()}
	// The store's history of every conversation: what was kept, and what
	// each party has of it.
	convs := rec.conversations()
	err := parallel(ctx, len(convs), 16, func(ctx context.Context, i int) error {
		c := convs[i]
		evs, err := r.history(ctx, c.sid)
		if err != nil {
			return err
		}
		var kept [2]map[int64]bool
		for d := range 2 {
			kept[d] = map[int64]bool{}
		}
		for _, ev := range evs {
			if cv, dir, seq, _, ok := parseText(ev); ok && cv == i && dir >= 0 && dir < 2 {
				kept[dir][seq] = true
			}
		}
		var storeLost, skipped int64
		for dir := range 2 {
			c.sendMu[dir].Lock()
			sent, failed := c.sent[dir], c.failed[dir]
			c.sendMu[dir].Unlock()
			for seq := int64(1); seq <= sent; seq++ {
				if _, f := failed[seq]; !f && !kept[dir][seq] {
					storeLost++
				}
			}
			c.recvMu.Lock()
			for seq := range kept[dir] {
				for side := range 2 {
					if !c.streams[dir][side].has(seq) {
						skipped++
					}
				}
			}
			c.recvMu.Unlock()
		}
		atomic.AddInt64(&res.StoreLost, storeLost)
		atomic.AddInt64(&res.Skipped, skipped)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	res.Lost, _ = rec.lost()
	res.Reloaded = rec.reloaded.Load()
	r.mu.Lock()
	// Every socket that reconnected after the fault did so by this moment.
	var lastUp time.Time
	for _, s := range r.l.socks {
		if s.sb != nil && s.sb.Stats().Reconnects > 0 && s.sb.ConnectedAt().After(r.faultAt) && s.sb.ConnectedAt().After(lastUp) {
			lastUp = s.sb.ConnectedAt()
		}
	}
	if !lastUp.IsZero() && (r.resumedAt.IsZero() || lastUp.After(r.resumedAt)) {
		r.firstDrop, r.resumedAt = r.faultAt, lastUp
	}
	res.Marks = r.marks
	from := r.faultAt
	if !r.storeAt.IsZero() {
		from = r.storeAt
	}
	if !r.resumedAt.IsZero() {
		res.ResumedS = r.resumedAt.Sub(r.faultAt).Seconds()
	}
	if !r.readyAt.IsZero() {
		res.ReadyS = max(0, r.readyAt.Sub(from).Seconds())
	}
	if !r.recovered.IsZero() {
		res.RecoveredS = max(0, r.recovered.Sub(r.faultAt).Seconds())
	}
	dropped, resumed := !r.firstDrop.IsZero(), !r.resumedAt.IsZero()
	readySeen, recovered := !r.readyAt.IsZero(), !r.recovered.IsZero()
	r.mu.Unlock()
	for i, h := range r.hubs {
		if !h.alive() {
			if !(o.Fault == "hub-kill" && i == 0) {
				res.HubsRestarted++ // it died: nothing restarts it
			}
			continue
		}
		res.HubDataLost += h.metric(ctx, "switchboard_store_data_lost_total")
		res.HubEpochChanges += h.metric(ctx, "switchboard_store_epoch_changes_total")
		res.HubResyncs += h.metric(ctx, "switchboard_ws_resyncs_total")
	}

	// The bounds.
	why := func(format string, args ...any) { res.Why = append(res.Why, fmt.Sprintf(format, args...)) }
	if res.Skipped > 0 {
		why("%d messages of the store never shown to a party (silently skipped)", res.Skipped)
	}
	if res.Duplicated > 0 || res.OutOfOrder > 0 {
		why("%d duplicated, %d out of order", res.Duplicated, res.OutOfOrder)
	}
	if res.SendErrors > 0 {
		why("%d sends never acknowledged", res.SendErrors)
	}
	if !r.f.mayLoseStore {
		if res.StoreLost > 0 {
			why("%d acknowledged messages not in the store", res.StoreLost)
		}
		if res.Lost > 0 {
			why("%d acknowledged messages not delivered", res.Lost)
		}
	}
	if r.f.wantResync && res.StoreLost > 0 && res.Resyncs == 0 {
		why("the store lost %d messages and no client was told (no resync)", res.StoreLost)
	}
	if r.f.wantResync && res.HubDataLost == 0 {
		why("no hub noticed the store's loss (switchboard_store_data_lost_total is 0)")
	}
	if r.f.unaffected {
		if res.Resyncs > 0 || res.HubEpochChanges > 0 {
			why("%d resyncs, %.0f epoch changes for a fault on another shard", res.Resyncs, res.HubEpochChanges)
		}
		if dropped {
			why("clients lost their connections for a fault on another shard")
		}
	}
	if dropped && (!resumed || res.ResumedS > 5) {
		why("clients resumed after %.1fs (bound 5 s)", res.ResumedS)
	}
	if bound := cmp.Or(r.f.readyWithin, 5*time.Second); r.f.inject != nil && (!readySeen || res.ReadyS > bound.Seconds()) {
		why("hubs ready %.1fs after the store came back (bound %v)", res.ReadyS, bound)
	}
	if !recovered {
		why("the load never recovered")
	}
	if res.HubsRestarted > 0 {
		why("%d hub processes died", res.HubsRestarted)
	}
	res.Pass = len(res.Why) == 0
	return res, nil
}

func (res *ChaosResult) print(w io.Writer) {
	fmt.Fprintf(w, "\n== chaos %s: %s ==\n%s\n", res.Fault, res.What, res.Load)
	for _, m := range res.Marks {
		fmt.Fprintf(w, "  %s\n", m)
	}
	fmt.Fprintf(w, "sent %d, acknowledged %d; lost %d, not in the store %d, silently skipped %d, duplicated %d, out of order %d, send errors %d\n",
		res.Sent, res.Acked, res.Lost, res.StoreLost, res.Skipped, res.Duplicated, res.OutOfOrder, res.SendErrors)
	fmt.Fprintf(w, "resyncs %d (hubs sent %.0f), reloaded %d; hubs saw %.0f data losses, %.0f epoch changes\n",
		res.Resyncs, res.HubResyncs, res.Reloaded, res.HubDataLost, res.HubEpochChanges)
	fmt.Fprintf(w, "clients resumed %.2fs, hubs ready %.2fs, load recovered %.2fs after the fault; latency p50 %.2fms p99 %.2fms max %.0fms\n",
		res.ResumedS, res.ReadyS, res.RecoveredS, res.Latency.P50, res.Latency.P99, res.Latency.Max)
	fmt.Fprintf(w, "acknowledgements (SWITCHBOARD_REDIS_MIN_REPLICAS=%d): p50 %.2fms p99 %.2fms max %.0fms\n",
		res.MinReplicas, res.AckLatency.P50, res.AckLatency.P99, res.AckLatency.Max)
	verdict := "PASS"
	if !res.Pass {
		verdict = "FAIL: " + strings.Join(res.Why, "; ")
	}
	fmt.Fprintln(w, verdict)
}

// chaosTable prints the Markdown table of the chaos results in dir.
func chaosTable(dir string, w *os.File) error {
	var b strings.Builder
	if err := chaosTableTo(dir, &b); err != nil {
		return err
	}
	_, err := w.WriteString(b.String())
	return err
}

// readChaosResults reads the results in files (as `sbload chaos -out`
// writes them), in order, skipping those that are not there.
func readChaosResults(files []string) ([]ChaosResult, error) {
	var rows []ChaosResult
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		var r ChaosResult
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// chaosOrder is the order of the faults in docs/reliability.md's table:
// every fault but "sentinel", whose runs make the replicas table.
var chaosOrder = []string{"none", "hub-kill", "redis-restart", "redis-crash-always", "redis-crash-everysec", "redis-rollback",
	"sentinel-failover", "sentinel-rollback", "sentinel-frozen", "cluster-kill", "cluster-frozen", "cluster-other-frozen", "cluster-reshard"}

// chaosTableTo writes the Markdown table of the chaos results in dir
// (chaos-*.json, as `sbload chaos -out` writes them), in chaosOrder.
func chaosTableTo(dir string, w *strings.Builder) error {
	var files []string
	for _, f := range chaosOrder {
		files = append(files, filepath.Join(dir, "chaos-"+f+".json"))
	}
	rows, err := readChaosResults(files)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("no chaos-*.json in %s", dir)
	}
	fmt.Fprintf(w, "| fault | load | acknowledged | lost | not in the store | silently skipped | duplicated | out of order | resyncs | clients resumed | hubs ready | recovered | p99 | verdict |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		verdict := "pass"
		if !r.Pass {
			verdict = "**FAIL**: " + strings.Join(r.Why, "; ")
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %.2f s | %.2f s | %.2f s | %.0f ms | %s |\n",
			r.What, r.Load, r.Acked, r.Lost, r.StoreLost, r.Skipped, r.Duplicated, r.OutOfOrder, r.Resyncs,
			r.ResumedS, r.ReadyS, r.RecoveredS, r.Latency.P99, verdict)
	}
	return nil
}
