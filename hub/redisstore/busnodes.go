package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// busNodes picks, on a Redis Cluster, the node the Bus's PubSub connection
// goes to. A classic PUBLISH reaches the subscribers of every node of the
// cluster (masters and replicas), so any node that answers will do, and
// what matters is leaving one that does not: go-redis's own Cluster PubSub
// dials the master of its first channel's slot, again and again, so a
// master that stalled without a failover (a long fork, a paused VM, a
// cluster-node-timeout not yet passed) kept the instance's bus deaf, and
// every tenant's live events from every shard missed the instance until
// that one master answered again (TestBusLeavesAStalledNodeOnCluster).
// busNodes dials the cluster's nodes in turn instead, from a random one,
// and passes over for a while those on which the bus lost its connection.
type busNodes struct {
	// Immutable after newBusNodes.
	cc   *redis.ClusterClient
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	last    string               // guarded by mu: the node last dialed
	dropped map[string]time.Time // guarded by mu: when the bus lost its connection to each node
}

// busAvoid is how long a node on which the bus lost its connection is
// passed over while another is there to dial.
const busAvoid = time.Minute

// newBusNodes returns the picker of cc's nodes and the options of the
// Bus's own client, which dials through it: cc's, without its OnConnect
// (the store's guard checks the connections that carry writes; a PubSub
// connection carries none).
func newBusNodes(cc *redis.ClusterClient) (*busNodes, *redis.Options) {
	co := cc.Options()
	n := &busNodes{cc: cc, dial: co.Dialer, dropped: map[string]time.Time{}}
	if n.dial == nil {
		d := &net.Dialer{Timeout: co.DialTimeout, KeepAlive: 5 * time.Minute}
		if d.Timeout == 0 {
			d.Timeout = 5 * time.Second
		}
		n.dial = d.DialContext
		if co.TLSConfig != nil {
			n.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				cfg := co.TLSConfig.Clone()
				if cfg.ServerName == "" {
					cfg.ServerName, _, _ = net.SplitHostPort(addr)
				}
				return (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, network, addr)
			}
		}
	}
	return n, &redis.Options{
		Addr:   "cluster", // each dial picks a node (busNodes.dialNext)
		Dialer: n.dialNext,

		ClientName:                   co.ClientName,
		Protocol:                     co.Protocol,
		Username:                     co.Username,
		Password:                     co.Password,
		CredentialsProvider:          co.CredentialsProvider,
		CredentialsProviderContext:   co.CredentialsProviderContext,
		StreamingCredentialsProvider: co.StreamingCredentialsProvider,
		DialTimeout:                  co.DialTimeout,
		ReadTimeout:                  co.ReadTimeout,
		WriteTimeout:                 co.WriteTimeout,
		DisableIdentity:              co.DisableIdentity,
		IdentitySuffix:               co.IdentitySuffix,
		UnstableResp3:                co.UnstableResp3,
		PoolSize:                     1, // the client's own commands: none; the PubSub connection is apart
	}
}

// nodes returns the address of every node in cc's slot map, masters and
// replicas, sorted.
func (n *busNodes) nodes(ctx context.Context) []string {
	var mu sync.Mutex
	var out []string
	_ = n.cc.ForEachShard(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c.Options().Addr)
		mu.Unlock()
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// dialNext is the Bus client's Dialer: it dials the node after the one
// last dialed, passing over those the bus lost its connection to within
// busAvoid, unless every node is one of them; a node that refuses the dial
// is passed over at once.
func (n *busNodes) dialNext(ctx context.Context, network, _ string) (net.Conn, error) {
	addrs := n.nodes(ctx)
	if len(addrs) == 0 {
		// No map (no node answered CLUSTER SLOTS yet): the seed nodes.
		addrs = slices.Clone(n.cc.Options().Addrs)
		slices.Sort(addrs)
	}
	if len(addrs) == 0 {
		return nil, errors.New("redis: the cluster has no nodes to subscribe on")
	}
	n.mu.Lock()
	// The first dial starts anywhere, so that the instances' buses spread
	// over the nodes.
	start := rand.IntN(len(addrs))
	if i, found := slices.BinarySearch(addrs, n.last); found {
		start = i + 1
	}
	order := make([]string, 0, len(addrs))
	var avoided []string
	now := time.Now()
	for k := range addrs {
		a := addrs[(start+k)%len(addrs)]
		if t, ok := n.dropped[a]; ok && now.Sub(t) < busAvoid {
			avoided = append(avoided, a)
			continue
		}
		order = append(order, a)
	}
	// The avoided ones last, the longest avoided first.
	slices.SortStableFunc(avoided, func(a, b string) int { return n.dropped[a].Compare(n.dropped[b]) })
	n.mu.Unlock()
	order = append(order, avoided...)
	var err error
	for _, a := range order {
		var c net.Conn
		if c, err = n.dial(ctx, network, a); err == nil {
			n.mu.Lock()
			n.last = a
			n.mu.Unlock()
			return c, nil
		}
		n.lost(a)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// answers reports whether the node last dialed answers a PING on a new
// connection within d. A frozen node's kernel still accepts the
// connection, and nothing answers; a node that refuses it is gone. Any
// reply will do, an error too (NOAUTH: no credentials are sent).
func (n *busNodes) answers(d time.Duration) bool {
	n.mu.Lock()
	addr := n.last
	n.mu.Unlock()
	if addr == "" {
		return true // not dialed yet
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := n.dial(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return false
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	var b [1]byte
	_, err = c.Read(b[:])
	return err == nil
}

// lost notes that the bus lost its connection to addr (or could not make
// one).
func (n *busNodes) lost(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropped[addr] = time.Now()
}

// dropLast notes that the bus lost its connection to the node last
// dialed.
func (n *busNodes) dropLast() {
	n.mu.Lock()
	a := n.last
	n.mu.Unlock()
	if a != "" {
		n.lost(a)
	}
}
