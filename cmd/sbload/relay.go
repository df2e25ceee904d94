package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The baseline: a bare relay, the least a WebSocket chat server can do on
// this machine. Rooms of sockets; a text frame goes to every socket of its
// room, the sender's included. No Redis, no persistence, no auth. Each
// socket has the shape of coder/websocket's chat example: the handler
// goroutine reads, one writer goroutine drains a bounded queue, and a
// socket whose queue is full is dropped. It runs in a child process
// (`sbload relay`), so that its CPU and memory are measured apart from the
// tool's.

type relay struct {
	mu    sync.Mutex
	rooms map[string]map[*relaySub]struct{} // guarded by mu
}

type relaySub struct {
	out  chan []byte
	kick func()
}

func runRelay(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("relay listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	r := &relay{rooms: map[string]map[*relaySub]struct{}{}}
	srv := &http.Server{Handler: r, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelError)}
	return srv.Serve(ln)
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	room := req.URL.Query().Get("room")
	ws, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	sub := &relaySub{out: make(chan []byte, 64), kick: func() { ws.Close(websocket.StatusPolicyViolation, "slow") }}
	r.mu.Lock()
	if r.rooms[room] == nil {
		r.rooms[room] = map[*relaySub]struct{}{}
	}
	r.rooms[room][sub] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.rooms[room], sub)
		if len(r.rooms[room]) == 0 {
			delete(r.rooms, room)
		}
		r.mu.Unlock()
	}()
	go func() {
		for {
			select {
			case b := <-sub.out:
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				err := ws.Write(wctx, websocket.MessageText, b)
				wcancel()
				if err != nil {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		r.mu.Lock()
		for s := range r.rooms[room] {
			select {
			case s.out <- b:
			default:
				go s.kick()
			}
		}
		r.mu.Unlock()
	}
}

// startRelay runs `sbload relay` as a child process and returns its
// address and process.
func startRelay() (string, *exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "relay", "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "relay listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("relay did not start: %q %v", line, err)
	}
	return addr, cmd, nil
}

// relayConn is the tool's side of one relay socket.
type relayConn struct {
	url string
	hc  *http.Client
	rec *recorder
	sd  int

	mu sync.Mutex
	ws *websocket.Conn // guarded by mu
}

func dialRelay(ctx context.Context, u string, hc *http.Client, rec *recorder, side int) (*relayConn, error) {
	c := &relayConn{url: u, hc: hc, rec: rec, sd: side}
	return c, c.connect(ctx)
}

func (c *relayConn) connect(ctx context.Context) error {
	ws, _, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{HTTPClient: c.hc})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ws = ws
	c.mu.Unlock()
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			c.rec.receive(b, c.sd)
		}
	}()
	return nil
}

func (c *relayConn) send(ctx context.Context, text string) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	return ws.Write(ctx, websocket.MessageText, []byte(text))
}

// reconnect: the relay keeps no history, so what was sent while the
// socket was away is lost to it; the storm mode is not run on the baseline.
func (c *relayConn) reconnect(ctx context.Context) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	ws.CloseNow()
	return c.connect(ctx)
}

func (c *relayConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.Close(websocket.StatusNormalClosure, "")
}

// setupRelay opens the same shape on the relay: per conversation a room
// with a customer and an agent socket.
func setupRelay(ctx context.Context, addr string, n int, bind bool, rec *recorder) ([]*sock, error) {
	convs := make([]*conversation, n)
	socks := make([]*sock, 2*n)
	for j := range convs {
		convs[j] = &conversation{idx: j, sid: fmt.Sprintf("room%d", j)}
	}
	rec.setConversations(convs, nil) // after they exist: it indexes them by session
	err := parallel(ctx, 2*n, 64, func(ctx context.Context, k int) error {
		j, side := k/2, k%2
		s := &sock{idx: k, side: side}
		if bind {
			s.src = srcAddr(k)
		}
		rc, err := dialRelay(ctx, "ws://"+addr+"/ws?room="+convs[j].sid, wsClient(s.src), rec, side)
		if err != nil {
			return err
		}
		s.rl = rc
		convs[j].side[side] = s
		socks[k] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return socks, nil
}
