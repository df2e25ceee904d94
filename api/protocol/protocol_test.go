package protocol

import (
	"strings"
	"testing"
)

func TestDecodeCommand(t *testing.T) {
	good := []string{
		`{"type":"auth","token":"t"}`,
		`{"type":"auth","token":"t","resume":{"cs_x":3}}`,
		`{"type":"resume","id":"1","resume":{"cs_x":0}}`,
		`{"type":"send","id":"2","session_id":"cs_x","client_msg_id":"m1","text":"hi"}`,
		`{"type":"typing","session_id":"cs_x","on":false}`,
		`{"type":"read","session_id":"cs_x","seq":4}`,
		` {"type":"close","session_id":"cs_x"} `,
	}
	for _, g := range good {
		if _, err := DecodeCommand([]byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := map[string]string{
		``:                        "not a JSON object",
		`[]`:                      "not a JSON object",
		"{\"type\":\"send\xff\"}": "UTF-8",
		`{"type":"nope"}`:         "unknown command",
		`{}`:                      "without type",
		`{"type":"auth"}`:         "needs token",
		`{"type":"send","session_id":"cs_x","text":"x"}`:          "client_msg_id",
		`{"type":"send","session_id":"cs_x","client_msg_id":"m"}`: "client_msg_id and text",
		`{"type":"typing","session_id":"cs_x"}`:                   "needs on",
		`{"type":"read","session_id":"cs_x","seq":0}`:             "seq of at least 1",
		`{"type":"close"}`:                                                            "needs session_id",
		`{"type":"resume","resume":{}}`:                                               "1 to 1000",
		`{"type":"resume","resume":{"a":-1}}`:                                         "at least 0",
		`{"type":"read","id":"7","session_id":"cs_x","seq":"4"}`:                      "wrong type",
		`{"type":"close","session_id":"cs_x","extra":1}`:                              "unknown field",
		`{"type":"close","session_id":"cs_x"} {"type":"close"}`:                       "trailing",
		`{"type":"close","session_id":"cs_x","id":"` + strings.Repeat("i", 65) + `"}`: "longer than 64",
	}
	for in, want := range bad {
		_, err := DecodeCommand([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
	// The id of a command that fails validation is kept for the error frame.
	c, err := DecodeCommand([]byte(`{"type":"read","id":"7","session_id":"cs_x","seq":"4"}`))
	if err == nil || c == nil || c.ID != "7" {
		t.Fatalf("id not kept: %+v %v", c, err)
	}
}

// FuzzDecodeCommand checks that no frame makes the decoder panic, and that
// an accepted command always has a known type and the fields it needs.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"auth","token":"t","resume":{"cs_x":3}}`,
		`{"type":"send","id":"2","session_id":"cs_x","client_msg_id":"m1","text":"hi"}`,
		`{"type":"typing","session_id":"cs_x","on":true}`,
		`{"type":"read","session_id":"cs_x","seq":4}`,
		`{"type":"close","session_id":"cs_x"}`, `{}`, `[`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if c != nil && len(c.ID) > 64 {
				t.Fatalf("error frame id of %d bytes", len(c.ID))
			}
			return
		}
		if c.validate() != nil {
			t.Fatalf("accepted an invalid command %+v", c)
		}
	})
}
