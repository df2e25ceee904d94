package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboardhq/switchboard/hub"
)

// The native API under /api/v1: errors are {"error":{"code":...,"message":...}}
// with the status of the one table; times are RFC 3339 UTC with
// milliseconds. docs/api.md describes every endpoint.

type nativeErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// nativeError renders err; status 0 means the table's status for its code.
func (s *Server) nativeError(w http.ResponseWriter, r *http.Request, err error, status int) {
	if status == 0 {
		status = s.errorStatus(w, r, err)
	}
	var body nativeErrorBody
	body.Error.Code, body.Error.Message = hub.ErrorCode(err), hub.ErrorMessage(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	writeJSON(w, status, body)
}

func (s *Server) nativeErr(w http.ResponseWriter, r *http.Request, err error) {
	s.nativeError(w, r, err, 0)
}

func nativeTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format("2006-01-02T15:04:05.000Z")
	return &v
}

// nativeSession is a session as the native API shows it.
type nativeSession struct {
	ID            string `json:"id"`
	Number        int64  `json:"number"`
	Title         string `json:"title"`
	Description   string `json:"description"`
	CustomerID    string `json:"customer_id"`
	CustomerName  string `json:"customer_name"`
	CustomerEmail string `json:"customer_email"`
	AgentID       string `json:"agent_id"`
	AgentName     string `json:"agent_name"`
	State         string `json:"state"`
	Status        string `json:"status"`
	DurationS     int64  `json:"duration"`
	LastSeq       int64  `json:"last_seq"`
	// Epoch is the epoch of the event at last_seq: a client that reloaded
	// the session resumes its socket with both (docs/protocol.md).
	Epoch      string  `json:"epoch,omitempty"`
	CreatedAt  *string `json:"created_at"`
	AssignedAt *string `json:"assigned_at"`
	EndedAt    *string `json:"ended_at"`
	// VisitorID is the customer's number (the KF5 visitor_id); Rating is
	// null until the customer rates the ended session.
	VisitorID int64       `json:"visitor_id"`
	Rating    *hub.Rating `json:"rating"`
	// Tags are staff's labels of the session ([] for none).
	Tags []string `json:"tags"`
	// Offline says it began as an offline message (the widget's form when
	// nobody could answer).
	Offline bool `json:"offline"`
	// Call is the call in progress (null for none); Calls are the calls
	// that ended, oldest first.
	Call  *nativeCall  `json:"call"`
	Calls []nativeCall `json:"calls"`
	// Figures are what the reports count of it (docs/reports.md).
	Figures hub.SessionFigures `json:"figures"`
}

// nativeCall is a session's call as the native API shows it.
type nativeCall struct {
	ID          string     `json:"id"`
	Media       string     `json:"media"`
	State       string     `json:"state"` // ringing, accepted, connected, ended
	From        string     `json:"from"`  // the inviting party's role
	InvitedAt   *string    `json:"invited_at"`
	AcceptedAt  *string    `json:"accepted_at"`
	ConnectedAt *string    `json:"connected_at"`
	EndedAt     *string    `json:"ended_at"`
	DurationS   int64      `json:"duration"` // seconds from acceptance: so far, or in all once ended
	Reason      string     `json:"reason,omitempty"`
	EndedBy     *hub.Party `json:"ended_by,omitempty"`
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func toNativeCalls(s *hub.Session, now time.Time) (*nativeCall, []nativeCall) {
	var cur *nativeCall
	if c := s.Call; c != nil {
		cur = &nativeCall{ID: c.ID, Media: c.Media, State: c.State, From: c.From, InvitedAt: nativeTime(c.InvitedAt),
			AcceptedAt: nativeTime(timeOf(c.AcceptedAt)), ConnectedAt: nativeTime(timeOf(c.ConnectedAt))}
		if c.AcceptedAt != nil {
			cur.DurationS = int64(now.Sub(*c.AcceptedAt) / time.Second)
		}
	}
	past := make([]nativeCall, len(s.Calls))
	for i, c := range s.Calls {
		past[i] = nativeCall{ID: c.ID, Media: c.Media, State: "ended", From: c.From, InvitedAt: nativeTime(c.InvitedAt),
			AcceptedAt: nativeTime(timeOf(c.AcceptedAt)), ConnectedAt: nativeTime(timeOf(c.ConnectedAt)),
			EndedAt: nativeTime(c.EndedAt), DurationS: c.DurationS, Reason: c.Reason, EndedBy: c.EndedBy}
	}
	return cur, past
}

func toNativeSession(s *hub.Session, now time.Time) nativeSession {
	call, calls := toNativeCalls(s, now)
	return nativeSession{
		Call: call, Calls: calls, Figures: s.Figures, Tags: append([]string{}, s.Tags...), Offline: s.Offline,
		ID: s.ID, Number: s.Number, Title: s.Title, Description: s.Description,
		CustomerID: s.CustomerID, CustomerName: s.CustomerName, CustomerEmail: s.CustomerEmail, AgentID: s.AgentID, AgentName: s.AgentName,
		State: string(s.State), Status: string(s.Status()), DurationS: int64(s.Duration(now) / time.Second),
		LastSeq: s.Seq, Epoch: s.Epoch, CreatedAt: nativeTime(s.CreatedAt), AssignedAt: nativeTime(s.AssignedAt), EndedAt: nativeTime(s.EndedAt),
		VisitorID: s.Visitor, Rating: s.Rating,
	}
}

// nativeAgent is an agent account as the native API shows it (never the hash).
type nativeAgent struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Email        string   `json:"email"`
	AgentNumber  string   `json:"agent_number"`
	TeamIDs      []string `json:"team_ids"`
	Role         string   `json:"role"`
	Capacity     int      `json:"capacity"`
	Load         int      `json:"load"`          // sessions it handles or is offered now
	Status       string   `json:"status"`        // shown: Offline, In-call, or the chosen one
	ChosenStatus string   `json:"chosen_status"` // Available or a custom status
	Online       bool     `json:"online"`
	IPAddrs      []string `json:"ip_addrs"`
	Disabled     bool     `json:"disabled"`
	CreatedAt    *string  `json:"created_at"`
}

func toNativeAgent(a *hub.Agent) nativeAgent {
	teams, ips := a.TeamIDs, a.IPs
	if teams == nil {
		teams = []string{}
	}
	if ips == nil {
		ips = []string{}
	}
	return nativeAgent{ID: a.ID, Name: a.Name, Email: a.Email, AgentNumber: a.Number, TeamIDs: teams,
		Role: string(a.Role), Capacity: a.Capacity, Load: a.Load, Status: a.Status, ChosenStatus: a.Chosen, Online: a.Online,
		IPAddrs: ips, Disabled: a.Disabled, CreatedAt: nativeTime(a.CreatedAt)}
}

func (s *Server) routeNative(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Handle("/auth/login", s.methods(methods{http.MethodPost: s.login}))
	v1.Handle("/widget/sessions", s.methods(methods{http.MethodPost: s.widgetCreateSession}))
	v1.Handle("/agents", s.methods(methods{http.MethodGet: s.supervisor(s.listAgents), http.MethodPost: s.admin(s.createAgent)}))
	v1.Handle("/agents/{id}", s.methods(methods{http.MethodGet: s.supervisor(s.getAgent), http.MethodPatch: s.admin(s.updateAgent)}))
	v1.Handle("/agents/{id}/token", s.methods(methods{http.MethodPost: s.admin(s.issueAgentToken)}))
	v1.Handle("/sessions/{id}", s.methods(methods{http.MethodGet: s.principal(s.getSession), http.MethodDelete: s.principal(s.closeSession)}))
	v1.Handle("/sessions/{id}/events", s.methods(methods{http.MethodGet: s.principal(s.sessionEvents)}))
}

// principalFromToken verifies a token and returns who it speaks for. An
// agent must still exist and be enabled: disabling takes effect at once.
func (s *Server) principalFromToken(ctx context.Context, token string) (hub.Principal, error) {
	claims, err := s.tokens.Verify(token, s.sessions.Now())
	if err != nil {
		return hub.Principal{}, err
	}
	if claims.Role == hub.PrincipalCustomer {
		return hub.Principal{Kind: hub.PrincipalCustomer, ID: claims.Subject, Name: claims.Name, SessionID: claims.SessionID}, nil
	}
	a, err := s.agents.Agent(ctx, claims.Subject)
	if errors.Is(err, hub.ErrAgentNotFound) || err == nil && a.Disabled {
		return hub.Principal{}, hub.Errorf(hub.EUNAUTHORIZED, "invalid or expired token")
	} else if err != nil {
		return hub.Principal{}, err
	}
	return hub.Principal{Kind: hub.PrincipalAgent, ID: a.ID, Name: a.Name, Role: a.Role}, nil
}

// requestPrincipal authenticates a REST request: the admin key (the system
// principal) or a token, as "Authorization: Bearer".
func (s *Server) requestPrincipal(r *http.Request) (hub.Principal, error) {
	tok, ok := bearer(r)
	if !ok {
		return hub.Principal{}, hub.ErrUnauthorized
	}
	if s.isAdminKey(tok) {
		return hub.SystemPrincipal, nil
	}
	return s.principalFromToken(r.Context(), tok)
}

type principalHandler func(w http.ResponseWriter, r *http.Request, p hub.Principal)

// principal admits any authenticated caller.
func (s *Server) principal(h principalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.requestPrincipal(r)
		if err != nil {
			s.nativeErr(w, r, err)
			return
		}
		h(w, r, p)
	}
}

// admin admits the admin key and agents with the admin role.
func (s *Server) admin(h principalHandler) http.HandlerFunc {
	return s.principal(func(w http.ResponseWriter, r *http.Request, p hub.Principal) {
		if p.Kind != hub.PrincipalSystem && !(p.Kind == hub.PrincipalAgent && p.Role == hub.RoleAdmin) {
			s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "admin only"))
			return
		}
		h(w, r, p)
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.loginLimit.Allow(s.clientIP(r)) {
		s.nativeError(w, r, hub.Errorf(hub.ELIMIT, "too many attempts; try again later"), http.StatusTooManyRequests)
		return
	}
	var email, password *string
	if err := decodeJSON(w, r, fields{"email": &email, "password": &password}); err != nil || email == nil || password == nil {
		s.nativeErr(w, r, hub.ErrInvalidBody)
		return
	}
	bad := hub.Errorf(hub.EUNAUTHORIZED, "wrong e-mail or password")
	a, err := s.agents.AgentByEmail(r.Context(), *email)
	if errors.Is(err, hub.ErrAgentNotFound) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(*password)) // same time as a known e-mail
		s.nativeErr(w, r, bad)
		return
	} else if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if a.PasswordHash == "" || bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(*password)) != nil || a.Disabled {
		s.nativeErr(w, r, bad)
		return
	}
	s.writeAgentToken(w, a)
}

// issueAgentToken signs in an agent on an administrator's word: the way a
// single-sign-on bridge (and the load tool) logs agents in. An agent
// created without a password can sign in only so.
func (s *Server) issueAgentToken(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	a, err := s.agents.Agent(r.Context(), mux.Vars(r)["id"])
	if err == nil && a.Disabled {
		err = hub.Errorf(hub.ECONFLICT, "agent %s is disabled", a.ID)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	s.writeAgentToken(w, a)
}

func (s *Server) writeAgentToken(w http.ResponseWriter, a *hub.Agent) {
	exp := s.sessions.Now().Add(s.agentTokenTTL)
	token := s.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: a.ID, Name: a.Name, Expires: exp.Unix()})
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": nativeTime(exp), "agent": toNativeAgent(a)})
}

// dummyHash makes a login with an unknown e-mail cost what a known one costs.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard-timing"), bcrypt.DefaultCost)

func (s *Server) widgetCreateSession(w http.ResponseWriter, r *http.Request) {
	if !s.widgetLimit.Allow(s.clientIP(r)) {
		s.nativeError(w, r, hub.Errorf(hub.ELIMIT, "too many new conversations from this address; try again later"), http.StatusTooManyRequests)
		return
	}
	var name, email, title, description, customerID, customerHash, userID *string
	var offline *bool
	err := decodeJSON(w, r, fields{"name": &name, "email": &email, "title": &title, "description": &description,
		"customer_id": &customerID, "customer_hash": &customerHash, "user_id": &userID, "offline": &offline})
	if err != nil || name == nil {
		if err == nil {
			err = hub.ErrInvalidBody
		}
		s.nativeErr(w, r, err)
		return
	}
	// A blank optional field is no e-mail: pre-chat forms send what was typed.
	create := hub.SessionCreate{CustomerName: *name, CustomerEmail: strings.TrimSpace(deref(email)),
		Title: deref(title), Description: deref(description)}
	if create.CustomerEmail != "" && !hub.ValidEmail(create.CustomerEmail) {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "email is not an e-mail address"))
		return
	}
	if create.Title == "" {
		create.Title = "Chat"
	}
	if offline != nil && *offline {
		// An offline message: the answer goes to the address (or to the
		// chat, should the customer come back), so both are required.
		if create.CustomerEmail == "" || strings.TrimSpace(create.Description) == "" {
			s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "an offline message needs email and description (the message)"))
			return
		}
		create.Offline = true
	}
	if customerID != nil && !hub.ValidAgentID(*customerID) {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "customer_id must be 1 to 64 letters, digits or _.@-"))
		return
	}
	if userID != nil && (customerID == nil || !hub.ValidUserID(*userID)) {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "user_id must be a positive number and comes with customer_id"))
		return
	}
	if customerID != nil {
		// A site may name its own customer (and its ticket-system user) only
		// with the HMAC its backend computes: otherwise anyone could read
		// another customer's chats, or file chats under another user.
		vouched := *customerID
		if userID != nil {
			vouched += ":" + *userID
			create.UserID = *userID
		}
		if customerHash == nil || !hub.VerifyIdentity(s.creds.Load().Identity, vouched, *customerHash) {
			s.nativeError(w, r, hub.Errorf(hub.EUNAUTHORIZED, "customer_id needs a valid customer_hash"), 0)
			return
		}
		create.CustomerID = *customerID
	}
	sess, err := s.sessions.CreateSession(r.Context(), create)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	exp := s.sessions.Now().Add(s.customerTokenTTL)
	token := s.tokens.Sign(hub.Claims{Role: hub.PrincipalCustomer, Subject: sess.CustomerID, Name: sess.CustomerName,
		SessionID: sess.ID, Expires: exp.Unix()})
	writeJSON(w, http.StatusCreated, map[string]any{
		"session": toNativeSession(sess, s.sessions.Now()), "token": token, "expires_at": nativeTime(exp),
	})
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	sess, err := s.sessions.SessionFor(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNativeSession(sess, s.sessions.Now()))
}

func (s *Server) closeSession(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	id := mux.Vars(r)["id"]
	if _, err := s.sessions.SessionFor(r.Context(), p, id); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	sess, err := s.sessions.CloseSessionAs(r.Context(), p, id)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNativeSession(sess, s.sessions.Now()))
}

// sessionEvents serves a session's history from its stream: what a client
// reloads after a resync signal.
func (s *Server) sessionEvents(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	after, err1 := strconv.ParseInt(orDefault(r.URL.Query().Get("after"), "0"), 10, 64)
	limit, err2 := strconv.Atoi(orDefault(r.URL.Query().Get("limit"), "100"))
	if err1 != nil || err2 != nil || after < 0 || limit < 1 {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "after must be a seq (0 or more) and limit at least 1"))
		return
	}
	limit = min(limit, 1000)
	id := mux.Vars(r)["id"]
	evs, err := s.sessions.Events(r.Context(), p, id, after, limit)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e) // already JSON, exactly as the stream holds it
	}
	b.WriteString("]}\n")
	w.Write([]byte(b.String()))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// agentInput is the body of agent create and update.
type agentInput struct {
	id, name, email, password, role, number *string
	capacity                                *int
	disabled                                *bool
	teams                                   *[]string
}

func (s *Server) readAgentInput(w http.ResponseWriter, r *http.Request) (agentInput, error) {
	var in agentInput
	err := decodeJSON(w, r, fields{"id": &in.id, "name": &in.name, "email": &in.email, "password": &in.password,
		"role": &in.role, "capacity": &in.capacity, "disabled": &in.disabled, "agent_number": &in.number,
		"team_ids": &in.teams})
	return in, err
}

// apply validates in and applies it to a.
func (in agentInput) apply(a *hub.Agent) error {
	if in.name != nil {
		a.Name = strings.TrimSpace(*in.name)
	}
	if in.email != nil {
		a.Email = strings.TrimSpace(*in.email) // as written; look-ups ignore case
	}
	if in.number != nil {
		a.Number = strings.TrimSpace(*in.number)
	}
	if in.teams != nil {
		a.TeamIDs = slices.Compact(slices.Sorted(slices.Values(*in.teams)))
	}
	if in.role != nil {
		a.Role = hub.Role(*in.role)
	}
	if in.capacity != nil {
		a.Capacity = *in.capacity
	}
	if in.disabled != nil {
		a.Disabled = *in.disabled
	}
	if in.password != nil {
		if n := len(*in.password); n < 8 || n > 72 {
			return hub.Errorf(hub.EINVALID, "password must be 8 to 72 bytes")
		}
		h, err := hub.HashPassword(*in.password)
		if err != nil {
			return err
		}
		a.PasswordHash = h
	}
	switch {
	case !hub.ValidAgentID(a.ID):
		return hub.Errorf(hub.EINVALID, "id must be 1 to 64 letters, digits or _.@-")
	case a.Name == "" || len(a.Name) > hub.MaxNameLen:
		return hub.Errorf(hub.EINVALID, "name is required (at most %d characters)", hub.MaxNameLen)
	case a.Email != "" && (!strings.Contains(a.Email, "@") || len(a.Email) > 254 || strings.ContainsAny(a.Email, " \t\r\n")):
		return hub.Errorf(hub.EINVALID, "email is not an e-mail address")
	case !hub.ValidRole(a.Role):
		return hub.Errorf(hub.EINVALID, "role must be agent, supervisor, admin or bot")
	case len(a.Number) > hub.MaxNameLen:
		return hub.Errorf(hub.EINVALID, "agent_number is at most %d characters", hub.MaxNameLen)
	case len(a.TeamIDs) > 100:
		return hub.Errorf(hub.EINVALID, "an agent is in at most 100 teams")
	case a.Capacity < 1 || a.Capacity > 1000:
		return hub.Errorf(hub.EINVALID, "capacity must be 1 to 1000")
	}
	return nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	in, err := s.readAgentInput(w, r)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	a := &hub.Agent{ID: "agent_" + strings.ToLower(hub.NewSecret(10)), Role: hub.RoleAgent,
		Capacity: s.sessions.Policy().AgentCapacity, CreatedAt: s.sessions.Now()}
	if in.id != nil {
		a.ID = *in.id
	}
	if in.email == nil {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "email is required"))
		return
	}
	if err := in.apply(a); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if err := s.agents.CreateAgent(r.Context(), a); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	a.Status, a.Chosen = hub.AgentOffline, hub.AgentAvailable
	writeJSON(w, http.StatusCreated, toNativeAgent(a))
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	a, err := s.agents.Agent(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	in, err := s.readAgentInput(w, r)
	if err == nil && in.id != nil && *in.id != a.ID {
		err = hub.Errorf(hub.EINVALID, "id cannot change")
	}
	if err == nil {
		err = in.apply(a)
	}
	if err == nil {
		err = s.agents.PutAgent(r.Context(), a)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNativeAgent(a))
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	a, err := s.agents.Agent(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNativeAgent(a))
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	list, err := s.agents.Agents(r.Context())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := make([]nativeAgent, len(list))
	for i, a := range list {
		out[i] = toNativeAgent(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}
