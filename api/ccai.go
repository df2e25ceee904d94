package api

import (
	"cmp"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// CCAIConfig holds the company key and secret of the CCAI agent-status
// surface (HTTP Basic: key as user name, secret as password).
type CCAIConfig struct {
	Key, Secret string
}

// The CCAI surface's refusals of one agent, word for word from its document.
const (
	ccaiFromSystem = "Agent can't be changed from system status 'In-call'"
	ccaiOffline    = "Agent's status can't be changed if they are offline or logged out"
)

// ccaiID is an agent or team id as the surface writes it: a JSON number
// when it is one (the document's ids are integers), else a string.
type ccaiID string

func (id ccaiID) MarshalJSON() ([]byte, error) {
	if n, err := strconv.ParseInt(string(id), 10, 64); err == nil && strconv.FormatInt(n, 10) == string(id) {
		return []byte(string(id)), nil
	}
	return json.Marshal(string(id))
}

// UnmarshalJSON takes an integer, or a string for hub ids that are not numbers.
func (id *ccaiID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return errors.New("bad id")
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil || s == "" {
			return errors.New("bad id")
		}
		*id = ccaiID(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("bad id")
	}
	*id = ccaiID(strconv.FormatInt(n, 10))
	return nil
}

type ccaiAgentChange struct {
	AgentID        ccaiID `json:"agent_id"`
	Name           string `json:"name"`
	Email          string `json:"email"`
	AgentNumber    string `json:"agent_number"`
	PreviousStatus string `json:"previous_status"`
	CurrentStatus  string `json:"current_status"`
	Message        string `json:"message,omitempty"`
}

type ccaiAgentStatus struct {
	AgentID     ccaiID   `json:"agent_id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	AgentNumber string   `json:"agent_number"`
	Status      string   `json:"status"`
	IPAddrs     []string `json:"ip_addrs"`
}

func (s *Server) routeCCAI(r *mux.Router) {
	r.Handle("/apps/api/v1/agent_statuses", s.methodsIn(methods{
		http.MethodGet: s.ccaiAuth(s.ccaiGet), http.MethodPost: s.ccaiAuth(s.ccaiPost),
	}, s.ccaiError))
}

// ccaiError answers {"message": ...} with status.
func (s *Server) ccaiError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="switchboard"`)
	}
	writeJSON(w, status, map[string]string{"message": msg})
}

func (s *Server) ccaiNotFound(w http.ResponseWriter, r *http.Request) {
	s.ccaiError(w, http.StatusNotFound, "not found")
}

// ccaiAuth admits the configured key and secret (HTTP Basic).
func (s *Server) ccaiAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		conf := s.ccaiConf()
		if !ok || conf.Key == "" ||
			!hmac.Equal([]byte(user), []byte(conf.Key)) || !hmac.Equal([]byte(pass), []byte(conf.Secret)) {
			s.ccaiError(w, http.StatusUnauthorized, "invalid credentials")
			return
		}
		h(w, r)
	}
}

// ccaiBody is the body of both methods; GET takes the same filter from the
// query instead.
type ccaiBody struct {
	Status   *string   `json:"status"`
	AgentIDs *[]ccaiID `json:"agent_ids"`
	TeamIDs  *[]ccaiID `json:"team_ids"`
}

// readCCAIBody reads a JSON body; an empty one is (nil, nil).
func (s *Server) readCCAIBody(w http.ResponseWriter, r *http.Request) (*ccaiBody, string) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, "request body too large"
	}
	raw = trimJSONSpace(raw)
	if len(raw) == 0 {
		return nil, ""
	}
	if raw[0] != '{' {
		return nil, "request body must be a JSON object"
	}
	// Keys match exactly and once, and nothing may follow the object
	// (encoding/json alone would take "STATUS" for "status" and ignore a
	// trailing "}").
	known := fields{"status": nil, "agent_ids": nil, "team_ids": nil}
	members, err := objectMembers(raw, known)
	if err != nil {
		var probe map[string]json.RawMessage
		if json.Unmarshal(raw, &probe) == nil {
			for k := range probe {
				if _, ok := known[k]; !ok {
					return nil, "unknown field " + strconv.Quote(k)
				}
			}
		}
		return nil, "request body is not valid JSON"
	}
	var b ccaiBody
	for key, v := range members {
		switch key {
		case "status":
			if err := json.Unmarshal(v, &b.Status); err != nil {
				return nil, "status must be a string"
			}
		case "agent_ids":
			if err := json.Unmarshal(v, &b.AgentIDs); err != nil {
				return nil, "agent_ids and team_ids must be arrays of integers"
			}
		case "team_ids":
			if err := json.Unmarshal(v, &b.TeamIDs); err != nil {
				return nil, "agent_ids and team_ids must be arrays of integers"
			}
		}
	}
	return &b, ""
}

// ccaiAgents resolves the union of agent ids and the members of team ids,
// in the order given, then each team's members by id; it answers 404 for
// an unknown id and changes nothing.
func (s *Server) ccaiAgents(w http.ResponseWriter, r *http.Request, agentIDs, teamIDs []ccaiID) ([]*hub.Agent, bool) {
	ctx := r.Context()
	ids := make([]string, 0, len(agentIDs))
	fromTeam := map[string]bool{} // bots in a team are left out; a bot named is unknown
	for _, id := range agentIDs {
		if !slices.Contains(ids, string(id)) {
			ids = append(ids, string(id))
		}
	}
	for _, t := range teamIDs {
		if _, err := s.teams.Team(ctx, string(t)); errors.Is(err, hub.ErrTeamNotFound) {
			s.ccaiError(w, http.StatusNotFound, "team "+string(t)+" does not exist")
			return nil, false
		} else if err != nil {
			s.ccaiInternal(w, err)
			return nil, false
		}
		members, err := s.teams.TeamAgents(ctx, string(t))
		if err != nil {
			s.ccaiInternal(w, err)
			return nil, false
		}
		slices.SortFunc(members, compareIDs)
		for _, m := range members {
			if !slices.Contains(ids, m) {
				ids = append(ids, m)
				fromTeam[m] = true
			}
		}
	}
	out := make([]*hub.Agent, 0, len(ids))
	for _, id := range ids {
		a, err := s.agents.Agent(ctx, id)
		if err == nil && a.Role == hub.RoleBot && fromTeam[id] {
			continue
		}
		if errors.Is(err, hub.ErrAgentNotFound) || err == nil && a.Role == hub.RoleBot {
			s.ccaiError(w, http.StatusNotFound, "agent "+id+" does not exist")
			return nil, false
		} else if err != nil {
			s.ccaiInternal(w, err)
			return nil, false
		}
		out = append(out, a)
	}
	return out, true
}

// compareIDs orders numeric ids as numbers, before other ids.
func compareIDs(a, b string) int {
	na, ea := strconv.ParseInt(a, 10, 64)
	nb, eb := strconv.ParseInt(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return cmp.Compare(na, nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// ccaiInternal answers a store failure: 503 while the store is
// unreachable (retry), 500 otherwise.
func (s *Server) ccaiInternal(w http.ResponseWriter, err error) {
	if hub.ErrorCode(err) == hub.EUNAVAILABLE {
		s.logger.Warn("ccai: store unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		s.ccaiError(w, http.StatusServiceUnavailable, "service unavailable; retry")
		return
	}
	s.logger.Error("ccai: store", "err", err)
	s.ccaiError(w, http.StatusInternalServerError, "internal error; retry")
}

// ccaiPost sets the status of the agents named, per agent: one shown
// In-call or Offline is refused with the document's message.
func (s *Server) ccaiPost(w http.ResponseWriter, r *http.Request) {
	b, bad := s.readCCAIBody(w, r)
	switch {
	case bad != "":
		s.ccaiError(w, http.StatusBadRequest, bad)
		return
	case b == nil || b.Status == nil:
		s.ccaiError(w, http.StatusBadRequest, "status is required")
		return
	}
	if err := s.desk.CheckStatus(*b.Status); err != nil {
		s.ccaiError(w, http.StatusBadRequest, hub.ErrorMessage(err))
		return
	}
	var agentIDs, teamIDs []ccaiID
	if b.AgentIDs != nil {
		agentIDs = *b.AgentIDs
	}
	if b.TeamIDs != nil {
		teamIDs = *b.TeamIDs
	}
	if len(agentIDs) == 0 && len(teamIDs) == 0 {
		s.ccaiError(w, http.StatusBadRequest, "agent_ids or team_ids must name at least one agent")
		return
	}
	agents, ok := s.ccaiAgents(w, r, agentIDs, teamIDs)
	if !ok {
		return
	}
	if len(agents) == 0 {
		writeJSON(w, http.StatusOK, []ccaiAgentChange{})
		return
	}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	changes, err := s.desk.SetStatus(r.Context(), ids, *b.Status, true)
	if errors.Is(err, hub.ErrAgentNotFound) {
		s.ccaiError(w, http.StatusNotFound, "agent does not exist") // deleted meanwhile
		return
	} else if err != nil {
		s.ccaiInternal(w, err)
		return
	}
	out := make([]ccaiAgentChange, len(agents))
	for i, a := range agents {
		c := changes[i]
		out[i] = ccaiAgentChange{AgentID: ccaiID(a.ID), Name: a.Name, Email: a.Email, AgentNumber: a.Number,
			PreviousStatus: c.Previous, CurrentStatus: c.Current}
		switch c.Refused {
		case hub.AgentInCall:
			out[i].Message = ccaiFromSystem
		case hub.AgentOffline:
			out[i].Message = ccaiOffline
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ccaiGet lists agents' statuses and live IP addresses, filtered by
// agent_ids, team_ids and status given in the body or in the query (not
// both); every agent when unfiltered.
func (s *Server) ccaiGet(w http.ResponseWriter, r *http.Request) {
	b, bad := s.readCCAIBody(w, r)
	if bad != "" {
		s.ccaiError(w, http.StatusBadRequest, bad)
		return
	}
	q := r.URL.Query()
	if b != nil && len(q) > 0 {
		s.ccaiError(w, http.StatusBadRequest, "give the filter in the body or in the query, not both")
		return
	}
	if b == nil {
		var msg string
		if b, msg = ccaiQuery(q); msg != "" {
			s.ccaiError(w, http.StatusBadRequest, msg)
			return
		}
	}
	var agents []*hub.Agent
	if b.AgentIDs == nil && b.TeamIDs == nil {
		all, err := s.agents.Agents(r.Context())
		if err != nil {
			s.ccaiInternal(w, err)
			return
		}
		for _, a := range all {
			if a.Role != hub.RoleBot {
				agents = append(agents, a)
			}
		}
	} else {
		var agentIDs, teamIDs []ccaiID
		if b.AgentIDs != nil {
			agentIDs = *b.AgentIDs
		}
		if b.TeamIDs != nil {
			teamIDs = *b.TeamIDs
		}
		var ok bool
		if agents, ok = s.ccaiAgents(w, r, agentIDs, teamIDs); !ok {
			return
		}
	}
	if b.Status != nil && *b.Status != hub.AgentInCall && *b.Status != hub.AgentOffline {
		if err := s.desk.CheckStatus(*b.Status); err != nil {
			s.ccaiError(w, http.StatusBadRequest, hub.ErrorMessage(err))
			return
		}
	}
	out := make([]ccaiAgentStatus, 0, len(agents))
	for _, a := range agents {
		if b.Status != nil && a.Status != *b.Status {
			continue
		}
		ips := a.IPs
		if ips == nil {
			ips = []string{}
		}
		out = append(out, ccaiAgentStatus{AgentID: ccaiID(a.ID), Name: a.Name, Email: a.Email,
			AgentNumber: a.Number, Status: a.Status, IPAddrs: ips})
	}
	writeJSON(w, http.StatusOK, out)
}

// ccaiQuery reads the GET filter from the query: agent_ids and team_ids
// as repeated keys, comma lists, or with [] (agent_ids[]=11), and status.
func ccaiQuery(q map[string][]string) (*ccaiBody, string) {
	b := &ccaiBody{}
	for _, key := range slices.Sorted(maps.Keys(q)) { // agent_ids before agent_ids[], whatever the map's order
		vals := q[key]
		name := strings.TrimSuffix(key, "[]")
		switch name {
		case "status":
			if len(vals) != 1 || b.Status != nil {
				return nil, "status must be given once"
			}
			b.Status = &vals[0]
		case "agent_ids", "team_ids":
			var ids []ccaiID
			for _, v := range vals {
				for _, part := range strings.Split(v, ",") {
					part = strings.TrimSpace(part)
					if _, err := strconv.ParseInt(part, 10, 64); err != nil && !hub.ValidAgentID(part) {
						return nil, name + " must be a list of integers"
					}
					ids = append(ids, ccaiID(part))
				}
			}
			dst := &b.AgentIDs
			if name == "team_ids" {
				dst = &b.TeamIDs
			}
			if *dst != nil {
				ids = append(**dst, ids...) // agent_ids=11&agent_ids[]=12
			}
			*dst = &ids
		default:
			return nil, "unknown query parameter " + key
		}
	}
	return b, ""
}
