package redisstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// benchText is a chat message of 197 bytes.
const benchText = "Hi, my order #48213 still shows as pending after three days, and the tracking link you emailed me " +
	"says the parcel was never handed over. Could you check what happened and tell me when it will ship?"

// openSessions creates n queued sessions, each with its own customer, and
// returns them with their customers as principals.
func openSessions(b *testing.B, st *redisstore.Store, n int) ([]*hub.Session, []hub.Principal) {
	b.Helper()
	ctx := context.Background()
	sessions := make([]*hub.Session, n)
	customers := make([]hub.Principal, n)
	for i := range n {
		s, err := st.CreateSession(ctx, &hub.Session{ID: hub.NewSessionID(), Title: "Order", CustomerID: hub.NewCustomerID(),
			CustomerName: "Dana Whitfield", State: hub.StateQueuing, CreatedAt: time.Now().UTC(), StartedBy: "visitor"}, 0)
		if err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
		customers[i] = hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, Name: s.CustomerName, SessionID: s.ID}
	}
	return sessions, customers
}

// wantMessages fails unless the sessions hold ops messages in all: each
// session's seq is 1 (session.created) plus its messages.
func wantMessages(b *testing.B, st *redisstore.Store, sessions []*hub.Session, ops int64) {
	b.Helper()
	var total int64
	for _, s := range sessions {
		got, err := st.Session(context.Background(), s.ID)
		if err != nil {
			b.Fatal(err)
		}
		total += got.Seq - 1
	}
	if total != ops {
		b.Fatalf("%d messages stored, want %d", total, ops)
	}
}

// BenchmarkAppendMessage measures Store.AppendMessage, the store's part of
// every chat message: encoding the event body in Go, then one EVALSHA of
// message.lua that checks the session and the sender, dedups the
// client_msg_id, takes the next seq, XADDs the event to the session's
// stream, PUBLISHes it on the session's channel and queues the webhooks.
// It is the round trip a send command waits for before its reply.
// serial is one sender at a time (latency); parallel is many senders at
// once over 64 sessions (b.RunParallel with 8*GOMAXPROCS goroutines), how
// the hub's connection pool and Redis' single thread cope with concurrent
// traffic: its ns/op is wall time divided by messages, i.e. 1/throughput. Run it on a real redis-server
// (SWITCHBOARD_TEST_REDIS_URL) for figures that mean anything: miniredis
// interprets the script in Go.
func BenchmarkAppendMessage(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	var cmid atomic.Int64 // unique client_msg_ids across sub-benchmarks and runs

	b.Run("serial", func(b *testing.B) {
		sessions, customers := openSessions(b, st, 1)
		sid, by := sessions[0].ID, customers[0]
		last := int64(1)
		ops := int64(0)
		b.ReportAllocs()
		for b.Loop() {
			msg := hub.Message{ClientMsgID: "m" + strconv.FormatInt(cmid.Add(1), 10), Type: "chat.msg", Text: benchText}
			seq, dup, err := st.AppendMessage(ctx, sid, by, msg, time.Now().UTC(), 24*time.Hour)
			if err != nil || dup || seq != last+1 {
				b.Fatalf("AppendMessage = %d, %v, %v; want seq %d", seq, dup, err, last+1)
			}
			last = seq
			ops++
		}
		b.StopTimer()
		wantMessages(b, st, sessions, ops)
	})

	b.Run("parallel", func(b *testing.B) {
		sessions, customers := openSessions(b, st, 64)
		var next, ops atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer() // not the sessions' creation
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) % int64(len(sessions))
				msg := hub.Message{ClientMsgID: "m" + strconv.FormatInt(cmid.Add(1), 10), Type: "chat.msg", Text: benchText}
				seq, dup, err := st.AppendMessage(ctx, sessions[i].ID, customers[i], msg, time.Now().UTC(), 24*time.Hour)
				if err != nil || dup || seq < 2 {
					b.Errorf("AppendMessage = %d, %v, %v", seq, dup, err)
					return
				}
				ops.Add(1)
			}
		})
		b.StopTimer()
		if b.Failed() {
			return
		}
		if ops.Load() != int64(b.N) {
			b.Fatalf("%d messages appended, want b.N = %d", ops.Load(), b.N)
		}
		wantMessages(b, st, sessions, ops.Load())
		b.ReportMetric(float64(ops.Load())/b.Elapsed().Seconds(), "msgs/s")
	})
}
