package redisstore

import (
	"context"
	"errors"
	"time"
)

var idleScript = script("idle")

// SweepIdle implements hub.IdleSweeper: it warns and closes the sessions
// whose customer stopped answering (lua/idle.lua), up to limit of them,
// and says how many it warned and closed. Off (0, 0, nil, no Redis call)
// unless Options.IdleWarn is set.
func (s *Store) SweepIdle(ctx context.Context, now time.Time, retention time.Duration, limit int) (warned, closed int, err error) {
	if s.opts.IdleWarn <= 0 {
		return 0, 0, nil
	}
	res, err := idleScript.Run(ctx, s.rdb, []string{s.key("idle")}, s.deskArgs(now, nil,
		s.opts.IdleWarn.Milliseconds(), s.opts.IdleClose.Milliseconds(), retention.Milliseconds(), limit)...).Int64Slice()
	if err != nil {
		return 0, 0, scriptError(err)
	}
	if len(res) != 2 {
		return 0, 0, errors.New("redis: idle reply has the wrong shape")
	}
	return int(res[0]), int(res[1]), nil
}
