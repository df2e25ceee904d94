package hub

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DeskPolicy holds the timings and statuses of agents at work.
type DeskPolicy struct {
	// OfferTimeout is how long an agent has to accept an offered session;
	// 0 accepts every offer at once (auto-accept).
	OfferTimeout time.Duration
	// SkipFor is how long routing passes over an agent for a session it
	// declined or let time out; default 5 min.
	SkipFor time.Duration
	// Grace is how long an agent whose last connection closed keeps its
	// status and sessions before it turns Offline and they are requeued;
	// 0 turns it Offline at once.
	Grace time.Duration
	// PresenceTTL is how long a connection counts as live without a
	// refresh: an instance that dies takes its agents Offline after at
	// most PresenceTTL plus one SweepEvery. Default 60 s.
	PresenceTTL time.Duration
	// PresenceRefresh is how often an instance refreshes its connections;
	// default PresenceTTL/3.
	PresenceRefresh time.Duration
	// SweepEvery is the longest an instance goes without looking at the
	// desk (sweeping expired connections and grace periods, expiring offers,
	// routing) when nothing falls due sooner; default 30 s. Each look is one
	// store call that also says when the next connection expiry, grace end
	// or offer deadline falls, and the instance looks again then; the
	// instance that creates such a moment (a connection, a disconnection, an
	// offer) looks then too. So what falls due is handled when it does, an
	// idle contact center costs an instance one call per SweepEvery, and
	// only what a dying instance created after another's last look waits
	// up to SweepEvery longer (docs/tenants.md).
	SweepEvery time.Duration
	// RouteEvery is how often an instance routes when nothing woke it;
	// default 1 s. Every change to the queue or to the routable agents wakes
	// every instance's router at once; this is the backstop.
	RouteEvery time.Duration
	// Statuses are the custom statuses agents may choose besides Available
	// (not routable), e.g. lunch, break, meeting.
	Statuses []string
	// RingTimeout is how long a call rings before it ends unanswered
	// (no_answer); default 45 s.
	RingTimeout time.Duration
	// CallGrace is how long a call survives the socket of one of its legs
	// closing (a reconnect keeps it; a reload or a lost network ends it,
	// network_lost); default 20 s.
	CallGrace time.Duration
}

func (p *DeskPolicy) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.SkipFor, 5*time.Minute)
	def(&p.PresenceTTL, 60*time.Second)
	def(&p.PresenceRefresh, p.PresenceTTL/3)
	def(&p.SweepEvery, 30*time.Second)
	def(&p.RouteEvery, time.Second)
	def(&p.RingTimeout, 45*time.Second)
	def(&p.CallGrace, 20*time.Second)
}

// Presence names one live agent connection.
type Presence struct {
	AgentID string
	ConnID  string
	IP      string
}

// StatusChange is the outcome of setting one agent's status.
type StatusChange struct {
	AgentID  string
	Previous string
	Current  string
	// Refused is the system status (In-call or Offline) that kept a strict
	// change from happening; "" when it happened.
	Refused string
}

// QueueInfo is one consistent look at the queue.
type QueueInfo struct {
	Version int64 // changes whenever the queue or the routable agents change
	Length  int
	// Interval is the moving average of the time between sessions leaving
	// the queue for an agent; 0 until known.
	Interval time.Duration
	// OldestSince is when the longest-waiting session entered the queue;
	// zero when the queue is empty.
	OldestSince time.Time
	// Positions are the 1-based places of the sessions asked about (0: not queued).
	Positions []int
}

// EstimatedWait is the expected wait at position pos: pos times the recent
// interval between sessions leaving the queue; 0 when unknown.
func (q QueueInfo) EstimatedWait(pos int) time.Duration {
	return time.Duration(pos) * q.Interval
}

// Tick is the outcome of one look at the desk (DeskStore.Tick).
type Tick struct {
	Agents int // agents whose connections or grace it looked at
	Offers int // offers past their deadline it looked at
	Routed int // sessions it offered to agents
	Queued int // sessions in the queue after
	// NextDue is when the earliest connection expiry, grace end or offer
	// deadline falls; zero when there is none.
	NextDue time.Time
}

// Transfer names where a session is transferred: an agent or a team.
type Transfer struct {
	AgentID string
	TeamID  string
}

// DeskStore is what the Desk needs of storage: presence, statuses, routing.
// Every method is one atomic step in the store.
type DeskStore interface {
	CallStore
	Connect(ctx context.Context, c Presence, now time.Time, p DeskPolicy) error
	Disconnect(ctx context.Context, c Presence, now time.Time, p DeskPolicy) error
	// RefreshPresence extends live connections and returns those the store
	// no longer has (swept while this instance stalled).
	RefreshPresence(ctx context.Context, conns []Presence, now time.Time, p DeskPolicy) ([]Presence, error)
	// Tick does in one atomic step what falls due by now, up to limit of
	// each kind: it turns Offline the agents whose connections all expired
	// and whose grace ran out (requeueing their sessions), requeues offers
	// not accepted in time, then routes; and says when the next connection
	// expiry, grace end or offer deadline falls.
	Tick(ctx context.Context, limit int, now time.Time, p DeskPolicy) (Tick, error)
	// Route offers up to limit queued sessions to routable agents, and
	// says how many it offered and how many the queue holds after.
	Route(ctx context.Context, limit int, now time.Time, p DeskPolicy) (routed, queued int, err error)
	// TakeSession puts agent in a session: rule "accept" (the offer it
	// holds) or "pick" (a queued one, within capacity).
	TakeSession(ctx context.Context, sessionID, agentID, rule string, now time.Time) (*Session, error)
	Decline(ctx context.Context, sessionID string, by Principal, now time.Time, p DeskPolicy) (*Session, error)
	Transfer(ctx context.Context, sessionID string, by Principal, to Transfer, now time.Time, p DeskPolicy) (*Session, error)
	Handover(ctx context.Context, sessionID string, by Principal, now time.Time) (*Session, error)
	// SetStatus sets the chosen status of agents; every id must exist.
	SetStatus(ctx context.Context, ids []string, status string, strict bool, now time.Time) ([]StatusChange, error)
	QueueInfo(ctx context.Context, sessionIDs []string) (QueueInfo, error)
	// AnsweringAgents counts the agents online and Available (at capacity
	// or not) and the bots online.
	AnsweringAgents(ctx context.Context) (int, error)
}

// Errors of the desk.
var (
	ErrNotOffered       = &Error{Code: ECONFLICT, Message: "session is not offered to you"}
	ErrNotQueued        = &Error{Code: ECONFLICT, Message: "session is not in the queue"}
	ErrNotActive        = &Error{Code: ECONFLICT, Message: "session has no agent to transfer from"}
	ErrNotChatbot       = &Error{Code: ECONFLICT, Message: "session is not with a bot"}
	ErrAgentUnavailable = &Error{Code: ECONFLICT, Message: "agent is offline, disabled or at capacity"}
	ErrSameAgent        = &Error{Code: EINVALID, Message: "session is already with this agent"}
)

// StatusError is the refusal of a status that cannot be set at all: one
// that does not exist, or a system status. Its message is the CCAI
// surface's, word for word.
func StatusError(status string) error {
	if status == AgentInCall || status == AgentOffline {
		return Errorf(EINVALID, "Agent can't be changed to system status '%s'", status)
	}
	return Errorf(EINVALID, "status '%s' does not exist", status)
}

// Desk runs agents at work: their presence on this instance, their
// statuses, and the routing of queued sessions, for every surface.
//
// The Run goroutine refreshes this instance's connections, sweeps and
// routes; any goroutine may call the other methods.
type Desk struct {
	store  DeskStore
	policy DeskPolicy
	now    func() time.Time
	logger *slog.Logger
	wake   chan struct{} // capacity 1: routing is wanted
	// queued is the queue's length after the last routing (-1 before the
	// first): the periodic routing ticker runs only while it is not 0, since
	// whatever fills the queue wakes the desk (Kick), and the sweep routes
	// anyway. An idle contact center then costs no routing calls.
	queued atomic.Int64
	// statuses are the custom statuses in force, when a tenant's settings
	// replace the policy's (ApplySettings); nil: the policy's.
	statuses atomic.Pointer[[]string]
	// resched (capacity 1) tells the Run goroutine that due moved earlier.
	resched chan struct{}

	mu    sync.Mutex
	conns map[string]Presence // guarded by mu: this instance's live agent connections by id
	due   time.Time           // guarded by mu: when the Run goroutine looks at the desk next
	// asked is guarded by mu: the earliest lookBy since the last look
	// began, which that look's answer may not include.
	asked time.Time
}

// NewDesk returns a Desk over store. now is the clock (time.Now when nil).
func NewDesk(store DeskStore, policy DeskPolicy, now func() time.Time, logger *slog.Logger) *Desk {
	policy.setDefaults()
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Desk{store: store, policy: policy, now: now, logger: logger,
		wake: make(chan struct{}, 1), resched: make(chan struct{}, 1), conns: map[string]Presence{}}
	d.queued.Store(-1)
	return d
}

// Policy returns the policy in force.
func (d *Desk) Policy() DeskPolicy { return d.policy }

// Statuses returns every status an agent may choose: Available first.
func (d *Desk) Statuses() []string { return append([]string{AgentAvailable}, d.custom()...) }

func (d *Desk) custom() []string {
	if p := d.statuses.Load(); p != nil {
		return *p
	}
	return d.policy.Statuses
}

// ApplySettings puts a tenant's settings over the desk's policy: its
// statuses, when it has any, replace the deployment's. An agent already in
// a status no longer offered keeps it until it picks another.
func (d *Desk) ApplySettings(t TenantSettings) {
	if len(t.Statuses) == 0 {
		d.statuses.Store(nil)
		return
	}
	st := slices.Clone(t.Statuses)
	d.statuses.Store(&st)
}

// CheckStatus returns StatusError unless status may be chosen.
func (d *Desk) CheckStatus(status string) error {
	if status == AgentAvailable || slices.Contains(d.custom(), status) {
		return nil
	}
	return StatusError(status)
}

// Connect records a live connection of an agent from ip and returns its id.
func (d *Desk) Connect(ctx context.Context, agentID, ip string) (string, error) {
	c := Presence{AgentID: agentID, ConnID: NewSecret(16), IP: ip}
	if err := d.store.Connect(ctx, c, d.now(), d.policy); err != nil {
		return "", err
	}
	d.mu.Lock()
	d.conns[c.ConnID] = c
	d.mu.Unlock()
	d.lookBy(d.now().Add(d.policy.PresenceTTL))
	return c.ConnID, nil
}

// Disconnect records that a connection closed.
func (d *Desk) Disconnect(ctx context.Context, connID string) error {
	d.mu.Lock()
	c, ok := d.conns[connID]
	delete(d.conns, connID)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	if err := d.store.Disconnect(ctx, c, d.now(), d.policy); err != nil {
		return err
	}
	if d.policy.Grace > 0 {
		d.lookBy(d.now().Add(d.policy.Grace))
	}
	return nil
}

// lookBy makes the Run goroutine look at the desk by t at the latest: a
// connection expiry, grace end or offer deadline this instance created.
func (d *Desk) lookBy(t time.Time) {
	d.mu.Lock()
	if d.asked.IsZero() || t.Before(d.asked) {
		d.asked = t
	}
	earlier := t.Before(d.due)
	if earlier {
		d.due = t
	}
	d.mu.Unlock()
	if earlier {
		select {
		case d.resched <- struct{}{}:
		default:
		}
	}
}

// untilDue is how long the Run goroutine sleeps before its next look.
func (d *Desk) untilDue() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return max(d.due.Sub(d.now()), 50*time.Millisecond)
}

// Kick asks the Run goroutine to route now. It never blocks.
func (d *Desk) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run refreshes, sweeps and routes until ctx ends. It looks at the desk
// at once, then whenever the store says something falls due, at the latest
// every SweepEvery (see DeskPolicy.SweepEvery).
func (d *Desk) Run(ctx context.Context) {
	refresh := time.NewTicker(d.policy.PresenceRefresh)
	// route runs only while the queue holds sessions: a quiet contact
	// center's goroutine then sleeps between looks.
	route := time.NewTicker(d.policy.RouteEvery)
	route.Stop()
	routing := false
	look := time.NewTimer(0)
	defer refresh.Stop()
	defer route.Stop()
	defer look.Stop()
	for {
		if q := d.queued.Load() != 0; q != routing {
			if q {
				route.Reset(d.policy.RouteEvery)
			} else {
				route.Stop()
			}
			routing = q
		}
		var err error
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			err = d.Refresh(ctx)
		case <-look.C:
			err = d.Sweep(ctx)
			look.Reset(d.untilDue())
		case <-d.resched:
			look.Reset(d.untilDue())
		case <-route.C:
			err = d.Route(ctx)
		case <-d.wake:
			err = d.Route(ctx)
		}
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("desk: background step failed", "err", err)
		}
	}
}

// Refresh extends this instance's live connections; any the store had
// swept (this instance stalled past the TTL) are connected again.
func (d *Desk) Refresh(ctx context.Context) error {
	d.mu.Lock()
	conns := make([]Presence, 0, len(d.conns))
	for _, c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for len(conns) > 0 {
		// Batches of 100: one script call blocks Redis for about 2 ms at
		// most, where 500 held every message behind it for 10 ms.
		batch := conns[:min(len(conns), 100)]
		conns = conns[len(batch):]
		missing, err := d.store.RefreshPresence(ctx, batch, d.now(), d.policy)
		if err != nil {
			return err
		}
		for _, c := range missing {
			d.mu.Lock()
			full, live := d.conns[c.ConnID] // the store's copy has no IP
			d.mu.Unlock()
			if live {
				if err := d.store.Connect(ctx, full, d.now(), d.policy); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// deskBatch is how many entries of each kind one store call handles: one
// call then blocks Redis for a few milliseconds at most.
const deskBatch = 50

// Sweep turns Offline the agents whose connections expired past their
// grace, requeues offers not accepted in time, and routes: one store call
// unless more than deskBatch of a kind are due. It sets the next look at
// what the store says falls due next, or SweepEvery (less up to a fifth, so
// that many contact centers' looks spread out) when that is later.
func (d *Desk) Sweep(ctx context.Context) error {
	d.mu.Lock()
	d.asked = time.Time{} // what was asked before is in the store: the look sees it
	d.mu.Unlock()
	for {
		now := d.now()
		t, err := d.store.Tick(ctx, deskBatch, now, d.policy)
		if err != nil {
			d.queued.Store(-1) // unknown: the routing tick tries again
			d.setDue(now.Add(min(d.policy.SweepEvery, 5*time.Second)))
			return err
		}
		d.queued.Store(int64(t.Queued))
		if t.Agents < deskBatch && t.Offers < deskBatch && t.Routed < deskBatch {
			next := now.Add(d.policy.SweepEvery - rand.N(d.policy.SweepEvery/5+1))
			if !t.NextDue.IsZero() && t.NextDue.Before(next) {
				next = t.NextDue
			}
			d.setDue(next)
			return nil
		}
	}
}

// setDue sets the next look at t, or earlier if asked since the look began.
func (d *Desk) setDue(t time.Time) {
	d.mu.Lock()
	d.due = t
	if !d.asked.IsZero() && d.asked.Before(t) {
		d.due = d.asked
	}
	d.mu.Unlock()
}

// Route offers queued sessions to routable agents until no more can be.
func (d *Desk) Route(ctx context.Context) error {
	routed := 0
	defer func() {
		if routed > 0 && d.policy.OfferTimeout > 0 {
			d.lookBy(d.now().Add(d.policy.OfferTimeout))
		}
	}()
	for {
		n, queued, err := d.store.Route(ctx, deskBatch, d.now(), d.policy)
		if err != nil {
			d.queued.Store(-1) // unknown: the tick tries again
			return err
		}
		routed += n
		d.queued.Store(int64(queued))
		if n < deskBatch {
			return nil
		}
	}
}

// Accept takes the session offered to agent p.
func (d *Desk) Accept(ctx context.Context, p Principal, sessionID string) (*Session, error) {
	if p.Kind != PrincipalAgent || !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	return d.store.TakeSession(ctx, sessionID, p.ID, "accept", d.now())
}

// Pick takes a queued session for agent p, within its capacity.
func (d *Desk) Pick(ctx context.Context, p Principal, sessionID string) (*Session, error) {
	if p.Kind != PrincipalAgent || p.Role == RoleBot || !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	return d.store.TakeSession(ctx, sessionID, p.ID, "pick", d.now())
}

// Answering reports whether a new chat would find someone: an agent online
// and Available (busy with other chats or not: the customer queues for
// it), or a bot. Otherwise (everyone Offline, or away on a custom status
// such as lunch) the widget offers its offline form.
func (d *Desk) Answering(ctx context.Context) (bool, error) {
	n, err := d.store.AnsweringAgents(ctx)
	return n > 0, err
}

// Decline sends an offered session back to the queue, skipping its agent.
func (d *Desk) Decline(ctx context.Context, p Principal, sessionID string) (*Session, error) {
	if !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	s, err := d.store.Decline(ctx, sessionID, p, d.now(), d.policy)
	if err == nil {
		d.Kick()
	}
	return s, err
}

// Transfer moves a session to another agent or a team.
func (d *Desk) Transfer(ctx context.Context, p Principal, sessionID string, to Transfer) (*Session, error) {
	if (to.AgentID == "") == (to.TeamID == "") {
		return nil, Errorf(EINVALID, "transfer to exactly one of agent_id and team_id")
	}
	if to.AgentID != "" && !ValidAgentID(to.AgentID) {
		return nil, ErrAgentNotFound
	}
	if to.TeamID != "" && !ValidAgentID(to.TeamID) {
		return nil, ErrTeamNotFound
	}
	if !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	s, err := d.store.Transfer(ctx, sessionID, p, to, d.now(), d.policy)
	if err == nil {
		d.Kick()
		if to.AgentID != "" && d.policy.OfferTimeout > 0 { // an offer to that agent
			d.lookBy(d.now().Add(d.policy.OfferTimeout))
		}
	}
	return s, err
}

// Handover moves a session from its bot to the queue.
func (d *Desk) Handover(ctx context.Context, p Principal, sessionID string) (*Session, error) {
	if !ValidSessionID(sessionID) {
		return nil, ErrSessionNotFound
	}
	s, err := d.store.Handover(ctx, sessionID, p, d.now())
	if err == nil {
		d.Kick()
	}
	return s, err
}

// SetStatus sets the status agents chose. strict refuses, per agent, those
// shown In-call or Offline (the CCAI rule); otherwise the choice is kept
// and shows when that ends. A status that cannot be chosen is refused
// before anything changes.
func (d *Desk) SetStatus(ctx context.Context, ids []string, status string, strict bool) ([]StatusChange, error) {
	if err := d.CheckStatus(status); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !ValidAgentID(id) {
			return nil, fmt.Errorf("agent %q: %w", id, ErrAgentNotFound)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return d.store.SetStatus(ctx, ids, status, strict, d.now())
}

// Queue returns the queue's state and the positions of sessionIDs.
func (d *Desk) Queue(ctx context.Context, sessionIDs []string) (QueueInfo, error) {
	return d.store.QueueInfo(ctx, sessionIDs)
}
