package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// testRedis is a client on the tests' redis-server
// (SWITCHBOARD_TEST_REDIS_URL) or on a miniredis of the test's own, and a
// key prefix of the test's own. (redistest cannot be used here: it
// imports this package.)
type testRedis struct {
	Client redis.UniversalClient
	Prefix string
}

func newTestRedis(t *testing.T) *testRedis {
	t.Helper()
	url := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://" + miniredis.RunT(t).Addr()
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	r := &testRedis{Client: redis.NewClient(opt), Prefix: fmt.Sprintf("{sbb%x}", rand.Uint64())}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := r.Client.Scan(ctx, 0, r.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			r.Client.Del(ctx, iter.Val())
		}
		r.Client.Close()
	})
	return r
}

// echoScript counts its calls on KEYS[1] and answers the count with
// ARGV[1], so that each caller can tell its own reply.
var echoScript = newScript(`return {redis.call('INCR', KEYS[1]), tonumber(ARGV[1])}`)

// gate is a go-redis hook that holds the next command or pipeline sent,
// once armed, until released, and records the size of every round trip
// of scripts.
type gate struct {
	mu      sync.Mutex
	armed   bool
	entered chan struct{} // closed when the held call arrives
	release chan struct{}
	sizes   []int // commands of each round trip, in order
}

func (g *gate) arm() {
	g.mu.Lock()
	g.armed, g.entered, g.release = true, make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) pass(n int) {
	g.mu.Lock()
	g.sizes = append(g.sizes, n)
	held := g.armed
	g.armed = false
	entered, release := g.entered, g.release
	g.mu.Unlock()
	if held {
		close(entered)
		<-release
	}
}

func (g *gate) roundTrips() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			g.pass(1)
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() == "evalsha" { // not the connection's own set-up
			g.pass(len(cmds))
		}
		return next(ctx, cmds)
	}
}

// newGatedBatcher returns a batcher of echoScript on a Redis of the
// test's own, behind a gate.
func newGatedBatcher(t *testing.T) (*batcher, *gate, *testRedis) {
	t.Helper()
	r := newTestRedis(t)
	rdb := r.Client.(*redis.Client)
	g := &gate{}
	rdb.AddHook(g)
	if err := echoScript.Load(context.Background(), rdb).Err(); err != nil {
		t.Fatal(err)
	}
	return &batcher{rdb: rdb, script: echoScript}, g, r
}

// echo runs echoScript on key through b with n as its argument.
func echo(ctx context.Context, b *batcher, r *testRedis, key string, n int) ([]int64, error) {
	return b.run(ctx, []string{r.Prefix + key}, []any{n})
}

// waitPending waits until n calls wait in b.
func waitPending(t *testing.T, b *batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.pending)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls wait, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// wantIdle fails unless b has nothing in flight and nothing waiting.
func wantIdle(t *testing.T, b *batcher) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flights != 0 || len(b.pending) != 0 {
		t.Fatalf("batcher left with %d flights and %d calls waiting", b.flights, len(b.pending))
	}
}

type reply struct {
	res []int64
	err error
}

// goEcho starts echo in a goroutine of its own and returns where its reply
// comes.
func goEcho(ctx context.Context, b *batcher, r *testRedis, key string, n int) <-chan reply {
	ch := make(chan reply, 1)
	go func() { res, err := echo(ctx, b, r, key, n); ch <- reply{res, err} }()
	return ch
}

// holdFirstFlight returns a gated batcher whose first call (on key "a") is
// in flight, held at the gate until g.release is closed.
func holdFirstFlight(t *testing.T) (b *batcher, g *gate, r *testRedis, first <-chan reply) {
	t.Helper()
	b, g, r = newGatedBatcher(t)
	g.arm()
	first = goEcho(context.Background(), b, r, "a", 0)
	<-g.entered
	return b, g, r, first
}

// TestBatcherSendsWhatWaitedInOnePipeline: while one call is in flight,
// three more arrive; they go together in the next round trip, sent by one
// of them, and each gets its own reply.
func TestBatcherSendsWhatWaitedInOnePipeline(t *testing.T) {
	b, g, r, first := holdFirstFlight(t)
	replies := make([]<-chan reply, 3)
	for i := range replies {
		replies[i] = goEcho(context.Background(), b, r, fmt.Sprint("k", i), i+1)
		waitPending(t, b, i+1)
	}
	waitPending(t, b, 3)
	close(g.release)
	if got := <-first; got.err != nil || fmt.Sprint(got.res) != "[1 0]" {
		t.Fatalf("first call: %v, %v; want [1 0]", got.res, got.err)
	}
	for i, ch := range replies {
		if got := <-ch; got.err != nil || fmt.Sprint(got.res) != fmt.Sprintf("[1 %d]", i+1) {
			t.Fatalf("call %d: %v, %v; want [1 %d]", i+1, got.res, got.err, i+1)
		}
	}
	if got := g.roundTrips(); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("round trips of %v commands, want [1 3]", got)
	}
	wantIdle(t, b)
}

// TestBatcherCallerWhoseContextEndsTakesBackItsCall: a call that waits
// when its caller's context ends is not sent; the calls that wait with it
// still are.
func TestBatcherCallerWhoseContextEndsTakesBackItsCall(t *testing.T) {
	b, g, r, first := holdFirstFlight(t)
	ctx := context.Background()
	gone, cancel := context.WithCancel(ctx)
	left := goEcho(gone, b, r, "gone", 1)
	waitPending(t, b, 1)
	stays := goEcho(ctx, b, r, "stays", 2)
	waitPending(t, b, 2)
	cancel()
	if got := <-left; !errors.Is(got.err, context.Canceled) {
		t.Fatalf("the call whose context ended: %v, %v; want context.Canceled", got.res, got.err)
	}
	waitPending(t, b, 1)
	close(g.release)
	if got := <-first; got.err != nil {
		t.Fatal(got.err)
	}
	if got := <-stays; got.err != nil || fmt.Sprint(got.res) != "[1 2]" {
		t.Fatalf("the call that stayed: %v, %v; want [1 2]", got.res, got.err)
	}
	if n, err := r.Client.Exists(ctx, r.Prefix+"gone").Result(); err != nil || n != 0 {
		t.Fatalf("the call taken back ran (%d, %v)", n, err)
	}
	if got := g.roundTrips(); fmt.Sprint(got) != "[1 1]" {
		t.Fatalf("round trips of %v commands, want [1 1]", got)
	}
	wantIdle(t, b)
}

// TestBatcherCallerHandedABatchAfterItsContextEndedSendsIt: the caller
// a flight hands the next batch to may find its context ended; it sends
// the batch all the same (the others in it wait for that flight) and, its
// reply come with it, returns it.
func TestBatcherCallerHandedABatchAfterItsContextEndedSendsIt(t *testing.T) {
	b, g, r := newGatedBatcher(t)
	b.mu.Lock()
	b.flights = 1 // as while another caller's flight is out
	b.mu.Unlock()
	gone, cancel := context.WithCancel(context.Background())
	led := goEcho(gone, b, r, "led", 1)
	waitPending(t, b, 1)
	other := goEcho(context.Background(), b, r, "other", 2)
	waitPending(t, b, 2)
	b.mu.Lock()
	cancel() // the caller wakes for its context, and waits for mu
	next := b.take()
	next[0].lead = next // what the ending flight does
	b.mu.Unlock()
	next[0].signal()
	if got := <-led; got.err != nil || fmt.Sprint(got.res) != "[1 1]" {
		t.Fatalf("the caller handed the batch: %v, %v; want its reply [1 1]", got.res, got.err)
	}
	if got := <-other; got.err != nil || fmt.Sprint(got.res) != "[1 2]" {
		t.Fatalf("the other caller in the batch: %v, %v; want [1 2]", got.res, got.err)
	}
	if got := g.roundTrips(); fmt.Sprint(got) != "[2]" {
		t.Fatalf("round trips of %v commands, want [2]", got)
	}
	wantIdle(t, b)
}

// TestBatcherEveryCallEnds: many callers at once, a third of them with
// contexts that end while they wait or before they start. Every call
// returns, each reply is its caller's own, each caller's key counts at
// least its replies and at most its calls, and the batcher is left idle
// (no call left waiting, no flight left counted). The rare interleaving
// of a caller handed a batch after its context ended has a test of its
// own above.
func TestBatcherEveryCallEnds(t *testing.T) {
	b, _, r := newGatedBatcher(t)
	const callers, each = 32, 60
	ran := make([]int, callers) // successes per caller's key
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for n := range each {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				switch rng.IntN(3) {
				case 0:
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				case 1:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Microsecond)
				}
				res, err := echo(ctx, b, r, fmt.Sprint("k", i), n)
				cancel()
				switch {
				case err == nil && len(res) == 2 && res[1] == int64(n):
					ran[i]++
				case err == nil:
					t.Errorf("caller %d, call %d: reply %v is not its own", i, n, res)
				case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("caller %d, call %d: %v", i, n, err)
				}
			}
		}()
	}
	wg.Wait()
	wantIdle(t, b)
	for i, ok := range ran {
		n, err := r.Client.Get(context.Background(), fmt.Sprint(r.Prefix, "k", i)).Int()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		if err != nil || n < ok || n > each {
			t.Fatalf("caller %d: %d calls ran (%v), with %d replies of %d calls", i, n, err, ok, each)
		}
	}
}
