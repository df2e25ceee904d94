// Package redistest gives tests a Redis: an in-process miniredis by default,
// or the real redis-server named by SWITCHBOARD_TEST_REDIS_URL (which
// scripts/test.sh starts), so that one suite runs against both.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable naming a real Redis for tests.
const EnvURL = "SWITCHBOARD_TEST_REDIS_URL"

// Redis is one test's Redis and a key prefix of its own.
type Redis struct {
	// Mini is the in-process server, or nil on a real redis-server.
	Mini *miniredis.Miniredis
	// URL reaches the server; a second client on it is a second hub instance.
	URL string
	// Prefix is a key prefix (with a hash tag) unique to this test, so tests
	// sharing a real redis-server never see each other's keys.
	Prefix string
	// Client is a client on URL, closed when the test ends.
	Client redis.UniversalClient
	t      testing.TB
}

// New returns a Redis for t and registers its cleanup.
func New(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, URL: os.Getenv(EnvURL)}
	if r.URL == "" {
		r.Mini = miniredis.RunT(t)
		r.URL = "redis://" + r.Mini.Addr()
	}
	var b [6]byte
	rand.Read(b[:])
	r.Prefix = "{sbt" + hex.EncodeToString(b[:]) + "}"
	r.Client = r.NewClient()
	if err := r.Client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redistest: %s: %v", r.URL, err)
	}
	if r.Mini == nil {
		t.Cleanup(r.deleteKeys)
	}
	return r
}

// Real reports whether the tests run against a real redis-server.
func (r *Redis) Real() bool { return r.Mini == nil }

// Kind names the Redis the test runs on, for test logs.
func (r *Redis) Kind() string {
	if r.Real() {
		return "redis-server " + r.URL
	}
	return "miniredis"
}

// NewClient returns a new client on the same server (its own connection
// pool, as a second hub instance would have), closed when the test ends.
func (r *Redis) NewClient() redis.UniversalClient {
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		r.t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(opt)
	r.t.Cleanup(func() { c.Close() })
	return c
}

// FastForward moves Redis' clock for TTLs: miniredis' FastForward, or on a
// real server a wait on the condition by the caller. It reports whether it
// could move the clock.
func (r *Redis) FastForward(d time.Duration) bool {
	if r.Mini == nil {
		return false
	}
	r.Mini.FastForward(d)
	return true
}

// deleteKeys removes this test's keys from a real server (SCAN is fine in a test).
func (r *Redis) deleteKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	iter := c.Scan(ctx, 0, r.Prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
