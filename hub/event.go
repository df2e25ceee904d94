package hub

import (
	"encoding/json"
	"time"
)

// Event types published on a session's topic and kept in its stream.
const (
	EventSessionCreated = "session.created"
	EventSessionState   = "session.state"
	EventSessionEnded   = "session.ended"
)

// Event is one entry of a session's history. Seq is assigned by the store
// when the event is appended (contiguous per session, from 1), which is why
// the store receives the event without it and splices it in front.
type Event struct {
	Seq       int64     `json:"seq,omitempty"`
	Type      string    `json:"type"`
	SessionID string    `json:"session_id"`
	State     State     `json:"state,omitempty"`
	AgentID   string    `json:"agent_id,omitempty"`
	AgentName string    `json:"agent_name,omitempty"`
	At        time.Time `json:"at"`
}

// EncodeBody returns the JSON of e without its seq: a JSON object that the
// store's scripts complete with the seq they assign. It is encoded once, in
// Go, and the same bytes reach every subscriber.
func (e Event) EncodeBody() []byte {
	e.Seq = 0
	b, _ := json.Marshal(e) // cannot fail: only strings and a time
	return b
}
