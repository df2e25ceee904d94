package hub

import (
	"encoding/json"
	"time"
)

// Event types. Durable ones carry a seq and are kept in the session's
// stream; ephemeral ones (typing) are published only.
const (
	EventSessionCreated = "session.created"
	EventSessionState   = "session.state"
	EventSessionEnded   = "session.ended"
	EventMemberJoined   = "member.joined"
	EventMemberLeft     = "member.left"
	EventMessage        = "message.created"
	EventRead           = "read"
	EventDelivered      = "delivered" // a party's client received the events up to up_to
	EventTyping         = "typing"    // ephemeral
	// EventSessionIdle warns both parties that the customer has not
	// answered for a while and when the session closes (idle auto-close).
	EventSessionIdle = "session.idle"

	// Events on an agent's own topic (not a session's): no seq.
	EventAgentSessionAdded = "agent.session_added"
	EventAgentDisabled     = "agent.disabled"
	// EventAgentStatus is an agent's shown status changing; it goes to the
	// agent's topic and to SupervisorsTopic.
	EventAgentStatus = "agent.status"
	// EventSessionChanged (SupervisorsTopic) names a session that had an
	// event other than a message or a marker: supervisors' views reload it.
	EventSessionChanged = "session.changed"

	// EventQueueChanged (QueueTopic) tells instances that the queue or the
	// routable agents changed. Instances turn it into EventQueuePosition
	// for their waiting customers (ephemeral) and EventQueueStats for their
	// supervisors.
	EventQueueChanged  = "queue.changed"
	EventQueuePosition = "queue.position"
	EventQueueStats    = "queue.stats"
)

// Party is one participant as events name it.
type Party struct {
	Role string `json:"role"` // "customer", "agent" or "system"
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Message is the payload of a message.created event. Its id is the event's
// seq, unique and ordered within the session.
type Message struct {
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Type        string `json:"type"` // chat.msg, chat.note, chat.file, chat.system
	Text        string `json:"text"` // a file message's: the file's name
	// File is the attachment of a chat.file message.
	File *FileRef `json:"file,omitempty"`
}

// FileRef names an attachment kept in the file store under the key
// "<session id>/<id>"; it is read with GET
// /api/v1/sessions/{session id}/files/{id} by whoever may read the session.
type FileRef struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// Event is one entry of a session's history, or an ephemeral or agent-topic
// notice. Seq is assigned by the store when a durable event is appended
// (contiguous per session, from 1), which is why the store receives the
// event without it and splices it in front.
type Event struct {
	Seq       int64     `json:"seq,omitempty"`
	Type      string    `json:"type"`
	SessionID string    `json:"session_id,omitempty"`
	State     State     `json:"state,omitempty"`
	AgentID   string    `json:"agent_id,omitempty"`
	AgentName string    `json:"agent_name,omitempty"`
	From      *Party    `json:"from,omitempty"`
	Message   *Message  `json:"message,omitempty"`
	UpTo      int64     `json:"up_to,omitempty"`      // read: seen up to this seq
	On        *bool     `json:"on,omitempty"`         // typing: started or stopped
	ExpiresMS int64     `json:"expires_ms,omitempty"` // typing: clients clear it after this long
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// EncodeBody returns the JSON of e without its seq: a JSON object that the
// store's scripts complete with the seq they assign. It is encoded once, in
// Go, and the same bytes reach every subscriber.
func (e Event) EncodeBody() []byte {
	e.Seq = 0
	b, _ := json.Marshal(e) // cannot fail: strings, numbers and a time
	return b
}
