package api

import (
	"log/slog"
	"net/http"

	"github.com/switchboardhq/switchboard/hub"
)

// eTooLarge is the code of a request body over the size limit: a transport
// matter the domain never sees, so it lives here beside the table.
const eTooLarge = "too_large"

// eUnsupported is the code of an upload whose content type (sniffed from
// its bytes) is not allowed.
const eUnsupported = "unsupported_type"

// errBodyTooLarge keeps the Customer Service API's documented message for
// every unreadable body; the status (413) tells it apart.
var errBodyTooLarge = &hub.Error{Code: eTooLarge, Message: hub.ErrInvalidBody.Message}

// statusByCode is the one table from domain error codes to HTTP status
// codes. Every surface uses it; each renders the body in its own format.
var statusByCode = map[string]int{
	hub.EINVALID:      http.StatusBadRequest,
	eTooLarge:         http.StatusRequestEntityTooLarge,
	eUnsupported:      http.StatusUnsupportedMediaType,
	hub.EUNAUTHORIZED: http.StatusUnauthorized,
	hub.EFORBIDDEN:    http.StatusForbidden,
	hub.ENOTFOUND:     http.StatusNotFound,
	hub.ECONFLICT:     http.StatusConflict,
	hub.ELIMIT:        http.StatusTooManyRequests,
	hub.EINTERNAL:     http.StatusInternalServerError,
	hub.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// errorStatus returns the HTTP status for err, logging internal errors
// (their detail goes to the log, never to the client). A 503 (the store
// unreachable) also gets Retry-After: clients retry, and the request changed
// nothing, or, for the idempotent ones, its retry finds out what it did.
func (s *Server) errorStatus(w http.ResponseWriter, r *http.Request, err error) int {
	code := hub.ErrorCode(err)
	switch code {
	case hub.EINTERNAL:
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	case hub.EUNAVAILABLE:
		s.logger.LogAttrs(r.Context(), slog.LevelWarn, "request failed: store unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		w.Header().Set("Retry-After", "1")
	}
	if st, ok := statusByCode[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}
