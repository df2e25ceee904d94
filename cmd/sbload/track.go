package main

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Every message the tool sends carries, at the start of its text, where it
// belongs and when it left: "sbl <conversation> <direction> <seq> <unix ns> "
// padded to the message size. Direction 0 is customer to agent, 1 agent to
// customer; seq counts from 1 per conversation and direction.
const magic = "sbl "

func makeText(conv, dir int, seq int64, at time.Time, size int) string {
	var b strings.Builder
	b.Grow(max(size, 64))
	var num [20]byte
	b.WriteString(magic)
	for _, v := range [...]int64{int64(conv), int64(dir), seq, at.UnixNano()} {
		b.Write(strconv.AppendInt(num[:0], v, 10))
		b.WriteByte(' ')
	}
	for b.Len() < size {
		b.WriteString(padding[:min(size-b.Len(), len(padding))])
	}
	return b.String()
}

// padding fills a message's text up to its size.
var padding = strings.Repeat("x", 256)

var magicBytes = []byte(magic)

// parseText finds a message's header in a frame (a hub event's JSON or a
// relay's bare text) without decoding the rest.
func parseText(b []byte) (conv, dir int, seq, nanos int64, ok bool) {
	i := bytes.Index(b, magicBytes)
	if i < 0 {
		return
	}
	b = b[i+len(magic):]
	var v [4]int64
	for k := range v {
		j, n := 0, int64(0)
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			n = n*10 + int64(b[j]-'0')
			j++
		}
		if j == 0 || j >= len(b) || b[j] != ' ' {
			return
		}
		v[k] = n
		b = b[j+1:]
	}
	return int(v[0]), int(v[1]), v[2], v[3], true
}

// stream is what one receiver got of one conversation's direction: each
// seq must come once and in order.
type stream struct {
	next    int64              // the next seq expected
	missing map[int64]struct{} // seqs jumped over and not seen yet
	got     int64              // distinct seqs received
	// filled are seqs first seen in a reload (after a resync): their live
	// copy, if it comes later, is no duplicate.
	filled map[int64]struct{}
	// resynced: a resync came, so the next live message may jump ahead
	// (what it skipped comes in the reload): once, no disorder.
	resynced bool
	// rebase is next when the last resync came: the seqs below it were in
	// the view that resync told the client to drop and rebuild (what the
	// widget and the desktop do, keeping a message by its client_msg_id).
	// Each may come once more after it, live or in the reload: a message
	// delivered live and then lost with a primary that had not passed it
	// to its replica (it was never acknowledged) comes again when its
	// sender retries it, under a new seq. again holds those that have.
	rebase int64
	again  map[int64]struct{}
}

// rebuilt starts the view a resync asks for: what was seen before it may
// come once more.
func (s *stream) rebuilt() {
	s.resynced = true
	s.rebase, s.again = s.next, nil
}

// seenAgain reports whether seq, seen before the last resync, comes again
// for the first time since it (and records it).
func (s *stream) seenAgain(seq int64) bool {
	if _, ok := s.again[seq]; ok || seq >= s.rebase {
		return false
	}
	s.since(seq)
	return true
}

// since records that seq, below rebase, was seen since the last resync: a
// seq that was missing then and came after it may not come again.
func (s *stream) since(seq int64) {
	if seq >= s.rebase {
		return
	}
	if s.again == nil {
		s.again = map[int64]struct{}{}
	}
	s.again[seq] = struct{}{}
}

// fill records seq as seen in a reload of the history (after a resync),
// which is neither a duplicate nor out of order; it reports whether seq
// was new.
func (s *stream) fill(seq int64) bool {
	if s.next == 0 {
		s.next = 1
	}
	switch {
	case seq >= s.next:
		if s.missing == nil {
			s.missing = map[int64]struct{}{}
		}
		for k := s.next; k < seq; k++ {
			s.missing[k] = struct{}{}
		}
		s.next = seq + 1
	default:
		if _, ok := s.missing[seq]; !ok {
			if s.seenAgain(seq) { // in the rebuilt view: its live copy may follow
				s.markFilled(seq)
			}
			return false
		}
		delete(s.missing, seq)
		s.since(seq)
	}
	s.got++
	s.markFilled(seq)
	return true
}

// markFilled records that a reload showed seq, so that its live copy is no
// duplicate.
func (s *stream) markFilled(seq int64) {
	if s.filled == nil {
		s.filled = map[int64]struct{}{}
	}
	s.filled[seq] = struct{}{}
}

// has reports whether seq was seen.
func (s *stream) has(seq int64) bool {
	if seq >= max(s.next, 1) {
		return false
	}
	_, missing := s.missing[seq]
	return !missing
}

// see records seq; it reports a duplicate or an out-of-order arrival.
func (s *stream) see(seq int64) (dup, ooo bool) {
	if s.next == 0 {
		s.next = 1
	}
	switch {
	case seq == s.next:
		s.next++
		s.got++
	case seq > s.next:
		if s.missing == nil {
			s.missing = map[int64]struct{}{}
		}
		for k := s.next; k < seq; k++ {
			s.missing[k] = struct{}{}
		}
		s.next = seq + 1
		s.got++
		ooo = !s.resynced
		s.resynced = false
	default:
		if _, ok := s.missing[seq]; ok {
			delete(s.missing, seq)
			s.since(seq)
			s.got++
			ooo = true
		} else if _, ok := s.filled[seq]; ok {
			delete(s.filled, seq) // the live copy of what a reload showed first
		} else if s.seenAgain(seq) {
			// seen before the last resync, and once since: the rebuilt view's copy
		} else {
			dup = true
		}
	}
	return
}

// conversation is one customer and one agent socket sharing a session.
type conversation struct {
	idx  int
	sid  string
	side [2]*sock // 0 customer, 1 agent

	// sendMu serializes the sends of one direction, so that seqs leave in
	// order; sent and acked are guarded by it.
	sendMu [2]sync.Mutex
	sent   [2]int64 // the last seq handed to a send
	acked  [2]int64 // sends the hub (or relay) took
	// failed are the seqs whose send never got an ok (the others up to
	// sent were acknowledged).
	failed [2]map[int64]struct{}

	recvMu  sync.Mutex
	streams [2][2]stream // guarded by recvMu: [direction][receiving side]
}

// recorder counts what a run sends and receives. Latency is taken at the
// other party's socket (the sender's own copy is counted as a delivery but
// not timed).
type recorder struct {
	sent, sendErrs, delivered, dups, ooo, reconnects, reconnectErrs atomic.Int64
	// resyncs counts resync frames; reloaded the messages first seen in the
	// reloads that followed them.
	resyncs, reloaded atomic.Int64
	// onResync, if set, is called (from a socket's reader) with the
	// conversation and receiving side of each resync frame.
	onResync func(c *conversation, side int)

	mu     sync.Mutex
	window []int64 // guarded by mu: latencies (ns) since the window began
	second []int64 // guarded by mu: latencies since the last progress line
	recLat []int64 // guarded by mu: reconnect (dial+auth+resume) durations
	acks   []int64 // guarded by mu: send-to-acknowledgement times (ns), when trackAcks
	// trackAcks is set before the load starts (chaos): sends record how
	// long their acknowledgement took, which SWITCHBOARD_REDIS_MIN_REPLICAS
	// lengthens while the delivery does not wait for it.
	trackAcks bool
	started   time.Time

	// set holds the conversations under load, replaced whole between a
	// soak's waves while the sockets' readers look them up.
	set atomic.Pointer[convSet]
}

// convSet is the conversations under load: by their number in the
// messages' text, and by session.
type convSet struct {
	convs []*conversation
	bySID map[string]*conversation
}

// setConversations makes convs the conversations under load.
func (r *recorder) setConversations(convs []*conversation, bySID map[string]*conversation) {
	if bySID == nil {
		bySID = make(map[string]*conversation, len(convs))
		for _, c := range convs {
			bySID[c.sid] = c
		}
	}
	r.set.Store(&convSet{convs: convs, bySID: bySID})
}

// conversations returns the conversations under load.
func (r *recorder) conversations() []*conversation {
	if s := r.set.Load(); s != nil {
		return s.convs
	}
	return nil
}

func (r *recorder) receive(raw []byte, side int) {
	cv, dir, seq, nanos, ok := parseText(raw)
	convs := r.conversations()
	if !ok || cv < 0 || cv >= len(convs) || dir < 0 || dir > 1 {
		return
	}
	now := time.Now().UnixNano()
	c := convs[cv]
	c.recvMu.Lock()
	dup, ooo := c.streams[dir][side].see(seq)
	c.recvMu.Unlock()
	r.delivered.Add(1)
	if dup {
		r.dups.Add(1)
		return
	}
	if ooo {
		r.ooo.Add(1)
	}
	if side != dir { // the other party
		lat := now - nanos
		r.mu.Lock()
		r.window = append(r.window, lat)
		r.second = append(r.second, lat)
		r.mu.Unlock()
	}
}

func (r *recorder) reconnected(d time.Duration, err error) {
	if err != nil {
		r.reconnectErrs.Add(1)
		return
	}
	r.reconnects.Add(1)
	r.mu.Lock()
	r.recLat = append(r.recLat, int64(d))
	r.mu.Unlock()
}

// takeWindow returns the latencies since the last call and starts anew.
func (r *recorder) takeWindow() (lat, reconnects []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat, reconnects = r.window, r.recLat
	r.window, r.recLat = nil, nil
	return
}

// acked records one send's time to its acknowledgement, if tracked.
func (r *recorder) acked(d time.Duration) {
	if !r.trackAcks {
		return
	}
	r.mu.Lock()
	r.acks = append(r.acks, int64(d))
	r.mu.Unlock()
}

// takeAcks returns the acknowledgement times recorded so far.
func (r *recorder) takeAcks() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.acks
	r.acks = nil
	return a
}

func (r *recorder) takeSecond() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.second
	r.second = make([]int64, 0, len(s))
	return s
}

// reload records a message of a history reload (after a resync) at side.
func (r *recorder) reload(raw []byte, side int) {
	cv, dir, seq, _, ok := parseText(raw)
	convs := r.conversations()
	if !ok || cv < 0 || cv >= len(convs) || dir < 0 || dir > 1 {
		return
	}
	c := convs[cv]
	c.recvMu.Lock()
	fresh := c.streams[dir][side].fill(seq)
	c.recvMu.Unlock()
	if fresh {
		r.reloaded.Add(1)
	}
}

// resync handles a resync frame of session sid at side: the live
// messages that follow may skip what a reload then shows.
func (r *recorder) resync(sid string, side int) {
	r.resyncs.Add(1)
	set := r.set.Load()
	if set == nil || set.bySID[sid] == nil {
		return
	}
	c := set.bySID[sid]
	c.recvMu.Lock()
	for dir := range 2 {
		c.streams[dir][side].rebuilt()
	}
	c.recvMu.Unlock()
	if r.onResync != nil {
		r.onResync(c, side)
	}
}

// lost counts the messages a sender had taken that a receiver lacks.
func (r *recorder) lost() (lost, pending int64) {
	for _, c := range r.conversations() {
		for dir := range 2 {
			c.sendMu[dir].Lock()
			acked := c.acked[dir]
			c.sendMu[dir].Unlock()
			c.recvMu.Lock()
			for side := range 2 {
				if d := acked - c.streams[dir][side].got; d > 0 {
					lost += d
				}
				pending += int64(len(c.streams[dir][side].missing))
			}
			c.recvMu.Unlock()
		}
	}
	return lost, pending
}

// expected is how many deliveries the acknowledged sends should have made.
func (r *recorder) expected() int64 {
	var n int64
	for _, c := range r.conversations() {
		for dir := range 2 {
			c.sendMu[dir].Lock()
			n += 2 * c.acked[dir]
			c.sendMu[dir].Unlock()
		}
	}
	return n
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Avg   float64 `json:"avg_ms"`
}

func percentiles(ns []int64) Percentiles {
	p := Percentiles{Count: len(ns)}
	if len(ns) == 0 {
		return p
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / 1e6
	}
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	p.P50, p.P90, p.P99, p.P999 = at(0.50), at(0.90), at(0.99), at(0.999)
	p.Max = float64(s[len(s)-1]) / 1e6
	p.Avg = sum / float64(len(s)) / 1e6
	return p
}
