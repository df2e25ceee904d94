package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// State is the fine-grained state of a session. The names are those of the
// Tencent Desk session-state query, so that surface returns them unchanged.
type State string

// The states of a session; see DESIGN §2 for the transitions between them.
const (
	StateChatbot State = "Chatbot"                  // a bot client handles it first
	StateQueuing State = "Queuing"                  // waiting in the queue for a human agent
	StateOffered State = "WaitingForAgentAnswering" // offered to one agent, not yet accepted
	StateAgent   State = "Agent"                    // an agent accepted; the session is live
	StateEnded   State = "Ended"                    // terminal
)

// Status is the coarse status of the Customer Service API.
type Status string

// The statuses of the Customer Service API.
const (
	StatusWaiting Status = "Waiting"
	StatusActive  Status = "Active"
	StatusEnded   Status = "Ended"
)

// Statuses lists every Status, in the order the stats endpoints report them.
var Statuses = []Status{StatusWaiting, StatusActive, StatusEnded}

// Status returns the coarse status of a state: Waiting before an agent
// accepted, Active while one is in the session, Ended at the end.
func (s State) Status() Status {
	switch s {
	case StateAgent:
		return StatusActive
	case StateEnded:
		return StatusEnded
	default:
		return StatusWaiting
	}
}

// ParseStatus reads a status as a caller wrote it, in any letter case.
func ParseStatus(s string) (Status, bool) {
	for _, st := range Statuses {
		if strings.EqualFold(s, string(st)) {
			return st, true
		}
	}
	return "", false
}

// Session is a conversation between a customer and, once assigned, an agent.
type Session struct {
	ID           string // "cs_" + random base62; unguessable
	Number       int64  // 1, 2, 3... in creation order; the numeric chat id of the KF5 surface
	Title        string
	Description  string
	CustomerID   string
	CustomerName string
	// CustomerEmail is the address the customer gave the widget's pre-chat
	// form, if any; it is shown to agents, never verified.
	CustomerEmail string
	AgentID       string // "" until an agent is offered or assigned the session
	AgentName     string
	BotID         string // the bot handling it while State is Chatbot
	TeamID        string // while queued after a transfer to a team: only its members may get it
	State         State
	CreatedAt     time.Time
	AssignedAt    time.Time // first time the session entered Agent; zero before
	EndedAt       time.Time // zero until Ended

	// ActiveSince is when the current Agent phase began (zero unless State
	// is Agent); ActiveFor is the time spent in earlier Agent phases (a
	// transfer leaves Agent and comes back).
	ActiveSince time.Time
	ActiveFor   time.Duration

	// Seq is the seq of the session's last event: its stream holds events
	// 1..Seq (all of them; streams kept by versions before whole histories
	// may lack their oldest).
	Seq int64
	// Epoch is the epoch of that last event ("" before epochs): a client
	// that resumes names it beside Seq (see EventRange).
	Epoch string

	// The history fields. Visitor is the customer's number (the KF5
	// visitor_id) and UserID the ticket-system user vouched for it when
	// the session began. StartedBy is "visitor" or "agent". HandledBy is the
	// last agent who was in the session (Agent state), which the rating
	// counts for; HandledByNumber its agent_number, filled by the history
	// listings. ReadBy holds each party's read marker by "role:id".
	Visitor         int64
	UserID          string
	StartedBy       string
	HandledBy       string
	HandledByNumber string
	Rating          *Rating
	RatedAt         time.Time
	ReadBy          map[string]int64

	// Tags are staff's labels of the session, sorted (SetTags).
	Tags []string
	// Offline says the session began as an offline message: nobody could
	// answer (or it was outside business hours), and it waited in the
	// offline list until an agent picked it.
	Offline bool

	// Call is the call in progress (nil for none); Calls are the calls
	// that ended, oldest first.
	Call  *Call
	Calls []CallRecord

	// Figures are what the reports count of it, recorded by its
	// transitions as they happened.
	Figures SessionFigures
}

// SessionFigures are a session's report figures (docs/reports.md). A nil
// duration is not known yet (or never will be: an abandoned session has
// no wait).
type SessionFigures struct {
	// Wait is from creation to the first agent's acceptance.
	Wait *time.Duration
	// FirstResponse is from the customer's first message to the agent's
	// first reply after it.
	FirstResponse *time.Duration
	// Handle is from the first acceptance to the end.
	Handle    *time.Duration
	Transfers int
	// Abandoned: the customer ended it before any agent answered.
	Abandoned bool
	// Team is the team it counts for: the team it was sent to when first
	// answered, else the answering agent's first team ("" for none).
	Team string
	// Agents are the agents who held it, in order.
	Agents []string
}

// MarshalJSON writes the figures as the native API and the webhooks show
// them: durations in seconds, null until known.
func (f SessionFigures) MarshalJSON() ([]byte, error) {
	seconds := func(d *time.Duration) *float64 {
		if d == nil {
			return nil
		}
		s := d.Seconds()
		return &s
	}
	return json.Marshal(struct {
		WaitS          *float64 `json:"wait_s"`
		FirstResponseS *float64 `json:"first_response_s"`
		HandleS        *float64 `json:"handle_s"`
		Transfers      int      `json:"transfers"`
		Abandoned      bool     `json:"abandoned"`
		TeamID         string   `json:"team_id"`
		AgentIDs       []string `json:"agent_ids"`
	}{seconds(f.Wait), seconds(f.FirstResponse), seconds(f.Handle), f.Transfers, f.Abandoned, f.Team, append([]string{}, f.Agents...)})
}

// ReadUpTo returns the highest read marker of the parties of a role
// ("customer" or "agent").
func (s *Session) ReadUpTo(role string) int64 {
	var max int64
	for who, seq := range s.ReadBy {
		if strings.HasPrefix(who, role+":") && seq > max {
			max = seq
		}
	}
	return max
}

// Status returns the coarse status of the session.
func (s *Session) Status() Status { return s.State.Status() }

// Duration returns the time the session has spent with an agent in it
// (state Agent): up to now while it lasts, up to the end once Ended.
func (s *Session) Duration(now time.Time) time.Duration {
	d := s.ActiveFor
	if s.State == StateAgent && !s.ActiveSince.IsZero() && now.After(s.ActiveSince) {
		d += now.Sub(s.ActiveSince)
	}
	return d
}

// Field limits, in characters. They bound what one request can make Redis
// store and every surface shows; a contact center's titles and names are short.
const (
	MaxTitleLen       = 200
	MaxNameLen        = 100
	MaxDescriptionLen = 4000
)

// SessionCreate is what a caller gives to open a session.
type SessionCreate struct {
	Title        string
	Description  string
	CustomerID   string // optional: "" makes the hub generate one
	CustomerName string
	// CustomerEmail is optional: the widget's pre-chat form asks for it.
	CustomerEmail string
	// UserID is the ticket-system user id a site vouched for the customer
	// (digits); it is kept on the customer's record.
	UserID string
	// ByAgent says staff opened it (KF5 started_by "agent"), not the customer.
	ByAgent bool
	// Offline makes it an offline message (Session.Offline).
	Offline bool
}

// Validate trims the fields in place and checks them: title and customer
// name are required, every field is valid UTF-8 within its length limit.
func (c *SessionCreate) Validate() error {
	c.Title = strings.TrimSpace(c.Title)
	c.CustomerName = strings.TrimSpace(c.CustomerName)
	c.Description = strings.TrimSpace(c.Description)
	c.CustomerID = strings.TrimSpace(c.CustomerID)
	c.CustomerEmail = strings.TrimSpace(c.CustomerEmail)
	switch {
	case !validText(c.Title, 1, MaxTitleLen),
		!validText(c.CustomerName, 1, MaxNameLen),
		!validText(c.Description, 0, MaxDescriptionLen),
		c.CustomerID != "" && !ValidAgentID(c.CustomerID),
		c.CustomerEmail != "" && !ValidEmail(c.CustomerEmail),
		c.UserID != "" && !ValidUserID(c.UserID):
		return ErrInvalidBody
	}
	return nil
}

// ValidEmail reports whether s looks like an e-mail address: one "@" with
// text on both sides, no spaces or control characters, at most 254 bytes.
// Nothing is sent to it, so the check only keeps out what is plainly not one.
func ValidEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return len(s) <= 254 && validText(s, 3, 254) && at > 0 && at == strings.LastIndexByte(s, '@') &&
		at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>")
}

// ValidUserID reports whether id can be a ticket-system user id: a
// positive number of up to 18 digits, without leading zeros.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > 18 || id[0] == '0' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// Assignment names the agent an admin assigns to a session.
type Assignment struct {
	AgentID   string
	AgentName string
}

// Validate trims the fields in place and checks them.
func (a *Assignment) Validate() error {
	a.AgentID = strings.TrimSpace(a.AgentID)
	a.AgentName = strings.TrimSpace(a.AgentName)
	if !ValidAgentID(a.AgentID) || !validText(a.AgentName, 1, MaxNameLen) {
		return ErrInvalidBody
	}
	return nil
}

// validText reports whether s is valid UTF-8 of min to max characters with
// no control characters other than newline and tab.
func validText(s string, min, max int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return false
		}
		n++
	}
	return n >= min && n <= max
}

// SessionFilter selects and pages sessions for a listing, newest first.
type SessionFilter struct {
	Status Status // "" for every status
	Tag    string // "" for any; not with Status
	// Offline lists the offline messages nobody picked yet (not with
	// Status or Tag).
	Offline bool
	Offset  int
	Limit   int
}

// Stats are the counts of the sessions the hub keeps, by status. Ended
// sessions count until retention removes them.
type Stats struct {
	Total   int64
	Waiting int64
	Active  int64
	Ended   int64
}

// SessionStore keeps sessions and runs their transitions atomically: each
// method that changes a session validates, mutates and publishes the
// resulting event as one step, so a change is published if and only if it
// happened, and two racing callers cannot both win.
type SessionStore interface {
	// CreateSession stores s (whose ID, CustomerID, State and CreatedAt are
	// set) unless maxOpen > 0 sessions are already open (ErrMaxSessions),
	// and returns it with its Number.
	CreateSession(ctx context.Context, s *Session, maxOpen int) (*Session, error)
	// Session returns the session with the given id, or ErrSessionNotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// SessionHead returns only what says who may follow the session and
	// how far it went (ID, CustomerID, AgentID, BotID, State, Seq, Epoch),
	// or ErrSessionNotFound: a socket's hello reads it for each session it
	// follows, on every connect.
	SessionHead(ctx context.Context, id string) (*Session, error)
	// Sessions returns one page of sessions, newest first, and the number
	// of sessions that match the filter.
	Sessions(ctx context.Context, f SessionFilter, now time.Time) ([]*Session, int, error)
	// AssignSession makes the agent the session's agent (state Agent). An
	// agent not seen before is registered with defaultCapacity.
	AssignSession(ctx context.Context, id string, a Assignment, defaultCapacity int, now time.Time) (*Session, error)
	// CloseSession ends the session if by may act on it, and keeps it, and
	// its events, for retention.
	CloseSession(ctx context.Context, id string, by Principal, now time.Time, retention time.Duration) (*Session, error)
	// SessionStats returns the counts by status.
	SessionStats(ctx context.Context, now time.Time) (Stats, error)
	// EndedSince counts the kept sessions that ended at or after since.
	EndedSince(ctx context.Context, since time.Time) (int64, error)
}

// MessageStore appends what the parties of a session do to its history and
// publishes it, each operation atomically with its authorization check.
type MessageStore interface {
	// AppendMessage appends msg from by, once per msg.ClientMsgID: a retry
	// returns the first seq and duplicate true.
	AppendMessage(ctx context.Context, sessionID string, by Principal, msg Message, at time.Time, idemTTL time.Duration) (seq int64, duplicate bool, err error)
	// MarkRead moves by's read marker forward to upTo; it returns the
	// marker and whether it moved.
	MarkRead(ctx context.Context, sessionID string, by Principal, marker string, upTo int64, at time.Time) (current int64, moved bool, err error)
	// PublishTyping publishes an ephemeral typing event of by.
	PublishTyping(ctx context.Context, sessionID string, by Principal, on bool, expires time.Duration, at time.Time) error
	// Events returns up to limit events of the session with seq > after,
	// in order, as their JSON; ErrHistoryGone if the oldest of them is no
	// longer kept.
	Events(ctx context.Context, sessionID string, after int64, limit int) ([][]byte, error)
}

// EventRange is a run of a session's events as its stream holds them, with
// where the session stands at the same moment.
type EventRange struct {
	Events [][]byte // the events after the one asked about, in seq order, as their JSON
	Seq    int64    // the seq of the session's last event
	// Epoch is the epoch of the session's last event ("" before epochs).
	Epoch string
	// AnchorKept says whether the stream holds the event at the seq asked
	// about (the client's last), and Anchor is that event's epoch: a client
	// that saw that seq in another epoch saw another event, which a store
	// rolled back and reused the seq for.
	AnchorKept bool
	Anchor     string
}

// EventEpoch reads the epoch of an event's JSON as the store writes it
// ({"seq":N,"epoch":"E",...}) without decoding the rest: "" when it has none.
func EventEpoch(ev []byte) string {
	i := bytes.Index(ev, epochField)
	if i < 0 || i > 32 {
		return ""
	}
	rest := ev[i+len(epochField):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

var epochField = []byte(`"epoch":"`)

// ErrHistoryGone says that a session's stream no longer holds the events
// asked for (trimmed, or expired with the session): the client must resync
// from the full state.
var ErrHistoryGone = &Error{Code: ECONFLICT, Message: "history no longer holds these events"}
