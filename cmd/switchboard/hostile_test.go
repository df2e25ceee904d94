package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// hostileMain starts a hub on the test's Redis with the configuration
// changed by mod.
func hostileMain(t *testing.T, mod func(*Config)) *Main {
	t.Helper()
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	mod(&c)
	return openMain(t, c)
}

// trickle writes one byte of b every 20 ms on conn (wrapping around) until
// the server ends the connection, and returns what the server answered
// and how long after start it ended. It fails the test if the server has
// not ended it within limit.
func trickle(t *testing.T, conn net.Conn, b []byte, start time.Time, limit time.Duration) (answer string, after time.Duration) {
	t.Helper()
	type end struct {
		answer string
		at     time.Time
	}
	ended := make(chan end, 1)
	go func() {
		got, _ := io.ReadAll(conn) // until the server closes the connection
		ended <- end{string(got), time.Now()}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	give := time.After(limit)
	for i := 0; ; i++ {
		select {
		case e := <-ended:
			return e.answer, e.at.Sub(start)
		case <-give:
			t.Fatalf("the connection still open %v after it began (%d bytes trickled)", limit, i)
		case <-tick.C:
			conn.Write(b[i%len(b) : i%len(b)+1]) // fails once the server closed: the reader reports it
		}
	}
}

// TestSlowlorisHeadersCut: a client that trickles its headers a byte at a
// time, never ending them, is cut at the header timeout, and the hub
// serves others meanwhile.
func TestSlowlorisHeadersCut(t *testing.T) {
	const timeout = 500 * time.Millisecond
	m := hostileMain(t, func(c *Config) { c.HTTPReadHeaderTimeout = timeout })
	conn, err := net.Dial("tcp", m.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
	answer, after := trickle(t, conn, []byte("abcdefghijklmnopqrstuvwxyz"), start, 30*time.Second)
	t.Logf("cut after %v; the hub answered %q", after, answer)
	// The server's clock starts at accept, a little before the client's
	// first byte: a few milliseconds early is the same cut.
	if after < timeout-100*time.Millisecond || after > timeout+5*time.Second {
		t.Fatalf("cut %v after the first byte, want about %v", after, timeout)
	}
	if strings.Contains(answer, " 200 ") {
		t.Fatalf("a request whose headers never ended was answered: %q", answer)
	}
	if code, _ := get(t, m.URL()+"/healthz", ""); code != 200 {
		t.Fatalf("healthz after the slowloris: %d", code)
	}
}

// TestSlowBodyCut: a request whose body trickles is cut at the read
// timeout (from its first byte), and nothing of it is stored.
func TestSlowBodyCut(t *testing.T) {
	const timeout = time.Second
	m := hostileMain(t, func(c *Config) { c.HTTPReadTimeout = timeout })
	conn, err := net.Dial("tcp", m.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"title":"slow","customer_name":"Slow Customer"}`
	start := time.Now()
	fmt.Fprintf(conn, "POST /customer-service/sessions HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", m.AdminKey(), len(body)*100)
	answer, after := trickle(t, conn, []byte(body), start, 30*time.Second)
	t.Logf("cut after %v; the hub answered %q", after, answer)
	if after < timeout-100*time.Millisecond || after > timeout+5*time.Second {
		t.Fatalf("cut %v after the first byte, want about %v", after, timeout)
	}
	if res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil); err == nil && res.StatusCode/100 == 2 {
		t.Fatalf("a request whose body never came whole was answered %d", res.StatusCode)
	}
	code, stats := get(t, m.URL()+"/customer-service/stats", m.AdminKey())
	if code != 200 || !strings.Contains(stats, `"total_sessions":0`) {
		t.Fatalf("stats after the slow body: %d %s", code, stats)
	}
}

// TestLargeHeadersRefused: headers past HTTPMaxHeaderBytes (64 KiB by
// default) get 431 and never reach a handler.
func TestLargeHeadersRefused(t *testing.T) {
	m := hostileMain(t, func(*Config) {})
	req, _ := http.NewRequest(http.MethodGet, m.URL()+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 80<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("80 KiB of headers: %d, want 431", res.StatusCode)
	}
}

// TestWebSocketOutlivesHTTPTimeouts: with read and write timeouts far
// shorter than a socket's life, a customer's socket still sends and
// receives after both have passed.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	const timeout = 500 * time.Millisecond
	m := hostileMain(t, func(c *Config) { c.HTTPReadTimeout, c.HTTPWriteTimeout = timeout, timeout })
	var created struct {
		Session struct{ ID string }
		Token   string
	}
	if st := killJSON(t, "POST", m.URL()+"/api/v1/widget/sessions", "", `{"name":"Ann"}`, &created); st != http.StatusCreated {
		t.Fatalf("widget session: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(m.URL(), "http") + "/ws", Token: created.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	// Both timeouts pass while the socket is quiet (time is the condition).
	time.Sleep(4 * timeout)

	r, err := c.Send(ctx, created.Session.ID, "still there?")
	if err != nil {
		t.Fatalf("send after the timeouts: %v (socket: %v)", err, c.Err())
	}
	for {
		select {
		case f := <-c.Events():
			if f.Type == "message.created" && f.Seq == r.Seq {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the message's event never came (socket: %v)", c.Err())
		}
	}
}
