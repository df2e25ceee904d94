package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

const rtAdminKey = "rt-admin-key-0123456789"

// rtInstance is one hub instance with the real-time path: its own Redis
// client, store, bus, fan-out and HTTP server, as cmd/switchboard wires them.
type rtInstance struct {
	srv    *api.Server
	http   *httptest.Server
	store  *redisstore.Store
	fanout *hub.Fanout
	bus    *redisstore.Bus
	stop   func()
}

// URL returns the instance's WebSocket URL.
func (in *rtInstance) WSURL() string { return "ws" + strings.TrimPrefix(in.http.URL, "http") + "/ws" }

// rtEnv is n instances on one Redis sharing a token secret.
type rtEnv struct {
	t    *testing.T
	r    *redistest.Redis
	hubs []*rtInstance
}

// rtOptions adjust an environment.
type rtOptions struct {
	policy hub.Policy
	ws     api.WSOptions
}

func newRTEnv(t *testing.T, n int, o rtOptions) *rtEnv {
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
	e := &rtEnv{t: t, r: r}
	for range n {
		e.hubs = append(e.hubs, e.start(tokens, o))
	}
	return e
}

func (e *rtEnv) start(tokens *hub.Tokens, o rtOptions) *rtInstance {
	t := e.t
	store, err := redisstore.New(e.r.NewClient(), redisstore.Options{Prefix: e.r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bus := store.NewBus(ctx)
	fan := hub.NewFanout(bus, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); bus.Run(fan) }()
	go func() { defer wg.Done(); fan.Run(ctx) }()
	srv := api.NewServer(api.Config{
		Sessions: hub.NewService(store, o.policy, nil), Agents: store, History: store, Fanout: fan,
		Tokens: tokens, AdminKey: rtAdminKey, IdentitySecret: []byte("identity-secret-0123"),
		WS: o.ws, Ping: store.Ping,
	})
	hs := httptest.NewServer(srv)
	in := &rtInstance{srv: srv, http: hs, store: store, fanout: fan, bus: bus}
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

// call makes a JSON request and decodes the answer into out (if not nil).
func httpJSON(t *testing.T, method, url, key, body string, out any) int {
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
