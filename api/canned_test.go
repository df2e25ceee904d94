package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCannedReplies: the admin key makes shared replies (for everyone, or
// for a team), an agent its personal ones; each agent lists the shared
// ones it may use and its own, searchable; shortcuts are unique within
// their scope; nobody edits what is not theirs; bad input changes nothing.
func TestCannedReplies(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	if st := httpJSON(t, "POST", a.http.URL+"/api/v1/teams", rtAdminKey, `{"id":"billing","name":"Billing"}`, nil); st != http.StatusCreated {
		t.Fatalf("team: %d", st)
	}
	bo := e.quickAgent("bo")
	ana := e.quickAgent("ana")
	if st := httpJSON(t, "PATCH", a.http.URL+"/api/v1/agents/ana", rtAdminKey, `{"team_ids":["billing"]}`, nil); st != 200 {
		t.Fatalf("ana's team: %d", st)
	}

	type reply struct{ ID, Shortcut, Scope, Text, TeamID string }
	create := func(token, body string, want int) reply {
		t.Helper()
		var out reply
		if st := httpJSON(t, "POST", a.http.URL+"/api/v1/canned-replies", token, body, &out); st != want {
			t.Fatalf("%s: %d, want %d", body, st, want)
		}
		return out
	}
	greet := create(rtAdminKey, `{"scope":"shared","shortcut":"greet","title":"Greeting","text":"Hello {{customer.name}}, I am {{agent.name}}."}`, http.StatusCreated)
	create(rtAdminKey, `{"scope":"shared","shortcut":"refund","title":"Refund policy","text":"Refunds take 5 days.","team_id":"billing"}`, http.StatusCreated)
	mine := create(bo, `{"shortcut":"bye","title":"Goodbye","text":"Have a nice day!"}`, http.StatusCreated)
	if mine.Scope != "personal" || greet.Scope != "shared" {
		t.Fatalf("scopes %+v %+v", mine, greet)
	}
	// Bo's shortcut "bye" is his; Ana may have her own "bye"; "greet" is taken among shared.
	create(ana, `{"shortcut":"bye","title":"Bye","text":"Bye!"}`, http.StatusCreated)
	create(rtAdminKey, `{"scope":"shared","shortcut":"greet","title":"Again","text":"x"}`, http.StatusConflict)
	create(bo, `{"scope":"shared","shortcut":"mine","title":"x","text":"x"}`, http.StatusForbidden)
	for _, bad := range []string{`{"shortcut":"Has Space","title":"x","text":"x"}`, `{"shortcut":"ok","title":"","text":"x"}`,
		`{"shortcut":"ok","title":"x","text":"` + strings.Repeat("x", 4001) + `"}`, `{"shortcut":"ok"`, `{"shortcut":"ok","title":"x","text":"x","team_id":"billing"}`} {
		create(bo, bad, http.StatusBadRequest)
	}
	create("", `{"shortcut":"x","title":"x","text":"x"}`, http.StatusUnauthorized)
	// Errors come in the native format with a message that says why.
	errMsg := func(method, path, token, body string, want int) string {
		t.Helper()
		var out struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if st := httpJSON(t, method, a.http.URL+path, token, body, &out); st != want {
			t.Fatalf("%s %s %s: %d, want %d", method, path, body, st, want)
		}
		return out.Error.Message
	}
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		msg                       string
	}{
		{"POST", "/api/v1/canned-replies", rtAdminKey, `{"scope":"shared","shortcut":"greet","title":"x","text":"x"}`, 409, "shortcut already in use"},
		{"POST", "/api/v1/canned-replies", bo, `{"shortcut":"Bad!","title":"x","text":"x"}`, 400, "shortcut must be 1 to 32 lowercase letters, digits, _ or -"},
		{"POST", "/api/v1/canned-replies", bo, `{"shortcut":"ok","title":"` + strings.Repeat("t", 101) + `","text":"x"}`, 400, "title must be 1 to 100 characters"},
		{"POST", "/api/v1/canned-replies", bo, `{"shortcut":"ok","title":"x","text":"` + strings.Repeat("x", 4001) + `"}`, 400, "text must be 1 to 4000 characters"},
		{"PATCH", "/api/v1/canned-replies/cr_nope", bo, `{"text":"x"}`, 404, "canned reply not found"},
		{"DELETE", "/api/v1/canned-replies/cr_nope", rtAdminKey, "", 404, "canned reply not found"},
		{"PATCH", "/api/v1/canned-replies/" + mine.ID, bo, `{"text":`, 400, ""},
		{"PATCH", "/api/v1/canned-replies/" + mine.ID, bo, `{"scope":"shared"}`, 400, "a reply keeps its scope: make a new one"},
		{"PATCH", "/api/v1/canned-replies/" + greet.ID, bo, `{"text":"x"}`, 403, "shared replies are kept by supervisors and admins"},
	} {
		if got := errMsg(c.method, c.path, c.token, c.body, c.status); got == "" || (c.msg != "" && got != c.msg) {
			t.Fatalf("%s %s %s: %q, want %q", c.method, c.path, c.body, got, c.msg)
		}
	}

	list := func(token, q string) []string {
		t.Helper()
		var out struct {
			CannedReplies []reply `json:"canned_replies"`
		}
		if st := httpJSON(t, "GET", b.http.URL+"/api/v1/canned-replies?q="+q, token, "", &out); st != 200 {
			t.Fatalf("list: %d", st)
		}
		var s []string
		for _, c := range out.CannedReplies {
			s = append(s, c.Scope+":"+c.Shortcut)
		}
		return s
	}
	if got := strings.Join(list(bo, ""), " "); got != "personal:bye shared:greet" {
		t.Fatalf("Bo lists %s", got) // not billing's refund
	}
	var kept struct {
		CannedReplies []reply `json:"canned_replies"`
	}
	if httpJSON(t, "GET", b.http.URL+"/api/v1/canned-replies?q=bye", bo, "", &kept); len(kept.CannedReplies) != 1 || kept.CannedReplies[0].Text != "Have a nice day!" {
		t.Fatalf("bad input changed Bo's reply: %+v", kept)
	}
	if got := strings.Join(list(ana, ""), " "); got != "personal:bye shared:greet shared:refund" {
		t.Fatalf("Ana lists %s", got)
	}
	if got := strings.Join(list(ana, "REFUND"), " "); got != "shared:refund" {
		t.Fatalf("Ana searches refund: %s", got)
	}

	// Nobody edits what is not theirs.
	if st := httpJSON(t, "PATCH", a.http.URL+"/api/v1/canned-replies/"+mine.ID, ana, `{"text":"hijacked"}`, nil); st != http.StatusNotFound {
		t.Fatalf("Ana edits Bo's: %d", st)
	}
	if st := httpJSON(t, "DELETE", a.http.URL+"/api/v1/canned-replies/"+greet.ID, bo, "", nil); st != http.StatusForbidden {
		t.Fatalf("Bo deletes a shared one: %d", st)
	}
	if st := httpJSON(t, "PATCH", a.http.URL+"/api/v1/canned-replies/"+mine.ID, bo, `{"shortcut":"ciao","text":"Ciao!"}`, nil); st != 200 {
		t.Fatalf("Bo edits his: %d", st)
	}
	if got := strings.Join(list(bo, ""), " "); got != "personal:ciao shared:greet" {
		t.Fatalf("after renaming: %s", got)
	}
	create(bo, `{"shortcut":"bye","title":"Bye again","text":"Bye!"}`, http.StatusCreated) // "bye" is free again
	if st := httpJSON(t, "DELETE", a.http.URL+"/api/v1/canned-replies/"+greet.ID, rtAdminKey, "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if got := strings.Join(list(bo, ""), " "); got != "personal:bye personal:ciao" {
		t.Fatalf("after deleting greet: %s", got)
	}
	if au, err := a.store.Audit(context.Background(), time.Now()); err != nil || len(au.Violations) != 0 {
		t.Fatalf("audit: %v %v", err, au.Violations)
	}
}
