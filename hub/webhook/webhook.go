// Package webhook delivers the events of sessions to the endpoints an admin
// configures: signed, retried with exponential backoff for a bounded time,
// queued durably in Redis and sent, per endpoint, by one instance at a time
// and in order.
//
// The transition scripts queue a delivery in the same step as the event
// itself (a stream per endpoint, read through a consumer group). A Sender
// on every instance competes for a lease per endpoint; the holder claims
// what a crashed holder left pending, then reads new entries one by one.
// Delivery is at least once: a receiver de-duplicates by the delivery id.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// Kinds are the event types an endpoint may receive.
var Kinds = []string{"session.created", "session.assigned", "message.created", "session.ended", "session.rated", "call.started", "call.ended"}

// Endpoint is a receiver of webhook deliveries.
type Endpoint struct {
	ID        string
	URL       string
	Secret    string   // signs every delivery; shown once, when created
	Events    []string // the kinds it receives; empty for every kind
	CreatedAt time.Time
}

// Wants reports whether the endpoint receives events of kind.
func (e *Endpoint) Wants(kind string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, kind)
}

// Validate checks the URL (absolute http or https) and the event kinds.
func (e *Endpoint) Validate() error {
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(e.URL) > 2000 {
		return hub.Errorf(hub.EINVALID, "url must be an absolute http or https URL")
	}
	for _, k := range e.Events {
		if !slices.Contains(Kinds, k) {
			return hub.Errorf(hub.EINVALID, "unknown event %q; events are %s", k, strings.Join(Kinds, ", "))
		}
	}
	return nil
}

// NewEndpointID returns a random endpoint id ("wh_" + 16 hex digits).
func NewEndpointID() string { return "wh_" + randomHex(8) }

// NewSecret returns a random signing secret ("whsec_" + 64 hex digits).
func NewSecret() string { return "whsec_" + randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// Delivery is one queued event for one endpoint.
type Delivery struct {
	Entry     string // the queue stream's entry id
	Kind      string
	SessionID string
	Seq       int64
	Epoch     string // the store's epoch when the event happened ("" before epochs)
	At        string // when the event happened (RFC 3339)
	Body      []byte // the payload, once built (a replay carries it)
}

// ID is the delivery's id, the same on every attempt and replay: receivers
// de-duplicate by it. It is "<session>.<seq>", and "<session>.<seq>.<epoch>"
// for events appended in an epoch: a Redis that rolled back reuses a seq
// for another event, which must not look like a repeat to a receiver.
func (d *Delivery) ID() string {
	id := d.SessionID + "." + strconv.FormatInt(d.Seq, 10)
	if d.Epoch != "" {
		id += "." + d.Epoch
	}
	return id
}

// Failure is a delivery that ran out of time, kept for inspection and replay.
type Failure struct {
	ID        string // the failure's id, for replay
	Delivery  Delivery
	Attempts  int
	LastError string
	FailedAt  time.Time
}

// Signature returns the value of the Switchboard-Signature header for body
// sent at t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Switchboard-Signature header against body, in constant
// time, and that its timestamp is within tolerance of now: what a receiver
// does (shown in Go for the tests and as a recipe).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("webhook: malformed signature header")
	}
	t := time.Unix(sec, 0)
	if now.Sub(t) > tolerance || t.Sub(now) > tolerance {
		return fmt.Errorf("webhook: timestamp outside the tolerance")
	}
	want := Signature(secret, t, body)
	if !hmac.Equal([]byte(want[strings.Index(want, "v1=")+3:]), []byte(sig)) {
		return fmt.Errorf("webhook: signature mismatch")
	}
	return nil
}

// Queue is the durable side of deliveries (Redis streams, see redisstore).
type Queue interface {
	// Endpoints returns every configured endpoint.
	Endpoints(ctx context.Context) ([]*Endpoint, error)
	// Lease takes or renews the right to send an endpoint's deliveries for
	// ttl; it reports whether owner holds it.
	Lease(ctx context.Context, endpointID, owner string, ttl time.Duration) (bool, error)
	// Release gives up owner's lease.
	Release(ctx context.Context, endpointID, owner string) error
	// Next returns the endpoint's oldest delivery not yet done: first one a
	// former holder left pending, else a new one, waiting up to block for
	// it; nil when there is none.
	Next(ctx context.Context, endpointID, owner string, block time.Duration) (*Delivery, error)
	// Attempt records one more attempt of d and keeps body as its payload
	// unless it has one; it returns the attempts so far, the time of the
	// first and the payload to send, or an ENOTFOUND error when the
	// endpoint was deleted.
	Attempt(ctx context.Context, endpointID string, d *Delivery, body []byte, now time.Time) (int, time.Time, []byte, error)
	// Done removes a delivered d from the queue.
	Done(ctx context.Context, endpointID string, d *Delivery) error
	// Fail moves d from the queue to the endpoint's failures.
	Fail(ctx context.Context, endpointID string, d *Delivery, attempts int, lastErr string, now time.Time) error
}
