package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// basicCall makes a request with HTTP Basic credentials and returns the
// status and the body.
func basicCall(t *testing.T, method, u, user, pass, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// TestTenantSurfaceCredentials: a tenant's own CCAI key and secret and its
// own sdkappid and usersig key (set by the operator) reach that tenant's
// agents and sessions with nothing else naming it; the deployment's own
// reach the default tenant as before; one tenant's CCAI key or sdkappid
// cannot be another's; the operator API never shows the secrets.
func TestTenantSurfaceCredentials(t *testing.T) {
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	c.OperatorKey = "test-operator-key-0123456789"
	c.CCAI.Key, c.CCAI.Secret = "deploy-ccai-key", "deploy-ccai-secret-0123456789"
	c.Tencent.SDKAppID, c.Tencent.Key, c.Tencent.Admins = 1400000001, "deploy-usersig-key-0123456789", []string{"administrator"}
	a, b := openMain(t, c), openMain(t, c)

	st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"acme"}`)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, body)
	}
	acmeKey := body["admin_key"].(string)
	tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"globex"}`)
	creds := `{"ccai_key":"acme-ccai-key","ccai_secret":"acme-ccai-secret-0123456789","sdkappid":1400000777,` +
		`"usersig_key":"acme-usersig-key-0123456789","admin_identifiers":["acme-admin"],"customer_service_id":"acme-cs"}`
	st, body = tenantCall(t, "PUT", a.URL()+"/api/v1/operator/tenants/acme/credentials", "", c.OperatorKey, creds)
	if st != http.StatusOK {
		t.Fatalf("credentials: %d %v", st, body)
	}
	shown, _ := json.Marshal(body)
	if strings.Contains(string(shown), "acme-ccai-secret") || strings.Contains(string(shown), "acme-usersig-key") ||
		body["credentials"].(map[string]any)["ccai_secret_set"] != true || body["credentials"].(map[string]any)["ccai_key"] != "acme-ccai-key" {
		t.Fatalf("the operator API shows: %s", shown)
	}
	// Neither another tenant nor the deployment's own credentials can be taken.
	for _, taken := range []string{
		`{"ccai_key":"acme-ccai-key","ccai_secret":"other-secret-0123456789"}`,
		`{"sdkappid":1400000777,"usersig_key":"other-usersig-key-0123456789"}`,
		`{"ccai_key":"deploy-ccai-key","ccai_secret":"other-secret-0123456789"}`,
		`{"sdkappid":1400000001,"usersig_key":"other-usersig-key-0123456789"}`,
	} {
		if st, body := tenantCall(t, "PUT", b.URL()+"/api/v1/operator/tenants/globex/credentials", "", c.OperatorKey, taken); st != http.StatusConflict {
			t.Errorf("globex takes %s: %d %v", taken, st, body)
		}
	}
	for _, bad := range []string{`{"ccai_key":"acme-2"}`, `{"sdkappid":5}`, `{"ccai_key":"a b c d e f","ccai_secret":"0123456789abcdef"}`, `{"secret":"x"}`} {
		if st, _ := tenantCall(t, "PUT", b.URL()+"/api/v1/operator/tenants/globex/credentials", "", c.OperatorKey, bad); st != http.StatusBadRequest {
			t.Errorf("credentials %s: %d, want 400", bad, st)
		}
	}

	// An agent in each tenant, with the same id.
	tenantCall(t, "POST", a.URL()+"/api/v1/agents?tenant=acme", "", acmeKey, `{"id":"agent_1","name":"Acme Ada","email":"ada@acme.test"}`)
	tenantCall(t, "POST", a.URL()+"/api/v1/agents", "", c.AdminKey, `{"id":"agent_1","name":"Default Dan","email":"dan@default.test"}`)

	// CCAI, on the other instance, by the key alone.
	ccaiURL := b.URL() + "/apps/api/v1/agent_statuses"
	st, raw := basicCall(t, "GET", ccaiURL, "acme-ccai-key", "acme-ccai-secret-0123456789", "")
	if st != http.StatusOK || !strings.Contains(raw, "ada@acme.test") || strings.Contains(raw, "dan@default.test") {
		t.Fatalf("acme's CCAI key: %d %s; want acme's agent only", st, raw)
	}
	st, raw = basicCall(t, "GET", ccaiURL, "deploy-ccai-key", "deploy-ccai-secret-0123456789", "")
	if st != http.StatusOK || !strings.Contains(raw, "dan@default.test") || strings.Contains(raw, "ada@acme.test") {
		t.Fatalf("the deployment's CCAI key: %d %s; want the default tenant's agent only", st, raw)
	}
	for _, wrong := range [][2]string{{"acme-ccai-key", "deploy-ccai-secret-0123456789"}, {"deploy-ccai-key", "acme-ccai-secret-0123456789"}, {"acme-ccai-key", ""}} {
		if st, raw := basicCall(t, "GET", ccaiURL, wrong[0], wrong[1], ""); st != http.StatusUnauthorized || !strings.Contains(raw, `"message"`) {
			t.Errorf("CCAI %s with a wrong secret: %d %s", wrong[0], st, raw)
		}
	}

	// Tencent-Desk, by sdkappid: acme's customer session, found by its id.
	st, w := tenantCall(t, "POST", a.URL()+"/api/v1/widget/sessions?tenant=acme", "", "", `{"name":"Cy"}`)
	if st != http.StatusCreated {
		t.Fatalf("widget: %d %v", st, w)
	}
	sid := w["session"].(map[string]any)["id"].(string)
	query := func(appid uint64, key, admin string) (int, map[string]any) {
		sig, err := usersig.Sign(key, appid, admin, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"sdkappid": {strconv.FormatUint(appid, 10)}, "identifier": {admin}, "usersig": {sig}, "random": {"42"}, "contenttype": {"json"}}
		return tenantCall(t, "POST", b.URL()+"/v4/desk_http_svc/get_session_state?"+q.Encode(), "", "", `{"SessionId":"`+sid+`"}`)
	}
	if st, body := query(1400000777, "acme-usersig-key-0123456789", "acme-admin"); st != 200 || body["ActionStatus"] != "OK" || body["SessionId"] != sid {
		t.Fatalf("acme's sdkappid: %d %v", st, body)
	}
	// The deployment's sdkappid reaches the default tenant, where acme's session is not.
	if st, body := query(1400000001, "deploy-usersig-key-0123456789", "administrator"); st != 200 || body["ActionStatus"] != "FAIL" {
		t.Fatalf("the deployment's sdkappid on acme's session: %d %v", st, body)
	}
	// acme's sdkappid with the deployment's usersig key, or another admin, is refused.
	for _, bad := range [][2]string{{"deploy-usersig-key-0123456789", "acme-admin"}, {"acme-usersig-key-0123456789", "administrator"}} {
		if st, body := query(1400000777, bad[0], bad[1]); st != 200 || body["ActionStatus"] != "FAIL" || body["ErrorCode"] != float64(141004) {
			t.Errorf("acme's sdkappid with %v: %d %v", bad, st, body)
		}
	}
}

// TestTenantIdentitySecret: a tenant's own identity secret (set by the
// operator, never shown) verifies the customer ids its site vouches for;
// the same vouching is refused on another tenant and on the default one,
// whose secrets differ.
func TestTenantIdentitySecret(t *testing.T) {
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	c.OperatorKey = "test-operator-key-0123456789"
	c.IdentitySecret = "deployment-identity-secret-0123"
	a, b := openMain(t, c), openMain(t, c)
	for _, id := range []string{"acme", "globex"} {
		if st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"`+id+`"}`); st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
	}
	const secret = "acme-identity-secret-0123456789"
	st, body := tenantCall(t, "PUT", a.URL()+"/api/v1/operator/tenants/acme/credentials", "", c.OperatorKey, `{"identity_secret":"`+secret+`"}`)
	if shown, _ := json.Marshal(body); st != http.StatusOK || strings.Contains(string(shown), secret) ||
		body["credentials"].(map[string]any)["identity_secret_set"] != true {
		t.Fatalf("set acme's identity secret: %d %s", st, shown)
	}
	if st, _ := tenantCall(t, "PUT", a.URL()+"/api/v1/operator/tenants/globex/credentials", "", c.OperatorKey, `{"identity_secret":"short"}`); st != http.StatusBadRequest {
		t.Errorf("a short identity secret: %d, want 400", st)
	}
	vouched := `{"name":"Maria","customer_id":"user-8812","customer_hash":"` + hub.IdentityHash([]byte(secret), "user-8812") + `"}`
	// B serves acme already, or builds it now: either way within the re-read.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := tenantCall(t, "POST", b.URL()+"/api/v1/widget/sessions?tenant=acme", "", "", vouched)
		if st == http.StatusCreated {
			if got := body["session"].(map[string]any)["customer_id"]; got != "user-8812" {
				t.Fatalf("acme's vouched session has customer_id %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme's site vouching with acme's secret: %d %v", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, where := range []string{"?tenant=globex", ""} {
		st, body := tenantCall(t, "POST", a.URL()+"/api/v1/widget/sessions"+where, "", "", vouched)
		if st != http.StatusUnauthorized || body["error"].(map[string]any)["message"] != "customer_id needs a valid customer_hash" {
			t.Errorf("acme's vouching on %q: %d %v; want 401", where, st, body)
		}
	}
	// The deployment's secret still vouches for the default tenant only.
	dep := `{"name":"Ann","customer_id":"user-1","customer_hash":"` + hub.IdentityHash([]byte(c.IdentitySecret), "user-1") + `"}`
	if st, body := tenantCall(t, "POST", a.URL()+"/api/v1/widget/sessions", "", "", dep); st != http.StatusCreated {
		t.Errorf("the default tenant's own vouching: %d %v", st, body)
	}
	if st, _ := tenantCall(t, "POST", a.URL()+"/api/v1/widget/sessions?tenant=globex", "", "", dep); st != http.StatusUnauthorized {
		t.Errorf("the deployment's vouching on globex: %d, want 401", st)
	}
}
