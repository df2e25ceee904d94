package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestOpaqueDialHidesTheDescriptor: the connections withoutPoolPeek's hook
// dials do not expose syscall.Conn, which is what go-redis's pool needs to
// peek at them; they still carry the bytes.
func TestOpaqueDialHidesTheDescriptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("+PONG\r\n"))
			c.Close()
		}
	}()
	var d net.Dialer
	cn, err := opaqueDial{}.DialHook(d.DialContext)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	if _, ok := cn.(syscall.Conn); ok {
		t.Fatal("the dialed connection exposes syscall.Conn: go-redis's pool would peek at it")
	}
	buf := make([]byte, 7)
	if _, err := cn.Read(buf); err != nil || string(buf) != "+PONG\r\n" {
		t.Fatalf("read %q (%v)", buf, err)
	}
}

// TestRedisRestartWithoutPoolPeek: with the pool's peek gone, connections
// that a Redis restart closed are found at their next use, and every
// command, pipeline and script sent on them after the restart succeeds on
// a new connection, which went through OnConnect (the store's guard), with
// no error for the caller. A client without retries keeps the peek, which
// is what finds the closed connections then (without it, the script's
// call fails with EOF).
func TestRedisRestartWithoutPoolPeek(t *testing.T) {
	rs := redistest.RequireServer(t, redistest.ServerConfig{})
	for _, query := range []string{"", "?max_retries=-1"} {
		t.Run("url"+query, func(t *testing.T) { restartUnderPool(t, rs, rs.URL()+query) })
	}
}

// restartUnderPool fills the pool of a client on url with idle
// connections, restarts rs, and uses each of them again.
func restartUnderPool(t *testing.T, rs *redistest.Server, url string) {
	var connects atomic.Int32
	rdb, err := redisClient(url, func(context.Context, *redis.Conn) error { connects.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 4
	// Each of n callers blocks on the server for a moment, so that each holds
	// a connection of its own: n of them idle in the pool afterwards.
	together := func(f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
	}
	// hold blocks the caller's connection on the server for 200 ms.
	hold := func(c interface {
		Do(context.Context, ...any) *redis.Cmd
	}, i int) *redis.Cmd {
		return c.Do(ctx, "BLPOP", fmt.Sprintf("restart:nothing:%d", i), "0.2")
	}
	together(func(i int) error {
		if err := hold(rdb, i).Err(); err != redis.Nil {
			return err
		}
		return nil
	})
	if st := rdb.PoolStats(); st.IdleConns != n {
		t.Fatalf("%d idle connections before the restart, want %d", st.IdleConns, n)
	}
	before := connects.Load()

	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	script := redis.NewScript(`return redis.call('INCR', KEYS[1])`) // not in the new server's cache
	together(func(i int) error {
		pipe := rdb.Pipeline()
		pipe.Set(ctx, fmt.Sprintf("restart:%d", i), i, 0)
		hold(pipe, i)
		if _, err := pipe.Exec(ctx); err != redis.Nil { // the BLPOP's empty answer
			return fmt.Errorf("pipeline: %w", err)
		}
		if err := script.Run(ctx, rdb, []string{"restart:count"}).Err(); err != nil {
			return fmt.Errorf("script: %w", err)
		}
		return rdb.Get(ctx, fmt.Sprintf("restart:%d", i)).Err()
	})
	if got, err := rdb.Get(ctx, "restart:count").Int(); err != nil || got != n {
		t.Fatalf("the script ran %d times (%v), want %d", got, err, n)
	}
	if after := connects.Load() - before; after < n {
		t.Fatalf("%d connections made after the restart, want at least %d (each through OnConnect)", after, n)
	}
}
