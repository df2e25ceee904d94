package hub_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

func TestStateStatus(t *testing.T) {
	want := map[hub.State]hub.Status{
		hub.StateChatbot: hub.StatusWaiting, hub.StateQueuing: hub.StatusWaiting,
		hub.StateOffered: hub.StatusWaiting, hub.StateAgent: hub.StatusActive, hub.StateEnded: hub.StatusEnded,
	}
	for st, status := range want {
		if got := st.Status(); got != status {
			t.Errorf("%s.Status() = %s, want %s", st, got, status)
		}
	}
	for _, in := range []string{"waiting", "ACTIVE", "Ended"} {
		if _, ok := hub.ParseStatus(in); !ok {
			t.Errorf("ParseStatus(%q) refused", in)
		}
	}
	if _, ok := hub.ParseStatus("Open"); ok {
		t.Error("ParseStatus(Open) accepted")
	}
}

func TestSessionIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := hub.NewSessionID()
		if !hub.ValidSessionID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "cs_", "cs_abc123", "xx_" + strings.Repeat("a", 22), "cs_" + strings.Repeat("a", 21) + "!", "cs_" + strings.Repeat("a", 23)} {
		if hub.ValidSessionID(bad) {
			t.Errorf("ValidSessionID(%q) = true", bad)
		}
	}
}

func TestAgentIDs(t *testing.T) {
	for _, ok := range []string{"agent_001", "test@qq.com", "a", "A-b.c_d@e", strings.Repeat("x", 64)} {
		if !hub.ValidAgentID(ok) {
			t.Errorf("ValidAgentID(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a:b", "{sb}", "é", strings.Repeat("x", 65)} {
		if hub.ValidAgentID(bad) {
			t.Errorf("ValidAgentID(%q) = true", bad)
		}
	}
}

func TestSessionCreateValidate(t *testing.T) {
	c := hub.SessionCreate{Title: "  Refund  ", CustomerName: " John ", Description: "line1\nline2"}
	if err := c.Validate(); err != nil || c.Title != "Refund" || c.CustomerName != "John" {
		t.Fatalf("valid input: %v %+v", err, c)
	}
	bad := []hub.SessionCreate{
		{Title: "", CustomerName: "John"},
		{Title: "   ", CustomerName: "John"},
		{Title: "t", CustomerName: ""},
		{Title: strings.Repeat("é", hub.MaxTitleLen+1), CustomerName: "John"},
		{Title: "t", CustomerName: strings.Repeat("n", hub.MaxNameLen+1)},
		{Title: "t\x00", CustomerName: "John"},
		{Title: "t", CustomerName: "\xff"},
		{Title: "t", CustomerName: "John", CustomerID: "has space"},
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, hub.ErrInvalidBody) {
			t.Errorf("case %d %+v: %v, want invalid", i, c, err)
		}
	}
	// Limits count characters, not bytes.
	ok := hub.SessionCreate{Title: strings.Repeat("é", hub.MaxTitleLen), CustomerName: "n"}
	if err := ok.Validate(); err != nil {
		t.Errorf("title of %d two-byte characters: %v", hub.MaxTitleLen, err)
	}
}

func TestDuration(t *testing.T) {
	t0 := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	s := hub.Session{State: hub.StateAgent, ActiveSince: t0, ActiveFor: 10 * time.Second}
	if d := s.Duration(t0.Add(5 * time.Second)); d != 15*time.Second {
		t.Errorf("live: %v", d)
	}
	if d := s.Duration(t0.Add(-time.Second)); d != 10*time.Second {
		t.Errorf("clock behind ActiveSince: %v", d)
	}
	s.State = hub.StateEnded
	if d := s.Duration(t0.Add(time.Hour)); d != 10*time.Second {
		t.Errorf("ended: %v", d)
	}
}

func TestErrors(t *testing.T) {
	wrapped := fmt.Errorf("ctx: %w", hub.ErrSessionEnded)
	if hub.ErrorCode(wrapped) != hub.ECONFLICT || hub.ErrorMessage(wrapped) != "session already ended" {
		t.Errorf("wrapped: %s %s", hub.ErrorCode(wrapped), hub.ErrorMessage(wrapped))
	}
	other := errors.New("dial tcp: secret detail")
	if hub.ErrorCode(other) != hub.EINTERNAL || hub.ErrorMessage(other) != "internal error" {
		t.Errorf("foreign error leaks: %s %s", hub.ErrorCode(other), hub.ErrorMessage(other))
	}
	if hub.ErrorCode(nil) != "" || hub.ErrorMessage(nil) != "" {
		t.Error("nil error has a code")
	}
}
