// Package protocol defines Switchboard's WebSocket protocol, version 1:
// the subprotocol name, the client's commands and their validation, the
// server's frames and the close codes. The server (api) and the Go client
// (api/client) share it; docs/protocol.md describes it for everyone else.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol of this version. A client offers
// it in Sec-WebSocket-Protocol; the server refuses a handshake without it.
const Subprotocol = "switchboard.v1"

// Close codes. 4000-4499: the client should reconnect (with backoff) and
// resume; 4500-4999: it must not reconnect with the same credentials.
const (
	CloseShutdown       websocket.StatusCode = 4000 // the instance is shutting down
	CloseSlowConsumer   websocket.StatusCode = 4001 // the client did not read fast enough
	CloseServerError    websocket.StatusCode = 4002 // the hub lost its store; try again
	CloseAuthTimeout    websocket.StatusCode = 4003 // no auth frame in time
	CloseRateLimited    websocket.StatusCode = 4004 // too many frames; slow down
	ClosePongTimeout    websocket.StatusCode = 4005 // a ping went unanswered; the network may be gone
	CloseUnauthorized   websocket.StatusCode = 4500 // bad, expired or revoked credentials
	CloseSessionEnded   websocket.StatusCode = 4501 // the customer's session ended
	CloseAgentDisabled  websocket.StatusCode = 4502 // the agent account was disabled
	CloseProtocolError  websocket.StatusCode = 4503 // a frame that is not text, or not the protocol
	CloseTenantDisabled websocket.StatusCode = 4504 // the operator disabled this contact center
)

// Reconnectable reports whether a client should reconnect after code.
func Reconnectable(code websocket.StatusCode) bool {
	switch {
	case code >= 4000 && code < 4500:
		return true
	case code >= 4500 && code < 5000:
		return false
	}
	// Standard codes: going away, abnormal closure, internal error, restart, try later.
	return code == websocket.StatusGoingAway || code == -1 || code == websocket.StatusAbnormalClosure ||
		code == websocket.StatusInternalError || code == websocket.StatusServiceRestart || code == websocket.StatusTryAgainLater
}

// Client command types.
const (
	CmdAuth      = "auth"
	CmdResume    = "resume"
	CmdSend      = "send"
	CmdTyping    = "typing"
	CmdRead      = "read"
	CmdDelivered = "delivered" // the client received the events up to seq
	CmdClose     = "close"
	CmdRate      = "rate" // the customer rates its ended session
	// CmdPing is answered with an ok reply and does nothing else: browsers
	// cannot see WebSocket pings, so this is how a page checks that a quiet
	// socket is still alive.
	CmdPing = "ping"

	// Agents at work (agents only; see docs/protocol.md).
	CmdAccept   = "accept"   // take the session offered to you
	CmdDecline  = "decline"  // send it back to the queue
	CmdPick     = "pick"     // take a queued session yourself
	CmdTransfer = "transfer" // to agent_id or team_id
	CmdHandover = "handover" // a bot hands its session to the queue
	CmdStatus   = "status"   // choose your status: Available or a custom one

	// Calls (the session's customer, and the agent who holds it; see
	// docs/protocol.md, "Calls").
	CmdCallInvite    = "call.invite"    // call the other party: media audio or video
	CmdCallAccept    = "call.accept"    // answer a ringing call from this device
	CmdCallDecline   = "call.decline"   // refuse a ringing call
	CmdCallCancel    = "call.cancel"    // give up a call you made before it is answered
	CmdCallHangup    = "call.hangup"    // end the call
	CmdCallConnected = "call.connected" // this device's media path is up
	CmdCallSignal    = "call.signal"    // an SDP or ICE candidate for the other party's device
	CmdCallRejoin    = "call.rejoin"    // after a reconnect: this device still holds its leg
)

// Server frame types (besides events, whose types are hub.Event* and
// which carry a seq when durable).
const (
	FrameHello  = "hello"
	FrameReply  = "reply"
	FrameError  = "error"
	FrameResync = "resync"
)

// Command is one frame from the client. Which fields a type needs:
//
//	auth    token; resume and epochs (optional)
//	resume  resume: {session_id: last seen seq}; epochs (optional)
//	send    session_id, client_msg_id, text
//	typing  session_id, on
//	read    session_id, seq
//	close   session_id
//	rate    session_id, score (1 to 5), comment (optional)
//	call.invite                      session_id, media (audio or video)
//	call.accept, .decline, .cancel,
//	.hangup, .connected, .rejoin     session_id, call_id
//	call.signal                      session_id, call_id, and sdp or candidate (a JSON object)
//
// id is optional on every command; the reply to it carries the same id.
type Command struct {
	Type   string           `json:"type"`
	ID     string           `json:"id,omitempty"`
	Token  string           `json:"token,omitempty"`
	Resume map[string]int64 `json:"resume,omitempty"`
	// Epochs (auth, resume) names, per session of Resume, the epoch of the
	// event at that seq, as the client got it: the hub replays after it
	// only if its stream still holds that very event, and sends resync
	// otherwise (a store that rolled back reuses seqs).
	Epochs      map[string]string `json:"epochs,omitempty"`
	SessionID   string            `json:"session_id,omitempty"`
	ClientMsgID string            `json:"client_msg_id,omitempty"`
	Text        string            `json:"text,omitempty"`
	// Note (send, staff only) makes the message a private note: other
	// staff see it, the customer never does (docs/protocol.md, notes).
	Note    bool   `json:"note,omitempty"`
	On      *bool  `json:"on,omitempty"`
	Seq     int64  `json:"seq,omitempty"`
	AgentID string `json:"agent_id,omitempty"` // transfer
	TeamID  string `json:"team_id,omitempty"`  // transfer
	Status  string `json:"status,omitempty"`   // status
	Score   *int   `json:"score,omitempty"`    // rate
	Comment string `json:"comment,omitempty"`  // rate
	// Observe (auth, supervisors and admins): this socket watches; it does
	// not make the agent present, so it is never offered sessions.
	Observe bool `json:"observe,omitempty"`
	// Device (auth, optional) names the page or app the socket belongs
	// to, kept across its reconnects: a call's leg is bound to a device.
	// The hub makes one up when it is absent (hello tells it).
	Device    string          `json:"device,omitempty"`
	CallID    string          `json:"call_id,omitempty"`   // call.*
	Media     string          `json:"media,omitempty"`     // call.invite
	SDP       json.RawMessage `json:"sdp,omitempty"`       // call.signal: {"type":"offer"|"answer","sdp":"..."}
	Candidate json.RawMessage `json:"candidate,omitempty"` // call.signal: an RTCIceCandidateInit
}

// ErrorBody is the error of a reply or an error frame: code is one of the
// hub's codes (invalid, not_found, conflict, limit, unauthorized,
// forbidden, internal), message is for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is a decoding error; it becomes an error frame.
type Error struct{ ErrorBody }

func (e *Error) Error() string { return e.Message }

func invalid(msg string) *Error { return &Error{ErrorBody{Code: "invalid", Message: msg}} }

// MaxResume bounds the sessions one resume may name.
const MaxResume = 1000

// DecodeCommand reads and validates one client frame. It never panics; a
// frame it refuses gets an error frame (with the frame's id when it could
// be read) and changes nothing.
func DecodeCommand(data []byte) (*Command, error) {
	if !utf8.Valid(data) {
		return nil, invalid("frame is not valid UTF-8")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, invalid("frame is not a JSON object")
	}
	var c Command
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var partial struct {
			ID string `json:"id"`
		}
		json.Unmarshal(data, &partial)
		e := invalid("frame is not a valid command: " + jsonReason(err))
		return &Command{ID: truncate(partial.ID)}, e
	}
	if dec.More() {
		return &Command{ID: truncate(c.ID)}, invalid("trailing data after the command")
	}
	if len(c.ID) > 64 {
		return &Command{ID: truncate(c.ID)}, invalid("id longer than 64 characters")
	}
	if err := c.validate(); err != nil {
		return &Command{ID: c.ID, Type: c.Type}, err
	}
	return &c, nil
}

func (c *Command) validate() *Error {
	needSession := func() *Error {
		if c.SessionID == "" {
			return invalid(c.Type + " needs session_id")
		}
		return nil
	}
	switch c.Type {
	case CmdAuth:
		if c.Token == "" {
			return invalid("auth needs token")
		}
		if len(c.Resume) > MaxResume {
			return invalid("resume names too many sessions")
		}
		if err := c.validEpochs(); err != nil {
			return err
		}
		if c.Device != "" && !validDevice(c.Device) {
			return invalid("device must be 1 to 64 letters, digits, _ or -")
		}
	case CmdResume:
		if len(c.Resume) == 0 || len(c.Resume) > MaxResume {
			return invalid("resume needs 1 to 1000 sessions")
		}
		for _, seq := range c.Resume {
			if seq < 0 {
				return invalid("resume seqs must be at least 0")
			}
		}
		if err := c.validEpochs(); err != nil {
			return err
		}
	case CmdSend:
		if err := needSession(); err != nil {
			return err
		}
		if c.ClientMsgID == "" || c.Text == "" {
			return invalid("send needs client_msg_id and text")
		}
	case CmdTyping:
		if err := needSession(); err != nil {
			return err
		}
		if c.On == nil {
			return invalid("typing needs on (true or false)")
		}
	case CmdRead, CmdDelivered:
		if err := needSession(); err != nil {
			return err
		}
		if c.Seq < 1 {
			return invalid(c.Type + " needs seq of at least 1")
		}
	case CmdRate:
		if err := needSession(); err != nil {
			return err
		}
		if c.Score == nil || *c.Score < 1 || *c.Score > 5 {
			return invalid("rate needs score from 1 to 5")
		}
	case CmdClose, CmdAccept, CmdDecline, CmdPick, CmdHandover:
		return needSession()
	case CmdTransfer:
		if err := needSession(); err != nil {
			return err
		}
		if (c.AgentID == "") == (c.TeamID == "") {
			return invalid("transfer needs exactly one of agent_id and team_id")
		}
	case CmdCallInvite:
		if err := needSession(); err != nil {
			return err
		}
		if c.Media != "audio" && c.Media != "video" {
			return invalid("call.invite needs media audio or video")
		}
	case CmdCallAccept, CmdCallDecline, CmdCallCancel, CmdCallHangup, CmdCallConnected, CmdCallRejoin, CmdCallSignal:
		if err := needSession(); err != nil {
			return err
		}
		if c.CallID == "" {
			return invalid(c.Type + " needs call_id")
		}
		if c.Type == CmdCallSignal && (len(c.SDP) == 0) == (len(c.Candidate) == 0) {
			return invalid("call.signal needs exactly one of sdp and candidate")
		}
	case CmdPing:
	case CmdStatus:
		if c.Status == "" {
			return invalid("status needs status")
		}
	case "":
		return invalid("command without type")
	default:
		return invalid("unknown command type " + truncate(c.Type))
	}
	return nil
}

// validEpochs checks that epochs names only sessions of resume, with
// epochs of at most 64 characters.
func (c *Command) validEpochs() *Error {
	for sid, e := range c.Epochs {
		if _, ok := c.Resume[sid]; !ok {
			return invalid("epochs names a session that resume does not")
		}
		if len(e) > 64 {
			return invalid("epochs must be at most 64 characters")
		}
	}
	return nil
}

// validDevice reports whether s may name a device (as hub.ValidDevice).
func validDevice(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	return err.Error()
}

// Principal is who a connection speaks for, in the hello frame.
type Principal struct {
	Role string `json:"role"` // "customer" or "agent"
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// AgentRole is the agent account's role: agent, supervisor or admin.
	AgentRole string `json:"agent_role,omitempty"`
}

// Hello answers a successful auth: who the connection is, and the sessions
// it follows (whose events it receives from then on, after catching up
// from the seqs of the auth frame's resume).
type Hello struct {
	Type        string    `json:"type"` // "hello"
	ID          string    `json:"id,omitempty"`
	Principal   Principal `json:"principal"`
	Sessions    []string  `json:"sessions"`
	HeartbeatMS int64     `json:"heartbeat_ms"`
	// Device is the socket's device: the one auth named, or one the hub
	// made up. A client that reconnects names it again.
	Device string `json:"device"`
	// ICEServers are the STUN and TURN servers for calls, with TURN
	// credentials of their own (RTCConfiguration.iceServers); absent when
	// none are configured (a LAN needs none).
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
}

// ICEServer is one RTCIceServer of a browser's RTCConfiguration.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Reply answers a command. OK is false with Error set on failure.
type Reply struct {
	Type      string `json:"type"` // "reply"
	ID        string `json:"id,omitempty"`
	OK        bool   `json:"ok"`
	Seq       int64  `json:"seq,omitempty"`        // send: the message's seq; read: the marker
	Duplicate bool   `json:"duplicate,omitempty"`  // send: a retry of a message already sent
	State     string `json:"state,omitempty"`      // accept, decline, pick, transfer, handover: the session's state after it
	Status    string `json:"status,omitempty"`     // status: the status the agent shows after it
	CallID    string `json:"call_id,omitempty"`    // call.*: the call
	CallState string `json:"call_state,omitempty"` // call.*: its state after the command; "ended" once it ended
	// ICEServers (call.invite, call.accept): the servers for the call's
	// RTCPeerConnection, with fresh TURN credentials.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
	Error      *ErrorBody  `json:"error,omitempty"`
}

// ErrorFrame reports a frame that could not be answered as a command.
type ErrorFrame struct {
	Type  string    `json:"type"` // "error"
	ID    string    `json:"id,omitempty"`
	Error ErrorBody `json:"error"`
}

// Resync tells the client that it cannot catch up on a session from the
// events it missed: it reloads the session's state and history over REST.
type Resync struct {
	Type      string `json:"type"` // "resync"
	SessionID string `json:"session_id"`
	Reason    string `json:"reason"`
	// LastSeq is the session's seq now: live events continue after it.
	LastSeq int64 `json:"last_seq"`
	// Epoch is the epoch of the event at LastSeq, which the client names
	// beside LastSeq when it resumes ("" before epochs).
	Epoch string `json:"epoch,omitempty"`
}
