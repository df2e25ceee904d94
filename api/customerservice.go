package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// The Customer Service API (../shared/seeds/customer-service-api.txt):
// envelopes {"code":0,"data":...} and {"code":0,"message":...}, errors
// {"code":-1,"message":...}, statuses Waiting/Active/Ended, times RFC 3339
// UTC to the second. docs/api.md records how the document was read.

const (
	csDefaultPerPage = 20
	csMaxPerPage     = 100
	csMaxPage        = 1_000_000
)

// csTimeLayout is RFC 3339 in UTC with whole seconds, as the document shows
// ("2024-01-15T10:30:00Z").
const csTimeLayout = "2006-01-02T15:04:05Z"

func csTime(t time.Time) string { return t.UTC().Format(csTimeLayout) }

// csSession is a session in the list and detail answers: exactly the
// document's fields. agent_id and agent_name are "" until an agent is in.
type csSession struct {
	ID           string `json:"id"`
	Title        string `json:"title"`
	CustomerID   string `json:"customer_id"`
	CustomerName string `json:"customer_name"`
	AgentID      string `json:"agent_id"`
	AgentName    string `json:"agent_name"`
	Status       string `json:"status"`
	Duration     int64  `json:"duration"`
	CreatedAt    string `json:"created_at"`
}

// csCreated is the answer to a create: the document shows no agent fields
// and no duration there.
type csCreated struct {
	ID           string `json:"id"`
	Title        string `json:"title"`
	CustomerID   string `json:"customer_id"`
	CustomerName string `json:"customer_name"`
	Status       string `json:"status"`
	CreatedAt    string `json:"created_at"`
}

type csData struct {
	Code int `json:"code"`
	Data any `json:"data"`
}

type csMessage struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func csFromSession(s *hub.Session, now time.Time) csSession {
	agentID, agentName := s.AgentID, s.AgentName
	if s.State != hub.StateAgent && s.State != hub.StateEnded {
		// An offer not yet accepted does not put the agent in the session.
		agentID, agentName = "", ""
	}
	return csSession{
		ID: s.ID, Title: s.Title, CustomerID: s.CustomerID, CustomerName: s.CustomerName,
		AgentID: agentID, AgentName: agentName, Status: string(s.Status()),
		Duration: int64(s.Duration(now) / time.Second), CreatedAt: csTime(s.CreatedAt),
	}
}

// csError renders err in the document's error envelope.
func (s *Server) csError(w http.ResponseWriter, r *http.Request, err error) {
	writeJSON(w, s.errorStatus(w, r, err), csMessage{Code: -1, Message: hub.ErrorMessage(err)})
}

func (s *Server) routeCustomerService(r *mux.Router) {
	cs := r.PathPrefix("/customer-service").Subrouter()
	// Each route carries the key check itself rather than through the
	// subrouter's middleware: the routes are shared by every tenant's
	// Server (sharedRouter), a middleware would be the instance's.
	auth := s.requireAdminKey(s.csError)
	cs.Handle("/sessions", auth(s.methods(methods{http.MethodGet: s.csListSessions, http.MethodPost: s.csCreateSession})))
	cs.Handle("/sessions/{id}", auth(s.methods(methods{http.MethodGet: s.csGetSession, http.MethodDelete: s.csCloseSession})))
	cs.Handle("/sessions/{id}/assign", auth(s.methods(methods{http.MethodPost: s.csAssign})))
	cs.Handle("/stats", auth(s.methods(methods{http.MethodGet: s.csStats})))
}

// queryInt reads an optional positive integer query parameter.
func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, hub.ErrInvalidBody
	}
	return n, nil
}

func (s *Server) csListSessions(w http.ResponseWriter, r *http.Request) {
	page, err := queryInt(r, "page", 1, csMaxPage)
	if err != nil {
		s.csError(w, r, err)
		return
	}
	perPage, err := queryInt(r, "per_page", csDefaultPerPage, math.MaxInt)
	if err != nil {
		s.csError(w, r, err)
		return
	}
	perPage = min(perPage, csMaxPerPage)
	var status hub.Status
	if v := r.URL.Query().Get("status"); v != "" {
		var ok bool
		if status, ok = hub.ParseStatus(v); !ok {
			s.csError(w, r, hub.ErrInvalidBody)
			return
		}
	}
	list, total, err := s.sessions.Sessions(r.Context(), hub.SessionFilter{Status: status, Offset: (page - 1) * perPage, Limit: perPage})
	if err != nil {
		s.csError(w, r, err)
		return
	}
	now := s.sessions.Now()
	out := make([]csSession, 0, len(list))
	for _, sess := range list {
		out = append(out, csFromSession(sess, now))
	}
	writeJSON(w, http.StatusOK, csData{Data: struct {
		Sessions []csSession `json:"sessions"`
		Total    int         `json:"total"`
	}{out, total}})
}

func (s *Server) csGetSession(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Session(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.csError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, csData{Data: csFromSession(sess, s.sessions.Now())})
}

func (s *Server) csCreateSession(w http.ResponseWriter, r *http.Request) {
	var title, customerName, description, customerID *string
	err := decodeJSON(w, r, fields{
		"title": &title, "customer_name": &customerName, "description": &description,
		"customer_id": &customerID, // extension: the site's own customer id
	})
	if err != nil {
		s.csError(w, r, err)
		return
	}
	if title == nil || customerName == nil {
		s.csError(w, r, hub.ErrInvalidBody)
		return
	}
	sess, err := s.sessions.CreateSession(r.Context(), hub.SessionCreate{
		Title: *title, CustomerName: *customerName, Description: deref(description), CustomerID: deref(customerID),
		ByAgent: true, // opened by the back office, not by the customer
	})
	if err != nil {
		s.csError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, csData{Data: csCreated{
		ID: sess.ID, Title: sess.Title, CustomerID: sess.CustomerID, CustomerName: sess.CustomerName,
		Status: string(sess.Status()), CreatedAt: csTime(sess.CreatedAt),
	}})
}

func (s *Server) csCloseSession(w http.ResponseWriter, r *http.Request) {
	if _, err := s.sessions.CloseSession(r.Context(), mux.Vars(r)["id"]); err != nil {
		s.csError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, csMessage{Code: 0, Message: "session closed"})
}

func (s *Server) csAssign(w http.ResponseWriter, r *http.Request) {
	var agentID, agentName *string
	if err := decodeJSON(w, r, fields{"agent_id": &agentID, "agent_name": &agentName}); err != nil {
		s.csError(w, r, err)
		return
	}
	if agentID == nil || agentName == nil {
		s.csError(w, r, hub.ErrInvalidBody)
		return
	}
	if _, err := s.sessions.AssignSession(r.Context(), mux.Vars(r)["id"], hub.Assignment{AgentID: *agentID, AgentName: *agentName}); err != nil {
		s.csError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, csMessage{Code: 0, Message: "agent assigned"})
}

func (s *Server) csStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.sessions.Stats(r.Context())
	if err != nil {
		s.csError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, csData{Data: struct {
		Total   int64 `json:"total_sessions"`
		Active  int64 `json:"active_sessions"`
		Waiting int64 `json:"waiting_sessions"`
		Ended   int64 `json:"ended_sessions"`
	}{st.Total, st.Active, st.Waiting, st.Ended}})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
