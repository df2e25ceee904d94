package redisstore

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script of the store. Each call declares, after the
// caller's keys, its slot's reshard fence: a key that is never created, in
// the slot of the first key (same hash tag). Redis checks a script's
// declared keys before it runs, and only while the slot is on its way to
// another master (a resharding) does it look at whether they exist: a
// declared key the node lacks is then a TRYAGAIN (or an ASK, and a
// TRYAGAIN on the importing node). The fence is always lacking, so no
// script of a moving slot runs, on either master, until the slot has
// moved. Without it a script could run there with some of the keys it
// derives from the prefix gone to the other master: refused mid-script
// after its first writes on the old master, or, on the new one, reading a
// counter or a queue not moved yet as empty. The fence costs nothing
// else: outside a move Redis never looks it up, and Standalone and
// Sentinel ignore declared keys. TRYAGAIN is hub.Unavailable, which
// clients retry (docs/operations.md, "Resharding under load").
type Script struct{ *redis.Script }

// newScript returns src as a Script.
func newScript(src string) Script { return Script{redis.NewScript(src)} }

// fenceSuffix ends every fence's name. Any key of the slot would do, and
// all of a store's keys share its prefix's hash tag, so a store's own
// fence is its prefix and this (Store.fence).
const fenceSuffix = ":reshard-fence"

// fenced returns keys with their slot's fence after them, unless the
// caller has put one there already (the send path, which spares the
// allocations).
func fenced(keys []string) []string {
	if len(keys) == 0 || strings.HasSuffix(keys[len(keys)-1], fenceSuffix) {
		return keys
	}
	out := make([]string, len(keys)+1)
	copy(out, keys)
	out[len(keys)] = keys[0] + fenceSuffix
	return out
}

// Run runs the script by its SHA, and by its text if the server lacks it.
func (s Script) Run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.Script.Run(ctx, c, fenced(keys), args...)
}

// Eval runs the script by its text.
func (s Script) Eval(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.Script.Eval(ctx, c, fenced(keys), args...)
}

// EvalSha runs the script by its SHA.
func (s Script) EvalSha(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.Script.EvalSha(ctx, c, fenced(keys), args...)
}
