package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/hub"
)

// maxBodyBytes bounds every JSON request body; the largest legitimate body
// (a session with a long description) is a few KiB.
const maxBodyBytes = 64 << 10

// fields maps the exact JSON keys a body may hold to where each value goes
// (a pointer to a pointer, so that a missing or null key stays nil).
type fields map[string]any

// decodeJSON reads exactly one JSON object from r's body into the
// destinations of want. It refuses, as hub.ErrInvalidBody, a body that is
// empty, not valid UTF-8, not an object, has a key not in want (keys match
// exactly: encoding/json alone would take "TITLE" for "title"), a key twice,
// a value of the wrong type, or trailing data; and as errBodyTooLarge one
// over maxBodyBytes. Nothing is stored unless the whole body is valid.
func decodeJSON(w http.ResponseWriter, r *http.Request, want fields) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return hub.ErrInvalidBody
	}
	raw, err := objectMembers(body, want)
	if err != nil {
		return err
	}
	for key, v := range raw {
		if err := json.Unmarshal(v, want[key]); err != nil {
			return hub.ErrInvalidBody
		}
	}
	return nil
}

// objectMembers splits body, which must be one JSON object whose keys are
// all in want and unique, into its raw member values.
func objectMembers(body []byte, want fields) (map[string]json.RawMessage, error) {
	body = trimJSONSpace(body)
	if len(body) == 0 || body[0] != '{' || !utf8.Valid(body) {
		return nil, hub.ErrInvalidBody
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.Token() // the '{' checked above
	members := make(map[string]json.RawMessage, len(want))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, hub.ErrInvalidBody
		}
		key, _ := tok.(string)
		if _, ok := want[key]; !ok {
			return nil, hub.ErrInvalidBody
		}
		if _, dup := members[key]; dup {
			return nil, hub.ErrInvalidBody
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, hub.ErrInvalidBody
		}
		members[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, hub.ErrInvalidBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, hub.ErrInvalidBody // trailing data after the object
	}
	return members, nil
}

// writeJSON writes v as the JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

// trimJSONSpace trims the white space JSON allows around a value (space,
// tab, CR, LF), and only that: bytes.TrimSpace would also take form feeds,
// vertical tabs and Unicode spaces, and so accept bodies that are not JSON.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}
