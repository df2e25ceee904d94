package redisstore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestSendDuringReshardOnCluster: a resharding moves a slot's keys one by
// one. A script whose declared keys are all still on the old master ran
// there while a key it derives from the prefix (the store's marker, the
// message-number counter, the idle and webhook keys) was already on the
// new one: Redis refused that access mid-script, after what the script had
// written (message.lua had recorded the client_msg_id: its retry was
// acknowledged with a seq no event had, an acknowledged message lost). One
// whose declared keys had all moved ran on the new master, where the
// derived keys were not yet (a message number counted from 1 again). With
// the reshard fence (Script) no script of the moving slot runs: a send and
// a close are answered unavailable and change nothing; once the slot has
// moved, the send's retry (same client_msg_id) is stored once, at the next
// seq and the next message number, and the close's event follows it.
func TestSendDuringReshardOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	// Each case moves these keys first: one the script derives from the
	// prefix (the old master refuses it mid-script), or the session's own
	// (Redis sends the script to the new master with ASK, where the
	// derived keys are not yet).
	for _, moved := range []string{"store", "messages:number", "idle", "hooks", "session"} {
		t.Run(moved, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rdb := cl.NewClient()
			defer rdb.Close()
			prefix := "{reshard" + hub.NewSecret(6) + "}"
			st, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix, IdleWarn: time.Minute, IdleClose: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.NewGuard(nil).Check(ctx); err != nil {
				t.Fatal(err)
			}
			if moved == "hooks" { // an endpoint, as webhooks.go records one
				if err := rdb.SAdd(ctx, prefix+":hooks", "wh_test").Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HSet(ctx, prefix+":store", "hooks", 1).Err(); err != nil {
					t.Fatal(err)
				}
			}
			svc := hub.NewService(st, hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
			s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
			if err != nil {
				t.Fatal(err)
			}
			cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}
			if _, _, err := svc.SendMessage(ctx, cust, s.ID, "cm_1", "first"); err != nil {
				t.Fatal(err)
			}
			if moved == "idle" { // as after an agent's message: the customer's next one stops the idle clock
				if err := rdb.ZAdd(ctx, prefix+":idle", redis.Z{Score: 1, Member: s.ID}).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HSet(ctx, prefix+":session:"+s.ID, "idle_at", 1).Err(); err != nil {
					t.Fatal(err)
				}
			}

			slot := redistest.Slot(prefix)
			from, err := cl.MasterOf(ctx, slot)
			if err != nil {
				t.Fatal(err)
			}
			to, err := cl.OtherMaster(ctx, from)
			if err != nil {
				t.Fatal(err)
			}
			mv, err := cl.StartMove(ctx, slot, to)
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{prefix + ":" + moved}
			if moved == "session" {
				keys = []string{prefix + ":session:" + s.ID, prefix + ":session:" + s.ID + ":events", prefix + ":session:" + s.ID + ":cmids"}
			}
			number, err := rdb.Get(ctx, prefix+":messages:number").Int64()
			if err != nil {
				t.Fatal(err)
			}
			if err := mv.Migrate(ctx, keys...); err != nil {
				t.Fatal(err)
			}
			_, _, err = svc.SendMessage(ctx, cust, s.ID, "cm_2", "second")
			if code := hub.ErrorCode(err); code != hub.EUNAVAILABLE {
				t.Fatalf("a send with %s moved: %v (code %q); want unavailable", moved, err, code)
			}
			if _, err := svc.CloseSession(ctx, s.ID); hub.ErrorCode(err) != hub.EUNAVAILABLE {
				t.Fatalf("a close with %s moved: %v; want unavailable", moved, err)
			}
			if n, err := mv.MigrateAll(ctx, 100, 0); err != nil || n == 0 {
				t.Fatalf("moving the rest: %d keys, %v", n, err)
			}
			if err := mv.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			seq, dup, err := svc.SendMessage(ctx, cust, s.ID, "cm_2", "second")
			if err != nil || dup {
				t.Fatalf("the retry: seq %d, duplicate %v, %v", seq, dup, err)
			}
			evs, err := svc.Events(ctx, cust, s.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			var last int64
			for i, raw := range evs {
				var e struct {
					Seq     int64 `json:"seq"`
					Message *struct {
						Text string `json:"text"`
					} `json:"message"`
				}
				if err := json.Unmarshal(raw, &e); err != nil {
					t.Fatal(err)
				}
				if e.Seq != int64(i)+1 {
					t.Fatalf("event %d has seq %d: a gap", i, e.Seq)
				}
				if e.Message != nil {
					texts = append(texts, e.Message.Text)
				}
				last = e.Seq
			}
			if len(texts) != 2 || texts[0] != "first" || texts[1] != "second" || last != seq {
				t.Fatalf("history %q, last seq %d; want first and second, the retry's seq %d last", texts, last, seq)
			}
			if n, err := rdb.Get(ctx, prefix+":messages:number").Int64(); err != nil || n != number+1 {
				t.Fatalf("message number %d (%v) after the move; want %d, the one before and the retry's", n, err, number+1)
			}
			if _, err := svc.CloseSession(ctx, s.ID); err != nil {
				t.Fatalf("the close after the move: %v", err)
			}
			if evs, err := svc.Events(ctx, cust, s.ID, seq, 10); err != nil || len(evs) != 1 || !strings.Contains(string(evs[0]), `"seq":`+strconv.FormatInt(seq+1, 10)) {
				t.Fatalf("after the close: %q, %v; want its event, at seq %d", evs, err, seq+1)
			}
		})
	}
}
