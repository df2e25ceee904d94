// Package keyrate keeps a token bucket per key: a client address for the
// public endpoints (widget sessions, login), a principal for a socket's
// frame and message budgets. The HTTP surfaces and the real-time engine
// both use it, so it is a package of its own.
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key. Buckets idle for ten minutes are
// forgotten, so that a limiter over client addresses does not grow
// without end.
type Limiter struct {
	// Immutable after New.
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
	swept   time.Time          // guarded by mu
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter whose buckets refill at limit, holding burst.
func New(limit rate.Limit, burst int) *Limiter {
	return &Limiter{limit: limit, burst: burst, buckets: map[string]*bucket{}}
}

// Allow reports whether key may take one more token now.
func (l *Limiter) Allow(key string) bool {
	return l.Of(key).Allow()
}

// Of returns the bucket of key, made on first use; a caller may keep it
// (a socket keeps its principal's).
func (l *Limiter) Of(key string) *rate.Limiter {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim
}
