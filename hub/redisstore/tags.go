package redisstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

var tagsScript = script("tags")

var _ hub.TagStore = (*Store)(nil)

// SetTags implements hub.TagStore: lua/tags.lua.
func (s *Store) SetTags(ctx context.Context, sessionID string, by hub.Principal, tags []string, now time.Time) (int64, error) {
	if tags == nil {
		tags = []string{}
	}
	raw, _ := json.Marshal(tags)
	seq, err := tagsScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID)},
		s.deskArgs(now, nil, sessionID, by.Kind, by.ID, by.Name, privileged(by), string(raw))...).Int64()
	return seq, scriptError(err)
}

// decodeTags reads a session's tags field (a JSON array); none when absent
// or unreadable.
func decodeTags(v string) []string {
	var tags []string
	if v != "" && json.Unmarshal([]byte(v), &tags) != nil {
		return nil
	}
	return tags
}
