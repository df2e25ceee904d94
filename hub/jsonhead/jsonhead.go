// Package jsonhead reads the top-level fields of a JSON object that routing
// needs (an event's type, seq, epoch, session) and steps over everything
// else without decoding it.
//
// Every event crosses the bus once per instance and reaches every socket of
// a session, and every frame a client reads must be routed before it is
// used: encoding/json validated the whole object in one pass and decoded it
// in a second (reflection, every byte of the message text through its state
// machine), a tenth of the hub's CPU and of the load tool's under load
// (docs/performance.md, "Bus path"). Here a string is skipped by searching
// for its closing quote, a nested object by counting brackets outside
// strings, and nothing is allocated but the strings the caller keeps.
//
// It checks the top-level structure (keys, colons, commas, the closing
// brace) and reports what it cannot walk; of a value it skips it checks
// only that its strings close and its brackets balance. The data it reads
// comes from the hub's own encoders; FuzzEach holds it to encoding/json on
// every valid object.
package jsonhead

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// ErrSyntax reports data that is not one JSON object.
var ErrSyntax = errors.New("jsonhead: not a JSON object")

// Each calls f with the key and raw value of every top-level field of the
// JSON object in data, in order, and stops at the first error f returns.
// Both are slices of data, valid only during the call: switch on
// string(key), which allocates nothing; a string value keeps its quotes
// (String reads it), an object or array its brackets.
func Each(data []byte, f func(key, raw []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ErrSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return ErrSyntax
		}
		end, esc := stringEnd(data, i)
		if end < 0 {
			return ErrSyntax
		}
		keyRaw := data[i:end]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return ErrSyntax
		}
		i = skipSpace(data, i+1)
		vend := valueEnd(data, i)
		if vend < 0 {
			return ErrSyntax
		}
		key := keyRaw[1 : len(keyRaw)-1]
		if esc {
			k, err := String(keyRaw)
			if err != nil {
				return err
			}
			key = []byte(k)
		}
		if err := f(key, data[i:vend]); err != nil {
			return err
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return ErrSyntax
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return nil
		default:
			return ErrSyntax
		}
	}
}

// Head is what the hub and the Go client route an event or a frame by: its
// top-level fields of docs/protocol.md. A field the data lacks is left
// zero.
type Head struct {
	Type      string
	Seq       int64
	Epoch     string
	SessionID string
	State     string // session.state: the new state
	AgentID   string // session.state: the agent offered or in the session
	LastSeq   int64  // resync
	Reason    string // resync
	ID        string // a reply's or error's command id
}

// ReadHead reads data's Head, stepping over every other field.
func ReadHead(data []byte) (Head, error) {
	var h Head
	err := Each(data, func(key, raw []byte) (err error) {
		switch string(key) {
		case "type":
			h.Type, err = String(raw)
		case "seq":
			h.Seq, err = Int(raw)
		case "epoch":
			h.Epoch, err = String(raw)
		case "session_id":
			h.SessionID, err = String(raw)
		case "state":
			h.State, err = String(raw)
		case "agent_id":
			h.AgentID, err = String(raw)
		case "last_seq":
			h.LastSeq, err = Int(raw)
		case "reason":
			h.Reason, err = String(raw)
		case "id":
			h.ID, err = String(raw)
		}
		return err
	})
	return h, err
}

// String returns the JSON string raw (with its quotes) unquoted; null is "".
func String(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), nil
		}
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	if string(raw) == "null" {
		return "", nil
	}
	return "", ErrSyntax
}

// Int returns the JSON integer raw; null is 0.
func Int(raw []byte) (int64, error) {
	if string(raw) == "null" {
		return 0, nil
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string that opens at data[i],
// or -1, and whether it holds an escape. It looks for quotes (a SIMD search)
// and counts the backslashes in front of each: an odd count escapes it.
func stringEnd(data []byte, i int) (int, bool) {
	esc := false
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1, esc
		}
		q := i + j
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		esc = esc || bytes.IndexByte(data[i:q], '\\') >= 0
		if n%2 == 0 {
			return q + 1, esc
		}
		i = q + 1
	}
}

// valueEnd returns the index just past the value that starts at data[i],
// or -1.
func valueEnd(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		end, _ := stringEnd(data, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			case '"':
				end, _ := stringEnd(data, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			}
			i++
		}
		return -1
	}
	// A number or a literal: up to the next delimiter.
	start := i
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}
