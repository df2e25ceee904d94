package redisstore

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the message script of many senders in few round trips: a
// call that finds no pipeline in flight sends at once (alone when nothing
// else waits, so a quiet hub adds no delay), and the calls that arrive
// while one is in flight wait for it, then go together in the next, which
// the ending flight sends. The busier the hub, the bigger the pipelines:
// at 5,000 msg/s over two hubs they average 1.6 calls, and the ramp held
// 11,000 msg/s (p99 44 ms) where one round trip per call broke past 8,000
// (docs/performance.md, round two). Each caller gets its own reply. A
// sender's messages stay in order: a socket sends its next message after
// the reply to its last. No goroutine runs while nothing is sent.
type batcher struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	pending []*batchCall // guarded by mu
	flights int          // guarded by mu: pipelines in flight
}

const (
	// maxFlights is how many pipelines may be in flight at once. With 4,
	// calls rarely met one another (1.05 a pipeline at 5,000 msg/s) and
	// the hub kept paying a round trip each.
	maxFlights = 1
	maxBatch   = 128 // calls per pipeline
)

type batchCall struct {
	keys []string
	args []any
	done chan struct{}
	res  []int64
	err  error
}

// run runs the message script with keys and args, in a pipeline with
// whatever else is waiting, and returns its reply. A caller whose ctx ends
// first gets ctx's error; its call may still run (a retry with the same
// client_msg_id is answered with the first seq).
func (b *batcher) run(ctx context.Context, keys []string, args []any) ([]int64, error) {
	c := &batchCall{keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	var batch []*batchCall
	if b.flights < maxFlights {
		b.flights++
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil {
		b.fly(batch)
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// take removes up to maxBatch waiting calls. Called with mu held.
func (b *batcher) take() []*batchCall {
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	return batch
}

// fly sends batch, answers its calls, and hands what waits meanwhile to a
// new flight, so that the caller that sent it returns at once.
func (b *batcher) fly(batch []*batchCall) {
	b.send(batch)
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.flights--
		b.mu.Unlock()
		return
	}
	next := b.take()
	b.mu.Unlock()
	go b.fly(next)
}

// send runs batch in one pipeline. The calls are independent (different
// sessions, or one sender's, which never overlap); a call the server does
// not know the script for yet (NOSCRIPT: a restarted Redis, a new node)
// runs again on its own with the script's text.
func (b *batcher) send(batch []*batchCall) {
	ctx := context.Background() // the client's own timeouts bound it
	if len(batch) == 1 {
		c := batch[0]
		c.res, c.err = messageScript.Run(ctx, b.rdb, c.keys, c.args...).Int64Slice()
		close(c.done)
		return
	}
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = messageScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is its caller's
	for i, c := range batch {
		c.res, c.err = cmds[i].Int64Slice()
		if c.err != nil && redis.HasErrorPrefix(c.err, "NOSCRIPT") {
			c.res, c.err = messageScript.Run(ctx, b.rdb, c.keys, c.args...).Int64Slice()
		}
		close(c.done)
	}
}
