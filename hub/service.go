package hub

import (
	"context"
	"strings"
	"sync/atomic"
	"time"
)

// Policy holds the limits an operator configures.
type Policy struct {
	// MaxOpenSessions caps the sessions open (not Ended) at once across the
	// whole contact center; 0 means no cap.
	MaxOpenSessions int
	// AgentCapacity is the capacity given to an agent first seen through an
	// admin assign. Must be at least 1.
	AgentCapacity int
	// Retention is how long an ended session and its events are kept.
	Retention time.Duration
	// TypingExpiry is how long a typing indicator lasts without a refresh;
	// default 6 s.
	TypingExpiry time.Duration
	// IdempotencyTTL is how long a client_msg_id is remembered; default 24 h.
	IdempotencyTTL time.Duration
}

// Store is what the Service needs of storage.
type Store interface {
	SessionStore
	MessageStore
}

// Service runs the session operations of every surface: it validates input,
// applies the Policy and the clock, and leaves the atomic work to the store.
// Surfaces call it rather than the store, so that a rule holds on all of them.
type Service struct {
	store Store
	base  Policy // the policy it was made with
	// policy is the one in force: base, with a tenant's settings over it
	// (ApplySettings, from any goroutine).
	policy atomic.Pointer[Policy]
	now    func() time.Time
}

// NewService returns a Service over store. now is the clock (time.Now when nil).
func NewService(store Store, policy Policy, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if policy.TypingExpiry <= 0 {
		policy.TypingExpiry = 6 * time.Second
	}
	if policy.IdempotencyTTL <= 0 {
		policy.IdempotencyTTL = 24 * time.Hour
	}
	s := &Service{store: store, base: policy, now: now}
	s.policy.Store(&policy)
	return s
}

// ApplySettings puts a tenant's settings over the policy the Service was
// made with (a zero setting keeps it), for the operations that follow.
func (s *Service) ApplySettings(t TenantSettings) {
	p := s.base.With(t)
	s.policy.Store(&p)
}

// Now returns the service clock's current time.
func (s *Service) Now() time.Time { return s.now() }

// CreateSession opens a session in the queue.
func (s *Service) CreateSession(ctx context.Context, c SessionCreate) (*Session, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.CustomerID == "" {
		c.CustomerID = NewCustomerID()
	}
	sess := &Session{
		ID:            NewSessionID(),
		Title:         c.Title,
		Description:   c.Description,
		CustomerID:    c.CustomerID,
		CustomerName:  c.CustomerName,
		CustomerEmail: c.CustomerEmail,
		UserID:        c.UserID,
		StartedBy:     "visitor",
		State:         StateQueuing,
		CreatedAt:     s.now().UTC(),
	}
	if c.ByAgent {
		sess.StartedBy = "agent"
	}
	sess.Offline = c.Offline
	return s.store.CreateSession(ctx, sess, s.policy.Load().MaxOpenSessions)
}

// Session returns one session.
func (s *Service) Session(ctx context.Context, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	return s.store.Session(ctx, id)
}

// Sessions returns one page of sessions, newest first, and the matching count.
func (s *Service) Sessions(ctx context.Context, f SessionFilter) ([]*Session, int, error) {
	if f.Offset < 0 || f.Limit < 1 {
		return nil, 0, ErrInvalidBody
	}
	if f.Offline && (f.Tag != "" || f.Status != "") {
		return nil, 0, Errorf(EINVALID, "offline lists the offline messages alone")
	}
	if f.Tag != "" && (!ValidTag(f.Tag) || f.Status != "") {
		return nil, 0, Errorf(EINVALID, "tag must be a tag (lowercase letters, digits, _ or -), and not given with status")
	}
	return s.store.Sessions(ctx, f, s.now())
}

// AssignSession puts an agent in a waiting session, within its capacity.
func (s *Service) AssignSession(ctx context.Context, id string, a Assignment) (*Session, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	return s.store.AssignSession(ctx, id, a, s.policy.Load().AgentCapacity, s.now())
}

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return *s.policy.Load() }

// CloseSession ends a session for an admin, whatever its state.
func (s *Service) CloseSession(ctx context.Context, id string) (*Session, error) {
	return s.CloseSessionAs(ctx, SystemPrincipal, id)
}

// CloseSessionAs ends a session for p: its customer, its agent, or a
// privileged principal.
func (s *Service) CloseSessionAs(ctx context.Context, p Principal, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	return s.store.CloseSession(ctx, id, p, s.now(), s.policy.Load().Retention)
}

// SessionFor returns a session p may read; one it may not read answers
// ErrSessionNotFound, so that ids cannot be probed.
func (s *Service) SessionFor(ctx context.Context, p Principal, id string) (*Session, error) {
	sess, err := s.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.MayRead(sess) {
		return nil, ErrSessionNotFound
	}
	return sess, nil
}

// MaxMessageLen is the longest chat message, in characters.
const MaxMessageLen = 4000

// ValidClientMsgID reports whether id can be a client_msg_id: 1 to 64
// characters of letters, digits and "_.:-" (UUIDs fit).
func ValidClientMsgID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// SessionHeadFor is SessionFor with only the session's head (see
// SessionStore.SessionHead): what a socket's hello needs, read on every
// connect (docs/performance.md, round three).
func (s *Service) SessionHeadFor(ctx context.Context, p Principal, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	sess, err := s.store.SessionHead(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.MayRead(sess) {
		return nil, ErrSessionNotFound
	}
	return sess, nil
}

// SendMessage appends a chat message from p, once per clientMsgID.
func (s *Service) SendMessage(ctx context.Context, p Principal, sessionID, clientMsgID, text string) (seq int64, duplicate bool, err error) {
	if !ValidClientMsgID(clientMsgID) || !validText(text, 1, MaxMessageLen) || strings.TrimSpace(text) == "" {
		return 0, false, Errorf(EINVALID, "a message needs a client_msg_id and 1 to %d characters of text", MaxMessageLen)
	}
	if !ValidSessionID(sessionID) {
		return 0, false, ErrSessionNotFound
	}
	msg := Message{ClientMsgID: clientMsgID, Type: "chat.msg", Text: text}
	return s.store.AppendMessage(ctx, sessionID, p, msg, s.now().UTC(), s.policy.Load().IdempotencyTTL)
}

// AddNote appends a private note of staff (the session's agent, a
// supervisor, an admin) to a session: staff see it in the session's
// stream and history; a customer's socket gets only a hidden placeholder
// of its seq (HideFromCustomer), and no customer surface shows it.
func (s *Service) AddNote(ctx context.Context, p Principal, sessionID, clientMsgID, text string) (seq int64, duplicate bool, err error) {
	if p.Kind == PrincipalCustomer {
		return 0, false, Errorf(EFORBIDDEN, "only staff write notes")
	}
	if !ValidClientMsgID(clientMsgID) || !validText(text, 1, MaxMessageLen) || strings.TrimSpace(text) == "" {
		return 0, false, Errorf(EINVALID, "a note needs a client_msg_id and 1 to %d characters of text", MaxMessageLen)
	}
	if !ValidSessionID(sessionID) {
		return 0, false, ErrSessionNotFound
	}
	msg := Message{ClientMsgID: clientMsgID, Type: MessageNote, Text: text}
	return s.store.AppendMessage(ctx, sessionID, p, msg, s.now().UTC(), s.policy.Load().IdempotencyTTL)
}

// SendFile appends a message carrying an attachment already kept in the
// file store (api/files.go stores it first, and deletes it again when
// this fails). Its text is the file's name.
func (s *Service) SendFile(ctx context.Context, p Principal, sessionID, clientMsgID string, f FileRef) (seq int64, duplicate bool, err error) {
	if !ValidClientMsgID(clientMsgID) {
		return 0, false, Errorf(EINVALID, "a file needs a client_msg_id")
	}
	if !ValidSessionID(sessionID) {
		return 0, false, ErrSessionNotFound
	}
	msg := Message{ClientMsgID: clientMsgID, Type: MessageFile, Text: f.Name, File: &f}
	return s.store.AppendMessage(ctx, sessionID, p, msg, s.now().UTC(), s.policy.Load().IdempotencyTTL)
}

// GoneFileStore lists the retired sessions whose files are to be deleted.
type GoneFileStore interface {
	GoneFiles(ctx context.Context, limit int) ([]string, error)
	// RequeueGoneFiles gives back ids whose files could not be deleted.
	RequeueGoneFiles(ctx context.Context, ids []string) error
}

// GoneFiles takes up to limit sessions whose files are to be deleted
// (retention removed them), if the store keeps such a list.
func (s *Service) GoneFiles(ctx context.Context, limit int) ([]string, error) {
	g, ok := s.store.(GoneFileStore)
	if !ok {
		return nil, nil
	}
	return g.GoneFiles(ctx, limit)
}

// RequeueGoneFiles puts back sessions whose files are still to be deleted.
func (s *Service) RequeueGoneFiles(ctx context.Context, ids []string) error {
	if g, ok := s.store.(GoneFileStore); ok && len(ids) > 0 {
		return g.RequeueGoneFiles(ctx, ids)
	}
	return nil
}

// MarkRead moves p's read marker of the session forward to upTo (and its
// delivered marker with it: what was read was received).
func (s *Service) MarkRead(ctx context.Context, p Principal, sessionID string, upTo int64) (int64, bool, error) {
	return s.mark(ctx, p, sessionID, EventRead, upTo)
}

// MarkDelivered moves p's delivered marker of the session forward to upTo:
// p's client has received the events up to there, so the other side can
// show its messages as delivered before they are read.
func (s *Service) MarkDelivered(ctx context.Context, p Principal, sessionID string, upTo int64) (int64, bool, error) {
	return s.mark(ctx, p, sessionID, EventDelivered, upTo)
}

func (s *Service) mark(ctx context.Context, p Principal, sessionID, marker string, upTo int64) (int64, bool, error) {
	if upTo < 1 {
		return 0, false, Errorf(EINVALID, "seq must be at least 1")
	}
	if !ValidSessionID(sessionID) {
		return 0, false, ErrSessionNotFound
	}
	return s.store.MarkRead(ctx, sessionID, p, marker, upTo, s.now().UTC())
}

// Typing publishes that p started or stopped typing in the session.
func (s *Service) Typing(ctx context.Context, p Principal, sessionID string, on bool) error {
	if !ValidSessionID(sessionID) {
		return ErrSessionNotFound
	}
	return s.store.PublishTyping(ctx, sessionID, p, on, s.policy.Load().TypingExpiry, s.now().UTC())
}

// Events returns up to limit events of a session p may read, after seq.
func (s *Service) Events(ctx context.Context, p Principal, sessionID string, after int64, limit int) ([][]byte, error) {
	if after < 0 || limit < 1 {
		return nil, Errorf(EINVALID, "after must be at least 0 and limit at least 1")
	}
	if _, err := s.SessionFor(ctx, p, sessionID); err != nil {
		return nil, err
	}
	evs, err := s.store.Events(ctx, sessionID, after, limit)
	if err != nil || p.Kind != PrincipalCustomer {
		return evs, err
	}
	for i, e := range evs {
		evs[i] = HideFromCustomer(sessionID, e)
	}
	return evs, nil
}

// Stats returns the session counts by status.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	return s.store.SessionStats(ctx, s.now())
}

// EndedSince counts the sessions that ended at or after since (the
// supervisor's "ended today").
func (s *Service) EndedSince(ctx context.Context, since time.Time) (int64, error) {
	return s.store.EndedSince(ctx, since)
}

// IdleSweeper warns and closes the sessions whose customer stopped
// answering (idle auto-close); the store decides whether it is on.
type IdleSweeper interface {
	SweepIdle(ctx context.Context, now time.Time, retention time.Duration, limit int) (warned, closed int, err error)
}

// SweepIdle runs one look at idle sessions, if the store supports them:
// any instance may, at any time (the store's step is atomic per session).
func (s *Service) SweepIdle(ctx context.Context) (warned, closed int, err error) {
	sw, ok := s.store.(IdleSweeper)
	if !ok {
		return 0, 0, nil
	}
	return sw.SweepIdle(ctx, s.now(), s.policy.Load().Retention, 500)
}
