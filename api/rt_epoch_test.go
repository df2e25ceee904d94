package api_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// epochEnv is one instance whose store has an epoch (as cmd/switchboard's
// guard gives it), an agent in a session with a connected customer, and
// n messages already exchanged.
type epochEnv struct {
	*rtEnv
	in        *rtInstance
	sid       string
	custTok   string
	agent     *client.Client
	epoch     string
	cust      *client.Client
	custFrame *recorder
}

func newEpochEnv(t *testing.T, n int) *epochEnv {
	e := &epochEnv{rtEnv: newRTEnv(t, 1, rtOptions{ws: fastWS})}
	e.in = e.hubs[0]
	g := e.in.store.NewGuard(nil)
	if err := g.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.epoch = g.Epoch()
	if e.epoch == "" {
		t.Fatal("no epoch after the check")
	}
	agentTok := e.quickAgent("ep1")
	e.sid, e.custTok = e.customer(e.in, "Ann")
	e.agent = e.dial(e.in, agentTok)
	go func() {
		for range e.agent.Events() {
		}
	}()
	e.assign(e.in, e.sid, "ep1")
	e.cust = e.dial(e.in, e.custTok)
	e.custFrame = record(t, e.cust)
	e.say(t, n)
	last, _ := e.sessionSeq(e.in, e.sid)
	e.custFrame.waitSeq(t, 10*time.Second, e.sid, last)
	return e
}

// say sends n messages from the agent and returns the last seq.
func (e *epochEnv) say(t *testing.T, n int) (last int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		r, err := e.agent.Send(ctx, e.sid, fmt.Sprintf("agent says %d", i))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Seq
	}
	return last
}

// rollBack makes the store look as a Redis restarted from an older copy
// does: the session's events after seq k are gone, its seq is k, and the
// store has a new epoch (what the guard's check does after a restart).
func (e *epochEnv) rollBack(t *testing.T, k int64) string {
	t.Helper()
	ctx := context.Background()
	last, _ := e.sessionSeq(e.in, e.sid)
	// The stream as it was at seq k, rebuilt (a real stream remembers the
	// last id it gave out even after XDEL; a restored one does not).
	stream := e.r.Prefix + ":session:" + e.sid + ":events"
	kept, err := e.r.Client.XRange(ctx, stream, "-", strconv.FormatInt(k, 10)+"-0").Result()
	if err != nil || int64(len(kept)) != k || last <= k {
		t.Fatalf("stream up to %d: %d entries, %v", k, len(kept), err)
	}
	e.r.Client.Del(ctx, stream)
	for _, m := range kept {
		if err := e.r.Client.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: m.ID, Values: m.Values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	epoch := "rolledback" + strconv.FormatInt(k, 10)
	if err := e.r.Client.HSet(ctx, e.r.Prefix+":session:"+e.sid, "seq", k).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Client.HSet(ctx, e.r.Prefix+":store", "epoch", epoch).Err(); err != nil {
		t.Fatal(err)
	}
	return epoch
}

// TestEventsCarryEpoch: every durable event names the store's epoch, and
// a resume that names the epoch of its last event replays after it.
func TestEventsCarryEpoch(t *testing.T) {
	e := newEpochEnv(t, 5)
	for _, f := range e.custFrame.durable() {
		if f.Epoch != e.epoch {
			t.Fatalf("event %s has epoch %q, want %q", f.Raw, f.Epoch, e.epoch)
		}
	}
	last, _ := e.sessionSeq(e.in, e.sid)
	raw := rawDial(t, e.in)
	raw.send(protocol.Command{Type: protocol.CmdAuth, Token: e.custTok,
		Resume: map[string]int64{e.sid: last - 2}, Epochs: map[string]string{e.sid: e.epoch}})
	raw.readUntil(func(f rawFrame) bool { return f.Type == protocol.FrameHello })
	for want := last - 1; want <= last; want++ {
		if f := raw.read(); f.Seq != want || f.Epoch != e.epoch {
			t.Fatalf("replay: %s, want seq %d in epoch %s", f.Raw, want, e.epoch)
		}
	}
}

// TestResumeInAnotherEpochResyncs: a client whose last event the stream
// holds under another epoch saw a different event at that seq (a Redis
// that rolled back reused it): it gets resync, not a replay after it; so
// does one whose last seq is beyond the session's. An older client that
// names no epoch is still caught when its seq is beyond the session's.
func TestResumeInAnotherEpochResyncs(t *testing.T) {
	e := newEpochEnv(t, 5)
	last, _ := e.sessionSeq(e.in, e.sid)
	resume := func(seq int64, epoch string) rawFrame {
		raw := rawDial(t, e.in)
		cmd := protocol.Command{Type: protocol.CmdAuth, Token: e.custTok, Resume: map[string]int64{e.sid: seq}}
		if epoch != "" {
			cmd.Epochs = map[string]string{e.sid: epoch}
		}
		raw.send(cmd)
		raw.readUntil(func(f rawFrame) bool { return f.Type == protocol.FrameHello })
		return raw.read()
	}
	if f := resume(last-1, "someotherepoch"); f.Type != protocol.FrameResync || f.Reason != "epoch_changed" ||
		f.LastSeq != last || f.Epoch != e.epoch {
		t.Fatalf("resume in another epoch: %s, want resync epoch_changed to %d in %s", f.Raw, last, e.epoch)
	}
	for _, epoch := range []string{e.epoch, ""} {
		if f := resume(last+10, epoch); f.Type != protocol.FrameResync || f.Reason != "history_rolled_back" || f.LastSeq != last {
			t.Fatalf("resume beyond the session (epoch %q): %s, want resync history_rolled_back to %d", epoch, f.Raw, last)
		}
	}
	if n := metric(t, e.in, "switchboard_ws_resyncs_total"); n != 3 {
		t.Fatalf("switchboard_ws_resyncs_total %v, want 3", n)
	}
}

// TestRollbackWhileConnected is the bug of issue 13: a client that saw seq
// 10 stays connected while the store rolls back to seq 6 and new messages
// take seqs 7 and 8 in the new epoch. Without epochs it dropped them as
// already seen; now it gets resync at once, and the store's history has
// every message it holds.
func TestRollbackWhileConnected(t *testing.T) {
	e := newEpochEnv(t, 8)
	last, _ := e.sessionSeq(e.in, e.sid)
	k := last - 4
	newEpoch := e.rollBack(t, k)
	got := e.say(t, 2)
	if got != k+2 {
		t.Fatalf("after the rollback the messages took seq %d, want %d", got, k+2)
	}
	e.custFrame.waitUntil(t, 10*time.Second, "resync", func(fs []client.Frame) bool {
		for _, f := range fs {
			if f.Type == protocol.FrameResync {
				return true
			}
		}
		return false
	})
	fs, _ := e.custFrame.snapshot()
	var resync client.Frame
	for _, f := range fs {
		if f.Type == protocol.FrameResync {
			resync = f
		} else if f.Seq > 0 && resync.Type == "" && f.Epoch == newEpoch {
			t.Fatalf("event %s of the new epoch written before the resync", f.Raw)
		}
	}
	if resync.Reason != "history_rolled_back" || resync.LastSeq < k+1 || resync.Epoch != newEpoch {
		t.Fatalf("resync %s, want history_rolled_back to at least %d in %s", resync.Raw, k+1, newEpoch)
	}
	// Reloading (the events the store holds) shows both new messages.
	var page struct {
		Events []struct{ Type, Epoch string }
	}
	httpJSON(t, "GET", e.in.http.URL+"/api/v1/sessions/"+e.sid+"/events?after=0&limit=100", e.custTok, "", &page)
	news := 0
	for _, ev := range page.Events {
		if ev.Type == hub.EventMessage && ev.Epoch == newEpoch {
			news++
		}
	}
	if news != 2 || int64(len(page.Events)) != k+2 {
		t.Fatalf("reloaded %d events with %d new messages, want %d with 2", len(page.Events), news, k+2)
	}
	// And the socket goes on live from there, in the new epoch.
	next := e.say(t, 1)
	e.custFrame.waitSeq(t, 10*time.Second, e.sid, next)
	if st := e.cust.Stats(); st.Resyncs != 1 || st.Gaps != 0 {
		t.Fatalf("client stats %+v, want one resync and no gap", st)
	}
}

// TestRollbackWhileAway: the client is away while the store rolls back and
// new messages go past its last seq; resuming with its epoch finds another
// event at that seq and gets resync (epoch_changed), never the events after
// it as if nothing happened.
func TestRollbackWhileAway(t *testing.T) {
	e := newEpochEnv(t, 8)
	last, _ := e.sessionSeq(e.in, e.sid)
	custLast := e.cust.Last(e.sid)
	if custLast != last {
		t.Fatalf("customer at %d, session at %d", custLast, last)
	}
	e.cust.CloseNow()
	waitDone(t, e.cust, 10*time.Second)
	k := last - 4
	newEpoch := e.rollBack(t, k)
	now := e.say(t, 6) // seqs k+1..k+6: past the customer's last
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cust.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	e.custFrame.waitUntil(t, 10*time.Second, "resync", func(fs []client.Frame) bool {
		return fs[len(fs)-1].Type == protocol.FrameResync
	})
	fs, _ := e.custFrame.snapshot()
	f := fs[len(fs)-1]
	if f.Reason != "epoch_changed" || f.LastSeq != now || f.Epoch != newEpoch {
		t.Fatalf("after resuming: %s, want resync epoch_changed to %d in %s", f.Raw, now, newEpoch)
	}
}

// TestEpochChangeWithoutLoss: the epoch changes (Redis restarted) but no
// event was lost: the client's last event is still in the stream under
// its epoch, so it goes on without a resync, across the change.
func TestEpochChangeWithoutLoss(t *testing.T) {
	e := newEpochEnv(t, 3)
	if err := e.r.Client.HSet(context.Background(), e.r.Prefix+":store", "epoch", "restartedcleanly").Err(); err != nil {
		t.Fatal(err)
	}
	last := e.say(t, 2)
	e.custFrame.waitSeq(t, 10*time.Second, e.sid, last)
	if st := e.cust.Stats(); st.Resyncs != 0 || st.Gaps != 0 || st.Duplicates != 0 {
		t.Fatalf("client stats %+v, want no resync, gap or duplicate", st)
	}
	fs := e.custFrame.durable()
	if f := fs[len(fs)-1]; f.Epoch != "restartedcleanly" {
		t.Fatalf("last event %s, want the new epoch", f.Raw)
	}
	// A reconnect names the new epoch and replays nothing twice.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cust.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	last = e.say(t, 1)
	e.custFrame.waitSeq(t, 10*time.Second, e.sid, last)
	if st := e.cust.Stats(); st.Resyncs != 0 || st.Duplicates != 0 {
		t.Fatalf("after reconnecting: %+v", st)
	}
}
