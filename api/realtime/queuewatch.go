package realtime

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// queueWatch keeps this instance's waiting customers told of their place in
// the queue, and its supervisors of the queue's length and longest wait.
// It is the instance's subscriber of hub.QueueTopic: every queue.changed
// wakes the desk's router and one recomputation here, which reads the
// positions of all local waiting sessions in one atomic script, so that
// the positions one snapshot gives are 1..n without duplicates. Changes
// that arrive while a recomputation runs coalesce into the next one.
//
// Only waiting customers are watched: a customer is added when its socket
// authenticates and whenever its session goes (back) to the queue, and
// dropped by the first recomputation that finds it out of the queue. The
// script's cost follows the queue, not every customer connected: with
// all of them, each queue change or customer connect ran a script over
// thousands of sessions in chat, which held Redis for milliseconds.
//
// Deliver and Resync run on the bus reader and never block; push runs on
// the run goroutine.
type queueWatch struct {
	e    *Engine
	wake chan struct{} // capacity 1

	mu          sync.Mutex
	customers   map[*conn]watched  // guarded by mu: waiting customers' connections and their session
	gen         uint64             // guarded by mu: the last watched.gen given
	supervisors map[*conn]struct{} // guarded by mu

	// sent is owned by the run goroutine: what each customer was last told.
	sent map[*conn]queuePosition
}

// watched is one customer's entry: gen tells a recomputation whether the
// entry it read is still the one in the map, so that it never drops a
// customer whose session went back to the queue meanwhile.
type watched struct {
	sid string
	gen uint64
}

// queuePosition is the queue.position event a customer receives (ephemeral).
type queuePosition struct {
	Type        string    `json:"type"`
	SessionID   string    `json:"session_id"`
	Position    int       `json:"position"`
	QueueLength int       `json:"queue_length"`
	EstimatedS  *int64    `json:"estimated_wait_s"` // null until the hub has seen sessions leave the queue
	Version     int64     `json:"version"`
	At          time.Time `json:"at"`
}

// queueStats is the queue.stats event supervisors receive.
type queueStats struct {
	Type         string    `json:"type"`
	Length       int       `json:"length"`
	LongestWaitS int64     `json:"longest_wait_s"`
	Version      int64     `json:"version"`
	At           time.Time `json:"at"`
}

func newQueueWatch(e *Engine) *queueWatch {
	return &queueWatch{e: e, wake: make(chan struct{}, 1),
		customers: map[*conn]watched{}, supervisors: map[*conn]struct{}{}, sent: map[*conn]queuePosition{}}
}

func (q *queueWatch) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Deliver implements hub.Subscriber.
func (q *queueWatch) Deliver(*hub.Delivery) {
	q.e.desk.Kick()
	q.poke()
}

// Resync implements hub.Subscriber: changes may have been missed.
func (q *queueWatch) Resync(string) {
	q.e.desk.Kick()
	q.poke()
}

// addCustomer watches c, whose session may be waiting: at authentication,
// and when the session goes (back) to the queue.
func (q *queueWatch) addCustomer(c *conn, sessionID string) {
	q.mu.Lock()
	q.gen++
	q.customers[c] = watched{sid: sessionID, gen: q.gen}
	q.mu.Unlock()
	q.poke()
}

func (q *queueWatch) addSupervisor(c *conn) {
	q.mu.Lock()
	q.supervisors[c] = struct{}{}
	q.mu.Unlock()
	q.poke()
}

func (q *queueWatch) remove(c *conn) {
	q.mu.Lock()
	delete(q.customers, c)
	delete(q.supervisors, c)
	q.mu.Unlock()
}

// run pushes positions until ctx ends.
func (q *queueWatch) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
			if err := q.push(ctx); err != nil && ctx.Err() == nil {
				q.e.logger.Warn("queue positions not pushed", "err", err)
			}
		}
	}
}

func (q *queueWatch) push(ctx context.Context) error {
	q.mu.Lock()
	conns := make([]*conn, 0, len(q.customers))
	sids := make([]string, 0, len(q.customers))
	gens := make([]uint64, 0, len(q.customers))
	for c, w := range q.customers {
		if c.isClosed() {
			delete(q.customers, c) // added by a late event after it left
			continue
		}
		conns = append(conns, c)
		sids = append(sids, w.sid)
		gens = append(gens, w.gen)
	}
	sups := make([]*conn, 0, len(q.supervisors))
	for c := range q.supervisors {
		sups = append(sups, c)
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := q.e.desk.Queue(ctx, sids)
	if err != nil {
		return err
	}
	now := q.e.sessions.Now().UTC()
	q.e.metrics.QueueLength.Set(float64(info.Length))
	live := make(map[*conn]bool, len(conns))
	for _, c := range conns {
		live[c] = true
	}
	for c := range q.sent {
		if !live[c] {
			delete(q.sent, c)
		}
	}
	q.mu.Lock()
	for i, c := range conns {
		if info.Positions[i] == 0 && q.customers[c].gen == gens[i] {
			delete(q.customers, c) // out of the queue: watched again if it goes back
		}
	}
	q.e.metrics.QueueWatched.Set(float64(len(q.customers)))
	q.mu.Unlock()
	for i, c := range conns {
		pos := info.Positions[i]
		if pos == 0 {
			delete(q.sent, c)
			continue
		}
		ev := queuePosition{Type: hub.EventQueuePosition, SessionID: sids[i], Position: pos,
			QueueLength: info.Length, Version: info.Version, At: now}
		if info.Interval > 0 {
			s := int64(math.Ceil(info.EstimatedWait(pos).Seconds()))
			ev.EstimatedS = &s
		}
		if last, ok := q.sent[c]; ok && last.Position == pos && last.QueueLength == info.Length &&
			equalPtr(last.EstimatedS, ev.EstimatedS) {
			continue
		}
		q.sent[c] = ev
		b, _ := json.Marshal(ev)
		c.sendEphemeral(b)
	}
	if len(sups) > 0 {
		st := queueStats{Type: hub.EventQueueStats, Length: info.Length, Version: info.Version, At: now}
		if !info.OldestSince.IsZero() {
			st.LongestWaitS = int64(now.Sub(info.OldestSince) / time.Second)
		}
		b, _ := json.Marshal(st)
		for _, c := range sups {
			c.sendEphemeral(b)
		}
	}
	return nil
}

func equalPtr(a, b *int64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
