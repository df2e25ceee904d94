package redistest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of redis-server processes on loopback: masters
// and their replicas, made with redis-cli --cluster create, for tests of
// what a deployment on Cluster does (tenants spread over shards, a
// failover). The caller must Close it.
type Cluster struct {
	// Nodes are the servers, masters first as created; a failover changes
	// which is which (Masters asks the cluster).
	Nodes []*Server
}

// clusterPort picks a loopback port below 55536 whose cluster bus port
// (port+10000) is free too.
func clusterPort() (int, error) {
	for range 200 {
		p := 20000 + rand.IntN(25000)
		if free(p) && free(p+10000) {
			return p, nil
		}
	}
	return 0, errors.New("redistest: no spare port pair for a cluster node")
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// StartCluster starts masters*(1+replicasEach) servers in cluster mode and
// joins them (slots spread evenly over the masters, replicasEach replicas
// per master), then waits until every node says cluster_state:ok.
func StartCluster(masters, replicasEach int) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	c := &Cluster{}
	n := masters * (1 + replicasEach)
	for range n {
		s, err := StartServer(ServerConfig{
			Extra: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0"},
			pickPort: clusterPort,
		})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, s := range c.Nodes {
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasEach), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitOK(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// RequireCluster starts a cluster for t (StartCluster) and closes it when t
// ends, or skips t unless SWITCHBOARD_TEST_CLUSTER is set: a cluster is six
// processes and seconds to form, so only scripts/test.sh's Cluster step
// asks for one.
func RequireCluster(t testing.TB, masters, replicasEach int) *Cluster {
	t.Helper()
	if os.Getenv("SWITCHBOARD_TEST_CLUSTER") == "" {
		t.Skip("set SWITCHBOARD_TEST_CLUSTER=1 (scripts/test.sh does) to start a Redis Cluster")
	}
	c, err := StartCluster(masters, replicasEach)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// URL is the cluster's redis+cluster:// URL, naming every node.
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Nodes[0].Addr()
	for i, s := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + s.Addr()
	}
	return u
}

// NewClient returns a go-redis Cluster client seeded with every node; the
// caller closes it.
func (c *Cluster) NewClient() *redis.ClusterClient {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
}

// WaitOK waits until every node reports cluster_state:ok and agrees on
// the slots of every master.
func (c *Cluster) WaitOK(ctx context.Context) error {
	for {
		ok := true
		for _, s := range c.Nodes {
			info, err := s.Client().ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: cluster not ok: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Masters returns the servers that are masters now.
func (c *Cluster) Masters(ctx context.Context) ([]*Server, error) {
	var out []*Server
	for _, s := range c.Nodes {
		role, err := s.Client().Do(ctx, "ROLE").Slice()
		if err != nil {
			return nil, err
		}
		if len(role) > 0 && role[0] == "master" {
			out = append(out, s)
		}
	}
	return out, nil
}

// OtherMaster returns a master other than not (a node of another shard).
func (c *Cluster) OtherMaster(ctx context.Context, not *Server) (*Server, error) {
	masters, err := c.Masters(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range masters {
		if m != not {
			return m, nil
		}
	}
	return nil, fmt.Errorf("redistest: no master but %s", not.Addr())
}

// MasterOf returns the node that serves slot as its master, as the
// cluster's slot table says (the first node's).
func (c *Cluster) MasterOf(ctx context.Context, slot int) (*Server, error) {
	addr, err := masterAt(ctx, c.Nodes[0].Addr(), slot)
	if err != nil {
		return nil, err
	}
	if s := c.node(addr); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("redistest: slot %d's master %s is not a node of the cluster", slot, addr)
}

// node is the server at addr, or nil.
func (c *Cluster) node(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// WaitPromoted waits until every node but old agrees that slot is served
// by another master than old, and that master says it is one: the end of
// an unplanned failover, after old died or froze (the cluster promotes its
// replica once cluster-node-timeout has passed). old is not asked, so it
// may be dead or frozen.
func (c *Cluster) WaitPromoted(ctx context.Context, slot int, old *Server) (*Server, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultFailoverTimeout)
	defer cancel()
	var promoted *Server
	err := poll(ctx, fmt.Sprintf("a new master of slot %d in place of %s", slot, old.Addr()), func(ctx context.Context) (bool, error) {
		promoted = nil
		for _, n := range c.Nodes {
			if n == old {
				continue
			}
			m, err := masterAt(ctx, n.Addr(), slot)
			if err != nil {
				return false, err
			}
			if m == old.Addr() {
				return false, fmt.Errorf("%s still names %s", n.Addr(), m)
			}
			if promoted == nil {
				if promoted = c.node(m); promoted == nil {
					return false, fmt.Errorf("%s names %s, not a node of the cluster", n.Addr(), m)
				}
			} else if promoted.Addr() != m {
				return false, fmt.Errorf("the nodes disagree: %s and %s", promoted.Addr(), m)
			}
		}
		info, err := promoted.Info(ctx, "replication")
		if err != nil {
			return false, err
		}
		if info["role"] != "master" {
			return false, fmt.Errorf("%s is %s", promoted.Addr(), info["role"])
		}
		return true, nil
	})
	return promoted, err
}

// MoveSlot moves slot, with its keys, from its master to the master to, as
// redis-cli --cluster reshard does for each slot: to imports it, its
// master migrates it, batch keys at a time (MIGRATE), with gap between
// batches, and then every master is told that to owns it. While the keys
// move, a command on the slot's keys is answered by the old master while
// it holds them all, redirected to to (ASK) once it holds none, and
// answered TRYAGAIN in between, when they are on both: what a client sees
// during a resharding (the store's scripts, whose fence is never on either
// master, are answered TRYAGAIN throughout). It returns how many keys moved.
func (c *Cluster) MoveSlot(ctx context.Context, slot int, to *Server, batch int, gap time.Duration) (int, error) {
	m, err := c.StartMove(ctx, slot, to)
	if err != nil || m == nil {
		return 0, err
	}
	n, err := m.MigrateAll(ctx, batch, gap)
	if err != nil {
		return n, err
	}
	return n, m.Finish(ctx)
}

// SlotMove is a slot on its way from one master to another (StartMove):
// its keys move with Migrate or MigrateAll, and Finish hands it over.
type SlotMove struct {
	c            *Cluster
	slot         int
	from, to     *Server
	fromID, toID string
}

// StartMove sets slot importing on to and migrating on its master; nil
// when to is its master already.
func (c *Cluster) StartMove(ctx context.Context, slot int, to *Server) (*SlotMove, error) {
	from, err := c.MasterOf(ctx, slot)
	if err != nil || from == to {
		return nil, err
	}
	m := &SlotMove{c: c, slot: slot, from: from, to: to}
	if m.toID, err = to.Client().Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
		return nil, err
	}
	if m.fromID, err = from.Client().Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
		return nil, err
	}
	if err := to.Client().Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", m.fromID).Err(); err != nil {
		return nil, fmt.Errorf("redistest: import slot %d: %w", slot, err)
	}
	if err := from.Client().Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", m.toID).Err(); err != nil {
		return nil, fmt.Errorf("redistest: migrate slot %d: %w", slot, err)
	}
	return m, nil
}

// Migrate moves keys (of the slot) to the new master in one MIGRATE,
// without REPLACE, as redis-cli's default: a key that something wrote on
// the new master while the old one still held it fails the move (BUSYKEY).
func (m *SlotMove) Migrate(ctx context.Context, keys ...string) error {
	host, port, _ := net.SplitHostPort(m.to.Addr())
	args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	if err := m.from.Client().Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("redistest: MIGRATE of %d keys of slot %d: %w", len(keys), m.slot, err)
	}
	return nil
}

// MigrateAll moves the slot's remaining keys, batch at a time, with gap
// between batches; it returns how many moved.
func (m *SlotMove) MigrateAll(ctx context.Context, batch int, gap time.Duration) (int, error) {
	moved := 0
	for {
		keys, err := m.from.Client().Do(ctx, "CLUSTER", "GETKEYSINSLOT", m.slot, batch).StringSlice()
		if err != nil || len(keys) == 0 {
			return moved, err
		}
		if err := m.Migrate(ctx, keys...); err != nil {
			return moved, err
		}
		moved += len(keys)
		select {
		case <-ctx.Done():
			return moved, ctx.Err()
		case <-time.After(gap):
		}
	}
}

// Finish tells every master that the new one owns the slot: the new owner
// first, then the old one (which stops redirecting with ASK and answers
// MOVED), then the others.
func (m *SlotMove) Finish(ctx context.Context) error {
	masters, err := m.c.Masters(ctx)
	if err != nil {
		return err
	}
	for _, s := range append([]*Server{m.to, m.from}, masters...) {
		if err := s.Client().Do(ctx, "CLUSTER", "SETSLOT", m.slot, "NODE", m.toID).Err(); err != nil {
			return fmt.Errorf("redistest: slot %d to %s on %s: %w", m.slot, m.to.Addr(), s.Addr(), err)
		}
	}
	return nil
}

// masterAt is the address of slot's master in the slot table of the node
// at addr, asked over a connection of its own.
func masterAt(ctx context.Context, addr string, slot int) (string, error) {
	p := newProbe(addr, 2*time.Second)
	defer p.Close()
	slots, err := p.ClusterSlots(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("redistest: %s: %w", addr, err)
	}
	for _, r := range slots {
		if int(r.Start) <= slot && slot <= int(r.End) && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("redistest: %s: no master serves slot %d", addr, slot)
}

// KeysOn counts the keys matching pattern held by server s (a master).
func KeysOn(ctx context.Context, s *Server, pattern string) (int, error) {
	n := 0
	iter := s.Client().Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, s := range c.Nodes {
		s.Close()
	}
}

// Slot is Redis Cluster's key slot of key: CRC16/XMODEM of its hash tag (or
// of the whole key without one), mod 16384, written out from the Cluster
// specification so that tests check layouts against it rather than against
// the code under test.
func Slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
