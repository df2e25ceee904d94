package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

var (
	cannedPutScript    = script("canned_put")
	cannedDeleteScript = script("canned_delete")
)

var _ hub.CannedStore = (*Store)(nil)

// cannedScope names a reply's scope in its keys: "shared", or
// "agent:<owner>" for a personal one.
func cannedScope(c *hub.CannedReply) string {
	if c.Scope == hub.CannedPersonal {
		return "agent:" + c.OwnerID
	}
	return "shared"
}

// PutCanned implements hub.CannedStore (lua/canned_put.lua).
func (s *Store) PutCanned(ctx context.Context, c *hub.CannedReply, replace bool) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = cannedPutScript.Run(ctx, s.rdb, []string{s.key("canned", c.ID)}, s.opts.Prefix, c.ID, string(raw), c.Shortcut, cannedScope(c), replace).Err()
	switch {
	case err == nil:
	case strings.HasSuffix(err.Error(), "SB:shortcut_taken"):
		return hub.ErrShortcutTaken
	case strings.HasSuffix(err.Error(), "SB:not_found"):
		return hub.ErrCannedNotFound
	case strings.HasSuffix(err.Error(), "SB:exists"):
		return hub.Errorf(hub.ECONFLICT, "canned reply %s exists already", c.ID)
	}
	return scriptError(err)
}

// Canned implements hub.CannedStore.
func (s *Store) Canned(ctx context.Context, id string) (*hub.CannedReply, error) {
	raw, err := s.rdb.Get(ctx, s.key("canned", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, hub.ErrCannedNotFound
	} else if err != nil {
		return nil, storeError(err)
	}
	var c hub.CannedReply
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteCanned implements hub.CannedStore (lua/canned_delete.lua): it
// deletes the reply as stored now, so that a rename racing with it leaves
// no stale shortcut behind.
func (s *Store) DeleteCanned(ctx context.Context, c *hub.CannedReply) error {
	err := cannedDeleteScript.Run(ctx, s.rdb, []string{s.key("canned", c.ID)}, s.opts.Prefix, c.ID).Err()
	if err != nil && strings.HasSuffix(err.Error(), "SB:not_found") {
		return hub.ErrCannedNotFound
	}
	return scriptError(err)
}

// CannedFor implements hub.CannedStore.
func (s *Store) CannedFor(ctx context.Context, owner string) ([]*hub.CannedReply, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("canned", "shared")).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if owner != "" {
		mine, err := s.rdb.SMembers(ctx, s.key("canned", "agent:"+owner)).Result()
		if err != nil {
			return nil, storeError(err)
		}
		ids = append(ids, mine...)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.key("canned", id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]*hub.CannedReply, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var c hub.CannedReply
		if json.Unmarshal([]byte(str), &c) == nil {
			out = append(out, &c)
		}
	}
	// By shortcut; on a tie the agent's own first (personal < shared),
	// then by id, so that the order never depends on a set's.
	slices.SortFunc(out, func(a, b *hub.CannedReply) int {
		return cmp.Or(strings.Compare(a.Shortcut, b.Shortcut), strings.Compare(a.Scope, b.Scope), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
