package hub

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Canned replies: the answers agents give every hour, inserted in the
// desk with /shortcut or from a picker, with placeholders
// ({{customer.name}}, {{agent.name}}) the desk fills in. Shared ones
// (for everyone, or for one team) are managed by supervisors, admins and
// the admin key; personal ones by their agent.

// The scopes of a canned reply.
const (
	CannedShared   = "shared"
	CannedPersonal = "personal"
)

// CannedReply is one canned reply.
type CannedReply struct {
	ID        string    `json:"id"`
	Shortcut  string    `json:"shortcut"` // unique within its scope (shared, or the agent's own)
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Scope     string    `json:"scope"`
	TeamID    string    `json:"team_id,omitempty"`  // shared only: "" for everyone
	OwnerID   string    `json:"owner_id,omitempty"` // personal only
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CannedStore keeps canned replies; PutCanned refuses a shortcut its scope
// uses already (ErrShortcutTaken), atomically, and with replace saves an
// existing reply only (ErrCannedNotFound once deleted: an edit racing
// with a delete does not bring the reply back).
type CannedStore interface {
	PutCanned(ctx context.Context, c *CannedReply, replace bool) error
	Canned(ctx context.Context, id string) (*CannedReply, error)
	DeleteCanned(ctx context.Context, c *CannedReply) error
	// CannedFor lists the shared replies and the personal ones of owner
	// ("" for none), by shortcut.
	CannedFor(ctx context.Context, owner string) ([]*CannedReply, error)
}

// Errors of canned replies.
var (
	ErrCannedNotFound = &Error{Code: ENOTFOUND, Message: "canned reply not found"}
	ErrShortcutTaken  = &Error{Code: ECONFLICT, Message: "shortcut already in use"}
)

var shortcutPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Validate trims and checks a canned reply's fields.
func (c *CannedReply) Validate() error {
	c.Shortcut = strings.ToLower(strings.TrimSpace(c.Shortcut))
	c.Title = strings.TrimSpace(c.Title)
	switch {
	case !shortcutPattern.MatchString(c.Shortcut):
		return Errorf(EINVALID, "shortcut must be 1 to 32 lowercase letters, digits, _ or -")
	case !validText(c.Title, 1, 100):
		return Errorf(EINVALID, "title must be 1 to 100 characters")
	case !validText(c.Text, 1, MaxMessageLen) || strings.TrimSpace(c.Text) == "":
		return Errorf(EINVALID, "text must be 1 to %d characters", MaxMessageLen)
	case c.Scope != CannedShared && c.Scope != CannedPersonal:
		return Errorf(EINVALID, "scope must be shared or personal")
	case c.TeamID != "" && (c.Scope != CannedShared || !ValidAgentID(c.TeamID)):
		return Errorf(EINVALID, "team_id names a team, for a shared reply only")
	}
	return nil
}

// MayEdit reports whether p may change or delete c: its owner for a
// personal reply, staff who manage (supervisors, admins, the admin key)
// for a shared one.
func (c *CannedReply) MayEdit(p Principal) bool {
	if c.Scope == CannedPersonal {
		return p.Kind == PrincipalAgent && p.ID == c.OwnerID
	}
	return p.Privileged()
}

// Visible filters replies to those p sees: personal ones are their
// owner's (CannedFor already), shared ones for everyone or for one of
// teams; managers see every shared one. q, when set, keeps those whose
// shortcut, title or text contains it (case-insensitive).
func VisibleCanned(list []*CannedReply, p Principal, teams []string, q string) []*CannedReply {
	q = strings.ToLower(strings.TrimSpace(q))
	out := make([]*CannedReply, 0, len(list))
	for _, c := range list {
		if c.Scope == CannedShared && c.TeamID != "" && !p.Privileged() && !slices.Contains(teams, c.TeamID) {
			continue
		}
		if q != "" && !strings.Contains(c.Shortcut, q) && !strings.Contains(strings.ToLower(c.Title), q) &&
			!strings.Contains(strings.ToLower(c.Text), q) {
			continue
		}
		out = append(out, c)
	}
	return out
}
