package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub"
)

// TencentConfig configures the Tencent-Desk-style session-state query.
type TencentConfig struct {
	SDKAppID uint64 // SWITCHBOARD_SDKAPPID
	Key      string // SWITCHBOARD_USERSIG_KEY: the key usersigs are signed with
	// Admins are the identifiers that may call it (SWITCHBOARD_ADMIN_IDENTIFIERS).
	Admins []string
	// CustomerServiceID is the one customer service account of this
	// contact center (SWITCHBOARD_CUSTOMER_SERVICE_ID): a query by
	// ClientUserId names it as CustomerServiceId.
	CustomerServiceID string
}

// The error codes of the Tencent-Desk surface, with the document's words.
const (
	tencentInternal = 141002
	tencentInvalid  = 141004
	tencentNoSess   = 141005
)

var tencentInfo = map[int]string{
	tencentInternal: "Internal error, retry.",
	tencentInvalid:  "Invalid parameter.",
	tencentNoSess:   "Session does not exist or has ended.",
}

// tencentReply is the surface's envelope. SessionId and CurrentState are
// left out of failures; AgentId is present only in the two agent states.
type tencentReply struct {
	ActionStatus string  `json:"ActionStatus"`
	ErrorInfo    string  `json:"ErrorInfo"`
	ErrorCode    int     `json:"ErrorCode"`
	SessionID    *string `json:"SessionId,omitempty"`
	CurrentState string  `json:"CurrentState,omitempty"`
	AgentID      *string `json:"AgentId,omitempty"`
}

func (s *Server) routeTencent(r *mux.Router) {
	r.HandleFunc("/v4/desk_http_svc/get_session_state", s.tencentSessionState)
}

// tencentFail answers an error the way the document shows: HTTP 200,
// ActionStatus FAIL, the code and its description (with detail after it).
func (s *Server) tencentFail(w http.ResponseWriter, code int, detail string) {
	info := tencentInfo[code]
	if detail != "" {
		info += " " + detail
	}
	writeJSON(w, http.StatusOK, tencentReply{ActionStatus: "FAIL", ErrorInfo: info, ErrorCode: code})
}

// tencentStoreFail answers a store failure with the document's "Internal
// error, retry." (141002): with HTTP 503 and Retry-After while the store is
// unreachable, with the surface's usual 200 otherwise.
func (s *Server) tencentStoreFail(w http.ResponseWriter, err error) {
	if hub.ErrorCode(err) != hub.EUNAVAILABLE {
		s.logger.Error("tencent: store", "err", err)
		s.tencentFail(w, tencentInternal, "")
		return
	}
	s.logger.Warn("tencent: store unavailable", "err", err)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, tencentReply{ActionStatus: "FAIL",
		ErrorInfo: tencentInfo[tencentInternal] + " Service unavailable.", ErrorCode: tencentInternal})
}

func (s *Server) tencentNotFound(w http.ResponseWriter, r *http.Request) {
	s.tencentFail(w, tencentInvalid, "No such API.")
}

// tencentSessionState answers get_session_state: by SessionId, or by the
// customer (ClientUserId) and the service account (CustomerServiceId).
func (s *Server) tencentSessionState(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.tencentFail(w, tencentInvalid, "Use POST.")
		return
	}
	if detail := s.tencentAuth(r); detail != "" {
		s.tencentFail(w, tencentInvalid, detail)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		s.tencentFail(w, tencentInvalid, "Body too large or unreadable.")
		return
	}
	var req struct {
		SessionID, ClientUserID, CustomerServiceID *string
	}
	members, err := objectMembers(body, fields{"SessionId": nil, "ClientUserId": nil, "CustomerServiceId": nil})
	if err == nil {
		for key, v := range members {
			dst := map[string]**string{"SessionId": &req.SessionID, "ClientUserId": &req.ClientUserID,
				"CustomerServiceId": &req.CustomerServiceID}[key]
			if json.Unmarshal(v, dst) != nil {
				err = hub.ErrInvalidBody
			}
		}
	}
	if err != nil {
		s.tencentFail(w, tencentInvalid, "The body must be a JSON object with SessionId, or ClientUserId and CustomerServiceId, as strings.")
		return
	}
	ctx := r.Context()
	var sid string
	switch {
	case req.SessionID != nil && req.ClientUserID == nil && req.CustomerServiceID == nil:
		if *req.SessionID == "" {
			s.tencentFail(w, tencentInvalid, "SessionId is empty.")
			return
		}
		sid = *req.SessionID
	case req.SessionID == nil && req.ClientUserID != nil && req.CustomerServiceID != nil:
		if *req.ClientUserID == "" || *req.CustomerServiceID == "" {
			s.tencentFail(w, tencentInvalid, "ClientUserId and CustomerServiceId must not be empty.")
			return
		}
		if *req.CustomerServiceID == s.tencentConf().CustomerServiceID && hub.ValidAgentID(*req.ClientUserID) {
			sid, err = s.openSessionOf(ctx, *req.ClientUserID)
			if err != nil {
				s.tencentStoreFail(w, err)
				return
			}
		}
		if sid == "" {
			// Not in a session with this service account: a state, not an error.
			empty := ""
			writeJSON(w, http.StatusOK, tencentReply{ActionStatus: "OK", SessionID: &empty, CurrentState: "NotInSession"})
			return
		}
	default:
		s.tencentFail(w, tencentInvalid, "Give either SessionId, or both ClientUserId and CustomerServiceId.")
		return
	}
	sess, err := s.sessions.Session(ctx, sid)
	switch {
	case errors.Is(err, hub.ErrSessionNotFound) || err == nil && sess.State == hub.StateEnded:
		s.tencentFail(w, tencentNoSess, "")
		return
	case err != nil:
		s.tencentStoreFail(w, err)
		return
	}
	out := tencentReply{ActionStatus: "OK", SessionID: &sess.ID, CurrentState: string(sess.State)}
	if sess.State == hub.StateAgent || sess.State == hub.StateOffered {
		out.AgentID = &sess.AgentID
	}
	writeJSON(w, http.StatusOK, out)
}

// tencentAuth checks the query string: sdkappid, an admin identifier, its
// usersig, random and contenttype. It returns what is wrong, or "".
func (s *Server) tencentAuth(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"sdkappid", "identifier", "usersig", "random", "contenttype"} {
		if len(q[k]) != 1 || q.Get(k) == "" {
			return "The query needs exactly one " + k + "."
		}
	}
	if q.Get("contenttype") != "json" {
		return "contenttype must be json."
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		return "random must be an integer from 0 to 4294967295."
	}
	conf := s.tencentConf()
	appid, err := strconv.ParseUint(q.Get("sdkappid"), 10, 64)
	if err != nil || conf.Key == "" || appid != conf.SDKAppID {
		return "sdkappid does not match."
	}
	id := q.Get("identifier")
	if !slices.Contains(conf.Admins, id) {
		return "identifier is not an App administrator."
	}
	if err := usersig.Verify(q.Get("usersig"), conf.Key, appid, id, s.sessions.Now()); err != nil {
		switch {
		case errors.Is(err, usersig.ErrExpired):
			return "usersig has expired."
		case errors.Is(err, usersig.ErrMalformed):
			return "usersig is malformed."
		default:
			return "usersig is invalid."
		}
	}
	return ""
}
