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
		return withoutPoolPeek(redis.NewClient(opt)), nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, err
		}
		if opt.MasterName == "" {
			return nil, errors.New("a Sentinel URL needs ?master_name=NAME")
		}
		opt.OnConnect = onConnect
		return withoutPoolPeek(redis.NewFailoverClient(opt)), nil
	case "cluster":
		opt, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, err
		}
		opt.OnConnect = onConnect
		return withoutPoolPeek(redis.NewClusterClient(opt)), nil
	}
	return nil, fmt.Errorf("unknown scheme %q: use redis+sentinel:// or redis+cluster://", u.Scheme)
}

// withoutPoolPeek makes rdb's connections opaque to go-redis's pool, which
// otherwise peeks at each idle connection it hands out with a non-blocking
// recvfrom(MSG_PEEK) (its connCheck): one system call in every pipeline the
// store's batcher sends, 1.0-1.3 % of a hub's CPU at 5,000 msg/s and one
// call in the 32 a message cost the hubs (docs/performance.md, "The pool's
// peek, gone").
// go-redis peeks only at a connection that exposes its file descriptor
// (syscall.Conn), so it already skips the peek over TLS. A connection that
// Redis closed (a restart, a failover) is then found at its next use: the
// write goes out, the read finds the end of the stream, and go-redis, which
// retries on io.EOF, sends the command again on a new connection, after
// OnConnect's checks (TestRedisRestartWithoutPoolPeek). That needs the
// client's retries: a client with none (max_retries=-1, and a Cluster's
// nodes by default, where the Cluster client redirects instead) keeps the
// peek. It must be called before rdb's first command (a Cluster's nodes
// get it as they are made).
func withoutPoolPeek(rdb redis.UniversalClient) redis.UniversalClient {
	hide := func(c *redis.Client) {
		if c.Options().MaxRetries > 0 {
			c.AddHook(opaqueDial{})
		}
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(hide)
	case *redis.Client:
		hide(c)
	}
	return rdb
}

// opaqueDial is the go-redis hook of withoutPoolPeek: each connection it
// dials is wrapped in an opaqueConn.
type opaqueDial struct{}

func (opaqueDial) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return opaqueConn{cn}, nil
	}
}

func (opaqueDial) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (opaqueDial) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// opaqueConn is a net.Conn with only net.Conn's methods: no SyscallConn
// for go-redis's pool to peek through.
type opaqueConn struct{ net.Conn }
