package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub/jsonhead"
)

// Topic names. A session's events go to "session:<id>"; notices for one
// agent (a session added, the account disabled) go to "agent:<id>".
func SessionTopic(id string) string { return "session:" + id }

// AgentTopic is the topic of notices for one agent.
func AgentTopic(id string) string { return "agent:" + id }

// SupervisorsTopic carries every agent's status changes, for supervisors.
const SupervisorsTopic = "supervisors"

// QueueTopic carries queue.changed: the queue or the routable agents
// changed, so instances route and recompute the positions they show.
const QueueTopic = "queue"

// Delivery is one event as it came off the bus, parsed once: every local
// recipient gets the same *Delivery and writes the same Data bytes.
type Delivery struct {
	Topic     string
	Seq       int64  // 0 for ephemeral and agent-topic events
	Epoch     string // the store's epoch when it was appended ("" before epochs)
	Type      string
	SessionID string
	State     State  // session.state: the new state
	AgentID   string // session.state: the agent offered or in the session
	Data      []byte // the event's JSON, exactly as published
}

// Ephemeral reports whether the event may be dropped under pressure
// (typing): it is not in the stream and nothing depends on it.
func (d *Delivery) Ephemeral() bool { return d.Type == EventTyping || d.Type == EventQueuePosition }

// ParseDelivery reads the routing fields of an event's JSON, stepping over
// the rest (the message and its text) without decoding it: every event
// passes here once per instance (hub/jsonhead).
func ParseDelivery(topic string, data []byte) (*Delivery, error) {
	h, err := jsonhead.ReadHead(data)
	if err != nil {
		return nil, err
	}
	return &Delivery{Topic: topic, Seq: h.Seq, Epoch: h.Epoch, Type: h.Type, SessionID: h.SessionID,
		State: State(h.State), AgentID: h.AgentID, Data: data}, nil
}

// Subscriber receives the events of the topics it was added to. Both
// methods are called from the bus reader goroutine and must not block.
type Subscriber interface {
	// Deliver hands over one event.
	Deliver(d *Delivery)
	// Resync says that the topic's subscription has (re)started: events
	// published before may have been missed, so the subscriber catches up
	// from the topic's history.
	Resync(topic string)
}

// Bus is the instance's one subscription to the cross-instance event bus.
// Its implementation calls Fanout.Publish for every event and
// Fanout.Subscribed for every confirmed (re)subscription.
type Bus interface {
	Subscribe(ctx context.Context, topics ...string) error
	Unsubscribe(ctx context.Context, topics ...string) error
}

// Fanout routes the events of the bus to the local subscribers of each
// topic. A topic is subscribed on the bus while it has at least one local
// subscriber. The bus commands are issued by one goroutine (Run) that
// reconciles the bus with the wanted topics, so that the reader calling
// Publish never waits on a network round trip, and a quick remove-then-add
// can never leave the bus unsubscribed from a wanted topic.
type Fanout struct {
	bus    Bus
	logger *slog.Logger

	mu      sync.RWMutex
	topics  map[string]*topicSubs // guarded by mu: wanted topics and their subscribers
	live    map[string]bool       // guarded by mu: topics whose subscription is confirmed
	pending map[string]struct{}   // guarded by mu: topics Run must reconcile
	wake    chan struct{}         // capacity 1: pending has work

	// Owned by the Run goroutine.
	subscribed map[string]bool
}

type topicSubs struct {
	subs map[Subscriber]struct{}
}

// NewFanout returns a Fanout on bus; Run must be running for topics to be
// subscribed.
func NewFanout(bus Bus, logger *slog.Logger) *Fanout {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Fanout{
		bus: bus, logger: logger,
		topics: map[string]*topicSubs{}, live: map[string]bool{},
		pending: map[string]struct{}{}, wake: make(chan struct{}, 1),
		subscribed: map[string]bool{},
	}
}

// Add subscribes s to topic. If the topic's bus subscription is already
// live, s is asked to Resync at once; otherwise when it becomes live.
func (f *Fanout) Add(topic string, s Subscriber) {
	f.mu.Lock()
	t := f.topics[topic]
	if t == nil {
		t = &topicSubs{subs: map[Subscriber]struct{}{}}
		f.topics[topic] = t
		f.markPending(topic)
	}
	t.subs[s] = struct{}{}
	live := f.live[topic]
	f.mu.Unlock()
	if live {
		s.Resync(topic)
	}
}

// Remove unsubscribes s from topic; the last one out ends the bus subscription.
func (f *Fanout) Remove(topic string, s Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.topics[topic]
	if t == nil {
		return
	}
	delete(t.subs, s)
	if len(t.subs) == 0 {
		delete(f.topics, topic)
		delete(f.live, topic)
		f.markPending(topic)
	}
}

// markPending queues topic for Run; mu must be held.
func (f *Fanout) markPending(topic string) {
	f.pending[topic] = struct{}{}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Publish hands an event that arrived on topic to its local subscribers.
// Called by the bus reader; never blocks.
func (f *Fanout) Publish(topic string, data []byte) {
	d, err := ParseDelivery(topic, data)
	if err != nil {
		f.logger.Warn("fanout: unreadable event", "topic", topic, "err", err)
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if t := f.topics[topic]; t != nil {
		for s := range t.subs {
			s.Deliver(d)
		}
	}
}

// Subscribed records that the bus confirmed a (re)subscription to topic
// and asks its subscribers to catch up. Called by the bus reader.
func (f *Fanout) Subscribed(topic string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.topics[topic]
	if t == nil {
		return // unsubscribed meanwhile
	}
	f.live[topic] = true
	for s := range t.subs {
		s.Resync(topic)
	}
}

// Run issues the bus commands until ctx ends, retrying failures.
func (f *Fanout) Run(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-retry.C:
		}
		f.mu.Lock()
		var sub, unsub, still []string
		for topic := range f.pending {
			_, want := f.topics[topic]
			switch {
			case want && !f.subscribed[topic]:
				sub = append(sub, topic)
			case !want && f.subscribed[topic]:
				unsub = append(unsub, topic)
			case want:
				// Removed and added again before we got here: the bus
				// subscription never ended, so no confirmation will come.
				still = append(still, topic)
			}
		}
		clear(f.pending)
		f.mu.Unlock()
		for _, t := range still {
			f.Subscribed(t)
		}
		failed := false
		if len(sub) > 0 {
			if err := f.bus.Subscribe(ctx, sub...); err != nil {
				failed = true
				f.requeue(sub)
				f.logger.Warn("fanout: subscribe failed; retrying", "topics", len(sub), "err", err)
			} else {
				for _, t := range sub {
					f.subscribed[t] = true
				}
			}
		}
		if len(unsub) > 0 {
			if err := f.bus.Unsubscribe(ctx, unsub...); err != nil {
				failed = true
				f.requeue(unsub)
				f.logger.Warn("fanout: unsubscribe failed; retrying", "topics", len(unsub), "err", err)
			} else {
				for _, t := range unsub {
					delete(f.subscribed, t)
				}
			}
		}
		if failed {
			retry.Reset(200 * time.Millisecond)
		}
	}
}

func (f *Fanout) requeue(topics []string) {
	f.mu.Lock()
	for _, t := range topics {
		f.pending[t] = struct{}{}
	}
	f.mu.Unlock()
}
