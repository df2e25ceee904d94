package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestMinReplicasAcknowledgesOnlyReplicated: with MinReplicas 1 a message
// is acknowledged once the replica holds it; with the replica stopped the
// send answers unavailable (the message is on the primary only), and the
// retry with the same client_msg_id, once the replica is back, is
// acknowledged with the first seq, because the replica then holds it.
// Real redis-server processes: miniredis has no replication.
func TestMinReplicasAcknowledgesOnlyReplicated(t *testing.T) {
	primary := redistest.RequireServer(t, redistest.ServerConfig{})
	replica := redistest.RequireServer(t, redistest.ServerConfig{ReplicaOf: primary.Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := replica.WaitReplicaOf(ctx, primary); err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.New(primary.Client(), redisstore.Options{Prefix: "{sbrep}", MinReplicas: 1, ReplicaTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc := hub.NewService(st, hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
	s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}
	seq, _, err := svc.SendMessage(ctx, cust, s.ID, "m1", "replicated")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := replica.Client().XLen(ctx, "{sbrep}:session:"+s.ID+":events").Result(); n != seq {
		t.Fatalf("acknowledged seq %d, the replica holds %d events", seq, n)
	}

	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.SendMessage(ctx, cust, s.ID, "m2", "held back")
	if hub.ErrorCode(err) != hub.EUNAVAILABLE {
		t.Fatalf("send with the replica stopped: %v, want unavailable", err)
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	retry, dup, err := svc.SendMessage(ctx, cust, s.ID, "m2", "held back")
	if err != nil || !dup || retry != seq+1 {
		t.Fatalf("retry: seq %d duplicate %v err %v, want seq %d as a duplicate", retry, dup, err, seq+1)
	}
	if n, _ := replica.Client().XLen(ctx, "{sbrep}:session:"+s.ID+":events").Result(); n != retry {
		t.Fatalf("acknowledged seq %d, the replica holds %d events", retry, n)
	}
}
