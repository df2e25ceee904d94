package redisstore

import "time"

// SetCheckInterval sets how long b may hear nothing before it pings Redis;
// call it before Run.
func (b *Bus) SetCheckInterval(d time.Duration) { b.checkEvery = d }
