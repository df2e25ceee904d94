package redisstore

import (
	"errors"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// replyError is a Redis error reply, as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (e replyError) RedisError()   {}

// TestStoreErrorUnavailable: the replies that mean "not now" (a restart, a
// failover, a Cluster slot on the move: TRYAGAIN, and MOVED or ASK once
// go-redis ran out of redirections) are hub.Unavailable, which clients
// retry; others stay internal errors.
func TestStoreErrorUnavailable(t *testing.T) {
	for _, c := range []struct {
		reply       string
		unavailable bool
	}{
		{"LOADING Redis is loading the dataset in memory", true},
		{"READONLY You can't write against a read only replica.", true},
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"MOVED 2912 127.0.0.1:20398", true},
		{"ASK 2912 127.0.0.1:20398", true},
		{"NOREPLICAS Not enough good replicas to write.", true},
		{"ERR Script attempted to access a non local key in a cluster node script: 18c86ace, on @user_script:26.", true},
		{"ERR unknown command 'FOO'", false},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
	} {
		err := storeError(replyError(c.reply))
		var he *hub.Error
		if got := errors.As(err, &he) && he.Code == hub.EUNAVAILABLE; got != c.unavailable {
			t.Errorf("%q: unavailable %v, want %v (%v)", c.reply, got, c.unavailable, err)
		}
	}
}
