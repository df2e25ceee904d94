package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/files"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

const rtAdminKey = "rt-admin-key-0123456789"

// The compatibility surfaces' credentials in the real-time environments.
var (
	rtTencent = api.TencentConfig{SDKAppID: 1400000001, Key: "rt-usersig-key", Admins: []string{"admin", "ops"},
		CustomerServiceID: "@customer_service_account"}
	rtCCAI = api.CCAIConfig{Key: "rt-ccai-key", Secret: "rt-ccai-secret-0123"}
)

// rtInstance is one hub instance with the real-time path: its own Redis
// client, store, bus, fan-out and HTTP server, as cmd/switchboard wires them.
type rtInstance struct {
	srv    *api.Server
	http   *httptest.Server
	store  *redisstore.Store
	fanout *hub.Fanout
	bus    *redisstore.Bus
	desk   *hub.Desk
	// sessions is the instance's Service (for the tests that drive its
	// background work, such as idle sweeps, themselves).
	sessions *hub.Service
	stop     func()
}

// URL returns the instance's WebSocket URL.
func (in *rtInstance) WSURL() string { return "ws" + strings.TrimPrefix(in.http.URL, "http") + "/ws" }

// rtEnv is n instances on one Redis sharing a token secret.
type rtEnv struct {
	t      testing.TB
	r      *redistest.Redis
	hubs   []*rtInstance
	tokens *hub.Tokens
}

// rtOptions adjust an environment.
type rtOptions struct {
	policy hub.Policy
	ws     api.WSOptions
	// maxSessionEvents bounds each session's events (redisstore.Options.MaxSessionEvents); 0 is the default.
	maxSessionEvents int
	// sendBuffer, if set, is the kernel send buffer of the instances'
	// accepted connections, so that a client that stops reading makes the
	// hub's writes block after little data rather than megabytes.
	sendBuffer int
	// subscribeGate, if set, runs before each bus subscription of the
	// instances' fan-outs (it may block to hold a subscription back).
	subscribeGate func(topics []string)
	// desk, if set, is the desk policy, and each instance runs its desk
	// (presence refresh, sweeps, routing); without it nothing is routed.
	desk *hub.DeskPolicy
	// clock, if set, is the desks' clock.
	clock func() time.Time
	// trusted are the instances' trusted proxies.
	trusted []netip.Prefix
	// idleWarn and idleClose turn idle auto-close on (redisstore.Options);
	// idleSweepEvery is how often the instances sweep by themselves.
	idleWarn, idleClose, idleSweepEvery time.Duration
	// hours are the business hours (nil: always open).
	hours *hub.Hours
	// files keeps attachments (nil: none); maxFileBytes bounds them.
	files        files.Store
	maxFileBytes int64
	// location is the reports' time zone (nil: UTC).
	location *time.Location
}

// gatedBus calls gate before subscribing.
type gatedBus struct {
	hub.Bus
	gate func(topics []string)
}

func (b gatedBus) Subscribe(ctx context.Context, topics ...string) error {
	b.gate(topics)
	return b.Bus.Subscribe(ctx, topics...)
}

func newRTEnv(t testing.TB, n int, o rtOptions) *rtEnv {
	t.Helper()
	r := redistest.New(t)
	t.Logf("redis: %s", r.Kind())
	tokens, err := hub.NewTokens([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if o.policy.AgentCapacity == 0 {
		o.policy.AgentCapacity = 5
	}
	if o.policy.Retention == 0 {
		o.policy.Retention = time.Hour
	}
	e := &rtEnv{t: t, r: r, tokens: tokens}
	for range n {
		e.hubs = append(e.hubs, e.start(tokens, o))
	}
	return e
}

func (e *rtEnv) start(tokens *hub.Tokens, o rtOptions) *rtInstance {
	t := e.t
	store, err := redisstore.New(e.r.NewClient(), redisstore.Options{Prefix: e.r.Prefix, MaxSessionEvents: o.maxSessionEvents,
		IdleWarn: o.idleWarn, IdleClose: o.idleClose, Location: o.location})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bus := store.NewBus(ctx)
	var fbus hub.Bus = bus
	if o.subscribeGate != nil {
		fbus = gatedBus{bus, o.subscribeGate}
	}
	fan := hub.NewFanout(fbus, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); bus.Run(fan) }()
	go func() { defer wg.Done(); fan.Run(ctx) }()
	var dp hub.DeskPolicy
	if o.desk != nil {
		dp = *o.desk
	}
	desk := hub.NewDesk(store, dp, o.clock, nil)
	sessions := hub.NewService(store, o.policy, o.clock)
	srv := api.NewServer(api.Config{
		Sessions: sessions, Agents: store, History: store, Fanout: fan, IdleSweepEvery: o.idleSweepEvery, Hours: o.hours,
		Files: o.files, MaxFileBytes: o.maxFileBytes, Canned: store, Reports: hub.NewReports(store, store, store, o.location, o.clock),
		Desk: desk, Teams: store, OpenSessionOf: store.OpenSessionOf, TrustedProxies: o.trusted,
		Tencent: rtTencent, CCAI: rtCCAI, Chats: hub.NewHistory(store, o.clock), Webhooks: store,
		Tokens: tokens, AdminKey: rtAdminKey, IdentitySecret: []byte("identity-secret-0123"),
		WS: o.ws, Ping: store.Ping,
	})
	wg.Add(1)
	go func() { defer wg.Done(); srv.Run(ctx) }()
	if o.desk != nil {
		wg.Add(1)
		go func() { defer wg.Done(); desk.Run(ctx) }()
	}
	hs := httptest.NewUnstartedServer(srv)
	if o.sendBuffer > 0 {
		hs.Listener = sendBufferListener{hs.Listener, o.sendBuffer}
	}
	hs.Start()
	in := &rtInstance{srv: srv, http: hs, store: store, fanout: fan, bus: bus, desk: desk, sessions: sessions}
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
			hs.Close()
			cancel()
			bus.Close()
			wg.Wait()
		})
	}
	t.Cleanup(in.stop)
	return in
}

// sendBufferListener sets the send buffer of the connections it accepts.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// call makes a JSON request and decodes the answer into out (if not nil).
func httpJSON(t testing.TB, method, url, key, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return res.StatusCode
}

// agent creates an agent through the admin API on in and logs it in.
func (e *rtEnv) agent(in *rtInstance, id string) (token string) {
	e.t.Helper()
	body := `{"id":"` + id + `","name":"Agent ` + id + `","email":"` + id + `@example.com","password":"password-` + id + `"}`
	if st := httpJSON(e.t, "POST", in.http.URL+"/api/v1/agents", rtAdminKey, body, nil); st != http.StatusCreated {
		e.t.Fatalf("create agent %s: %d", id, st)
	}
	var login struct{ Token string }
	if st := httpJSON(e.t, "POST", in.http.URL+"/api/v1/auth/login", "", `{"email":"`+id+`@example.com","password":"password-`+id+`"}`, &login); st != 200 {
		e.t.Fatalf("login %s: %d", id, st)
	}
	return login.Token
}

// quickAgent stores an agent account without a password and returns a
// token signed as login signs them: bcrypt under -race costs seconds, and
// only the tests of login need it (they use agent).
func (e *rtEnv) quickAgent(id string) (token string) {
	e.t.Helper()
	a := &hub.Agent{ID: id, Name: "Agent " + id, Email: id + "@example.com", Role: hub.RoleAgent, Capacity: 5, CreatedAt: time.Now()}
	if err := e.hubs[0].store.PutAgent(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: id, Name: a.Name, Expires: time.Now().Add(time.Hour).Unix()})
}

// customer opens a chat through the widget endpoint on in.
func (e *rtEnv) customer(in *rtInstance, name string) (sessionID, token string) {
	e.t.Helper()
	var out struct {
		Session struct{ ID string }
		Token   string
	}
	if st := httpJSON(e.t, "POST", in.http.URL+"/api/v1/widget/sessions", "", `{"name":"`+name+`","title":"Help"}`, &out); st != http.StatusCreated {
		e.t.Fatalf("widget session: %d", st)
	}
	return out.Session.ID, out.Token
}

// assign puts agentID in the session through the Customer Service API.
func (e *rtEnv) assign(in *rtInstance, sessionID, agentID string) {
	e.t.Helper()
	if st := httpJSON(e.t, "POST", in.http.URL+"/customer-service/sessions/"+sessionID+"/assign", rtAdminKey,
		`{"agent_id":"`+agentID+`","agent_name":"Agent `+agentID+`"}`, nil); st != 200 {
		e.t.Fatalf("assign: %d", st)
	}
}

// dial connects a client to in with token.
func (e *rtEnv) dial(in *rtInstance, token string) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: in.WSURL(), Token: token})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return c
}

// next returns the next frame of c satisfying keep, failing after 10 s.
func next(t *testing.T, c *client.Client, keep func(client.Frame) bool) client.Frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.Events():
			if keep == nil || keep(f) {
				return f
			}
		case <-timeout:
			t.Fatal("no matching frame within 10 s")
			return client.Frame{}
		}
	}
}

func ofType(typ string) func(client.Frame) bool {
	return func(f client.Frame) bool { return f.Type == typ }
}

// clientT names *client.Client in table literals.
type clientT struct{ *client.Client }

// rawFrame is any frame of the hub as a raw socket reads it.
type rawFrame struct {
	Type      string              `json:"type"`
	ID        string              `json:"id"`
	Seq       int64               `json:"seq"`
	Epoch     string              `json:"epoch"`
	SessionID string              `json:"session_id"`
	LastSeq   int64               `json:"last_seq"`
	Reason    string              `json:"reason"`
	OK        bool                `json:"ok"`
	Duplicate bool                `json:"duplicate"`
	UpTo      int64               `json:"up_to"`
	On        *bool               `json:"on"`
	From      *client.Party       `json:"from"`
	Error     *protocol.ErrorBody `json:"error"`
	Sessions  []string            `json:"sessions"`
	Principal *protocol.Principal `json:"principal"`
	Message   *struct {
		Text        string `json:"text"`
		ClientMsgID string `json:"client_msg_id"`
	} `json:"message"`
	Raw string `json:"-"`
}

// rawConn is a bare coder/websocket connection speaking the protocol by
// hand: for what api/client would hide (not reading, bad frames, close
// codes, an auth frame's resume).
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

// rawDialOpts dials in's /ws offering the subprotocol, with hdr.
func rawDialOpts(t *testing.T, url string, hdr http.Header, hc *http.Client) (*rawConn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: hdr, HTTPClient: hc, Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		return nil, res, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawConn{t: t, ws: ws}, res, nil
}

// rawDial dials in's /ws, failing the test on error.
func rawDial(t *testing.T, in *rtInstance) *rawConn {
	t.Helper()
	c, _, err := rawDialOpts(t, in.WSURL(), nil, nil)
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	return c
}

// rawAuth dials in, authenticates with token and resume and returns the
// connection and its hello.
func rawAuth(t *testing.T, in *rtInstance, token string, resume map[string]int64) (*rawConn, rawFrame) {
	t.Helper()
	c := rawDial(t, in)
	c.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: token, Resume: resume})
	h := c.read()
	if h.Type != protocol.FrameHello || h.ID != "auth" {
		t.Fatalf("expected hello, got %s", h.Raw)
	}
	return c, h
}

// send writes v as a text frame.
func (c *rawConn) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(websocket.MessageText, b)
}

// write writes one frame of type typ.
func (c *rawConn) write(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("raw write: %v", err)
	}
}

// readErr reads the next frame within 10 s.
func (c *rawConn) readErr() (rawFrame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return rawFrame{}, err
	}
	var f rawFrame
	if typ != websocket.MessageText || json.Unmarshal(b, &f) != nil {
		return rawFrame{}, fmt.Errorf("not a JSON text frame: %d %q", typ, b)
	}
	f.Raw = string(b)
	return f, nil
}

// read returns the next frame, failing the test if there is none within 10 s.
func (c *rawConn) read() rawFrame {
	c.t.Helper()
	f, err := c.readErr()
	if err != nil {
		c.t.Fatalf("raw read: %v", err)
	}
	return f
}

// readUntil returns the next frame satisfying keep.
func (c *rawConn) readUntil(keep func(rawFrame) bool) rawFrame {
	c.t.Helper()
	for {
		if f := c.read(); keep(f) {
			return f
		}
	}
}

// closeCode reads until the connection ends and returns its close code
// (-1 when it ended without a close frame), with the frames read before.
func (c *rawConn) closeCode() (websocket.StatusCode, []rawFrame) {
	c.t.Helper()
	var frames []rawFrame
	for {
		f, err := c.readErr()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatalf("connection still open after 10 s (read %d frames)", len(frames))
			}
			return websocket.CloseStatus(err), frames
		}
		frames = append(frames, f)
	}
}

// wantClose fails unless the connection ends with code.
func (c *rawConn) wantClose(code websocket.StatusCode) []rawFrame {
	c.t.Helper()
	got, frames := c.closeCode()
	if got != code {
		c.t.Fatalf("close code %d, want %d (frames before: %d)", got, code, len(frames))
	}
	return frames
}

// metric returns the sum of the samples of a metric family on in's /metrics.
func metric(t *testing.T, in *rtInstance, name string) float64 {
	t.Helper()
	res, err := http.Get(in.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// waitFor polls cond every 10 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeErrCode returns the close code of a client's ended connection, or
// -1 if it did not end with one.
func closeErrCode(err error) websocket.StatusCode {
	var ce *client.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// waitDone waits up to d for c's current connection to end and returns its close code.
func waitDone(t *testing.T, c *client.Client, d time.Duration) websocket.StatusCode {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(d):
		t.Fatalf("connection still open after %v", d)
	}
	return closeErrCode(c.Err())
}

// typingOf reads a typing frame: on, and the role of who types.
func typingOf(f client.Frame) (on bool, role string) {
	var m struct {
		On   *bool        `json:"on"`
		From client.Party `json:"from"`
	}
	json.Unmarshal(f.Raw, &m)
	return m.On != nil && *m.On, m.From.Role
}

// recorder reads a client's frames in the background and keeps them, with
// the time each arrived, so that a test can wait on what it has seen.
type recorder struct {
	c      *client.Client
	mu     sync.Mutex
	frames []client.Frame // guarded by mu
	at     []time.Time    // guarded by mu
	wake   chan struct{}  // capacity 1: a frame arrived
}

// record starts reading c's frames until the test ends.
func record(t *testing.T, c *client.Client) *recorder {
	r := &recorder{c: c, wake: make(chan struct{}, 1)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case f := <-c.Events():
				r.mu.Lock()
				r.frames = append(r.frames, f)
				r.at = append(r.at, time.Now())
				r.mu.Unlock()
				select {
				case r.wake <- struct{}{}:
				default:
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return r
}

// snapshot returns the frames seen so far and their arrival times.
func (r *recorder) snapshot() ([]client.Frame, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Frame(nil), r.frames...), append([]time.Time(nil), r.at...)
}

// durable returns the durable events seen so far.
func (r *recorder) durable() []client.Frame {
	fs, _ := r.snapshot()
	out := fs[:0]
	for _, f := range fs {
		if f.Seq > 0 {
			out = append(out, f)
		}
	}
	return out
}

// count returns how many frames arrived so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

// waitUntil waits up to d for cond over the frames seen, checking on every arrival.
func (r *recorder) waitUntil(t *testing.T, d time.Duration, what string, cond func([]client.Frame) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r.frames)
		n := len(r.frames)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.wake:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (%d frames seen)", d, what, n)
		}
	}
}

// waitSeq waits until a durable event of sid with seq >= seq arrived.
func (r *recorder) waitSeq(t *testing.T, d time.Duration, sid string, seq int64) {
	t.Helper()
	r.waitUntil(t, d, fmt.Sprintf("seq %d of %s", seq, sid), func(fs []client.Frame) bool {
		for i := len(fs) - 1; i >= 0; i-- {
			if fs[i].SessionID == sid && fs[i].Seq >= seq {
				return true
			}
		}
		return false
	})
}

// wantContiguous fails unless the durable events of sid in frames are
// exactly the seqs from..to, each once, in order, with no resync.
func wantContiguous(t *testing.T, who string, frames []client.Frame, sid string, from, to int64) {
	t.Helper()
	want := from
	for _, f := range frames {
		if f.Type == protocol.FrameResync && f.SessionID == sid {
			t.Fatalf("%s: %s after seq %d, although the stream holds every event", who, f.Raw, want-1)
		}
		if f.Seq == 0 || f.SessionID != sid {
			continue
		}
		if f.Seq != want {
			t.Fatalf("%s: event seq %d (%s), want %d: lost, duplicated or out of order; frames around: %s",
				who, f.Seq, f.Type, want, around(frames, f.Seq))
		}
		want++
	}
	if want != to+1 {
		t.Fatalf("%s: saw seqs %d..%d, want up to %d", who, from, want-1, to)
	}
}

// wantStats fails if a client counted gaps, duplicates or resyncs.
func wantStats(t *testing.T, who string, c *client.Client) {
	t.Helper()
	if st := c.Stats(); st.Gaps != 0 || st.Duplicates != 0 || st.Resyncs != 0 {
		t.Fatalf("%s stats %+v", who, st)
	}
}

// sessionSeq returns a session's last seq, read over REST with the admin key.
func (e *rtEnv) sessionSeq(in *rtInstance, sid string) (seq int64, state string) {
	e.t.Helper()
	var s struct {
		LastSeq int64  `json:"last_seq"`
		State   string `json:"state"`
	}
	if st := httpJSON(e.t, "GET", in.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", &s); st != 200 {
		e.t.Fatalf("get session %s: %d", sid, st)
	}
	return s.LastSeq, s.State
}

// fastWS is WSOptions for bulk tests: a rate limit no test reaches.
var fastWS = api.WSOptions{RateLimit: 5000, RateBurst: 5000}

// around describes the frames near seq, for failure messages.
func around(frames []client.Frame, seq int64) string {
	var b strings.Builder
	for i, f := range frames {
		if f.Seq == seq || f.Seq > 0 && f.Seq+3 >= seq && f.Seq <= seq+1 || f.Type == protocol.FrameResync {
			fmt.Fprintf(&b, "[%d] %s\n", i, f.Raw)
		}
	}
	return b.String()
}

// jsonDecode decodes a frame's JSON into v, failing the test on error.
func jsonDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}
