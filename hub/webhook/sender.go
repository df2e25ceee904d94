package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// Sender delivers every endpoint's queue whose lease this instance holds.
// Run starts one worker goroutine per leased endpoint; each worker owns its
// endpoint's deliveries until its lease is lost or ctx ends.
type Sender struct {
	Queue   Queue
	History hub.HistoryStore // the sessions and streams payloads are built from
	Client  *http.Client     // Timeout bounds one attempt; default 10 s
	Owner   string           // this instance's id in leases and the consumer group
	Log     *slog.Logger

	LeaseTTL   time.Duration // default 15 s; renewed every third of it
	Poll       time.Duration // how often endpoints are looked for; default 1 s
	MaxAge     time.Duration // how long a delivery is retried; default 24 h
	MinBackoff time.Duration // the first retry's wait, doubled each time; default 1 s
	MaxBackoff time.Duration // default 10 min
	Now        func() time.Time

	mu      sync.Mutex      // guards running
	running map[string]bool // endpoints with a worker on this instance
	wg      sync.WaitGroup

	wakeOnce sync.Once
	wake     chan struct{} // capacity 1: look for endpoints now (Kick)
}

func (s *Sender) wakeCh() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// Kick makes Run look for endpoints now rather than at its next Poll: the
// instance that adds an endpoint delivers to it at once however long Poll
// is. It never blocks.
func (s *Sender) Kick() {
	select {
	case s.wakeCh() <- struct{}{}:
	default:
	}
}

func (s *Sender) defaults() {
	if s.Client == nil {
		s.Client = &http.Client{
			Timeout: 10 * time.Second,
			// A redirect is not a delivery: followed, it would turn the POST
			// into a GET without the payload, and count as delivered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.LeaseTTL <= 0 {
		s.LeaseTTL = 15 * time.Second
	}
	if s.Poll <= 0 {
		s.Poll = time.Second
	}
	if s.MaxAge <= 0 {
		s.MaxAge = 24 * time.Hour
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 10 * time.Minute
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.running = map[string]bool{}
}

// Run looks for endpoints every Poll, and at once after Kick, and starts a worker for each one whose
// lease it wins, until ctx ends; it returns after its workers have released
// their leases.
func (s *Sender) Run(ctx context.Context) error {
	s.defaults()
	defer s.wg.Wait()
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		s.claim(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wakeCh():
		}
	}
}

func (s *Sender) claim(ctx context.Context) {
	eps, err := s.Queue.Endpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("webhook endpoints", "err", err)
		}
		return
	}
	for _, ep := range eps {
		s.mu.Lock()
		busy := s.running[ep.ID]
		s.mu.Unlock()
		if busy {
			continue
		}
		ok, err := s.Queue.Lease(ctx, ep.ID, s.Owner, s.LeaseTTL)
		if err != nil || !ok {
			continue
		}
		s.mu.Lock()
		s.running[ep.ID] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.work(ctx, ep)
	}
}

// work sends ep's deliveries in order while this instance holds its lease.
func (s *Sender) work(parent context.Context, ep *Endpoint) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		cancel()
		// Released on a clean stop so that another instance takes over at
		// once; after a crash the lease runs out instead.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Queue.Release(rctx, ep.ID, s.Owner)
		rcancel()
		s.mu.Lock()
		delete(s.running, ep.ID)
		s.mu.Unlock()
	}()
	go func() { // renew the lease; losing it stops the worker
		t := time.NewTicker(s.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if ok, err := s.Queue.Lease(ctx, ep.ID, s.Owner, s.LeaseTTL); !ok || err != nil {
					cancel()
					return
				}
			}
		}
	}()
	for ctx.Err() == nil {
		d, err := s.Queue.Next(ctx, ep.ID, s.Owner, s.Poll)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("webhook queue", "endpoint", ep.ID, "err", err)
				sleep(ctx, s.Poll)
			}
			continue
		}
		if d == nil {
			if gone, _ := s.endpointGone(ctx, ep.ID); gone {
				return
			}
			continue
		}
		s.deliver(ctx, ep, d)
	}
}

func (s *Sender) endpointGone(ctx context.Context, id string) (bool, error) {
	eps, err := s.Queue.Endpoints(ctx)
	if err != nil {
		return false, err
	}
	for _, e := range eps {
		if e.ID == id {
			return false, nil
		}
	}
	return true, nil
}

// deliver sends d until the endpoint accepts it, MaxAge passes since its
// first attempt, or ctx ends (the delivery stays pending for the next holder).
func (s *Sender) deliver(ctx context.Context, ep *Endpoint, d *Delivery) {
	if !ep.Wants(d.Kind) {
		if err := s.Queue.Done(ctx, ep.ID, d); err != nil && ctx.Err() == nil {
			s.Log.Warn("webhook skip", "endpoint", ep.ID, "err", err)
		}
		return
	}
	body := d.Body
	if body == nil {
		var err error
		if body, err = s.payload(ctx, d); err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("webhook payload", "endpoint", ep.ID, "delivery", d.ID(), "err", err)
				sleep(ctx, s.Poll)
			}
			return
		}
	}
	for ctx.Err() == nil {
		// Renewing the lease before each attempt also checks that this
		// instance still holds it: one that stalled past it stops here
		// instead of sending beside the new holder.
		if ok, err := s.Queue.Lease(ctx, ep.ID, s.Owner, s.LeaseTTL); err == nil && !ok {
			return
		}
		n, first, sent, err := s.Queue.Attempt(ctx, ep.ID, d, body, s.Now())
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			return // the endpoint was deleted
		} else if err != nil {
			sleep(ctx, s.Poll)
			continue
		}
		err = s.post(ctx, ep, d, sent)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if err := s.Queue.Done(ctx, ep.ID, d); err != nil {
				s.Log.Warn("webhook done", "endpoint", ep.ID, "delivery", d.ID(), "err", err)
			}
			return
		}
		if s.Now().Sub(first) >= s.MaxAge {
			s.Log.Warn("webhook failed", "endpoint", ep.ID, "delivery", d.ID(), "attempts", n, "err", err)
			if err := s.Queue.Fail(ctx, ep.ID, d, n, err.Error(), s.Now()); err != nil {
				s.Log.Warn("webhook fail", "endpoint", ep.ID, "err", err)
			}
			return
		}
		s.Log.Info("webhook retry", "endpoint", ep.ID, "delivery", d.ID(), "attempt", n, "err", err)
		sleep(ctx, s.backoff(n))
		if gone, _ := s.endpointGone(ctx, ep.ID); gone {
			return
		}
	}
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, at most MaxBackoff.
func (s *Sender) backoff(n int) time.Duration {
	d := s.MinBackoff
	for i := 1; i < n && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}

// post makes one attempt: any 2xx answer is a success.
func (s *Sender) post(ctx context.Context, ep *Endpoint, d *Delivery, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhooks/1")
	req.Header.Set("Switchboard-Webhook-Id", d.ID())
	req.Header.Set("Switchboard-Event", d.Kind)
	req.Header.Set("Switchboard-Signature", Signature(ep.Secret, s.Now(), body))
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Payload is the JSON body of a delivery.
type Payload struct {
	ID         string            `json:"id"`   // the delivery id (session id "." seq)
	Type       string            `json:"type"` // one of Kinds
	CreatedAt  string            `json:"created_at"`
	Session    *SessionInfo      `json:"session"` // as it was when the payload was built; null once retention removed it
	Event      json.RawMessage   `json:"event"`   // the event as the session's stream holds it
	Transcript []json.RawMessage `json:"transcript,omitempty"`
}

// SessionInfo is the session in a payload.
type SessionInfo struct {
	ID           string      `json:"id"`
	Number       int64       `json:"number"`
	Title        string      `json:"title"`
	State        hub.State   `json:"state"`
	Status       hub.Status  `json:"status"`
	CustomerID   string      `json:"customer_id"`
	CustomerName string      `json:"customer_name"`
	VisitorID    int64       `json:"visitor_id"`
	UserID       string      `json:"user_id,omitempty"`
	AgentID      string      `json:"agent_id,omitempty"`
	AgentName    string      `json:"agent_name,omitempty"`
	CreatedAt    time.Time   `json:"created_at"`
	AssignedAt   *time.Time  `json:"assigned_at,omitempty"`
	EndedAt      *time.Time  `json:"ended_at,omitempty"`
	Rating       *hub.Rating `json:"rating,omitempty"`
	// Figures are what the reports count of it (docs/reports.md).
	Figures hub.SessionFigures `json:"figures"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// payload builds d's body from the session and its stream. A session.ended
// payload carries the transcript: every chat message before the end.
func (s *Sender) payload(ctx context.Context, d *Delivery) ([]byte, error) {
	p := Payload{ID: d.ID(), Type: d.Kind, CreatedAt: d.At, Event: json.RawMessage("null")}
	sess, err := s.History.Session(ctx, d.SessionID)
	if err != nil && !errors.Is(err, hub.ErrSessionNotFound) {
		return nil, err
	}
	if sess != nil {
		p.Session = &SessionInfo{
			ID: sess.ID, Number: sess.Number, Title: sess.Title, State: sess.State, Status: sess.Status(),
			CustomerID: sess.CustomerID, CustomerName: sess.CustomerName, VisitorID: sess.Visitor, UserID: sess.UserID,
			AgentID: sess.AgentID, AgentName: sess.AgentName, CreatedAt: sess.CreatedAt,
			AssignedAt: timePtr(sess.AssignedAt), EndedAt: timePtr(sess.EndedAt), Rating: sess.Rating,
			Figures: sess.Figures,
		}
		if sess.State != hub.StateAgent && sess.State != hub.StateEnded {
			p.Session.AgentID, p.Session.AgentName = "", ""
		}
	}
	if d.Kind == "session.ended" {
		hist, err := s.History.SessionHistories(ctx, []string{d.SessionID})
		if err != nil {
			return nil, err
		}
		for _, ev := range hist[0] {
			if ev.Seq == d.Seq {
				p.Event = ev.JSON
			} else if ev.Seq < d.Seq && ev.Number > 0 && ev.Type() == hub.EventMessage {
				p.Transcript = append(p.Transcript, ev.JSON)
			}
		}
		if p.Transcript == nil {
			p.Transcript = []json.RawMessage{}
		}
	} else {
		evs, _, err := s.History.HistoryPage(ctx, d.SessionID, d.Seq-1, d.Seq+1, 1, false, nil)
		if err != nil {
			return nil, err
		}
		if len(evs) == 1 {
			p.Event = evs[0].JSON
		}
	}
	return json.Marshal(p)
}
