package redisstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestSendDuringReshardOnCluster: a resharding moves a slot's keys one by
// one, and a script whose declared keys are all still on the old master
// runs there, while a key it derives from the prefix (the store's marker,
// the message-number counter, the idle and webhook keys) may already be
// on the new one: Redis refuses that access mid-script, after what the
// script wrote before it. A send caught so must change nothing and answer
// unavailable; its retry (same client_msg_id), once the slot has moved, is
// stored once, at the next seq, with no gap. Before, message.lua had
// recorded the client_msg_id before it failed, and the retry was
// acknowledged with a seq no event had: an acknowledged message lost.
func TestSendDuringReshardOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	for _, moved := range []string{"store", "messages:number", "idle", "hooks"} {
		t.Run(moved, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var addrs []string
			for _, n := range cl.Nodes {
				addrs = append(addrs, n.Addr())
			}
			rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
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
			masters, err := cl.Masters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			to := masters[0]
			if to == from {
				to = masters[1]
			}
			mv, err := cl.StartMove(ctx, slot, to)
			if err != nil {
				t.Fatal(err)
			}
			if err := mv.Migrate(ctx, prefix+":"+moved); err != nil {
				t.Fatal(err)
			}
			_, _, err = svc.SendMessage(ctx, cust, s.ID, "cm_2", "second")
			if code := hub.ErrorCode(err); code != hub.EUNAVAILABLE {
				t.Fatalf("a send with %s moved: %v (code %q); want unavailable", moved, err, code)
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
		})
	}
}
