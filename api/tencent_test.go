package api_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub"
)

const tdPath = "/v4/desk_http_svc/get_session_state"

// tdResp is an answer of the Tencent-Desk surface.
type tdResp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // decoded with json.Number; nil when not a JSON object
}

func (r tdResp) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw)) }

// tdSign returns a usersig for identifier of the configured application.
func tdSign(t *testing.T, identifier string, expire time.Duration, at time.Time) string {
	t.Helper()
	sig, err := usersig.Sign(rtTencent.Key, rtTencent.SDKAppID, identifier, expire, at)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// tdQuery is the query string of a call as the document writes it.
func tdQuery(sig string) url.Values {
	return url.Values{"sdkappid": {strconv.FormatUint(rtTencent.SDKAppID, 10)}, "identifier": {"admin"},
		"usersig": {sig}, "random": {"99999999"}, "contenttype": {"json"}}
}

// tdCall makes one call to in.
func tdCall(t *testing.T, in *rtInstance, method string, q url.Values, body string) tdResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.http.URL+tdPath+"?"+q.Encode(), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return tdDo(t, req)
}

func tdDo(t *testing.T, req *http.Request) tdResp {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := tdResp{status: res.StatusCode, header: res.Header, raw: raw}
	if v, err := decodeJSON(raw); err == nil {
		out.body, _ = v.(map[string]any)
	}
	return out
}

// tdWantOK fails unless res is the document's success with exactly these
// fields; AgentId is there only when agentID is not "".
func tdWantOK(t *testing.T, what string, res tdResp, sid, state, agentID string) {
	t.Helper()
	want := map[string]any{"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": jsonNum(0), "SessionId": sid, "CurrentState": state}
	if agentID != "" {
		want["AgentId"] = agentID
	}
	tdWant(t, what, res, want)
}

// tdWantFail fails unless res is a failure with code: HTTP 200, exactly
// ActionStatus FAIL, ErrorInfo starting with the document's description,
// and ErrorCode, nothing else (no SessionId, no CurrentState).
func tdWantFail(t *testing.T, what string, res tdResp, code int) {
	t.Helper()
	info := map[int]string{141002: "Internal error, retry.", 141004: "Invalid parameter.", 141005: "Session does not exist or has ended."}[code]
	got, _ := res.body["ErrorInfo"].(string)
	if !strings.HasPrefix(got, info) {
		t.Errorf("%s: ErrorInfo %q, want it to start with %q; answer %s", what, got, info, res)
	}
	tdWant(t, what, res, map[string]any{"ActionStatus": "FAIL", "ErrorInfo": got, "ErrorCode": jsonNum(code)})
}

func tdWant(t *testing.T, what string, res tdResp, want map[string]any) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Errorf("%s: HTTP %d, want 200; answer %s", what, res.status, res)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if !reflect.DeepEqual(res.body, want) {
		t.Errorf("%s: answer %s, want %v", what, bytes.TrimSpace(res.raw), want)
	}
}

func jsonNum(n int) any {
	v, _ := decodeJSON([]byte(strconv.Itoa(n)))
	return v
}

// tdCustomer opens a widget session for the customer id the site vouches for.
func tdCustomer(t *testing.T, in *rtInstance, customerID string) string {
	t.Helper()
	var out struct{ Session struct{ ID, State string } }
	body := fmt.Sprintf(`{"name":"Customer %s","title":"Help","customer_id":%q,"customer_hash":%q}`,
		customerID, customerID, hub.IdentityHash([]byte("identity-secret-0123"), customerID))
	if st := httpJSON(t, "POST", in.http.URL+"/api/v1/widget/sessions", "", body, &out); st != http.StatusCreated {
		t.Fatalf("widget session of %s: %d", customerID, st)
	}
	return out.Session.ID
}

// TestTencentSessionStates queries a session in each state by SessionId and
// by ClientUserId with the service account, on another instance than the
// one where things happen.
func TestTencentSessionStates(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: time.Minute, Grace: time.Minute}})
	h0, h1 := e.hubs[0], e.hubs[1]
	q := tdQuery(tdSign(t, "admin", time.Hour, time.Now()))
	byID := func(sid string) tdResp {
		return tdCall(t, h1, "POST", q, `{"SessionId":"`+sid+`"}`)
	}
	byUser := func(uid string) tdResp {
		return tdCall(t, h1, "POST", q, fmt.Sprintf(`{"ClientUserId":%q,"CustomerServiceId":%q}`, uid, rtTencent.CustomerServiceID))
	}
	both := func(what, uid, sid, state, agentID string) {
		t.Helper()
		tdWantOK(t, what+" by SessionId", byID(sid), sid, state, agentID)
		tdWantOK(t, what+" by ClientUserId", byUser(uid), sid, state, agentID)
	}

	tdWantOK(t, "no session yet", byUser("user1"), "", "NotInSession", "")
	tdWantOK(t, "unknown customer", byUser("nobody"), "", "NotInSession", "")

	// Nobody online: the session waits in the queue.
	sidA := tdCustomer(t, h0, "user1")
	both("queued", "user1", sidA, "Queuing", "")

	// An online bot takes new sessions first.
	bot := &hub.Agent{ID: "bot1", Name: "Bot", Role: hub.RoleBot, Capacity: 50, CreatedAt: time.Now()}
	if err := h0.store.PutAgent(context.Background(), bot); err != nil {
		t.Fatal(err)
	}
	bc := e.dial(h0, e.ccToken("bot1"))
	sidB := tdCustomer(t, h0, "user2")
	both("with the bot", "user2", sidB, "Chatbot", "")

	// An agent comes online: the queued session is offered to it.
	ag := e.dial(h0, e.quickAgent("a1"))
	waitFor(t, 10*time.Second, "the offer", func() bool {
		return byID(sidA).body["CurrentState"] == "WaitingForAgentAnswering"
	})
	both("offered", "user1", sidA, "WaitingForAgentAnswering", "a1")
	both("still with the bot", "user2", sidB, "Chatbot", "")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rep, err := ag.Do(ctx, protocol.Command{Type: protocol.CmdAccept, SessionID: sidA}); err != nil || rep.Error != nil {
		t.Fatalf("accept: %+v %v", rep, err)
	}
	both("accepted", "user1", sidA, "Agent", "a1")

	// The bot hands its session over: queued, then offered to a1.
	if rep, err := bc.Do(ctx, protocol.Command{Type: protocol.CmdHandover, SessionID: sidB}); err != nil || rep.Error != nil {
		t.Fatalf("handover: %+v %v", rep, err)
	}
	waitFor(t, 10*time.Second, "the second offer", func() bool {
		return byID(sidB).body["CurrentState"] == "WaitingForAgentAnswering"
	})
	both("handed over and offered", "user2", sidB, "WaitingForAgentAnswering", "a1")

	// Ended: 141005 by id; the customer is in no session.
	if st := httpJSON(t, "DELETE", h0.http.URL+"/api/v1/sessions/"+sidA, rtAdminKey, "", nil); st != 200 {
		t.Fatalf("close: %d", st)
	}
	tdWantFail(t, "ended by SessionId", byID(sidA), 141005)
	tdWantOK(t, "ended by ClientUserId", byUser("user1"), "", "NotInSession", "")
	// A new session of the same customer (the bot, online, takes it) is the
	// one answered.
	sidC := tdCustomer(t, h0, "user1")
	both("the customer's new session", "user1", sidC, "Chatbot", "")
	tdWantFail(t, "the old one", byID(sidA), 141005)
}

// tdPack encodes a UserSig document as TLSSigAPIv2 does.
func tdPack(doc []byte) string {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(doc)
	zw.Close()
	return tdEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
}

func tdEscape(s string) string { return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(s) }

// tdMAC is TLS.sig over the fields as TLSSigAPIv2 signs them.
func tdMAC(key, id string, appid uint64, at, expire int64, userbuf *string) string {
	h := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(h, "TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", id, appid, at, expire)
	if userbuf != nil {
		fmt.Fprintf(h, "TLS.userbuf:%s\n", *userbuf)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestTencentUsersig: only an unexpired usersig of an admin identifier of
// this application, signed with its key, is let through.
func TestTencentUsersig(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1750000000, 0)}
	e := newRTEnv(t, 1, rtOptions{clock: clock.Now})
	in := e.hubs[0]
	now := clock.Now()
	const body = `{"ClientUserId":"user1","CustomerServiceId":"@customer_service_account"}`
	appid := rtTencent.SDKAppID
	at := now.Unix()

	sign := func(key string, appid uint64, id string, expire time.Duration, at time.Time) string {
		s, err := usersig.Sign(key, appid, id, expire, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(rtTencent.Key, appid, "admin", time.Hour, now)
	with := func(sig string, kv ...string) url.Values {
		q := tdQuery(sig)
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	buf := "room"
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"valid", with(valid)},
		{"other admin", with(sign(rtTencent.Key, appid, "ops", time.Hour, now), "identifier", "ops")},
		{"valid through its last second", with(sign(rtTencent.Key, appid, "admin", time.Hour, now.Add(-time.Hour)))},
		{"hand-made document", with(tdPack([]byte(fmt.Sprintf(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.time":%d,"TLS.expire":60,"TLS.sig":%q}`,
			appid, at, tdMAC(rtTencent.Key, "admin", appid, at, 60, nil)))))},
	} {
		tdWantOK(t, c.name, tdCall(t, in, "POST", c.q, body), "", "NotInSession", "")
	}

	notZlib := tdEscape(base64.StdEncoding.EncodeToString([]byte("this is not zlib at all")))
	flipped := []byte(valid)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	doc := func(format string, args ...any) string { return tdPack([]byte(fmt.Sprintf(format, args...))) }
	goodMAC := tdMAC(rtTencent.Key, "admin", appid, at, 3600, nil)
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"expired by a second", with(sign(rtTencent.Key, appid, "admin", time.Hour, now.Add(-time.Hour-time.Second)))},
		{"expired long ago", with(sign(rtTencent.Key, appid, "admin", 24*time.Hour, now.Add(-48*time.Hour)))},
		{"wrong key", with(sign("another-key", appid, "admin", time.Hour, now))},
		{"key prefix", with(sign(rtTencent.Key[:len(rtTencent.Key)-1], appid, "admin", time.Hour, now))},
		{"sig of another identifier", with(sign(rtTencent.Key, appid, "ops", time.Hour, now))},
		{"sig of a non-admin as admin", with(sign(rtTencent.Key, appid, "bob", time.Hour, now))},
		{"non-admin identifier", with(sign(rtTencent.Key, appid, "bob", time.Hour, now), "identifier", "bob")},
		{"identifier case", with(sign(rtTencent.Key, appid, "Admin", time.Hour, now), "identifier", "Admin")},
		{"wrong sdkappid in the query", with(sign(rtTencent.Key, appid+1, "admin", time.Hour, now), "sdkappid", strconv.FormatUint(appid+1, 10))},
		{"sig of another sdkappid", with(sign(rtTencent.Key, appid+1, "admin", time.Hour, now))},
		{"tampered expire", with(doc(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.time":%d,"TLS.expire":99999999,"TLS.sig":%q}`,
			appid, at, goodMAC))},
		{"tampered time", with(doc(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.time":%d,"TLS.expire":3600,"TLS.sig":%q}`,
			appid, at+1, goodMAC))},
		{"flipped character", with(string(flipped))},
		{"truncated", with(valid[:len(valid)-8])},
		{"malformed base64", with("not base64!")},
		{"bad base64 length", with("abcde")},
		{"standard base64 alphabet", with(base64.StdEncoding.EncodeToString([]byte("+/+/")))},
		{"valid base64, not zlib", with(notZlib)},
		{"zlib, not JSON", with(tdPack([]byte("hello")))},
		{"JSON array", with(tdPack([]byte("[]")))},
		{"version 1", with(doc(`{"TLS.ver":"1.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.time":%d,"TLS.expire":3600,"TLS.sig":%q}`,
			appid, at, goodMAC))},
		{"sdkappid as a string", with(doc(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":"%d","TLS.time":%d,"TLS.expire":3600,"TLS.sig":%q}`,
			appid, at, goodMAC))},
		{"time missing", with(doc(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.expire":3600,"TLS.sig":%q}`,
			appid, goodMAC))},
		{"PrivateMapKey", with(doc(`{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":%d,"TLS.time":%d,"TLS.expire":3600,"TLS.userbuf":"room","TLS.sig":%q}`,
			appid, at, tdMAC(rtTencent.Key, "admin", appid, at, 3600, &buf)))},
		{"trailing bytes", with(valid + "AAAA")},
		{"empty usersig", with("")},
	} {
		res := tdCall(t, in, "POST", c.q, body)
		tdWantFail(t, c.name, res, 141004)
	}
	q := tdQuery(valid)
	q.Add("usersig", valid)
	tdWantFail(t, "usersig twice", tdCall(t, in, "POST", q, body), 141004)

	// Time passes: the usersig that was valid expires.
	clock.Advance(time.Hour)
	tdWantOK(t, "valid at its last second", tdCall(t, in, "POST", with(valid), body), "", "NotInSession", "")
	clock.Advance(time.Second)
	tdWantFail(t, "expired now", tdCall(t, in, "POST", with(valid), body), 141004)
}

// TestTencentBadInput: every malformed call is 141004 (141005 for a session
// that does not exist), HTTP 200, and answers no session.
func TestTencentBadInput(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	sid := tdCustomer(t, in, "user1")
	sig := tdSign(t, "admin", time.Hour, time.Now())
	ok := `{"SessionId":"` + sid + `"}`
	tdWantOK(t, "the session", tdCall(t, in, "POST", tdQuery(sig), ok), sid, "Queuing", "")

	without := func(k string) url.Values { q := tdQuery(sig); q.Del(k); return q }
	set := func(k, v string) url.Values { q := tdQuery(sig); q.Set(k, v); return q }
	twice := func(k string) url.Values { q := tdQuery(sig); q.Add(k, q.Get(k)); return q }
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"no sdkappid", without("sdkappid")},
		{"no identifier", without("identifier")},
		{"no usersig", without("usersig")},
		{"no random", without("random")},
		{"no contenttype", without("contenttype")},
		{"no query", url.Values{}},
		{"random twice", twice("random")},
		{"sdkappid twice", twice("sdkappid")},
		{"identifier twice", twice("identifier")},
		{"empty random", set("random", "")},
		{"random -1", set("random", "-1")},
		{"random 2^32", set("random", "4294967296")},
		{"random huge", set("random", "99999999999999999999")},
		{"random not a number", set("random", "abc")},
		{"random 1.5", set("random", "1.5")},
		{"random +1", set("random", "+1")},
		{"contenttype JSON", set("contenttype", "JSON")},
		{"contenttype xml", set("contenttype", "xml")},
		{"empty contenttype", set("contenttype", "")},
		{"sdkappid not a number", set("sdkappid", "abc")},
		{"empty identifier", set("identifier", "")},
	} {
		tdWantFail(t, c.name, tdCall(t, in, "POST", c.q, ok), 141004)
	}
	for _, r := range []string{"0", "4294967295", "1"} {
		tdWantOK(t, "random "+r, tdCall(t, in, "POST", set("random", r), ok), sid, "Queuing", "")
	}

	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		tdWantFail(t, m, tdCall(t, in, m, tdQuery(sig), ok), 141004)
	}
	req, _ := http.NewRequest("POST", in.http.URL+"/v4/desk_http_svc/get_session_states?"+tdQuery(sig).Encode(), strings.NewReader(ok))
	tdWantFail(t, "unknown API", tdDo(t, req), 141004)

	const cs = `"CustomerServiceId":"@customer_service_account"`
	for _, c := range []struct{ name, body string }{
		{"empty body", ""},
		{"blank body", "  \n"},
		{"not JSON", "SessionId=" + sid},
		{"truncated", `{"SessionId":"` + sid + `"`},
		{"array", `["` + sid + `"]`},
		{"string", `"` + sid + `"`},
		{"null", `null`},
		{"empty object", `{}`},
		{"two objects", ok + ok},
		{"trailing garbage", ok + " x"},
		{"unknown field", `{"SessionId":"` + sid + `","Foo":1}`},
		{"SessionId and ClientUserId", `{"SessionId":"` + sid + `","ClientUserId":"user1",` + cs + `}`},
		{"SessionId and CustomerServiceId", `{"SessionId":"` + sid + `",` + cs + `}`},
		{"ClientUserId alone", `{"ClientUserId":"user1"}`},
		{"CustomerServiceId alone", `{` + cs + `}`},
		{"empty SessionId", `{"SessionId":""}`},
		{"empty ClientUserId", `{"ClientUserId":"",` + cs + `}`},
		{"empty CustomerServiceId", `{"ClientUserId":"user1","CustomerServiceId":""}`},
		{"SessionId number", `{"SessionId":123}`},
		{"SessionId array", `{"SessionId":["` + sid + `"]}`},
		{"SessionId null", `{"SessionId":null}`},
		{"ClientUserId number", `{"ClientUserId":1,` + cs + `}`},
		{"CustomerServiceId bool", `{"ClientUserId":"user1","CustomerServiceId":true}`},
		{"ClientUserId null", `{"ClientUserId":null,` + cs + `}`},
	} {
		tdWantFail(t, c.name, tdCall(t, in, "POST", tdQuery(sig), c.body), 141004)
	}
	req, _ = http.NewRequest("POST", in.http.URL+tdPath+"?"+tdQuery(sig).Encode(),
		strings.NewReader(`{"SessionId":"`+strings.Repeat("x", 20<<10)+`"}`))
	tdWantFail(t, "body too large", tdDo(t, req), 141004)

	for _, c := range []struct{ name, body string }{
		{"unknown session", `{"SessionId":"` + hub.NewSessionID() + `"}`},
		{"malformed session id", `{"SessionId":"no-such-session"}`},
		{"session id of another shape", `{"SessionId":"b0f4ca12-4850-4218-a284-efe679a87066"}`},
	} {
		tdWantFail(t, c.name, tdCall(t, in, "POST", tdQuery(sig), c.body), 141005)
	}
	// The session is untouched by all of it.
	tdWantOK(t, "the session after", tdCall(t, in, "POST", tdQuery(sig), ok), sid, "Queuing", "")
	tdWantOK(t, "the customer after", tdCall(t, in, "POST", tdQuery(sig), `{"ClientUserId":"user1",`+cs+`}`), sid, "Queuing", "")
	// Another service account than the contact center's: the customer is
	// in no session with it.
	tdWantOK(t, "another service account", tdCall(t, in, "POST", tdQuery(sig), `{"ClientUserId":"user1","CustomerServiceId":"@other"}`),
		"", "NotInSession", "")
}

// TestTencentTrailingJSON: a body with a stray closing brace or bracket
// after the object is not JSON, and is refused like any other malformed
// body. The decoder's More() is false before '}' and ']', so the check
// after Decode lets them through and the call is answered as if well-formed.
func TestTencentTrailingJSON(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	sid := tdCustomer(t, in, "user1")
	q := tdQuery(tdSign(t, "admin", time.Hour, time.Now()))
	for _, body := range []string{
		`{"SessionId":"` + sid + `"}}`,
		`{"SessionId":"` + sid + `"}]`,
		`{"SessionId":"` + sid + `"}]]}`,
		`{"ClientUserId":"user1","CustomerServiceId":"@customer_service_account"}}`,
	} {
		tdWantFail(t, body, tdCall(t, in, "POST", q, body), 141004)
	}
}

// TestTencentStoreDown: an unreachable store is 141002 "Internal error,
// retry." in the surface's envelope, with HTTP 503 and Retry-After.
func TestTencentStoreDown(t *testing.T) {
	in := ccClosedStore(t)
	q := tdQuery(tdSign(t, "admin", time.Hour, time.Now()))
	for what, body := range map[string]string{
		"by SessionId":    `{"SessionId":"` + hub.NewSessionID() + `"}`,
		"by ClientUserId": `{"ClientUserId":"user1","CustomerServiceId":"@customer_service_account"}`,
	} {
		res := tdCall(t, in, "POST", q, body)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Errorf("%s: HTTP %d, Retry-After %q; want 503 with Retry-After", what, res.status, res.header.Get("Retry-After"))
		}
		res.status = http.StatusOK // the envelope is the surface's, as on 200
		tdWantFail(t, what, res, 141002)
	}
	// Refusals that need no store still come first.
	tdWantFail(t, "bad usersig", tdCall(t, in, "POST", tdQuery("x"), `{"SessionId":"`+hub.NewSessionID()+`"}`), 141004)
}
