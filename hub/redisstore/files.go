package redisstore

import (
	"context"
)

// GoneFiles takes up to limit ids of retired sessions that had files
// (retire pushes them on prefix:files:gone), for the caller to delete
// those files. Two instances may take the same id: deleting is idempotent.
func (s *Store) GoneFiles(ctx context.Context, limit int) ([]string, error) {
	key := s.key("files", "gone")
	ids, err := s.rdb.LRange(ctx, key, int64(-limit), -1).Result()
	if err != nil || len(ids) == 0 {
		return nil, storeError(err)
	}
	if err := s.rdb.LTrim(ctx, key, 0, int64(-len(ids)-1)).Err(); err != nil {
		return nil, storeError(err)
	}
	return ids, nil
}

// RequeueGoneFiles puts ids back at the end GoneFiles takes from.
func (s *Store) RequeueGoneFiles(ctx context.Context, ids []string) error {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	return storeError(s.rdb.RPush(ctx, s.key("files", "gone"), vals...).Err())
}
