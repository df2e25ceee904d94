package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// The native history endpoints: a session's conversation paged by seq (the
// desktop's scroll-back), a customer's past sessions (the side panel) and
// the customer's rating of an ended session.

func (s *Server) routeHistory(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Handle("/sessions/{id}/messages", s.methods(methods{http.MethodGet: s.principal(s.sessionMessages)}))
	v1.Handle("/sessions/{id}/rating", s.methods(methods{http.MethodPost: s.principal(s.rateSession)}))
	v1.Handle("/customers/{id}/sessions", s.methods(methods{http.MethodGet: s.principal(s.customerSessions)}))
}

// queryInt64 reads an optional non-negative integer parameter.
func queryInt64(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if !r.URL.Query().Has(name) {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, hub.Errorf(hub.EINVALID, "%s must be a number of at least 0", name)
	}
	return n, nil
}

// sessionMessages answers GET /api/v1/sessions/{id}/messages?after=&before=&limit=.
// With after (0 included: from the first event), the page holds the events
// after it, oldest first; otherwise the newest events before "before" (or
// the end). has_more says whether
// more lie beyond the page in the direction of paging.
func (s *Server) sessionMessages(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	after, err := queryInt64(r, "after", 0)
	var before, limit int64
	if err == nil {
		before, err = queryInt64(r, "before", 0)
	}
	if err == nil {
		limit, err = queryInt64(r, "limit", 50)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	evs, more, err := s.chats.Messages(r.Context(), p, mux.Vars(r)["id"],
		hub.HistoryQuery{After: after, Before: before, Limit: int(limit), Forward: r.URL.Query().Has("after")})
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := make([]json.RawMessage, len(evs))
	for i, ev := range evs {
		out[i] = ev.JSON
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "has_more": more})
}

// customerSessions answers GET /api/v1/customers/{id}/sessions?limit=: the
// customer's record and its kept sessions, newest first, for staff.
func (s *Server) customerSessions(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	if !p.MayReadHistory() {
		s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "agents only"))
		return
	}
	limit, err := queryInt64(r, "limit", 20)
	if err == nil && (limit < 1 || limit > 100) {
		err = hub.Errorf(hub.EINVALID, "limit must be 1 to 100")
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	c, list, total, err := s.chats.CustomerSessions(r.Context(), mux.Vars(r)["id"], int(limit))
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := s.nativeSessions(list)
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"customer": map[string]any{"id": c.ID, "name": c.Name, "visitor_id": c.Number, "user_id": user, "email": c.Email},
		"sessions": out, "total": total,
	})
}

// rateSession answers POST /api/v1/sessions/{id}/rating {"score":1..5,"comment":"..."}
// for the session's customer, once, after the session ended.
func (s *Server) rateSession(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	var score *int
	var comment *string
	if err := decodeJSON(w, r, fields{"score": &score, "comment": &comment}); err != nil || score == nil {
		if err == nil {
			err = hub.Errorf(hub.EINVALID, "score is required")
		}
		s.nativeErr(w, r, err)
		return
	}
	sess, err := s.chats.Rate(r.Context(), p, mux.Vars(r)["id"], hub.Rating{Score: *score, Comment: deref(comment)})
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": toNativeSession(sess, s.sessions.Now()), "rating": sess.Rating})
}
