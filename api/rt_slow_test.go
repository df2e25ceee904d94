package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// TestSlowConsumerKicked: an agent tab that stops reading is kicked (the
// kicked counter grows, and its socket ends with 4001 or is gone) while
// the agent's other tab on the same instance keeps receiving every event
// within 2 s of its send.
func TestSlowConsumerKicked(t *testing.T) {
	// A small send queue, and small kernel send buffers so that the hub's
	// writes to a socket nobody reads block after ~16 KiB rather than MBs.
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{SendQueue: 16, WriteTimeout: time.Second,
		RateLimit: 5000, RateBurst: 5000}, sendBuffer: 16 << 10})
	a := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	cust := e.dial(a, custTok)
	good := e.dial(a, agentTok)
	record(t, cust)
	grec := record(t, good)
	slow := rawDial(t, a)
	slow.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: agentTok})
	if h := slow.read(); h.Type != protocol.FrameHello {
		t.Fatalf("slow tab: %s", h.Raw)
	}
	e.assign(a, sid, "ag1")
	grec.waitSeq(t, 10*time.Second, sid, 3)
	// The slow tab follows the session (it reads up to member.joined), then stops reading.
	slow.readUntil(func(f rawFrame) bool { return f.Type == hub.EventMemberJoined })

	kicked0 := metric(t, a, "switchboard_ws_kicked_total")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	sentAt := map[int64]time.Time{}
	text := strings.Repeat("x", 3900)
	send := func(i int) {
		t.Helper()
		start := time.Now()
		r, err := cust.Send(ctx, sid, fmt.Sprint(i, text))
		if err != nil {
			t.Fatal(err)
		}
		sentAt[r.Seq] = start
	}
	begin := time.Now()
	i := 0
	for ; ; i++ {
		send(i)
		if i%10 == 9 && metric(t, a, "switchboard_ws_kicked_total") > kicked0 {
			break
		}
		if time.Since(begin) > 30*time.Second {
			t.Fatalf("a tab that reads nothing was not kicked after %d messages of 4 KB", i+1)
		}
	}
	t.Logf("kicked after %d messages in %v", i+1, time.Since(begin))
	for j := range 20 { // the instance goes on after the kick
		send(i + 1 + j)
	}
	last, _ := e.sessionSeq(a, sid)
	grec.waitSeq(t, 10*time.Second, sid, last)
	frames, at := grec.snapshot()
	wantContiguous(t, "reading tab", frames, sid, 1, last)
	wantStats(t, "reading tab", good)
	for k, f := range frames {
		if start, ok := sentAt[f.Seq]; ok && at[k].Sub(start) > 2*time.Second {
			t.Fatalf("reading tab got seq %d %v after its send", f.Seq, at[k].Sub(start))
		}
	}
	if good.Err() != nil {
		t.Fatalf("reading tab closed: %v", good.Err())
	}

	// The slow tab, reading at last, gets what the kernel buffered, in
	// order, then the slow-consumer close or the end of the connection.
	code, got := slow.closeCode()
	if code != protocol.CloseSlowConsumer && code != -1 {
		t.Fatalf("slow tab ended with %d, want %d or a dropped connection", code, protocol.CloseSlowConsumer)
	}
	want := int64(4)
	for _, f := range got {
		if f.Seq > 0 {
			if f.Seq != want {
				t.Fatalf("slow tab got seq %d, want %d", f.Seq, want)
			}
			want++
		}
	}
	t.Logf("slow tab: %d frames (up to seq %d of %d), then close code %d at %v", len(got), want-1, last, code, time.Since(begin))
	if want-1 >= last {
		t.Fatalf("slow tab got every event: it was not cut off")
	}
	waitFor(t, 10*time.Second, "the kicked socket's handler to end", func() bool { return a.srv.Connections() == 2 })
}
