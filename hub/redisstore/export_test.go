package redisstore

import "time"

// SetCheckInterval sets how long b may hear nothing before it pings Redis;
// call it before Run.
func (b *Bus) SetCheckInterval(d time.Duration) { b.checkEvery = d }

// SetFreshDrop sets how recent a drop of b's connection makes Reconnect a
// no-op; call it before Run.
func (b *Bus) SetFreshDrop(d time.Duration) { b.freshDrop = d }
