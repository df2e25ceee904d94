package api

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboardhq/switchboard/hub"
)

// The KF5 chat-history surface (../shared/seeds/kf5-kchat-history.zh.txt):
// GET /apiv2/chats.json and /apiv2/chats/{id}.json with HTTP Basic
// (an agent's e-mail and password), times "YYYY-MM-DD HH:MM:SS" in the
// configured zone, errors {"error":...,"message":...}. docs/api.md records
// how the document was read.

const (
	kf5DefaultPerPage = 100
	kf5MaxPerPage     = 100
	kf5MaxPage        = 1_000_000
	kf5TimeLayout     = "2006-01-02 15:04:05"
	kf5DateLayout     = "2006-01-02"
)

type kf5Chat struct {
	ID         int64        `json:"id"`
	Type       string       `json:"type"`
	StartedBy  string       `json:"started_by"`
	Status     string       `json:"status"`
	AgentID    any          `json:"agent_id"`
	Rating     *string      `json:"rating"`
	VisitorID  int64        `json:"visitor_id"`
	UserID     *int64       `json:"user_id"`
	CreatedAt  string       `json:"created_at"`
	AssignedAt *string      `json:"assigned_at"`
	EndAt      *string      `json:"end_at"`
	Messages   []kf5Message `json:"messages"`
}

type kf5Message struct {
	ID        int64      `json:"id"`
	ChatID    int64      `json:"chat_id"`
	Type      string     `json:"type"`
	Name      string     `json:"name"`
	Msg       string     `json:"msg"`
	UploadID  *int64     `json:"upload_id"`
	IsRead    int        `json:"is_read"`
	CreatedAt string     `json:"created_at"`
	Upload    *kf5Upload `json:"upload"`
}

// kf5Upload is the "upload" object of a file message (docs/api.md, KF5):
// the document types it only as an object, "文件内容". upload_id is the
// message's own id, one file per message.
type kf5Upload struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	URL         string `json:"url"` // GET it with an agent's (or the admin) token
}

type kf5ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (s *Server) routeKF5(r *mux.Router) {
	k := r.PathPrefix("/apiv2").Subrouter()
	k.Handle("/chats.json", methodsWith(methods{http.MethodGet: s.kf5Auth(s.kf5ListChats)}, s.kf5MethodNotAllowed))
	k.Handle("/chats/{id}.json", methodsWith(methods{http.MethodGet: s.kf5Auth(s.kf5GetChat)}, s.kf5MethodNotAllowed))
}

// kf5Error renders err in the surface's error shape, with the table's status.
func (s *Server) kf5Error(w http.ResponseWriter, r *http.Request, err error) {
	status := s.errorStatus(w, r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="switchboard", charset="UTF-8"`)
	}
	writeJSON(w, status, kf5ErrorBody{Error: hub.ErrorCode(err), Message: hub.ErrorMessage(err)})
}

func (s *Server) kf5NotFound(w http.ResponseWriter, r *http.Request) {
	s.kf5Error(w, r, hub.Errorf(hub.ENOTFOUND, "no such endpoint"))
}

func (s *Server) kf5MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, kf5ErrorBody{Error: "method_not_allowed", Message: "method not allowed"})
}

// kf5Auth admits agents, supervisors and admins by HTTP Basic e-mail and
// password ("agent" permission). Bots, disabled agents, customers' tokens
// and wrong credentials get 401.
func (s *Server) kf5Auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		email, password, ok := r.BasicAuth()
		if !ok {
			s.kf5Error(w, r, hub.Errorf(hub.EUNAUTHORIZED, "HTTP Basic credentials (an agent's e-mail and password) required"))
			return
		}
		a, err := s.basicAgent(r, email, password)
		if err != nil {
			s.kf5Error(w, r, err)
			return
		}
		if a.Role == hub.RoleBot {
			s.kf5Error(w, r, hub.Errorf(hub.EUNAUTHORIZED, "wrong e-mail or password"))
			return
		}
		h(w, r)
	}
}

// basicCache remembers credentials bcrypt accepted for a minute, so that an
// API client sending Basic credentials on every request does not pay a
// bcrypt comparison each time. The key covers the stored hash: a password
// change invalidates it at once; disabling is checked on every request.
type basicCache struct {
	mu sync.Mutex
	ok map[[32]byte]time.Time // guarded by mu: credential digest -> valid until
}

const basicCacheTTL = time.Minute

func credentialKey(email, password, hash string) [32]byte {
	return sha256.Sum256([]byte(email + "\x00" + password + "\x00" + hash))
}

func (c *basicCache) valid(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.ok[k])
}

func (c *basicCache) add(k [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil || len(c.ok) >= 10000 {
		c.ok = map[[32]byte]time.Time{}
	}
	c.ok[k] = now.Add(basicCacheTTL)
}

// basicAgent checks an agent's e-mail and password as login does.
func (s *Server) basicAgent(r *http.Request, email, password string) (*hub.Agent, error) {
	bad := hub.Errorf(hub.EUNAUTHORIZED, "wrong e-mail or password")
	a, err := s.agents.AgentByEmail(r.Context(), email)
	if errors.Is(err, hub.ErrAgentNotFound) {
		if !s.loginLimit.Allow(s.clientIP(r)) {
			return nil, hub.Errorf(hub.ELIMIT, "too many attempts; try again later")
		}
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, bad
	} else if err != nil {
		return nil, err
	}
	if a.Disabled || a.PasswordHash == "" {
		return nil, bad
	}
	now := time.Now()
	key := credentialKey(email, password, a.PasswordHash)
	if s.basicOK.valid(key, now) {
		return a, nil
	}
	if !s.loginLimit.Allow(s.clientIP(r)) {
		return nil, hub.Errorf(hub.ELIMIT, "too many attempts; try again later")
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) != nil {
		return nil, bad
	}
	s.basicOK.add(key, now)
	return a, nil
}

// kf5Query is a parsed chats.json query.
type kf5Query struct {
	filter hub.ChatFilter
	page   int
}

// parseKF5Query reads the query parameters; unknown ones are ignored, as
// the document does not forbid them.
func (s *Server) parseKF5Query(q url.Values) (kf5Query, error) {
	out := kf5Query{page: 1, filter: hub.ChatFilter{Limit: kf5DefaultPerPage}}
	bad := func(msg string) error { return hub.Errorf(hub.EINVALID, "%s", msg) }
	if v := q.Get("visitor_id"); q.Has("visitor_id") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return out, bad("visitor_id must be a positive number")
		}
		out.filter.Visitor = n
	}
	if v := q.Get("user_id"); q.Has("user_id") {
		if !hub.ValidUserID(v) {
			return out, bad("user_id must be a positive number")
		}
		out.filter.UserID = v
	}
	loc := s.location
	if v := q.Get("start"); q.Has("start") {
		d, err := time.ParseInLocation(kf5DateLayout, v, loc)
		if err != nil {
			return out, bad("start must be a date such as 2016-01-01")
		}
		out.filter.From = d
	}
	if v := q.Get("end"); q.Has("end") {
		d, err := time.ParseInLocation(kf5DateLayout, v, loc)
		if err != nil {
			return out, bad("end must be a date such as 2016-01-01")
		}
		out.filter.To = d.AddDate(0, 0, 1) // the end day is included
	}
	if !out.filter.From.IsZero() && !out.filter.To.IsZero() && !out.filter.From.Before(out.filter.To) {
		return out, bad("start must not be after end")
	}
	if v := q.Get("page"); q.Has("page") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > kf5MaxPage {
			return out, bad("page must be a number from 1 to 1000000")
		}
		out.page = n
	}
	if v := q.Get("per_page"); q.Has("per_page") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > kf5MaxPerPage {
			return out, bad("per_page must be a number from 1 to 100")
		}
		out.filter.Limit = n
	}
	out.filter.Offset = (out.page - 1) * out.filter.Limit
	return out, nil
}

func (s *Server) kf5ListChats(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseKF5Query(r.URL.Query())
	if err != nil {
		s.kf5Error(w, r, err)
		return
	}
	list, total, err := s.chats.Chats(r.Context(), q.filter)
	if err != nil {
		s.kf5Error(w, r, err)
		return
	}
	// Paging metadata goes in headers, where no client of the documented
	// body can trip over it.
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if q.filter.Offset+len(list) < total {
		next := *r.URL
		v := next.Query()
		v.Set("page", strconv.Itoa(q.page+1))
		v.Set("per_page", strconv.Itoa(q.filter.Limit))
		next.RawQuery = v.Encode()
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
	}
	s.kf5WriteChats(w, r, "chats", list)
}

// kf5Group is how many chats' messages are read from Redis at once while
// an answer is written: a page of 100 long conversations is written chat
// by chat, holding a few in memory, never the whole page.
const kf5Group = 10

// kf5WriteChats answers {"<field>": [chat, ...]} (or one chat, for
// "chat"), reading the chats' whole transcripts kf5Group at a time and
// writing each as it is rendered. A store failure before the first byte is
// the surface's error; one after it aborts the connection, so that the
// client sees a broken answer, never a short one that parses.
func (s *Server) kf5WriteChats(w http.ResponseWriter, r *http.Request, field string, list []*hub.Session) {
	ctx := r.Context()
	first := list[:min(kf5Group, len(list))]
	hist, err := s.chats.Transcripts(ctx, first)
	if err != nil {
		s.kf5Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(`{"` + field + `":`)
	if field == "chats" {
		bw.WriteByte('[')
	}
	for i, sess := range list {
		if i > 0 && i%kf5Group == 0 {
			group := list[i:min(i+kf5Group, len(list))]
			if hist, err = s.chats.Transcripts(ctx, group); err != nil {
				s.logger.Warn("kf5: transcript read failed mid-answer; aborting it", "err", err)
				panic(http.ErrAbortHandler)
			}
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		b, _ := json.Marshal(s.kf5Chat(sess, hist[i%kf5Group]))
		if _, err := bw.Write(b); err != nil {
			return // the client is gone
		}
	}
	if field == "chats" {
		bw.WriteByte(']')
	}
	bw.WriteString("}\n")
	bw.Flush()
}

func (s *Server) kf5GetChat(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil || id < 1 {
		s.kf5Error(w, r, hub.Errorf(hub.ENOTFOUND, "chat not found"))
		return
	}
	sess, err := s.chats.Chat(r.Context(), id)
	if errors.Is(err, hub.ErrSessionNotFound) {
		err = hub.Errorf(hub.ENOTFOUND, "chat not found")
	}
	if err != nil {
		s.kf5Error(w, r, err)
		return
	}
	s.kf5WriteChats(w, r, "chat", []*hub.Session{sess})
}

func (s *Server) kf5Time(t time.Time) string { return t.In(s.location).Format(kf5TimeLayout) }

func (s *Server) kf5TimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := s.kf5Time(t)
	return &v
}

// kf5Chat renders one session. Its messages are the events that have a
// message number: the customer's chat.memberjoin (its name and the title it
// opened the chat with), every chat.msg, and the customer's chat.memberleave
// when the customer ended the chat.
func (s *Server) kf5Chat(sess *hub.Session, events []hub.HistoryEvent) kf5Chat {
	c := kf5Chat{
		ID: sess.Number, Type: "chat", StartedBy: sess.StartedBy, Status: "open", VisitorID: sess.Visitor,
		CreatedAt: s.kf5Time(sess.CreatedAt), AssignedAt: s.kf5TimePtr(sess.AssignedAt), EndAt: s.kf5TimePtr(sess.EndedAt),
		Messages: []kf5Message{},
	}
	if c.StartedBy == "" {
		c.StartedBy = "visitor"
	}
	if sess.State == hub.StateEnded {
		c.Status = "close"
	}
	// agent_id is the handling agent's agent_number, a JSON number as in
	// the document's example; an agent without a numeric one shows its id
	// (the document's table types the field as a string).
	if n, err := strconv.ParseInt(sess.HandledByNumber, 10, 64); err == nil {
		c.AgentID = n
	} else if sess.HandledByNumber != "" {
		c.AgentID = sess.HandledByNumber
	} else if sess.HandledBy != "" {
		c.AgentID = sess.HandledBy
	}
	if sess.Rating != nil {
		v := strconv.Itoa(sess.Rating.Score)
		c.Rating = &v
	}
	if n, err := strconv.ParseInt(sess.UserID, 10, 64); err == nil {
		c.UserID = &n
	}
	customerRead, agentRead := sess.ReadUpTo(hub.PrincipalCustomer), sess.ReadUpTo(hub.PrincipalAgent)
	for _, ev := range events {
		if ev.Number == 0 {
			continue
		}
		var e hub.Event
		if json.Unmarshal(ev.JSON, &e) != nil {
			continue
		}
		m := kf5Message{ID: ev.Number, ChatID: sess.Number, Name: sess.CustomerName, CreatedAt: s.kf5Time(e.At)}
		read := agentRead // what the customer wrote is read when an agent has seen it
		switch e.Type {
		case hub.EventSessionCreated:
			m.Type, m.Msg = "chat.memberjoin", sess.Title
		case hub.EventSessionEnded:
			m.Type = "chat.memberleave"
		case hub.EventMessage:
			m.Type = "chat.msg"
			if e.Message != nil {
				m.Msg = e.Message.Text
				if f := e.Message.File; f != nil {
					id := ev.Number
					m.UploadID = &id
					m.Upload = &kf5Upload{ID: id, Name: f.Name, Size: f.Size, ContentType: f.ContentType,
						URL: "/api/v1/sessions/" + sess.ID + "/files/" + f.ID}
				}
			}
			if e.From != nil {
				m.Name = e.From.Name
				if e.From.Role != hub.PrincipalCustomer {
					read = customerRead
				}
			}
		default:
			continue
		}
		if read >= ev.Seq {
			m.IsRead = 1
		}
		c.Messages = append(c.Messages, m)
	}
	return c
}
