package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestUpgradeTransport dials a real coder/websocket server through the
// load tool's upgrade transport: the server's first frame, written right
// behind the 101, is read; frames go both ways; the socket closes cleanly.
func TestUpgradeTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
			return
		}
		for {
			typ, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if err := ws.Write(ctx, typ, append([]byte("echo "), b...)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: wsClient(net.IPv4(127, 0, 0, 1))})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "hello" {
		t.Fatalf("first frame %q, %v", b, err)
	}
	for _, m := range []string{"one", strings.Repeat("x", 5000), "three"} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != "echo "+m {
			t.Fatalf("echo of %.10q: %.15q, %v", m, b, err)
		}
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeTransportRefused: a refused upgrade is Dial's error, with the
// server's status and answer.
func TestUpgradeTransportRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no entry", http.StatusForbidden)
	}))
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	_, resp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPClient: wsClient(nil)})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("got %v, %v", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "no entry") {
		t.Fatalf("body %q", b)
	}
}

// TestUpgradeTransportContext: a server that accepts the connection and
// never answers holds the dial only until the context ends.
func TestUpgradeTransportContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/ws", &websocket.DialOptions{HTTPClient: wsClient(nil)})
		done <- err
	}()
	c := <-accepted // the handshake is under way
	defer c.Close()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("dial after cancel: %v", err)
	}
}

// BenchmarkDial dials and closes a WebSocket on an in-process server with
// net/http's Transport and with the upgrade transport: the server's share
// is the same in both, the difference is the load tool's.
func BenchmarkDial(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ws.Write(r.Context(), websocket.MessageText, []byte("hello"))
		ws.Read(r.Context()) // until the client closes
		ws.CloseNow()
	}))
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, c := range []struct {
		name string
		hc   func(net.IP) *http.Client
	}{{"nethttp", httpClient}, {"upgrade", wsClient}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			cpu0 := selfCPU()
			for b.Loop() {
				ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.hc(nil)})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := ws.Read(ctx); err != nil {
					b.Fatal(err)
				}
				ws.CloseNow()
			}
			b.ReportMetric((selfCPU()-cpu0)*1e9/float64(b.N), "cpu-ns/op")
		})
	}
}
