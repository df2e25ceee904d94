package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// TestTokensPerTenant: a token verifies only with the Tokens of the tenant
// that signed it, names that tenant, and the default tenant's tokens are
// the deployment's as before tenants.
func TestTokensPerTenant(t *testing.T) {
	base, err := hub.NewTokens([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	claims := hub.Claims{Role: hub.PrincipalAgent, Subject: "agent_1", Expires: now.Add(time.Hour).Unix()}
	tenants := map[string]*hub.Tokens{"": base, hub.DefaultTenant: base.ForTenant(hub.DefaultTenant),
		"acme": base.ForTenant("acme"), "globex": base.ForTenant("globex")}
	for signer, st := range tenants {
		tok := st.Sign(claims)
		want := signer
		if want == hub.DefaultTenant {
			want = ""
		}
		if got := hub.PeekTenant(tok); got != want {
			t.Errorf("PeekTenant(a token of %q) = %q", signer, got)
		}
		for verifier, vt := range tenants {
			c, err := vt.Verify(tok, now)
			same := (signer == "" || signer == hub.DefaultTenant) == (verifier == "" || verifier == hub.DefaultTenant) &&
				(signer == verifier || signer == "" || signer == hub.DefaultTenant)
			if same && (err != nil || c.Subject != "agent_1") {
				t.Errorf("a token of %q does not verify with its own tenant's tokens (%q): %v", signer, verifier, err)
			}
			if !same && err == nil {
				t.Errorf("a token of %q verifies on tenant %q", signer, verifier)
			}
		}
	}
	// A forged tenant claim on a default token changes the payload: the MAC fails.
	tok := tenants["acme"].Sign(claims)
	if _, err := base.Verify(tok, now); err == nil {
		t.Error("acme's token verifies with the deployment's tokens")
	}
	for _, junk := range []string{"", "v1.", "v1.!!!.x", "v1.e30.x", "Bearer x"} {
		if got := hub.PeekTenant(junk); got != "" {
			t.Errorf("PeekTenant(%q) = %q", junk, got)
		}
	}
}
