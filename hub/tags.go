package hub

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Tags: staff label sessions (refund, vip, bug-1234) to find them later:
// supervisors list the sessions of a tag. A session's tags are replaced
// as a whole; the change is the staff-only event session.tags, which a
// customer's socket receives only as a hidden placeholder.

// EventSessionTags says a session's tags changed (staff only).
const EventSessionTags = "session.tags"

// MaxTags is the most tags a session has.
const MaxTags = 10

var tagPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// NormalizeTags lowercases and trims tags, drops duplicates and sorts
// them, and refuses a tag that is not 1 to 32 letters, digits, _ or -
// (starting with a letter or digit), or more than MaxTags.
func NormalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if !tagPattern.MatchString(t) {
			return nil, Errorf(EINVALID, "a tag is 1 to 32 letters, digits, _ or - (starting with a letter or digit)")
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTags {
		return nil, Errorf(EINVALID, "at most %d tags", MaxTags)
	}
	return out, nil
}

// ValidTag reports whether t is a tag as NormalizeTags keeps it.
func ValidTag(t string) bool { return tagPattern.MatchString(t) }

// TagStore sets a session's tags atomically with its indexes and event.
type TagStore interface {
	SetTags(ctx context.Context, sessionID string, by Principal, tags []string, now time.Time) (int64, error)
}

// SetTags replaces a session's tags: staff only (the session's agent, now
// or the last one who handled it, a supervisor, an admin, the admin key).
func (s *Service) SetTags(ctx context.Context, p Principal, sessionID string, tags []string) (*Session, error) {
	if p.Kind == PrincipalCustomer {
		return nil, Errorf(EFORBIDDEN, "only staff tag sessions")
	}
	tags, err := NormalizeTags(tags)
	if err != nil {
		return nil, err
	}
	if !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	ts, ok := s.store.(TagStore)
	if !ok {
		return nil, Errorf(EINTERNAL, "this store keeps no tags")
	}
	if _, err := ts.SetTags(ctx, sessionID, p, tags, s.now().UTC()); err != nil {
		return nil, err
	}
	return s.store.Session(ctx, sessionID)
}
