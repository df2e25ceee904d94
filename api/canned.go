package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
)

// Canned replies (hub/canned.go) over the native API: any agent lists
// what it may insert; an agent keeps its personal ones; supervisors,
// admins and the admin key keep the shared ones.

func (s *Server) routeCanned(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Handle("/canned-replies", s.methods(methods{http.MethodGet: s.staff(s.listCanned), http.MethodPost: s.staff(s.createCanned)}))
	v1.Handle("/canned-replies/{id}", s.methods(methods{http.MethodPatch: s.staff(s.updateCanned), http.MethodDelete: s.staff(s.deleteCanned)}))
}

// listCanned answers {"canned_replies":[…]}: the shared ones for everyone
// and for the caller's teams, and its personal ones, by shortcut; ?q=
// searches shortcut, title and text.
func (s *Server) listCanned(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	if s.canned == nil {
		s.nativeErr(w, r, hub.ErrCannedNotFound)
		return
	}
	owner, teams := "", []string(nil)
	if p.Kind == hub.PrincipalAgent {
		owner = p.ID
		if a, err := s.agents.Agent(r.Context(), p.ID); err == nil {
			teams = a.TeamIDs
		}
	}
	list, err := s.canned.CannedFor(r.Context(), owner)
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"canned_replies": hub.VisibleCanned(list, p, teams, r.URL.Query().Get("q"))})
}

// cannedBody reads a canned reply's fields from the body into c (those
// present only, for PATCH).
func cannedBody(w http.ResponseWriter, r *http.Request, c *hub.CannedReply) error {
	var shortcut, title, text, scope, team *string
	if err := decodeJSON(w, r, fields{"shortcut": &shortcut, "title": &title, "text": &text, "scope": &scope, "team_id": &team}); err != nil {
		return err
	}
	for dst, v := range map[*string]*string{&c.Shortcut: shortcut, &c.Title: title, &c.Text: text, &c.Scope: scope, &c.TeamID: team} {
		if v != nil {
			*dst = *v
		}
	}
	return nil
}

// createCanned makes a reply: personal by default (an agent's own), or
// shared ("scope":"shared", team_id optional) for those who manage.
func (s *Server) createCanned(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	if s.canned == nil {
		s.nativeErr(w, r, hub.ErrCannedNotFound)
		return
	}
	c := &hub.CannedReply{Scope: hub.CannedPersonal}
	if err := cannedBody(w, r, c); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if c.Scope == hub.CannedPersonal {
		if p.Kind != hub.PrincipalAgent {
			s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "the admin key makes shared replies only"))
			return
		}
		c.OwnerID = p.ID
	}
	if err := c.Validate(); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if !c.MayEdit(p) {
		s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "shared replies are kept by supervisors and admins"))
		return
	}
	now := s.sessions.Now().UTC()
	c.ID, c.CreatedAt, c.UpdatedAt = "cr_"+hub.NewSecret(12), now, now
	if err := s.canned.PutCanned(r.Context(), c, false); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// editableCanned reads the reply of the path that p may change: others'
// personal replies are not found.
func (s *Server) editableCanned(w http.ResponseWriter, r *http.Request, p hub.Principal) *hub.CannedReply {
	if s.canned == nil {
		s.nativeErr(w, r, hub.ErrCannedNotFound)
		return nil
	}
	c, err := s.canned.Canned(r.Context(), mux.Vars(r)["id"])
	switch {
	case err != nil:
		s.nativeErr(w, r, err)
		return nil
	case c.Scope == hub.CannedPersonal && !c.MayEdit(p):
		s.nativeErr(w, r, hub.ErrCannedNotFound)
		return nil
	case !c.MayEdit(p):
		s.nativeErr(w, r, hub.Errorf(hub.EFORBIDDEN, "shared replies are kept by supervisors and admins"))
		return nil
	}
	return c
}

func (s *Server) updateCanned(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	c := s.editableCanned(w, r, p)
	if c == nil {
		return
	}
	scope, owner := c.Scope, c.OwnerID
	if err := cannedBody(w, r, c); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if c.Scope != scope || c.OwnerID != owner {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "a reply keeps its scope: make a new one"))
		return
	}
	if err := c.Validate(); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	c.UpdatedAt = s.sessions.Now().UTC()
	if err := s.canned.PutCanned(r.Context(), c, true); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteCanned(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	c := s.editableCanned(w, r, p)
	if c == nil {
		return
	}
	if err := s.canned.DeleteCanned(r.Context(), c); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
