package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"time"
)

// Calls: a session may carry one voice or video call at a time between its
// customer and the agent who holds it. The hub signals it (invite, ring,
// accept, the WebRTC offer, answer and ICE candidates); the media flows
// between the two browsers (or through a TURN server, see hub/ice). The
// call's state is in the session's hash and changes only in the store's
// call script, atomically with the session: which device answered first,
// a second invite while one rings, a close during a call. Invite, accept,
// connect and end are durable session events; signals are relayed, not
// kept. docs/protocol.md, "Calls", has every frame.

// The media of a call.
const (
	CallAudio = "audio"
	CallVideo = "video"
)

// The states of a call in progress.
const (
	CallRinging   = "ringing"
	CallAccepted  = "accepted"  // answered; the browsers are connecting
	CallConnected = "connected" // both browsers report their media path up
)

// Call events. call.ringing, call.started, call.connected and call.ended
// are durable session events; call.signal is relayed to the other party's
// device only.
const (
	EventCallRinging   = "call.ringing"
	EventCallStarted   = "call.started"
	EventCallConnected = "call.connected"
	EventCallEnded     = "call.ended"
	EventCallSignal    = "call.signal"
)

// Why a call ended (call.ended's reason).
const (
	CallEndHangup        = "hangup"
	CallEndDeclined      = "declined"
	CallEndCancelled     = "cancelled"
	CallEndNoAnswer      = "no_answer"
	CallEndNetworkLost   = "network_lost"
	CallEndSessionClosed = "session_closed"
	CallEndAgentOffline  = "agent_offline"
	CallEndTransferred   = "transferred"
)

// CallStep is one step of a call (CallCommand).
type CallStep string

// The steps. Lost and Back are the hub's: a socket of a leg's device
// closed, or the device has a socket here again.
const (
	CallInvite  CallStep = "invite"
	CallAccept  CallStep = "accept"
	CallDecline CallStep = "decline"
	CallCancel  CallStep = "cancel"
	CallHangup  CallStep = "hangup"
	CallMediaUp CallStep = "connected"
	CallLegLost CallStep = "lost"
	CallLegBack CallStep = "back"
)

// Call is a session's call in progress.
type Call struct {
	ID          string     `json:"id"`
	State       string     `json:"state"` // CallRinging, CallAccepted or CallConnected
	Media       string     `json:"media"`
	From        string     `json:"from"` // the inviting party's role: customer or agent
	AgentID     string     `json:"agent_id"`
	InvitedAt   time.Time  `json:"invited_at"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	// The devices of the legs ("" before the party joined): the hub
	// relays signals between them and no others.
	CustomerDevice string `json:"-"`
	AgentDevice    string `json:"-"`
}

// CallRecord is a call that ended, as the session keeps it.
type CallRecord struct {
	ID          string     `json:"id"`
	Media       string     `json:"media"`
	From        string     `json:"from"`
	InvitedAt   time.Time  `json:"invited_at"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	EndedAt     time.Time  `json:"ended_at"`
	DurationS   int64      `json:"duration_s"` // from acceptance to the end; 0 if never answered
	Reason      string     `json:"reason"`
	EndedBy     *Party     `json:"ended_by,omitempty"` // nil when the hub ended it (no answer, network lost)
}

// CallCommand is one step of a session's call by a party (or the hub).
type CallCommand struct {
	Step   CallStep
	By     Principal
	Device string // the party's device (one page): the call's leg is bound to it
	Conn   string // the socket it came on (lost names the socket that closed)
	CallID string // every step but invite
	Media  string // invite
}

// CallResult is a call after a step.
type CallResult struct {
	Seq    int64     // the durable event the step appended; 0 for none
	State  string    // the call's state after it; "" once it ended
	CallID string    // the call's id
	Due    time.Time // when the store ends it unless something happens first; zero for never
}

// CallStore is what calls need of storage; each method is one atomic step.
type CallStore interface {
	Call(ctx context.Context, sessionID string, c CallCommand, now time.Time, p DeskPolicy) (CallResult, error)
	// CallSignal relays event (a JSON object) from the device of a party
	// in the call to the other party's device, adding "to".
	CallSignal(ctx context.Context, sessionID string, by Principal, device, callID string, event []byte) error
}

// Errors of calls.
var (
	ErrCallBusy     = &Error{Code: ECONFLICT, Message: "a call is already ringing or in progress in this session"}
	ErrNoCall       = &Error{Code: ENOTFOUND, Message: "no such call in this session"}
	ErrCallAnswered = &Error{Code: ECONFLICT, Message: "call answered elsewhere"}
	ErrCallState    = &Error{Code: ECONFLICT, Message: "the call is not in a state for this"}
	ErrCallNoAgent  = &Error{Code: ECONFLICT, Message: "a call needs an agent in the session"}
)

// MaxSignalBytes bounds an SDP or an ICE candidate relayed for a call: a
// browser's offer for audio and video is 3 to 8 KB.
const MaxSignalBytes = 12 << 10

var (
	callIDPattern = regexp.MustCompile(`^call_[0-9A-Za-z]{10,40}$`)
	devicePattern = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)
)

// ValidDevice reports whether s may name a device.
func ValidDevice(s string) bool { return devicePattern.MatchString(s) }

// Call runs one step of a session's call. An invite gets a new call id;
// the store answers with the call's next deadline (it rings out, or a
// leg's socket is away), by which the desk looks again.
func (d *Desk) Call(ctx context.Context, sessionID string, c CallCommand) (CallResult, error) {
	if !ValidSessionID(sessionID) {
		return CallResult{}, ErrSessionNotFound
	}
	switch {
	case c.Step == CallInvite:
		if c.Media != CallAudio && c.Media != CallVideo {
			return CallResult{}, Errorf(EINVALID, "media must be audio or video")
		}
		c.CallID = "call_" + NewSecret(16)
	case !callIDPattern.MatchString(c.CallID):
		return CallResult{}, ErrNoCall
	}
	if c.By.Kind != PrincipalCustomer && c.By.Kind != PrincipalAgent {
		return CallResult{}, ErrSessionNotFound
	}
	if !ValidDevice(c.Device) {
		return CallResult{}, Errorf(EINVALID, "a call needs the device of the socket")
	}
	r, err := d.store.Call(ctx, sessionID, c, d.now(), d.policy)
	if err != nil {
		return CallResult{}, err
	}
	if !r.Due.IsZero() {
		d.lookBy(r.Due)
	}
	return r, nil
}

// Signal relays an SDP (offer or answer) or an ICE candidate of a call
// from the party's device to the other party's. Exactly one of sdp and
// candidate is set, a JSON object of at most MaxSignalBytes.
func (d *Desk) Signal(ctx context.Context, sessionID string, by Principal, device, callID string, sdp, candidate json.RawMessage) error {
	if !ValidSessionID(sessionID) || by.Kind != PrincipalCustomer && by.Kind != PrincipalAgent {
		return ErrSessionNotFound
	}
	if !callIDPattern.MatchString(callID) {
		return ErrNoCall
	}
	if !ValidDevice(device) {
		return Errorf(EINVALID, "a call needs the device of the socket")
	}
	kind, body := "sdp", sdp
	if len(sdp) == 0 {
		kind, body = "candidate", candidate
	}
	body = bytes.TrimSpace(body)
	switch {
	case (len(sdp) == 0) == (len(candidate) == 0):
		return Errorf(EINVALID, "call.signal needs exactly one of sdp and candidate")
	case len(body) > MaxSignalBytes:
		return Errorf(EINVALID, "%s larger than %d bytes", kind, MaxSignalBytes)
	case len(body) == 0 || body[0] != '{' || !json.Valid(body):
		return Errorf(EINVALID, "%s must be a JSON object", kind)
	}
	ev, err := json.Marshal(struct {
		Type       string          `json:"type"`
		SessionID  string          `json:"session_id"`
		CallID     string          `json:"call_id"`
		FromDevice string          `json:"from_device"`
		SDP        json.RawMessage `json:"sdp,omitempty"`
		Candidate  json.RawMessage `json:"candidate,omitempty"`
	}{EventCallSignal, sessionID, callID, device, sdpOrNil(kind == "sdp", body), sdpOrNil(kind == "candidate", body)})
	if err != nil {
		return Errorf(EINVALID, "%s is not valid JSON", kind)
	}
	return d.store.CallSignal(ctx, sessionID, by, device, callID, ev)
}

func sdpOrNil(keep bool, b json.RawMessage) json.RawMessage {
	if keep {
		return b
	}
	return nil
}
