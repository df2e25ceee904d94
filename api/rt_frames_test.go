package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// padded returns a frame of exactly n bytes: an unknown command whose id
// is "pad" (refused, with the id, by the decoder).
func padded(n int) []byte {
	head := `{"id":"pad","type":"send","session_id":"x","client_msg_id":"y","text":"`
	return []byte(head + strings.Repeat("a", n-len(head)-2) + `"}`)
}

// TestBadFrames: malformed frames get an error frame (with their id when
// it can be read) and leave the connection working; frames the protocol
// cannot take (binary, over 16 KiB, anything but auth first) end it with
// their documented close code; nothing disturbs another client.
func TestBadFrames(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AuthTimeout: 300 * time.Millisecond}})
	in := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(in, "Ann")
	agent := e.dial(in, agentTok)
	arec := record(t, agent)
	e.assign(in, sid, "ag1")
	arec.waitSeq(t, 10*time.Second, sid, 3)

	t.Run("answered", func(t *testing.T) {
		c, _ := rawAuth(t, in, custTok, nil)
		for _, tc := range []struct {
			name, frame string
			typ, id     string // the answer's type and id
			code        string
		}{
			{"not JSON", `hello`, protocol.FrameError, "", hub.EINVALID},
			{"truncated JSON", `{"type":"send","id":"j1",`, protocol.FrameError, "", hub.EINVALID},
			{"JSON array", `[{"type":"send"}]`, protocol.FrameError, "", hub.EINVALID},
			{"JSON null", `null`, protocol.FrameError, "", hub.EINVALID},
			{"empty", ``, protocol.FrameError, "", hub.EINVALID},
			{"invalid UTF-8", "{\"id\":\"u8\",\"type\":\"send\",\"text\":\"\xff\xfe\"}", protocol.FrameError, "", hub.EINVALID},
			{"wrong field type", `{"id":"j2","type":"send","session_id":42}`, protocol.FrameError, "j2", hub.EINVALID},
			{"unknown field", `{"id":"j3","type":"send","session_id":"` + sid + `","client_msg_id":"m","text":"x","admin":true}`, protocol.FrameError, "j3", hub.EINVALID},
			{"trailing data", `{"id":"j4","type":"typing","session_id":"` + sid + `","on":true} {}`, protocol.FrameError, "j4", hub.EINVALID},
			{"id too long", `{"id":"` + strings.Repeat("i", 65) + `","type":"close","session_id":"` + sid + `"}`, protocol.FrameError, strings.Repeat("i", 64), hub.EINVALID},
			{"no type", `{"id":"t0"}`, protocol.FrameError, "t0", hub.EINVALID},
			{"unknown type", `{"id":"t1","type":"dance","session_id":"` + sid + `"}`, protocol.FrameError, "t1", hub.EINVALID},
			{"send without text", `{"id":"m1","type":"send","session_id":"` + sid + `","client_msg_id":"m"}`, protocol.FrameError, "m1", hub.EINVALID},
			{"send without client_msg_id", `{"id":"m2","type":"send","session_id":"` + sid + `","text":"x"}`, protocol.FrameError, "m2", hub.EINVALID},
			{"send without session", `{"id":"m3","type":"send","client_msg_id":"m","text":"x"}`, protocol.FrameError, "m3", hub.EINVALID},
			{"typing without on", `{"id":"m4","type":"typing","session_id":"` + sid + `"}`, protocol.FrameError, "m4", hub.EINVALID},
			{"read without seq", `{"id":"m5","type":"read","session_id":"` + sid + `"}`, protocol.FrameError, "m5", hub.EINVALID},
			{"read seq 0", `{"id":"m6","type":"read","session_id":"` + sid + `","seq":0}`, protocol.FrameError, "m6", hub.EINVALID},
			{"resume without sessions", `{"id":"m7","type":"resume"}`, protocol.FrameError, "m7", hub.EINVALID},
			{"resume negative seq", `{"id":"m8","type":"resume","resume":{"` + sid + `":-1}}`, protocol.FrameError, "m8", hub.EINVALID},
			{"bad client_msg_id", `{"id":"m9","type":"send","session_id":"` + sid + `","client_msg_id":"has space","text":"x"}`, protocol.FrameReply, "m9", hub.EINVALID},
			{"blank text", `{"id":"m10","type":"send","session_id":"` + sid + `","client_msg_id":"m","text":"   "}`, protocol.FrameReply, "m10", hub.EINVALID},
			{"text too long", `{"id":"m11","type":"send","session_id":"` + sid + `","client_msg_id":"m","text":"` + strings.Repeat("x", hub.MaxMessageLen+1) + `"}`, protocol.FrameReply, "m11", hub.EINVALID},
			{"unknown session", `{"id":"w1","type":"send","session_id":"` + hub.NewSessionID() + `","client_msg_id":"m","text":"x"}`, protocol.FrameReply, "w1", hub.ENOTFOUND},
			{"malformed session id", `{"id":"w2","type":"send","session_id":"../../etc/passwd","client_msg_id":"m","text":"x"}`, protocol.FrameReply, "w2", hub.ENOTFOUND},
			{"typing in unknown session", `{"id":"w3","type":"typing","session_id":"cs_x","on":true}`, protocol.FrameReply, "w3", hub.ENOTFOUND},
			{"resume unknown session", `{"id":"w4","type":"resume","resume":{"cs_nope":0}}`, protocol.FrameReply, "w4", hub.ENOTFOUND},
			{"second auth", `{"id":"a2","type":"auth","token":"` + custTok + `"}`, protocol.FrameReply, "a2", hub.EINVALID},
			{"frame of exactly 16 KiB", string(padded(16 << 10)), protocol.FrameReply, "pad", hub.EINVALID},
		} {
			c.write(websocket.MessageText, []byte(tc.frame))
			f := c.readUntil(func(f rawFrame) bool { return f.Type == protocol.FrameError || f.Type == protocol.FrameReply })
			if f.Type != tc.typ || f.ID != tc.id || f.Error == nil || f.Error.Code != tc.code || f.OK {
				t.Fatalf("%s: answered %s, want a %s with id %q and code %s", tc.name, f.Raw, tc.typ, tc.id, tc.code)
			}
		}
		// The same connection still works.
		c.send(protocol.Command{Type: protocol.CmdSend, ID: "ok", SessionID: sid, ClientMsgID: "good-1", Text: "still here"})
		var f, msg rawFrame // the reply and the event, in either order
		for f.Type == "" || msg.Type == "" {
			switch g := c.read(); g.Type {
			case protocol.FrameReply, protocol.FrameError:
				f = g
			case hub.EventMessage:
				msg = g
			}
		}
		if f.ID != "ok" || !f.OK || f.Seq == 0 {
			t.Fatalf("a good send after the bad frames: %s", f.Raw)
		}
		if msg.Seq != f.Seq || msg.Message.Text != "still here" {
			t.Fatalf("its event: %s", msg.Raw)
		}
		// Nothing the bad frames named was created.
		if seq, _ := e.sessionSeq(in, sid); seq != f.Seq {
			t.Fatalf("session seq %d, want %d: a bad frame changed the session", seq, f.Seq)
		}
	})

	t.Run("closing", func(t *testing.T) {
		// A first frame that is not a valid auth is refused with an error
		// frame and the protocol error close (a bad token gets 4500: TestAuthorization).
		preAuth := []websocket.StatusCode{protocol.CloseProtocolError}
		preAuthCodes := []string{hub.EINVALID}
		for _, tc := range []struct {
			name     string
			auth     bool // authenticate first
			typ      websocket.MessageType
			frame    []byte
			codes    []websocket.StatusCode // the close code, one of
			errID    string                 // an error frame comes first, with this id ("-" for none)...
			errCodes []string               // ... and one of these codes
		}{
			{"binary", true, websocket.MessageBinary, []byte(`{"type":"typing"}`), []websocket.StatusCode{protocol.CloseProtocolError}, "-", nil},
			{"binary before auth", false, websocket.MessageBinary, []byte(`{"type":"auth"}`), []websocket.StatusCode{protocol.CloseProtocolError}, "-", nil},
			{"over 16 KiB", true, websocket.MessageText, padded(16<<10 + 1), []websocket.StatusCode{websocket.StatusMessageTooBig}, "-", nil},
			{"over 16 KiB before auth", false, websocket.MessageText, padded(16<<10 + 1), []websocket.StatusCode{websocket.StatusMessageTooBig}, "-", nil},
			{"a command before auth", false, websocket.MessageText, []byte(`{"id":"s1","type":"send","session_id":"` + sid + `","client_msg_id":"m","text":"x"}`), preAuth, "s1", preAuthCodes},
			{"garbage before auth", false, websocket.MessageText, []byte(`{"id":"g1",`), preAuth, "", []string{hub.EINVALID}},
			{"auth without token", false, websocket.MessageText, []byte(`{"id":"g2","type":"auth"}`), preAuth, "g2", []string{hub.EINVALID}},
		} {
			var c *rawConn
			if tc.auth {
				c, _ = rawAuth(t, in, custTok, nil)
			} else {
				c = rawDial(t, in)
			}
			c.write(tc.typ, tc.frame)
			code, frames := c.closeCode()
			if !slices.Contains(tc.codes, code) {
				t.Fatalf("%s: closed with %d, want one of %v", tc.name, code, tc.codes)
			}
			var errs []rawFrame
			for _, f := range frames {
				if f.Type == protocol.FrameError {
					errs = append(errs, f)
				}
			}
			if tc.errID == "-" && len(errs) != 0 || tc.errID != "-" && (len(errs) != 1 || errs[0].ID != tc.errID || !slices.Contains(tc.errCodes, errs[0].Error.Code)) {
				t.Fatalf("%s: error frames %+v before the close, want id %q code in %v", tc.name, errs, tc.errID, tc.errCodes)
			}
		}
		// Silence after connecting: closed once AuthTimeout is over.
		c := rawDial(t, in)
		start := time.Now()
		if code, _ := c.closeCode(); code != protocol.CloseAuthTimeout {
			t.Fatalf("no auth: closed with %d, want %d", code, protocol.CloseAuthTimeout)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("no auth: closed after %v, before the 300 ms AuthTimeout", d)
		}
	})

	// The agent, on the same instance, saw none of it but the good message
	// and still sends and receives.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := agent.Send(ctx, sid, "after the bad frames")
	if err != nil {
		t.Fatal(err)
	}
	arec.waitSeq(t, 10*time.Second, sid, r.Seq)
	frames, _ := arec.snapshot()
	wantContiguous(t, "agent", frames, sid, 1, r.Seq)
	if want := int64(5); r.Seq != want { // created, state, joined, the good message, this one
		t.Fatalf("agent's message has seq %d, want %d", r.Seq, want)
	}
	waitFor(t, 10*time.Second, "only the agent's connection left", func() bool { return in.srv.Connections() == 1 })
}
