package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
)

// sock is one socket of the load: a Switchboard client or a relay
// connection.
type sock struct {
	idx  int
	hub  int // index into the target's URLs
	side int // 0 customer, 1 agent
	src  net.IP

	// mu serializes the socket's sends and the storm's reconnects, so that
	// a reconnect never races a send's own retry.
	mu sync.Mutex
	sb *client.Client
	rl *relayConn
}

func (s *sock) send(ctx context.Context, sid, text string) error {
	if s.rl != nil {
		return s.rl.send(ctx, text)
	}
	_, err := s.sb.Send(ctx, sid, text)
	return err
}

// reconnect drops the socket without a close handshake (a network failure)
// and connects again, resuming from the last event it got.
func (s *sock) reconnect(ctx context.Context) error {
	if s.rl != nil {
		return s.rl.reconnect(ctx)
	}
	return s.sb.Reconnect(ctx)
}

func (s *sock) close() {
	if s.rl != nil {
		s.rl.close()
	} else if s.sb != nil {
		s.sb.Close()
	}
}

// srcAddr is socket k's own loopback source address (127.x.y.z, never .0
// or .255): a contact center's customers come from many addresses, the
// hub's per-address limits see them so, and more than one address is how
// a box opens more than ~28,000 sockets to one port.
func srcAddr(k int) net.IP {
	return net.IPv4(127, byte(1+k/(254*254)), byte(1+(k/254)%254), byte(1+k%254))
}

// httpClient makes REST calls from src (nil: any); sockets dial with
// wsClient. No client timeout: contexts bound every call.
func httpClient(src net.IP) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: dialer(src).DialContext, DisableKeepAlives: true}}
}

// dialer dials TCP from src (nil: any), without TCP keepalive: the hubs
// under load are on loopback, where a hub that dies has its sockets closed
// by the kernel, and Go's default keepalive costs four system calls a
// dial, on the cores the tool shares with the hubs.
func dialer(src net.IP) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return d
}

// sbTarget is the Switchboard cluster under load.
type sbTarget struct {
	urls []string // base URLs, http://host:port
	key  string
	bind bool
	api  *http.Client // admin calls (keep-alive, unbound)
	// failover makes every socket reconnect by itself, trying the other
	// hubs when its own is gone (the chaos runs kill hubs).
	failover bool
}

// clientConfig is the client configuration of a socket on hub, from src,
// whose frames go to on, on the socket's reader goroutine (nil: Events).
func (t *sbTarget) clientConfig(hub int, token string, src net.IP, buffer int, on func(client.Frame)) client.Config {
	c := client.Config{URL: t.wsURL(hub), Token: token, HTTPClient: wsClient(src), EventBuffer: buffer, OnFrame: on}
	if t.failover {
		c.AutoReconnect = true
		for i := 1; i < len(t.urls); i++ {
			c.FallbackURLs = append(c.FallbackURLs, t.wsURL((hub+i)%len(t.urls)))
		}
	}
	return c
}

func (t *sbTarget) wsURL(hub int) string {
	u, _ := url.Parse(t.urls[hub])
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/ws"
	return u.String()
}

func (t *sbTarget) src(k int) net.IP {
	if !t.bind {
		return nil
	}
	return srcAddr(k)
}

// call makes a JSON request and decodes a 2xx answer into out.
func call(ctx context.Context, hc *http.Client, method, u, key string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// parallel runs f(0..n-1) on `workers` goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// setupSwitchboard builds the conversations through the product's own
// flow: agents (capacity perAgent) sign in and go Available, customers
// start chats on the widget endpoint, the hub routes them, the agents
// accept their offers, and each customer then connects to an instance
// other than its agent's.
func setupSwitchboard(ctx context.Context, t *sbTarget, n, perAgent int, rec *recorder, logf func(string, ...any)) ([]*sock, error) {
	ag, err := setupAgents(ctx, t, (n+perAgent-1)/perAgent, perAgent, n, rec, logf)
	if err != nil {
		return nil, err
	}
	customers, err := ag.conversations(ctx, t, n, 0, rec, logf)
	if err != nil {
		return ag.socks, err
	}
	return append(customers, ag.socks...), nil
}

// agentPool is the signed-in agents of a load, and the sessions they
// accept as they are routed to them.
type agentPool struct {
	socks    []*sock
	assigned chan assignment
}

// assignment is a session an agent accepted.
type assignment struct {
	sid   string
	agent int
}

// setupAgents creates nAgents agents of capacity perAgent (created without
// a password and signed in by the admin API: bcrypt on thousands of logins
// would measure bcrypt), connects them and makes them accept every offer.
// Socket indexes start at base.
func setupAgents(ctx context.Context, t *sbTarget, nAgents, perAgent, base int, rec *recorder, logf func(string, ...any)) (*agentPool, error) {
	run := strings.ToLower(fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff))
	p := &agentPool{socks: make([]*sock, nAgents), assigned: make(chan assignment, nAgents*perAgent)}
	start := time.Now()
	err := parallel(ctx, nAgents, 32, func(ctx context.Context, a int) error {
		hub := a % len(t.urls)
		id := fmt.Sprintf("agent_sbl%s_%d", run, a)
		body := map[string]any{"id": id, "name": fmt.Sprintf("Load Agent %d", a),
			"email": fmt.Sprintf("sbl%s-%d@load.invalid", run, a), "capacity": perAgent}
		if err := call(ctx, t.api, "POST", t.urls[hub]+"/api/v1/agents", t.key, body, nil); err != nil {
			return err
		}
		var tok struct{ Token string }
		if err := call(ctx, t.api, "POST", t.urls[hub]+"/api/v1/agents/"+id+"/token", t.key, nil, &tok); err != nil {
			return err
		}
		s := &sock{idx: base + a, hub: hub, side: 1, src: t.src(base + a)}
		dialed := make(chan struct{})
		defer close(dialed) // an offer waits for s.sb; a failed dial leaves it nil
		on := agentFrames(s, dialed, id, rec, func(sid string) {
			select {
			case p.assigned <- assignment{sid, a}:
			default: // after a setup: nobody counts any more
			}
		})
		c, err := client.Dial(ctx, t.clientConfig(hub, tok.Token, s.src, 256, on))
		if err != nil {
			return fmt.Errorf("agent %d: %w", a, err)
		}
		s.sb = c
		p.socks[a] = s
		return nil
	})
	if err != nil {
		return p, err
	}
	logf("%d agents signed in and Available in %.1fs", nAgents, time.Since(start).Seconds())
	return p, nil
}

// conversations starts n chats (customer socket indexes from 0, their
// messages numbered as conversations first..first+n-1 of rec.convs, which
// it sets), waits until the agents accepted them all, and connects each
// customer to an instance other than its agent's.
func (p *agentPool) conversations(ctx context.Context, t *sbTarget, n, first int, rec *recorder, logf func(string, ...any)) ([]*sock, error) {
	// Customers, each from its own address (the widget endpoint limits new
	// chats per address).
	start := time.Now()
	convs := make([]*conversation, n)
	tokens := make([]string, n)
	bySID := sync.Map{}
	for len(p.assigned) > 0 { // acceptances left from before
		<-p.assigned
	}
	err := parallel(ctx, n, 32, func(ctx context.Context, j int) error {
		var out struct {
			Session struct{ ID string }
			Token   string
		}
		hc := httpClient(t.src(j))
		defer hc.CloseIdleConnections()
		body := map[string]any{"name": fmt.Sprintf("Load Customer %d", first+j), "title": "Load"}
		if err := call(ctx, hc, "POST", t.urls[j%len(t.urls)]+"/api/v1/widget/sessions", "", body, &out); err != nil {
			return fmt.Errorf("customer %d: %w", j, err)
		}
		convs[j] = &conversation{idx: j, sid: out.Session.ID}
		tokens[j] = out.Token
		bySID.Store(out.Session.ID, j)
		return nil
	})
	if err != nil {
		return nil, err
	}
	logf("%d chats started in %.1fs; waiting for routing and accepts", n, time.Since(start).Seconds())
	for got := 0; got < n; got++ {
		select {
		case a := <-p.assigned:
			j, ok := bySID.Load(a.sid)
			if !ok {
				got-- // not one of these chats
				continue
			}
			if convs[j.(int)].side[1] != nil {
				return nil, fmt.Errorf("chat %s assigned twice", a.sid)
			}
			convs[j.(int)].side[1] = p.socks[a.agent]
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(60 * time.Second):
			return nil, fmt.Errorf("routing stalled: %d of %d chats accepted", got, n)
		}
	}
	logf("%d chats routed and accepted in %.1fs", n, time.Since(start).Seconds())
	bySIDs := make(map[string]*conversation, n)
	for _, cv := range convs {
		bySIDs[cv.sid] = cv
	}

	// The customers connect, each to an instance other than its agent's.
	start = time.Now()
	rec.setConversations(convs, bySIDs)
	customers := make([]*sock, n)
	err = parallel(ctx, n, 64, func(ctx context.Context, j int) error {
		cv := convs[j]
		hub := (cv.side[1].hub + 1) % len(t.urls)
		s := &sock{idx: j, hub: hub, side: 0, src: t.src(j)}
		c, err := client.Dial(ctx, t.clientConfig(hub, tokens[j], s.src, 64, customerFrames(rec)))
		if err != nil {
			return fmt.Errorf("customer %d: %w", j, err)
		}
		s.sb = c
		cv.side[0] = s
		customers[j] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	logf("%d customers connected in %.1fs", n, time.Since(start).Seconds())
	return customers, nil
}

// customerFrames returns the handler of a customer's frames: it hands
// messages and resyncs to the recorder, on the socket's reader goroutine.
func customerFrames(rec *recorder) func(client.Frame) {
	return func(f client.Frame) {
		switch f.Type {
		case "message.created":
			rec.receive(f.Raw, 0)
		case protocol.FrameResync:
			rec.resync(f.SessionID, 0)
		}
	}
}

// agentFrames returns the handler of an agent's frames: it accepts the
// agent's offers (once the socket is dialed), reports its sessions, and
// hands its messages to the recorder.
func agentFrames(s *sock, dialed <-chan struct{}, id string, rec *recorder, assigned func(sid string)) func(client.Frame) {
	return func(f client.Frame) {
		var st struct {
			State   string `json:"state"`
			AgentID string `json:"agent_id"`
		}
		switch f.Type {
		case "message.created":
			rec.receive(f.Raw, 1)
		case protocol.FrameResync:
			rec.resync(f.SessionID, 1)
		case "session.state":
			json.Unmarshal(f.Raw, &st)
			if st.AgentID != id {
				return
			}
			switch st.State {
			case "WaitingForAgentAnswering":
				sid := f.SessionID
				go func() {
					if <-dialed; s.sb == nil {
						return // the dial failed
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					s.sb.Do(ctx, protocol.Command{Type: protocol.CmdAccept, SessionID: sid})
				}()
			case "Agent":
				assigned(f.SessionID)
			}
		}
	}
}
