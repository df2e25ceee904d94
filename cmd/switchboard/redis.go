package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisClient returns a client for the Redis named by rawURL, one of:
//
//	redis://[user:pass@]host:port[/db]                     standalone
//	rediss://...                                           standalone over TLS
//	unix:///path/to/redis.sock                             standalone on a socket
//	redis+sentinel://[:pass@]host:port?master_name=NAME&addr=host2:port   Sentinel
//	redis+cluster://[user:pass@]host:port?addr=host2:port  Cluster
//
// (rediss+sentinel and rediss+cluster for TLS). Query parameters are
// go-redis' own (dial_timeout, pool_size, ...). Every client implements
// redis.UniversalClient, which is all the store needs. onConnect, if not
// nil, runs on every new connection before it carries anything else (the
// store's epoch check, see redisstore.Guard).
func redisClient(rawURL string, onConnect func(context.Context, *redis.Conn) error) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	base, mode, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" && !(base == "unix" && mode == "") {
		return nil, fmt.Errorf("unknown scheme %q: use redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://", u.Scheme)
	}
	plain := strings.Replace(rawURL, u.Scheme+"://", base+"://", 1)
	switch mode {
	case "":
		opt, err := redis.ParseURL(plain)
		if err != nil {
			return nil, err
		}
		opt.OnConnect = onConnect
		return redis.NewClient(opt), nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, err
		}
		if opt.MasterName == "" {
			return nil, errors.New("a Sentinel URL needs ?master_name=NAME")
		}
		opt.OnConnect = onConnect
		return redis.NewFailoverClient(opt), nil
	case "cluster":
		opt, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, err
		}
		opt.OnConnect = onConnect
		cc := redis.NewClusterClient(opt)
		followFailovers(cc)
		return cc, nil
	}
	return nil, fmt.Errorf("unknown scheme %q: use redis+sentinel:// or redis+cluster://", u.Scheme)
}

// followFailovers has cc reload its slot map whenever a node fails to
// answer, so that it finds a slot's new master soon after the cluster
// promoted it. go-redis reloads the map on MOVED, or at a command once the
// map is ClusterStateReloadInterval old (a minute); a master that died or
// hangs answers no MOVED, and its retries go to the same node, so without
// this a failed master's tenants waited up to a minute more than the
// cluster's own failover: every send failed meanwhile (the chaos suite's
// cluster-frozen, docs/reliability.md). The reload is go-redis's own
// (ReloadState: in the background, one at a time, at most one more every
// 200 ms), so an outage costs each hub a CLUSTER SLOTS a few times a
// second, and nothing when all is well.
func followFailovers(cc *redis.ClusterClient) {
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(reloadOnNodeFailure{cc}) })
}

// reloadOnNodeFailure is followFailovers' hook on each node's client: it
// sees each attempt at a node, where the cluster client's own hooks see
// only the outcome after go-redis's retries.
type reloadOnNodeFailure struct{ cc *redis.ClusterClient }

// after reloads the slot map when err says the node did not answer: not a
// Redis reply (an error reply included), nor the caller giving up. A read
// that timed out counts even when the caller's context ended meanwhile:
// go-redis bounds a read by its read timeout, not by the context.
func (h reloadOnNodeFailure) after(ctx context.Context, err error) {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	h.cc.ReloadState(ctx)
}

func (h reloadOnNodeFailure) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.after(ctx, err)
		return c, err
	}
}

func (h reloadOnNodeFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(ctx, err)
		return err
	}
}

func (h reloadOnNodeFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(ctx, err)
		return err
	}
}
