package hub

import (
	"errors"
	"fmt"
)

// Error codes: the kinds of failure a caller can act on. Each surface maps a
// code to its own status (api keeps that table in one place).
const (
	EINVALID      = "invalid"      // the request is malformed or a value is out of range
	ENOTFOUND     = "not_found"    // the thing named does not exist (or is no longer kept)
	ECONFLICT     = "conflict"     // the request is valid but the current state forbids it
	ELIMIT        = "limit"        // a configured limit (open sessions, agent capacity) is reached
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, but not for this resource
	EINTERNAL     = "internal"     // a bug
	// EUNAVAILABLE says the store cannot be reached or cannot take the
	// command now (Redis down, restarting, failing over): nothing was done,
	// or, for an idempotent command, retrying finds out what was; retry.
	EUNAVAILABLE = "unavailable"
)

// Error is the one error type of the domain. Message is safe to show to the
// caller; anything else (a Redis failure) is wrapped as EINTERNAL and its
// detail stays in the logs.
type Error struct {
	Code    string
	Message string
	// Err is the cause, for the logs (never shown to a caller); nil for
	// the errors the domain makes itself.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("switchboard: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("switchboard: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Unavailable wraps a store failure that retrying may cure (see
// EUNAVAILABLE), keeping the cause for the logs.
func Unavailable(cause error) error {
	return &Error{Code: EUNAVAILABLE, Message: "service unavailable; retry", Err: cause}
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// The domain errors with fixed messages. The messages are the strings of the
// Customer Service API's error table, verbatim, because that surface returns
// them unchanged; the other surfaces map the codes.
var (
	ErrSessionNotFound = &Error{Code: ENOTFOUND, Message: "session not found"}
	ErrSessionEnded    = &Error{Code: ECONFLICT, Message: "session already ended"}
	ErrAgentAssigned   = &Error{Code: ECONFLICT, Message: "agent already assigned"}
	ErrMaxSessions     = &Error{Code: ELIMIT, Message: "max sessions reached"}
	ErrInvalidBody     = &Error{Code: EINVALID, Message: "invalid request body"}
	ErrUnauthorized    = &Error{Code: EUNAUTHORIZED, Message: "unauthorized"}
	ErrForbidden       = &Error{Code: EFORBIDDEN, Message: "not allowed for this session"}
	// ErrSessionFull says a session holds its limit of events: a session's
	// history is never trimmed, so past the limit nothing more is added.
	ErrSessionFull = &Error{Code: ECONFLICT, Message: "session message limit reached"}
)

// ErrorCode returns the code of err if it is (or wraps) an *Error, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the *Error's message,
// or "internal error" so that internal detail never leaks to a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
