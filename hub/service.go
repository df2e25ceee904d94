package hub

import (
	"context"
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
}

// Service runs the session operations of every surface: it validates input,
// applies the Policy and the clock, and leaves the atomic work to the store.
// Surfaces call it rather than the store, so that a rule holds on all of them.
type Service struct {
	store  SessionStore
	policy Policy
	now    func() time.Time
}

// NewService returns a Service over store. now is the clock (time.Now when nil).
func NewService(store SessionStore, policy Policy, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, policy: policy, now: now}
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
		ID:           NewSessionID(),
		Title:        c.Title,
		Description:  c.Description,
		CustomerID:   c.CustomerID,
		CustomerName: c.CustomerName,
		State:        StateQueuing,
		CreatedAt:    s.now().UTC(),
	}
	return s.store.CreateSession(ctx, sess, s.policy.MaxOpenSessions)
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
	return s.store.AssignSession(ctx, id, a, s.policy.AgentCapacity, s.now())
}

// CloseSession ends a session, whatever its state.
func (s *Service) CloseSession(ctx context.Context, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	return s.store.CloseSession(ctx, id, s.now(), s.policy.Retention)
}

// Stats returns the session counts by status.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	return s.store.SessionStats(ctx, s.now())
}
