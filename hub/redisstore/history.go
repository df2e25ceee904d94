package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

var (
	chatsScript = script("chats")
	rateScript  = script("rate")
)

var _ hub.HistoryStore = (*Store)(nil)

// ChatSessions implements hub.HistoryStore.
func (s *Store) ChatSessions(ctx context.Context, f hub.ChatFilter, now time.Time) ([]*hub.Session, int, error) {
	visitor := ""
	if f.Visitor > 0 {
		visitor = strconv.FormatInt(f.Visitor, 10)
	}
	from, to := "", ""
	if !f.From.IsZero() {
		from = strconv.FormatInt(ms(f.From), 10)
	}
	if !f.To.IsZero() {
		to = strconv.FormatInt(ms(f.To), 10)
	}
	newest := "0"
	if f.Newest {
		newest = "1"
	}
	// The key names the slot, so that a Cluster client sends the script to
	// the node that holds this contact center's keys.
	res, err := chatsScript.Run(ctx, s.rdb, []string{s.key("chats")}, s.opts.Prefix, ms(now), s.opts.PruneBatch,
		visitor, f.UserID, from, to, f.Offset, f.Limit, newest).Slice()
	if err != nil {
		return nil, 0, scriptError(err)
	}
	return decodeSessionPage(res, "chats")
}

// SessionByNumber implements hub.HistoryStore.
func (s *Store) SessionByNumber(ctx context.Context, number int64) (*hub.Session, error) {
	n := strconv.FormatInt(number, 10)
	ids, err := s.rdb.ZRangeByScore(ctx, s.indexKey(""), &redis.ZRangeBy{Min: n, Max: n, Count: 1}).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if len(ids) == 0 {
		return nil, hub.ErrSessionNotFound
	}
	sess, err := s.Session(ctx, ids[0])
	if err != nil {
		return nil, err
	}
	if sess.HandledBy != "" {
		num, err := s.rdb.HGet(ctx, s.agentKey(sess.HandledBy), "agent_number").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, storeError(err)
		}
		sess.HandledByNumber = num
	}
	return sess, nil
}

// historyEvents turns stream entries into history events.
func historyEvents(msgs []redis.XMessage) []hub.HistoryEvent {
	out := make([]hub.HistoryEvent, 0, len(msgs))
	for _, m := range msgs {
		seq, err := strconv.ParseInt(streamSeq(m.ID), 10, 64)
		if err != nil {
			continue
		}
		e, _ := m.Values["e"].(string)
		ev := hub.HistoryEvent{Seq: seq, JSON: []byte(e)}
		if n, ok := m.Values["n"].(string); ok {
			ev.Number, _ = strconv.ParseInt(n, 10, 64)
		}
		out = append(out, ev)
	}
	return out
}

// streamSeq returns the seq of a stream entry id ("<seq>-0").
func streamSeq(id string) string {
	seq, _, _ := strings.Cut(id, "-")
	return seq
}

// historyChunk is how many stream entries one XRANGE of a whole history
// reads: a 20,000-message conversation is read in 20 commands that each
// hold Redis well under a millisecond, never in one that holds it for tens.
const historyChunk = 1000

// SessionHistories implements hub.HistoryStore: every event of each
// session, in chunks of historyChunk, the sessions' chunks pipelined.
func (s *Store) SessionHistories(ctx context.Context, ids []string) ([][]hub.HistoryEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([][]hub.HistoryEvent, len(ids))
	from := make([]string, len(ids))
	todo := make([]int, len(ids))
	for i := range ids {
		from[i], todo[i] = "-", i
	}
	for len(todo) > 0 {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.XMessageSliceCmd, len(todo))
		for k, i := range todo {
			cmds[k] = pipe.XRangeN(ctx, s.streamKey(ids[i]), from[i], "+", historyChunk)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, storeError(err)
		}
		next := todo[:0]
		for k, i := range todo {
			msgs := cmds[k].Val()
			out[i] = append(out[i], historyEvents(msgs)...)
			if len(msgs) == historyChunk {
				from[i] = "(" + msgs[len(msgs)-1].ID
				next = append(next, i)
			}
		}
		todo = next
	}
	return out, nil
}

// HistoryPage implements hub.HistoryStore. It reads the stream in batches
// until it has limit events of the wanted types or reaches the bound.
func (s *Store) HistoryPage(ctx context.Context, sessionID string, after, before int64, limit int, newest bool, skip map[string]bool) ([]hub.HistoryEvent, bool, error) {
	lo := "(" + strconv.FormatInt(after, 10) + "-0"
	if after == 0 {
		lo = "-"
	}
	hi := "+"
	if before > 0 {
		hi = "(" + strconv.FormatInt(before, 10) + "-0"
	}
	batch := int64(limit + 1)
	var out []hub.HistoryEvent
	for {
		var msgs []redis.XMessage
		var err error
		if newest {
			msgs, err = s.rdb.XRevRangeN(ctx, s.streamKey(sessionID), hi, lo, batch).Result()
		} else {
			msgs, err = s.rdb.XRangeN(ctx, s.streamKey(sessionID), lo, hi, batch).Result()
		}
		if err != nil {
			return nil, false, storeError(err)
		}
		for _, ev := range historyEvents(msgs) {
			if skip[ev.Type()] {
				continue
			}
			if len(out) == limit {
				if newest {
					slices.Reverse(out)
				}
				return out, true, nil
			}
			out = append(out, ev)
		}
		if int64(len(msgs)) < batch {
			if newest {
				slices.Reverse(out)
			}
			return out, false, nil
		}
		last := msgs[len(msgs)-1].ID
		if newest {
			hi = "(" + last
		} else {
			lo = "(" + last
		}
	}
}

// Customer implements hub.HistoryStore.
func (s *Store) Customer(ctx context.Context, id string) (*hub.Customer, error) {
	h, err := s.rdb.HGetAll(ctx, s.key("customer", id)).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if h["number"] == "" {
		return nil, hub.ErrCustomerNotFound
	}
	n, _ := strconv.ParseInt(h["number"], 10, 64)
	return &hub.Customer{ID: id, Number: n, Name: h["name"], Email: h["email"], UserID: h["user_id"]}, nil
}

// RateSession implements hub.HistoryStore.
func (s *Store) RateSession(ctx context.Context, sessionID, customerID string, r hub.Rating, now time.Time) (*hub.Session, error) {
	res, err := rateScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID)},
		s.deskArgs(now, nil, sessionID, customerID, r.Score, r.Comment)...).Slice()
	if err != nil {
		switch msg := err.Error(); {
		case strings.HasSuffix(msg, "SB:not_ended"):
			return nil, hub.ErrNotEnded
		case strings.HasSuffix(msg, "SB:rated"):
			return nil, hub.ErrAlreadyRated
		}
		return nil, scriptError(err)
	}
	return decodeSession(pairs(res))
}

// RatingTotals implements hub.HistoryStore.
func (s *Store) RatingTotals(ctx context.Context) (int64, int64, error) {
	v, err := s.rdb.HMGet(ctx, s.key("ratings"), "sum", "count").Result()
	if err != nil {
		return 0, 0, storeError(err)
	}
	sum, _ := strconv.ParseInt(str(v[0]), 10, 64)
	n, _ := strconv.ParseInt(str(v[1]), 10, 64)
	return sum, n, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
