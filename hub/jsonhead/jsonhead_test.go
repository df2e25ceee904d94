package jsonhead

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// each collects what Each reads, as encoding/json would have it.
func each(t *testing.T, data []byte) (map[string]json.RawMessage, []string, error) {
	t.Helper()
	got := map[string]json.RawMessage{}
	var keys []string
	err := Each(data, func(key, raw []byte) error {
		k := string(key)
		if !utf8.ValidString(k) {
			// encoding/json makes each invalid byte U+FFFD; Each hands
			// over the bytes as they are.
			json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k)
		}
		keys = append(keys, k)
		got[k] = bytes.Clone(raw)
		return nil
	})
	return got, keys, err
}

func TestEachReadsTopLevelFields(t *testing.T) {
	data := []byte(` { "type" : "message.created", "seq":42,"epoch":"e1","session_id":"s\u00e9",
		"message":{"text":"a \"quoted\" } ] { text","seq":7},"list":[1,[2,{"x":"]"}]],"ok":true,"none":null,"f":-1.5e3 } `)
	got, keys, err := each(t, data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"type", "seq", "epoch", "session_id", "message", "list", "ok", "none", "f"}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
	if s, _ := String(got["type"]); s != "message.created" {
		t.Errorf("type %q", s)
	}
	if s, _ := String(got["session_id"]); s != "sé" {
		t.Errorf("session_id %q (escapes are unquoted)", s)
	}
	if n, _ := Int(got["seq"]); n != 42 {
		t.Errorf("seq %d", n)
	}
	if n, err := Int(got["none"]); n != 0 || err != nil {
		t.Errorf("null int: %d %v", n, err)
	}
	if s, err := String(got["none"]); s != "" || err != nil {
		t.Errorf("null string: %q %v", s, err)
	}
	if _, err := String(got["seq"]); err == nil {
		t.Error("String of a number: no error")
	}
	if string(got["message"]) != `{"text":"a \"quoted\" } ] { text","seq":7}` {
		t.Errorf("message raw %s", got["message"])
	}
}

func TestEachStopsAtTheCallersError(t *testing.T) {
	stop := json.Unmarshal([]byte("x"), new(int))
	n := 0
	err := Each([]byte(`{"a":1,"b":2,"c":3}`), func(key, raw []byte) error {
		n++
		if string(key) == "b" {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d fields, want the caller's after 2", err, n)
	}
}

func TestEachRefusesWhatItCannotWalk(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1`, `{"a":1,}`, `{"a":"x}`, `{"a":{"b":1}`,
		`{"a":1 "b":2}`, `{a:1}`, `{"a":"\`, `{"a":[1,2}`, `{"a\`,
	} {
		if _, _, err := each(t, []byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, keys, err := each(t, []byte(`{}`)); err != nil || len(keys) != 0 {
		t.Errorf("{}: %v %v", keys, err)
	}
}

// FuzzEach holds Each to encoding/json: on every valid object it reads the
// same fields with the same values, and on anything else it does not panic.
func FuzzEach(f *testing.F) {
	for _, s := range []string{
		`{"type":"message.created","seq":1,"epoch":"e","session_id":"s","message":{"text":"hi"}}`,
		`{"a":"\"}","b":[{"c":"]"}],"d":null,"e":true,"f":1.5e-3}`,
		`{"k\"ey":"v\\"}`, `{}`, `{"a":1,"a":2}`, ` {"a" : [ ] } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, keys, err := each(t, data)
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil || want == nil {
			return // not an object: any error, no panic
		}
		if err != nil {
			t.Fatalf("%q: %v on a valid object", data, err)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			seen[k] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("%q: keys %v, want %d distinct", data, keys, len(want))
		}
		for k, w := range want {
			g, ok := got[k]
			if !ok {
				t.Fatalf("%q: key %q missing", data, k)
			}
			// Numbers as they are written: a valid number may be past
			// float64's range (the fuzzer's 1,200-digit one).
			gv, gerr := decodeNumbers(g)
			wv, werr := decodeNumbers(w)
			if gerr != nil || werr != nil {
				t.Fatalf("%q: %q raw %s does not decode", data, k, g)
			}
			gb, _ := json.Marshal(gv)
			wb, _ := json.Marshal(wv)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("%q: %q = %s, want %s", data, k, g, w)
			}
		}
	})
}

func BenchmarkEachEvent(b *testing.B) {
	data := []byte(`{"type":"message.created","seq":1234,"epoch":"k3j2h1","session_id":"01JF3Q8W9X7Y6Z5A4B3C2D1E0F","at":"2026-12-04T21:00:00.000Z","from":{"role":"customer","id":"c-1","name":"Ada"},"message":{"id":"m-1","text":"` + string(bytes.Repeat([]byte("lorem ipsum "), 16)) + `","client_msg_id":"abc"}}`)
	b.Run("jsonhead", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var seq int64
			var typ string
			Each(data, func(key, raw []byte) error {
				switch string(key) {
				case "seq":
					seq, _ = Int(raw)
				case "type":
					typ, _ = String(raw)
				}
				return nil
			})
			_, _ = seq, typ
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var head struct {
				Seq  int64  `json:"seq"`
				Type string `json:"type"`
			}
			json.Unmarshal(data, &head)
		}
	})
}

func TestReadHead(t *testing.T) {
	h, err := ReadHead([]byte(`{"type":"session.state","seq":7,"epoch":"e2","session_id":"s1","state":"Agent","agent_id":"a1",` +
		`"last_seq":5,"reason":"epoch_changed","id":"9","message":{"type":"nested","seq":99}}`))
	want := Head{Type: "session.state", Seq: 7, Epoch: "e2", SessionID: "s1", State: "Agent", AgentID: "a1", LastSeq: 5, Reason: "epoch_changed", ID: "9"}
	if err != nil || h != want {
		t.Fatalf("%+v %v, want %+v (nested fields are not the head's)", h, err, want)
	}
	if _, err := ReadHead([]byte(`{"seq":"seven"}`)); err == nil {
		t.Fatal("a string seq read as a number")
	}
}

// decodeNumbers decodes one JSON value, keeping its numbers as written.
func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
