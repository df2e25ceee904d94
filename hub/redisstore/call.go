package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

var (
	callScript       = script("call")
	callSignalScript = script("call_signal")
)

var _ hub.CallStore = (*Store)(nil)

// Call implements hub.CallStore: lua/call.lua.
func (s *Store) Call(ctx context.Context, sessionID string, c hub.CallCommand, now time.Time, p hub.DeskPolicy) (hub.CallResult, error) {
	res, err := callScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID)},
		s.deskArgs(now, &p, sessionID, string(c.Step), c.By.Kind, c.By.ID, c.By.Name, c.Device, c.Conn, c.CallID, c.Media)...).Slice()
	if err != nil {
		return hub.CallResult{}, scriptError(err)
	}
	if len(res) != 4 {
		return hub.CallResult{}, errors.New("redis: call reply has the wrong shape")
	}
	seq, _ := res[0].(int64)
	state, _ := res[1].(string)
	id, _ := res[2].(string)
	due, _ := res[3].(int64)
	r := hub.CallResult{Seq: seq, State: state, CallID: id}
	if due > 0 {
		r.Due = time.UnixMilli(due)
	}
	return r, nil
}

// CallSignal implements hub.CallStore: lua/call_signal.lua.
func (s *Store) CallSignal(ctx context.Context, sessionID string, by hub.Principal, device, callID string, event []byte) error {
	err := callSignalScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID)},
		s.SessionChannel(sessionID), by.Kind, by.ID, device, callID, event).Err()
	return scriptError(err)
}

// decodeCall reads the call in progress from a session's hash (nil for none).
func decodeCall(h map[string]string) *hub.Call {
	if h["call_id"] == "" {
		return nil
	}
	return &hub.Call{
		ID: h["call_id"], State: h["call_state"], Media: h["call_media"], From: h["call_from"], AgentID: h["call_a_id"],
		InvitedAt: msTime(h["call_at"]), AcceptedAt: msTimePtr(h["call_acc_at"]), ConnectedAt: msTimePtr(h["call_con_at"]),
		CustomerDevice: h["call_c_dev"], AgentDevice: h["call_a_dev"],
	}
}

// callRecord is an ended call as lua/lib.lua's end_call keeps it (times in ms).
type callRecord struct {
	ID          string     `json:"id"`
	Media       string     `json:"media"`
	From        string     `json:"from"`
	InvitedAt   int64      `json:"invited_at"`
	AcceptedAt  int64      `json:"accepted_at"`
	ConnectedAt int64      `json:"connected_at"`
	EndedAt     int64      `json:"ended_at"`
	DurationS   int64      `json:"duration_s"`
	Reason      string     `json:"reason"`
	EndedBy     *hub.Party `json:"ended_by"`
}

// decodeCalls reads a session's ended calls; a value it cannot read gives
// none rather than failing the session.
func decodeCalls(v string) []hub.CallRecord {
	if v == "" {
		return nil
	}
	var recs []callRecord
	if json.Unmarshal([]byte(v), &recs) != nil {
		return nil
	}
	out := make([]hub.CallRecord, len(recs))
	for i, r := range recs {
		out[i] = hub.CallRecord{ID: r.ID, Media: r.Media, From: r.From, InvitedAt: time.UnixMilli(r.InvitedAt).UTC(),
			AcceptedAt: msPtr(r.AcceptedAt), ConnectedAt: msPtr(r.ConnectedAt),
			EndedAt: time.UnixMilli(r.EndedAt).UTC(), DurationS: r.DurationS, Reason: r.Reason, EndedBy: r.EndedBy}
	}
	return out
}

// msTimePtr is msTime for an optional time: nil for none.
func msTimePtr(v string) *time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return msPtr(n)
}

// msPtr is the time of n ms since the epoch; nil for 0.
func msPtr(n int64) *time.Time {
	if n <= 0 {
		return nil
	}
	t := time.UnixMilli(n).UTC()
	return &t
}
