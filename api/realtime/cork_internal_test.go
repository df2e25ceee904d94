package realtime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
)

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, string(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) taken() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

func TestCorkGathersWritesInOrder(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { // the peer reads everything
		buf := make([]byte, 1024)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	under := &countingConn{Conn: a}
	c := &corkConn{Conn: under, timeout: time.Second}
	c.cork()
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	done := make(chan struct{})
	go func() { c.Write([]byte("c")); close(done) }() // another goroutine's frame, corked too
	<-done
	if got := under.taken(); len(got) != 0 {
		t.Fatalf("corked writes reached the connection: %q", got)
	}
	if n := c.gathered(); n != 3 {
		t.Fatalf("gathered %d bytes, want 3", n)
	}
	if joined, err := c.uncork(); err != nil || joined != 3 {
		t.Fatalf("uncork joined %d writes (%v), want 3", joined, err)
	}
	c.Write([]byte("d"))
	if got := under.taken(); strings.Join(got, "|") != "abc|d" {
		t.Fatalf("writes %q, want one of abc then d", got)
	}
	if joined, err := c.uncork(); err != nil || joined != 0 { // uncorked already: nothing to do
		t.Fatalf("a second uncork joined %d (%v)", joined, err)
	}
}

// TestWriterCoalescesQueuedFrames: frames queued together reach the client
// in order, in one write; a frame alone is written at once.
func TestWriterCoalescesQueuedFrames(t *testing.T) {
	e := testEngine()
	under := make(chan *countingConn, 1)
	conns := make(chan *conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb := &smallBuffers{ResponseWriter: w, timeout: time.Second}
		ws, err := websocket.Accept(sb, r, nil)
		if err != nil {
			return
		}
		cc := &countingConn{Conn: sb.cork.Conn}
		sb.cork.Conn = cc // before any frame: only this test's writer writes
		ctx, cancel := context.WithCancel(context.Background())
		c := &conn{e: e, ws: ws, cork: sb.cork, ctx: ctx, cancel: cancel, last: map[string]int64{}}
		under <- cc
		conns <- c
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseNow()
	cc, c := <-under, <-conns
	defer c.cancel()

	const n = 100
	c.qmu.Lock() // n frames wait before the writer starts, as after a burst
	for i := range n {
		c.queue = append(c.queue, item{frame: fmt.Appendf(nil, `{"type":"x","n":%d}`, i)})
	}
	c.writing = true
	c.writers.Add(1)
	c.qmu.Unlock()
	go c.writer()
	for i := range n {
		_, b, err := cl.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"type":"x","n":%d}`, i); string(b) != want {
			t.Fatalf("frame %d: %s, want %s", i, b, want)
		}
	}
	c.writers.Wait()
	if got := len(cc.taken()); got != 1 {
		t.Fatalf("%d frames took %d writes, want 1", n, got)
	}
	var m dto.Metric
	e.metrics.Coalesced.Write(&m)
	if f := m.GetCounter().GetValue(); f != 1 {
		t.Fatalf("coalesced writes metric %v, want 1", f)
	}

	c.push(item{frame: []byte(`{"type":"alone"}`)}, false) // nothing behind it: written at once
	if _, b, err := cl.Read(ctx); err != nil || string(b) != `{"type":"alone"}` {
		t.Fatalf("%s %v", b, err)
	}
	c.writers.Wait()
	if got := len(cc.taken()); got != 2 {
		t.Fatalf("%d writes after a lone frame, want 2", got)
	}
}
