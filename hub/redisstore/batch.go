package redisstore

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the message script of many senders in few round trips: a
// call that finds no pipeline in flight sends at once (alone when nothing
// else waits, so a quiet hub adds no delay), and the calls that arrive
// while one is in flight wait for it, then go together in the next. The
// busier the hub, the bigger the pipelines: at 5,000 msg/s over two hubs
// they average 1.6 calls, and the ramp held 11,000 msg/s (p99 44 ms) where
// one round trip per call broke past 8,000 (docs/performance.md, round
// two). Each caller gets its own reply. A sender's messages stay in order:
// a socket sends its next message after the reply to its last.
//
// The callers send the pipelines themselves, as LevelDB's writers commit
// a group: a flight that ends with calls waiting takes them as the next
// batch and wakes its first caller to send it, a wake that caller was due
// anyway for its reply. No goroutine is started for a flight, and none
// runs while nothing is sent. (A goroutine started for each flight grew
// its stack through go-redis every time: 3 % of a hub's CPU at 3,000
// msg/s in runtime.newstack; docs/performance.md.)
type batcher struct {
	rdb    redis.UniversalClient
	script Script // message.lua; another in the batcher's own tests

	mu      sync.Mutex
	pending []*batchCall // guarded by mu: calls not yet in a batch
	flights int          // guarded by mu: batches in flight or handed to a caller to send; below maxFlights only while pending is empty
}

const (
	// maxFlights is how many pipelines may be in flight at once. With 4,
	// calls rarely met one another (1.05 a pipeline at 5,000 msg/s) and
	// the hub kept paying a round trip each.
	maxFlights = 1
	maxBatch   = 128 // calls per pipeline
)

// batchCall is one caller's script call. keys and args are set before it
// is queued and not changed after.
type batchCall struct {
	keys []string
	args []any

	// wake (capacity 1) tells the caller that its reply is in res and err,
	// or that lead holds a batch for it to send (signal).
	wake chan struct{}
	res  []int64 // written by the flight, read after wake or after the caller's own flight
	err  error

	taken bool         // guarded by batcher.mu: in a batch, no longer pending
	lead  []*batchCall // guarded by batcher.mu: the batch this caller is to send
}

// signal wakes c's caller. A caller waits for one signal: its reply, or
// the batch it is to send, whose flight brings its reply with it. The one
// signal that can find the buffer full is the reply of a caller that took
// its batch after its ctx ended, and no one waits for it.
func (c *batchCall) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run runs the message script with keys and args, in a pipeline with
// whatever else is waiting, and returns its reply. A caller whose ctx ends
// while its call waits takes it back and gets ctx's error; once its call
// is in a batch it gets ctx's error at once, and its call may still run (a
// retry with the same client_msg_id is answered with the first seq),
// unless the batch is its own to send: then it sends it first.
func (b *batcher) run(ctx context.Context, keys []string, args []any) ([]int64, error) {
	c := &batchCall{keys: keys, args: args, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	var batch []*batchCall
	if b.flights < maxFlights {
		b.flights++
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil { // batch is [c]: with a flight free, nothing waits
		b.fly(batch)
		return c.res, c.err
	}
	ended := false
	select {
	case <-c.wake:
	case <-ctx.Done():
		ended = true
	}
	b.mu.Lock()
	if ended && !c.taken {
		b.pending = slices.DeleteFunc(b.pending, func(p *batchCall) bool { return p == c })
		b.mu.Unlock()
		return nil, ctx.Err()
	}
	lead := c.lead
	c.lead = nil
	b.mu.Unlock()
	if lead != nil {
		b.fly(lead) // c is in it: its reply comes with the flight
		return c.res, c.err
	}
	if ended {
		return nil, ctx.Err() // in another caller's flight
	}
	return c.res, c.err
}

// newBatcher returns the batcher of message.lua's calls on rdb.
func newBatcher(rdb redis.UniversalClient) *batcher {
	return &batcher{rdb: rdb, script: messageScript}
}

// take removes up to maxBatch waiting calls. Called with mu held.
func (b *batcher) take() []*batchCall {
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	for _, c := range batch {
		c.taken = true
	}
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	return batch
}

// fly sends batch, answers its calls, and hands what waits meanwhile to
// the first of those callers, so that the caller that sent batch returns
// at once.
func (b *batcher) fly(batch []*batchCall) {
	b.send(batch)
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.flights--
		b.mu.Unlock()
		return
	}
	next := b.take()
	next[0].lead = next
	b.mu.Unlock()
	next[0].signal()
}

// send runs batch in one pipeline. The calls are independent (different
// sessions, or one sender's, which never overlap); a call the server does
// not know the script for yet (NOSCRIPT: a restarted Redis, a new node)
// runs again on its own with the script's text.
func (b *batcher) send(batch []*batchCall) {
	ctx := context.Background() // the client's own timeouts bound it
	if len(batch) == 1 {
		c := batch[0]
		c.res, c.err = b.script.Run(ctx, b.rdb, c.keys, c.args...).Int64Slice()
		c.signal()
		return
	}
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = b.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is its caller's
	for i, c := range batch {
		c.res, c.err = cmds[i].Int64Slice()
		if c.err != nil && redis.HasErrorPrefix(c.err, "NOSCRIPT") {
			c.res, c.err = b.script.Run(ctx, b.rdb, c.keys, c.args...).Int64Slice()
		}
		c.signal()
	}
}
