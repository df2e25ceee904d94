package api_test

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
)

// TestPeerLimit: a peer past its cap of open HTTP connections has the next
// one closed at accept; a connection that was hijacked (a WebSocket) or
// closed frees its place; a trusted proxy is never capped.
func TestPeerLimit(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
		capped  bool
	}{{"untrusted", nil, true}, {"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false}} {
		t.Run(c.name, func(t *testing.T) {
			lim := api.NewPeerLimit(2, c.trusted)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{ConnState: lim.ConnState, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hijack" {
					nc, _, _ := http.NewResponseController(w).Hijack()
					nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
					t.Cleanup(func() { nc.Close() }) // held open, as a WebSocket would be
					return
				}
				w.WriteHeader(204)
			})}
			go srv.Serve(lim.Listener(ln))
			t.Cleanup(func() { srv.Close() })
			dial := func() net.Conn {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { nc.Close() })
				return nc
			}
			// answered reports whether a request on nc gets an answer.
			answered := func(nc net.Conn, path string) bool {
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := nc.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					return false
				}
				_, err := http.ReadResponse(bufio.NewReader(nc), nil)
				return err == nil
			}
			a, b := dial(), dial()
			if !answered(a, "/") || !answered(b, "/") {
				t.Fatal("the first two connections were not answered")
			}
			third := dial()
			if got := answered(third, "/"); got == c.capped {
				t.Fatalf("a third idle keep-alive connection answered %v, want %v", got, !c.capped)
			}
			if !c.capped {
				return
			}
			// a becomes a "WebSocket": it no longer counts.
			if !answered(a, "/hijack") {
				t.Fatal("hijack refused")
			}
			if !answered(dial(), "/") {
				t.Fatal("a hijacked connection still counted")
			}
			if lim.Refused() != 1 {
				t.Fatalf("refused %d, want 1", lim.Refused())
			}
		})
	}
}
