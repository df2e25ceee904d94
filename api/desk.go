package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// The native API of agents at work: statuses, teams, the queue, and the
// routing actions on a session. docs/api.md describes each.

func (s *Server) routeDesk(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Handle("/statuses", s.methods(methods{http.MethodGet: s.principal(s.listStatuses)}))
	v1.Handle("/directory", s.methods(methods{http.MethodGet: s.staff(s.directory)}))
	v1.Handle("/agents/{id}/status", s.methods(methods{http.MethodPut: s.principal(s.putAgentStatus)}))
	v1.Handle("/teams", s.methods(methods{http.MethodGet: s.supervisor(s.listTeams), http.MethodPost: s.admin(s.createTeam)}))
	v1.Handle("/teams/{id}", s.methods(methods{http.MethodGet: s.supervisor(s.getTeam), http.MethodPatch: s.admin(s.updateTeam)}))
	v1.Handle("/queue", s.methods(methods{http.MethodGet: s.supervisor(s.getQueue)}))
	v1.Handle("/stats", s.methods(methods{http.MethodGet: s.supervisor(s.getStats)}))
	v1.Handle("/sessions", s.methods(methods{http.MethodGet: s.supervisor(s.listSessions)}))
	v1.Handle("/sessions/{id}/tags", s.methods(methods{http.MethodPut: s.principal(s.putTags)}))
	v1.Handle("/widget/availability", s.methods(methods{http.MethodGet: s.availability}))
	v1.Handle("/reports/sessions", s.methods(methods{http.MethodGet: s.supervisor(s.getReport(hub.ReportByDay))}))
	v1.Handle("/reports/agents", s.methods(methods{http.MethodGet: s.supervisor(s.getReport(hub.ReportByAgent))}))
	v1.Handle("/offline-messages", s.methods(methods{http.MethodGet: s.staff(s.offlineMessages)}))
	for _, action := range []string{"accept", "decline", "pick", "transfer", "handover"} {
		v1.Handle("/sessions/{id}/"+action, s.methods(methods{http.MethodPost: s.principal(s.sessionAction(action))}))
	}
}

// supervisor admits the admin key, supervisors and admins.
func (s *Server) supervisor(h principalHandler) http.HandlerFunc {
	return s.principal(func(w http.ResponseWriter, r *http.Request, p hub.Principal) {
		if !p.Privileged() {
			s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "supervisors only"))
			return
		}
		h(w, r, p)
	})
}

// staff admits agents (of any role) and the admin key; not customers.
func (s *Server) staff(h principalHandler) http.HandlerFunc {
	return s.principal(func(w http.ResponseWriter, r *http.Request, p hub.Principal) {
		if p.Kind == hub.PrincipalCustomer {
			s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "agents only"))
			return
		}
		h(w, r, p)
	})
}

// directoryAgent is a colleague as any agent may see it: enough to pick
// whom to transfer a session to, nothing of its account.
type directoryAgent struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Status   string   `json:"status"`
	Online   bool     `json:"online"`
	Load     int      `json:"load"`
	Capacity int      `json:"capacity"`
	TeamIDs  []string `json:"team_ids"`
}

// directory lists the enabled agents (not bots) and the teams, for an
// agent choosing where to transfer a session.
func (s *Server) directory(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	agents, err := s.agents.Agents(r.Context())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	teams, err := s.teams.Teams(r.Context())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	outAgents := []directoryAgent{}
	for _, a := range agents {
		if a.Disabled || a.Role == hub.RoleBot {
			continue
		}
		ids := a.TeamIDs
		if ids == nil {
			ids = []string{}
		}
		outAgents = append(outAgents, directoryAgent{ID: a.ID, Name: a.Name, Role: string(a.Role), Status: a.Status,
			Online: a.Online, Load: a.Load, Capacity: a.Capacity, TeamIDs: ids})
	}
	outTeams := []map[string]string{}
	for _, t := range teams {
		outTeams = append(outTeams, map[string]string{"id": t.ID, "name": t.Name})
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": outAgents, "teams": outTeams})
}

func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	writeJSON(w, http.StatusOK, map[string]any{
		"statuses": s.desk.Statuses(), "system": []string{hub.AgentInCall, hub.AgentOffline}})
}

// putAgentStatus sets the status an agent chose: the agent itself, a
// supervisor or an admin. Unlike the CCAI surface it is not refused while
// the agent is In-call or Offline: the choice shows when that ends.
func (s *Server) putAgentStatus(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	id := mux.Vars(r)["id"]
	if id == "me" && p.Kind == hub.PrincipalAgent {
		id = p.ID
	}
	if !(p.Privileged() || p.Kind == hub.PrincipalAgent && p.ID == id && p.Role != hub.RoleBot) {
		s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "you may set only your own status"))
		return
	}
	var status *string
	if err := decodeJSON(w, r, fields{"status": &status}); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if status == nil {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "status is required"))
		return
	}
	changes, err := s.desk.SetStatus(r.Context(), []string{id}, *status, false)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	c := changes[0]
	writeJSON(w, http.StatusOK, map[string]string{"agent_id": c.AgentID, "chosen_status": *status,
		"previous_status": c.Previous, "current_status": c.Current})
}

type nativeTeam struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	AgentIDs  []string `json:"agent_ids"`
	CreatedAt *string  `json:"created_at"`
}

func (s *Server) teamJSON(r *http.Request, t *hub.Team) (nativeTeam, error) {
	ids, err := s.teams.TeamAgents(r.Context(), t.ID)
	if ids == nil {
		ids = []string{}
	}
	return nativeTeam{ID: t.ID, Name: t.Name, AgentIDs: ids, CreatedAt: nativeTime(t.CreatedAt)}, err
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	teams, err := s.teams.Teams(r.Context())
	out := make([]nativeTeam, 0, len(teams))
	for _, t := range teams {
		if err != nil {
			break
		}
		var nt nativeTeam
		nt, err = s.teamJSON(r, t)
		out = append(out, nt)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": out})
}

func (s *Server) readTeam(w http.ResponseWriter, r *http.Request, t *hub.Team) error {
	var id, name *string
	if err := decodeJSON(w, r, fields{"id": &id, "name": &name}); err != nil {
		return err
	}
	if id != nil {
		if t.ID != "" && *id != t.ID {
			return hub.Errorf(hub.EINVALID, "id cannot change")
		}
		if !hub.ValidAgentID(*id) {
			return hub.Errorf(hub.EINVALID, "id must be 1 to 64 letters, digits or _.@-")
		}
		t.ID = *id
	}
	if name != nil {
		t.Name = strings.TrimSpace(*name)
	}
	if t.Name == "" || len(t.Name) > hub.MaxNameLen || !utf8.ValidString(t.Name) {
		return hub.Errorf(hub.EINVALID, "name is required (at most %d characters)", hub.MaxNameLen)
	}
	return nil
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	t := &hub.Team{CreatedAt: s.sessions.Now()}
	err := s.readTeam(w, r, t)
	if err == nil {
		t.ID, err = s.teams.PutTeam(r.Context(), t, true)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out, _ := s.teamJSON(r, t)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	t, err := s.teams.Team(r.Context(), mux.Vars(r)["id"])
	s.writeTeam(w, r, t, err)
}

func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	t, err := s.teams.Team(r.Context(), mux.Vars(r)["id"])
	if err == nil {
		err = s.readTeam(w, r, t)
	}
	if err == nil {
		_, err = s.teams.PutTeam(r.Context(), t, false)
	}
	s.writeTeam(w, r, t, err)
}

// writeTeam answers a team with its members, or err.
func (s *Server) writeTeam(w http.ResponseWriter, r *http.Request, t *hub.Team, err error) {
	var out nativeTeam
	if err == nil {
		out, err = s.teamJSON(r, t)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// queueView is the queue as supervisors see it, with the agents by status.
func (s *Server) queueView(r *http.Request) (map[string]any, error) {
	q, err := s.desk.Queue(r.Context(), nil)
	if err != nil {
		return nil, err
	}
	agents, err := s.agents.Agents(r.Context())
	if err != nil {
		return nil, err
	}
	byStatus := map[string]int{}
	for _, a := range agents {
		if a.Role != hub.RoleBot {
			byStatus[a.Status]++
		}
	}
	out := map[string]any{"length": q.Length, "longest_wait_s": 0, "estimated_interval_s": q.Interval.Seconds(),
		"version": q.Version, "agents_by_status": byStatus}
	if !q.OldestSince.IsZero() {
		out["longest_wait_s"] = int64(s.sessions.Now().Sub(q.OldestSince) / time.Second)
	}
	return out, nil
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	out, err := s.queueView(r)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// getStats is the contact center at a glance: sessions by status, the
// queue, agents by status.
func (s *Server) getStats(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	st, err := s.sessions.Stats(r.Context())
	var queue map[string]any
	if err == nil {
		queue, err = s.queueView(r)
	}
	var avg float64
	var rated, endedToday int64
	if err == nil {
		avg, rated, err = s.chats.RatingAverage(r.Context())
	}
	if err == nil {
		now := s.sessions.Now().In(s.location)
		midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.location)
		endedToday, err = s.sessions.EndedSince(r.Context(), midnight)
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	agents := queue["agents_by_status"]
	delete(queue, "agents_by_status")
	writeJSON(w, http.StatusOK, map[string]any{
		"sessions": map[string]int64{"total": st.Total, "waiting": st.Waiting, "active": st.Active, "ended": st.Ended,
			"ended_today": endedToday},
		"queue": queue, "agents_by_status": agents,
		"ratings": map[string]any{"average": math.Round(avg*100) / 100, "count": rated},
	})
}

// listSessions lists every session, newest first, for supervisors: all,
// of a status, or of a tag.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	q := r.URL.Query()
	f := hub.SessionFilter{Tag: q.Get("tag")}
	if v := q.Get("status"); v != "" {
		st, ok := hub.ParseStatus(v)
		if !ok {
			s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "status must be Waiting, Active or Ended"))
			return
		}
		f.Status = st
	}
	s.writeSessionPage(w, r, f)
}

// writeSessionPage answers the page of f that the query's offset (0) and
// limit (50, at most 200) name: {"sessions":[…],"total":n}.
func (s *Server) writeSessionPage(w http.ResponseWriter, r *http.Request, f hub.SessionFilter) {
	q := r.URL.Query()
	f.Offset, f.Limit = 0, 50
	for key, dst := range map[string]*int{"offset": &f.Offset, "limit": &f.Limit} {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || key == "limit" && (n < 1 || n > 200) {
				s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "offset must be at least 0 and limit 1 to 200"))
				return
			}
			*dst = n
		}
	}
	list, total, err := s.sessions.Sessions(r.Context(), f)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": s.nativeSessions(list), "total": total})
}

// nativeSessions renders sessions as the native API shows them.
func (s *Server) nativeSessions(list []*hub.Session) []nativeSession {
	now := s.sessions.Now()
	out := make([]nativeSession, len(list))
	for i, sess := range list {
		out[i] = toNativeSession(sess, now)
	}
	return out
}

// availability tells the widget whether a chat can be answered now: open
// (within the business hours) and with an agent who may take it. When
// not, the widget offers its offline form instead; opens_at says when
// the hours open next. No credentials: it says nothing about anyone.
func (s *Server) availability(w http.ResponseWriter, r *http.Request) {
	now := s.sessions.Now()
	out := map[string]any{"online": true}
	if !s.hours.Open(now) {
		out = map[string]any{"online": false, "reason": "closed", "opens_at": nativeTime(s.hours.NextOpen(now))}
	} else if ok, err := s.desk.Answering(r.Context()); err != nil {
		s.nativeErr(w, r, err)
		return
	} else if !ok {
		out = map[string]any{"online": false, "reason": "no_agents"}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// offlineMessages lists the offline messages nobody picked yet, newest
// first like the other lists, to any agent: one picks a message with
// POST /api/v1/sessions/{id}/pick (or the pick command) and answers it.
func (s *Server) offlineMessages(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
	s.writeSessionPage(w, r, hub.SessionFilter{Offline: true})
}

// putTags replaces a session's tags ({"tags":["refund","vip"]}) and
// answers the session: staff only (hub.Service.SetTags).
func (s *Server) putTags(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	var tags *[]string
	if err := decodeJSON(w, r, fields{"tags": &tags}); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if tags == nil {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "tags must be an array of tags"))
		return
	}
	sess, err := s.sessions.SetTags(r.Context(), p, mux.Vars(r)["id"], *tags)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNativeSession(sess, s.sessions.Now()))
}

// sessionAction runs accept, decline, pick, transfer or handover over REST.
func (s *Server) sessionAction(action string) principalHandler {
	return func(w http.ResponseWriter, r *http.Request, p hub.Principal) {
		id := mux.Vars(r)["id"]
		var sess *hub.Session
		var err error
		switch action {
		case "accept":
			sess, err = s.desk.Accept(r.Context(), p, id)
		case "decline":
			sess, err = s.desk.Decline(r.Context(), p, id)
		case "pick":
			sess, err = s.desk.Pick(r.Context(), p, id)
		case "handover":
			sess, err = s.desk.Handover(r.Context(), p, id)
		case "transfer":
			var agentID, teamID *string
			if err = decodeJSON(w, r, fields{"agent_id": &agentID, "team_id": &teamID}); err == nil {
				sess, err = s.desk.Transfer(r.Context(), p, id, hub.Transfer{AgentID: deref(agentID), TeamID: deref(teamID)})
			}
		}
		if err != nil {
			s.nativeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toNativeSession(sess, s.sessions.Now()))
	}
}
