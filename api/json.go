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

// decodeJSON reads exactly one JSON object from r's body into dst. It
// refuses, as hub.ErrInvalidBody, a body that is empty, not valid UTF-8, not
// an object, has unknown fields or wrong types, or trailing data; and as
// errBodyTooLarge one over maxBodyBytes. Nothing is decoded into dst unless
// the whole body is valid.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return hub.ErrInvalidBody
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || !utf8.Valid(body) {
		return hub.ErrInvalidBody
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return hub.ErrInvalidBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return hub.ErrInvalidBody // trailing data after the object
	}
	return nil
}

// writeJSON writes v as the JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}
