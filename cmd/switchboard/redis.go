package main

import (
	"context"
	"errors"
	"fmt"
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
		return redis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("unknown scheme %q: use redis+sentinel:// or redis+cluster://", u.Scheme)
}
