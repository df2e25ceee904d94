package protocol

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchSendFrame is a typical send command as a browser sends it (327
// bytes): a command id, a session id of the hub's shape ("cs_" and 22
// base62 characters), a UUID client_msg_id and a 197-byte text.
const benchSendFrame = `{"type":"send","id":"42","session_id":"cs_7HqK2mZp9XwR4tLbN3cV8d",` +
	`"client_msg_id":"4b1e7c0a-9f2d-4c53-8a61-2f0d9b7e6c11",` +
	`"text":"Hi, my order #48213 still shows as pending after three days, and the tracking link you emailed me says the parcel was never handed over. Could you check what happened and tell me when it will ship?"}`

// BenchmarkDecodeCommand measures protocol.DecodeCommand, which the
// reader goroutine of every socket runs on every frame a client sends
// (UTF-8 check, strict JSON decoding with unknown fields refused, and
// validation): its cost is paid per command before any store work. The
// send sub-benchmark is the frame of every chat message; auth is the first
// frame of every (re)connection, here with a resume map of a few sessions
// as a reconnecting agent sends it.
func BenchmarkDecodeCommand(b *testing.B) {
	auth := `{"type":"auth","id":"auth","token":"v1.eyJyIjoiYWdlbnQiLCJzdWIiOiJhbGljZSIsIm4iOiJBbGljZSIsImV4cCI6MTc2NzIyNTYwMH0.` +
		`q2v0Zb1y9mN3hX7cR4tL8pW6sK5jD2fA1gE0uY9iO3w","resume":{`
	for i := range 5 {
		if i > 0 {
			auth += ","
		}
		auth += fmt.Sprintf(`"cs_7HqK2mZp9XwR4tLbN3cV8%d":%d`, i, 10+i*7)
	}
	auth += "}}"
	cases := []struct {
		name  string
		frame string
		check func(*Command) bool
	}{
		{"send", benchSendFrame, func(c *Command) bool {
			return c.Type == CmdSend && c.SessionID == "cs_7HqK2mZp9XwR4tLbN3cV8d" && c.Text != "" && c.ID == "42"
		}},
		{"auth-resume-5", auth, func(c *Command) bool {
			return c.Type == CmdAuth && c.Token != "" && len(c.Resume) == 5 && c.Resume["cs_7HqK2mZp9XwR4tLbN3cV84"] == 38
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			data := []byte(tc.frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c, err := DecodeCommand(data)
				if err != nil || !tc.check(c) {
					b.Fatalf("DecodeCommand(%s) = %+v, %v", data, c, err)
				}
			}
		})
	}
}

// BenchmarkEncodeReply measures the encoding of the reply the hub sends
// for every send command: conn.send in api/realtime/conn.go (unexported, so not
// reachable from here) is json.Marshal of a protocol.Reply followed by a
// channel send, and this is that json.Marshal. It runs once per command on
// the reader goroutine, so its allocations add to every message's cost.
func BenchmarkEncodeReply(b *testing.B) {
	reply := Reply{Type: FrameReply, ID: "42", OK: true, Seq: 1234}
	want := `{"type":"reply","id":"42","ok":true,"seq":1234}`
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(reply)
		if err != nil || string(out) != want {
			b.Fatalf("json.Marshal(reply) = %s, %v; want %s", out, err, want)
		}
	}
}
