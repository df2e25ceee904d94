package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

var (
	storeCheckScript  = script("store_check")
	tenantEpochScript = script("tenant_epoch")
)

// EpochJump is how far the number counters of the history surfaces (chat,
// message and visitor numbers) jump when the store's epoch changes on data
// that could have been rolled back: numbers handed out in the lost window
// are not handed out again for something else, unless more than this many
// were lost.
const EpochJump = 1_000_000

// Guard notices a store that lost or rolled back data, and keeps the
// store's epoch (the hash prefix:store, see lua/store_check.lua) changing
// when it may have. A Redis that comes back with older data (a crash with
// appendfsync everysec, a restart from an older snapshot, a failover to a
// replica that lagged) also brings back older seq counters: without a new
// epoch, a client that saw seq 500 would take the new events 496..500 for
// ones it has seen, and drop them.
//
// It runs the check on every new Redis connection (OnConnect, which go-redis
// calls before the connection carries any command): after a restart or a
// failover every connection is new, so no event is appended after one
// before the epoch has changed. Between restarts it ticks the store's clock
// (Run): a clock that goes back (a reload without a restart) also changes
// the epoch. Either way it logs at error level when it sees data lost and
// counts it (Lost).
type Guard struct {
	// Immutable after NewGuard.
	store  *Store
	logger *slog.Logger

	// mu serializes checks; it is not held across the clock's tick.
	mu    sync.Mutex
	epoch string // guarded by mu: the epoch last seen; "" before the first check
	clock int64  // guarded by mu: the highest store clock seen since the last loss

	lost    atomic.Int64 // data losses seen: the marker gone, or the clock gone back
	changes atomic.Int64 // epoch changes this hub made or saw
	// onChange (OnChange) runs, on a goroutine of its own, after each
	// epoch change this hub makes or sees.
	onChange atomic.Pointer[func()]

	// servedMu guards served: the tenants this hub serves (InitTenant),
	// whose own markers it checks on each new connection to a Cluster node.
	servedMu sync.Mutex
	served   map[string]bool

	// runs is owned by the Run goroutine: the server run last seen at each
	// Cluster master's address.
	runs map[string]string
}

// NewGuard returns a Guard for s; logger nil discards.
func (s *Store) NewGuard(logger *slog.Logger) *Guard {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{store: s, logger: logger, served: map[string]bool{}, runs: map[string]string{}}
}

// Epoch returns the store's epoch as this hub last saw it.
func (g *Guard) Epoch() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// OnChange makes f run, on a goroutine of its own, after each epoch change
// this hub makes or sees, the store's or a tenant's: the instance's Bus
// reconnects (Bus.Reconnect), since its connection may be to the server
// the store left.
func (g *Guard) OnChange(f func()) { g.onChange.Store(&f) }

// changed counts an epoch change and runs OnChange's function.
func (g *Guard) changed() {
	g.changes.Add(1)
	if f := g.onChange.Load(); f != nil {
		go (*f)()
	}
}

// Lost returns how many times this hub saw the store lose data.
func (g *Guard) Lost() int64 { return g.lost.Load() }

// Changes returns how many epoch changes this hub made or saw.
func (g *Guard) Changes() int64 { return g.changes.Load() }

// OnConnect is go-redis' Options.OnConnect: it checks the marker on the
// new connection cn before anything else uses it. On Cluster, connections
// to nodes that do not hold the store's slot have nothing to check.
func (g *Guard) OnConnect(ctx context.Context, cn *redis.Conn) error {
	run, mode := serverRun(ctx, cn)
	if mode == "sentinel" {
		return nil // go-redis' Sentinel client runs OnConnect on its sentinels' connections too
	}
	err := g.check(ctx, cn, run, false)
	if redirected(err) {
		err = nil
	}
	if err == nil && mode == "cluster" && run != "" {
		err = g.checkTenants(ctx, cn, run)
	}
	return err
}

// checkTenants runs, on a new connection cn to a Cluster node of server
// run run, the marker check of every tenant this hub serves whose keys are
// on that node, in one round trip (the others answer MOVED, and are
// skipped). On Cluster each tenant keeps its own marker, with its node's
// run: a failover of the shard a tenant lives on (to a replica that may
// lag) changes that tenant's epoch, whichever shard holds the deployment's
// own marker (docs/tenants.md).
func (g *Guard) checkTenants(ctx context.Context, cn nodeConn, run string) error {
	g.servedMu.Lock()
	ids := make([]string, 0, len(g.served))
	for id := range g.served {
		ids = append(ids, id)
	}
	g.servedMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	if err := storeCheckScript.Load(ctx, cn).Err(); err != nil {
		return storeError(err)
	}
	cmds := make([]*redis.Cmd, len(ids))
	// Each reply is looked at below: MOVED for the tenants elsewhere.
	_, _ = cn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			ts := g.store.ForTenant(id)
			cmds[i] = storeCheckScript.EvalSha(ctx, p, []string{ts.key("store")},
				run, hub.NewSecret(10), ms(time.Now()), boolArg(false), ts.opts.Prefix, EpochJump)
		}
		return nil
	})
	for i, c := range cmds {
		res, err := c.Slice()
		if redirected(err) {
			continue // that tenant lives on another node
		}
		if err != nil {
			return storeError(err)
		}
		g.tenantChecked(ids[i], res)
	}
	return nil
}

// nodeConn is a connection to one Redis node, or a client of one.
type nodeConn interface {
	redis.Scripter
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// watchMasters looks, on Cluster, at the server run of every master, and
// checks the served tenants' markers on a master whose run is new at its
// address: a replica promoted while this hub already had a connection to
// it (go-redis keeps its connections to a node across its promotion, so
// OnConnect alone would not see it). Run calls it every tick.
func (g *Guard) watchMasters(ctx context.Context, cc *redis.ClusterClient) {
	var mu sync.Mutex
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		run, _ := serverRun(ctx, node)
		if run == "" {
			return nil
		}
		addr := node.Options().Addr
		mu.Lock()
		same := g.runs[addr] == run
		mu.Unlock()
		if same {
			return nil
		}
		if err := g.checkTenants(ctx, node, run); err != nil {
			return err
		}
		mu.Lock()
		g.runs[addr] = run
		mu.Unlock()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		g.logger.Warn("store check of the cluster's masters failed", "err", err)
	}
}

// tenantChecked logs what a tenant's marker check found.
func (g *Guard) tenantChecked(id string, res []any) {
	if len(res) != 3 {
		return
	}
	epoch, _ := res[0].(string)
	switch what, _ := res[1].(string); what {
	case "changed":
		g.changed()
		g.logger.Warn("a tenant's Redis shard restarted or failed over: new epoch; its clients resync every session",
			"tenant", id, "epoch", epoch)
	case "created":
		g.lost.Add(1)
		g.changed()
		g.logger.Error("a tenant's store lost its data: its marker is gone; its clients resync every session",
			"tenant", id, "epoch", epoch)
	}
}

// redirected reports whether err is a Cluster redirection (MOVED or ASK),
// however wrapped: the key is on another node; or TRYAGAIN: its slot is on
// its way to another node (a resharding; see Script), and whichever node
// holds it next checks it on its next new connection.
func redirected(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "MOVED ") || strings.Contains(msg, "ASK ") || strings.Contains(msg, "TRYAGAIN")
}

// Check runs the check on any connection of the store, without a server
// run to compare (a hub's start; tests).
func (g *Guard) Check(ctx context.Context) error {
	return g.check(ctx, g.store.rdb, "", false)
}

// CheckRun runs the check as OnConnect does for a connection to the Redis
// server run runID (INFO's run_id).
func (g *Guard) CheckRun(ctx context.Context, runID string) error {
	return g.check(ctx, g.store.rdb, runID, false)
}

// serverRun reads the Redis server's run_id (new at every start of the
// server) and its redis_mode (standalone, cluster, sentinel); both ""
// where INFO has no server section (miniredis).
func serverRun(ctx context.Context, cn interface {
	Info(context.Context, ...string) *redis.StringCmd
}) (runID, mode string) {
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		return "", ""
	}
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "run_id:"); ok {
			runID = v
		} else if v, ok := strings.CutPrefix(line, "redis_mode:"); ok {
			mode = v
		}
	}
	return runID, mode
}

func (g *Guard) check(ctx context.Context, sc redis.Cmdable, run string, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	res, err := storeCheckScript.Run(ctx, sc, []string{g.store.key("store")},
		run, hub.NewSecret(10), ms(time.Now()), boolArg(force), g.store.opts.Prefix, EpochJump).Slice()
	if err != nil {
		return storeError(err)
	}
	if len(res) != 3 {
		return errors.New("redis: store_check reply has the wrong shape")
	}
	epoch, _ := res[0].(string)
	what, _ := res[1].(string)
	clock, _ := res[2].(int64)
	seen := g.epoch != ""
	switch {
	case what == "created" && seen:
		g.lost.Add(1)
		g.changed()
		g.logger.Error("redis store lost its data: the marker this hub saw is gone; clients resync every session",
			"old_epoch", g.epoch, "epoch", epoch)
		g.clock = clock
	case clock < g.clock && !force:
		// The clock went back behind what this hub saw: writes were lost.
		g.lost.Add(1)
		g.logger.Error("redis store rolled back: its clock is behind what this hub saw; clients resync every session",
			"clock", clock, "seen", g.clock, "epoch", epoch)
		g.clock = clock
		if what != "changed" {
			g.mu.Unlock()
			err := g.check(ctx, sc, run, true) // a new epoch, though the server did not restart
			g.mu.Lock()
			return err
		}
		g.changed()
	case what == "changed":
		g.changed()
		g.logger.Warn("redis restarted or failed over: new store epoch; clients resync every session",
			"old_epoch", g.epoch, "epoch", epoch)
	case seen && epoch != g.epoch:
		g.changed()
		g.logger.Warn("store epoch changed by another hub; clients resync every session", "old_epoch", g.epoch, "epoch", epoch)
	case !seen && what == "created":
		g.logger.Info("new store marker", "epoch", epoch)
	}
	moved := g.epoch != epoch
	g.epoch = epoch
	g.clock = max(g.clock, clock)
	if moved && (seen || what == "changed") {
		// Before this connection carries anything else, every tenant's
		// epoch moves too: their keys are on this Redis and came back
		// with it (docs/tenants.md).
		return g.tenantEpochs(ctx, sc, epoch, "change")
	}
	return nil
}

// tenantEpochs sets the epoch of every registered tenant to epoch ("init":
// only where a tenant has none).
func (g *Guard) tenantEpochs(ctx context.Context, c redis.Cmdable, epoch, mode string) error {
	ids, err := c.HKeys(ctx, g.store.Tenants().tenant).Result()
	if err != nil {
		return storeError(err)
	}
	for _, id := range ids {
		if err := g.tenantEpoch(ctx, c, id, epoch, mode); err != nil {
			return err
		}
	}
	if len(ids) > 0 && mode == "change" {
		g.logger.Warn("tenants' store epochs changed with the store's", "tenants", len(ids), "epoch", epoch)
	}
	return nil
}

func (g *Guard) tenantEpoch(ctx context.Context, c redis.Cmdable, id, epoch, mode string) error {
	ts := g.store.ForTenant(id)
	err := tenantEpochScript.Run(ctx, c, []string{ts.key("store")}, epoch, ms(time.Now()), ts.opts.Prefix, EpochJump, mode).Err()
	if redirected(err) {
		return nil // Cluster: that tenant lives on another node (docs/tenants.md)
	}
	return storeError(err)
}

// InitTenant gives tenant id the store's epoch if it has none yet: a hub
// calls it before it serves the tenant, so that the tenant's events carry
// an epoch from the first. On Cluster it then checks the tenant's own
// marker on the tenant's node, as every new connection to a node will.
func (g *Guard) InitTenant(ctx context.Context, id string) error {
	g.mu.Lock()
	epoch := g.epoch
	g.mu.Unlock()
	if epoch == "" {
		if err := g.Check(ctx); err != nil {
			return err
		}
		epoch = g.Epoch()
	}
	if err := g.tenantEpoch(ctx, g.store.rdb, id, epoch, "init"); err != nil {
		return err
	}
	if cc, ok := g.store.rdb.(*redis.ClusterClient); ok {
		ts := g.store.ForTenant(id)
		node, err := cc.MasterForKey(ctx, ts.key("store"))
		if err != nil {
			return storeError(err)
		}
		run, _ := serverRun(ctx, node)
		res, err := storeCheckScript.Run(ctx, node, []string{ts.key("store")},
			run, hub.NewSecret(10), ms(time.Now()), boolArg(false), ts.opts.Prefix, EpochJump).Slice()
		if err != nil {
			return storeError(err)
		}
		g.tenantChecked(id, res)
	}
	g.servedMu.Lock()
	g.served[id] = true
	g.servedMu.Unlock()
	return nil
}

// Run ticks the store's clock every interval until ctx ends; a value that
// does not move past what this hub saw means the store went back, and the
// epoch changes. Every hub ticks; the clock only has to move.
func (g *Guard) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cc, ok := g.store.rdb.(*redis.ClusterClient); ok {
			g.watchMasters(ctx, cc)
		}
		v, err := g.store.rdb.HIncrBy(ctx, g.store.key("store"), "clock", 1).Result()
		if err != nil {
			continue // unreachable: the next connection is checked anyway
		}
		g.mu.Lock()
		behind := v <= g.clock
		if !behind {
			g.clock = v
		}
		g.mu.Unlock()
		if behind {
			if err := g.check(ctx, g.store.rdb, "", false); err != nil && ctx.Err() == nil {
				g.logger.Warn("store check failed", "err", err)
			}
		}
	}
}
