package hub

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// EventSessionRated is the customer's rating of an ended session: appended
// to its stream, sent to the agent who handled it and to webhooks.
const EventSessionRated = "session.rated"

// Rating is a customer's satisfaction score (CSAT) of an ended session.
type Rating struct {
	Score   int    `json:"score"` // 1 (worst) to 5 (best)
	Comment string `json:"comment,omitempty"`
}

// MaxRatingComment is the longest rating comment, in characters.
const MaxRatingComment = 1000

// Validate trims the comment and checks the score and the comment.
func (r *Rating) Validate() error {
	r.Comment = strings.TrimSpace(r.Comment)
	if r.Score < 1 || r.Score > 5 || !validText(r.Comment, 0, MaxRatingComment) {
		return Errorf(EINVALID, "a rating needs a score from 1 to 5 and at most %d characters of comment", MaxRatingComment)
	}
	return nil
}

// Rating errors.
var (
	ErrNotEnded     = &Error{Code: ECONFLICT, Message: "the session has not ended yet"}
	ErrAlreadyRated = &Error{Code: ECONFLICT, Message: "the session is already rated"}
)

// Customer is the record of a customer, kept while any of its sessions is:
// its number is the visitor_id of the chat-history surface, and UserID the
// ticket-system user id a site vouched for (see IdentityHash).
type Customer struct {
	ID     string
	Number int64
	Name   string
	Email  string // the last one the customer gave, if any
	UserID string
}

// ChatFilter selects sessions in creation order for the history surfaces.
// Zero fields do not filter. The store answers from indexes (by creation
// time, by visitor, by user), never by scanning sessions.
type ChatFilter struct {
	Visitor  int64     // the customer's number (visitor_id)
	UserID   string    // the ticket-system user id
	From, To time.Time // created in [From, To)
	Offset   int
	Limit    int
	Newest   bool // newest first instead of oldest first
}

// HistoryEvent is one durable event of a session as kept in its stream.
type HistoryEvent struct {
	Seq    int64
	Number int64  // its message id on the chat-history surface; 0 if it is not a message there
	JSON   []byte // the event as clients receive it
}

// Type reads the event's type from its JSON ("" if it has none).
func (e HistoryEvent) Type() string {
	var v struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(e.JSON, &v) // written by the store: an unreadable one has no type
	return v.Type
}

// HistoryStore answers the history surfaces from the indexes the
// transition scripts maintain, and records ratings.
type HistoryStore interface {
	// Session returns the session with the given id, or ErrSessionNotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// ChatSessions returns one page of the sessions f selects and how many
	// it selects in all.
	ChatSessions(ctx context.Context, f ChatFilter, now time.Time) ([]*Session, int, error)
	// SessionByNumber returns the session with that number, or ErrSessionNotFound.
	SessionByNumber(ctx context.Context, number int64) (*Session, error)
	// SessionHistories returns the kept events of each session, in order.
	SessionHistories(ctx context.Context, ids []string) ([][]HistoryEvent, error)
	// HistoryPage returns up to limit events with after < seq < before
	// (before 0: no upper bound), oldest first, keeping the newest of them
	// when newest is set, skipping the types in skip.
	HistoryPage(ctx context.Context, sessionID string, after, before int64, limit int, newest bool, skip map[string]bool) ([]HistoryEvent, bool, error)
	// Customer returns a customer's record, or ErrCustomerNotFound.
	Customer(ctx context.Context, id string) (*Customer, error)
	// RateSession records the customer's rating of its ended session.
	RateSession(ctx context.Context, sessionID, customerID string, r Rating, now time.Time) (*Session, error)
	// RatingTotals returns the sum and the count of the kept sessions' ratings.
	RatingTotals(ctx context.Context) (sum, count int64, err error)
}

// ErrCustomerNotFound says no session of this customer is kept.
var ErrCustomerNotFound = &Error{Code: ENOTFOUND, Message: "customer not found"}

// History serves past conversations (the KF5 surface, the agent desktop's
// scroll-back and side panel) and ratings.
type History struct {
	store HistoryStore
	now   func() time.Time
}

// NewHistory returns a History over store; now is the clock (time.Now when nil).
func NewHistory(store HistoryStore, now func() time.Time) *History {
	if now == nil {
		now = time.Now
	}
	return &History{store: store, now: now}
}

// Chats returns one page of sessions in creation order and the total.
func (h *History) Chats(ctx context.Context, f ChatFilter) ([]*Session, int, error) {
	if f.Offset < 0 || f.Limit < 1 || f.Visitor < 0 {
		return nil, 0, ErrInvalidBody
	}
	return h.store.ChatSessions(ctx, f, h.now())
}

// Chat returns the session with a number.
func (h *History) Chat(ctx context.Context, number int64) (*Session, error) {
	if number < 1 {
		return nil, ErrSessionNotFound
	}
	return h.store.SessionByNumber(ctx, number)
}

// Transcripts returns the kept events of each session.
func (h *History) Transcripts(ctx context.Context, sessions []*Session) ([][]HistoryEvent, error) {
	ids := make([]string, len(sessions))
	for i, s := range sessions {
		ids[i] = s.ID
	}
	return h.store.SessionHistories(ctx, ids)
}

// HistoryQuery pages a session's history by seq: After and Before are
// exclusive bounds (0 for none); with only Before, or neither, the page is
// the newest Limit events before it, so a desktop scrolls back.
type HistoryQuery struct {
	After, Before int64
	Limit         int
	// Forward pages from After oldest first even when After is 0 (the
	// caller gave after=0: the conversation from its first event).
	Forward bool
}

// MaxHistoryPage is the most events one history page returns.
const MaxHistoryPage = 200

// historySkip are the event types the scroll-back leaves out: read markers
// and queue moves say nothing a reader of the conversation needs.
var historySkip = map[string]bool{EventRead: true, EventDelivered: true, EventSessionState: true}

// customerHistorySkip is historySkip for a customer, who never reads
// staff's private notes.
var customerHistorySkip = map[string]bool{EventRead: true, EventDelivered: true, EventSessionState: true, EventNote: true}

// Messages returns a page of the conversation of a session p may read,
// oldest first, and whether more lie beyond it in the paging direction.
func (h *History) Messages(ctx context.Context, p Principal, sessionID string, q HistoryQuery) ([]HistoryEvent, bool, error) {
	if q.After < 0 || q.Before < 0 || q.Limit < 1 || q.Limit > MaxHistoryPage || q.Before > 0 && q.Before <= q.After {
		return nil, false, Errorf(EINVALID, "after and before must be seqs with after < before, and limit 1 to %d", MaxHistoryPage)
	}
	if _, err := h.sessionFor(ctx, p, sessionID); err != nil {
		return nil, false, err
	}
	skip := historySkip
	if p.Kind == PrincipalCustomer {
		skip = customerHistorySkip
	}
	return h.store.HistoryPage(ctx, sessionID, q.After, q.Before, q.Limit, q.After == 0 && !q.Forward, skip)
}

func (h *History) sessionFor(ctx context.Context, p Principal, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrSessionNotFound
	}
	s, err := h.store.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.MayRead(s) && !p.MayReadHistory() {
		return nil, ErrSessionNotFound
	}
	return s, nil
}

// CustomerSessions returns a customer's record and its sessions, newest
// first: the side panel an agent sees beside a conversation.
func (h *History) CustomerSessions(ctx context.Context, customerID string, limit int) (*Customer, []*Session, int, error) {
	if !ValidAgentID(customerID) {
		return nil, nil, 0, ErrCustomerNotFound
	}
	c, err := h.store.Customer(ctx, customerID)
	if err != nil {
		return nil, nil, 0, err
	}
	list, total, err := h.Chats(ctx, ChatFilter{Visitor: c.Number, Limit: limit, Newest: true})
	return c, list, total, err
}

// Rate records the rating p, the customer of the ended session, gives it.
func (h *History) Rate(ctx context.Context, p Principal, sessionID string, r Rating) (*Session, error) {
	if p.Kind != PrincipalCustomer {
		return nil, Errorf(EFORBIDDEN, "only the customer rates a session")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	return h.store.RateSession(ctx, sessionID, p.ID, r, h.now().UTC())
}

// RatingAverage returns the average rating of the kept sessions and how
// many are rated (0 and 0 when none is).
func (h *History) RatingAverage(ctx context.Context) (float64, int64, error) {
	sum, n, err := h.store.RatingTotals(ctx)
	if err != nil || n == 0 {
		return 0, 0, err
	}
	return float64(sum) / float64(n), n, nil
}
