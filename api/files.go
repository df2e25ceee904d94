package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/files"
)

// Attachments: a party uploads a file into its session (multipart), the
// hub sniffs its type from the bytes, keeps it in the file store under
// "<session>/<file id>" and appends a chat.file message that names it;
// whoever may read the session downloads it with its own token (a checked
// request: no public or guessable path). Retention deletes a session's
// files with it (sweepFiles).

func (s *Server) routeFiles(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Handle("/sessions/{id}/files", s.methods(methods{http.MethodPost: s.principal(s.uploadFile)}))
	v1.Handle("/sessions/{id}/files/{file}", s.methods(methods{http.MethodGet: s.principal(s.downloadFile)}))
}

// uploadFile stores the multipart field "file" and sends it as a chat.file
// message (client_msg_id, a field too, makes a retry safe). Answers 201
// {"seq":n,"file":{…}}; nothing is kept when anything fails.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	if s.files == nil {
		s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "attachments are not enabled"))
		return
	}
	sid := mux.Vars(r)["id"]
	if _, err := s.sessions.SessionFor(r.Context(), p, sid); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxFileBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "send the file as multipart/form-data, field file"))
		return
	}
	var data []byte
	var name, cmid string
	tooLarge := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			var mbe *http.MaxBytesError
			tooLarge = errors.As(err, &mbe)
			if !tooLarge {
				s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "unreadable multipart body"))
				return
			}
			break
		}
		switch part.FormName() {
		case "file":
			name = part.FileName()
			data, err = io.ReadAll(io.LimitReader(part, s.maxFileBytes+1))
			if int64(len(data)) > s.maxFileBytes {
				tooLarge = true
			} else if err != nil {
				var mbe *http.MaxBytesError
				tooLarge = errors.As(err, &mbe)
				if !tooLarge {
					s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "unreadable file"))
					return
				}
			}
		case "client_msg_id":
			b, _ := io.ReadAll(io.LimitReader(part, 65))
			cmid = string(b)
		}
		part.Close()
		if tooLarge {
			break
		}
	}
	switch {
	case tooLarge:
		s.nativeErr(w, r, &hub.Error{Code: eTooLarge, Message: "file larger than " + strconv.FormatInt(s.maxFileBytes>>20, 10) + " MB"})
		return
	case data == nil:
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "send the file as multipart/form-data, field file"))
		return
	case len(data) == 0:
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "the file is empty"))
		return
	}
	ctype := files.Sniff(data[:min(len(data), 512)])
	allow := s.allowedTypes
	if allow == nil {
		allow = files.DefaultAllowed
	}
	if !files.Allowed(ctype, allow) {
		s.nativeErr(w, r, &hub.Error{Code: eUnsupported, Message: "file type not allowed: " + ctype})
		return
	}
	if cmid == "" {
		cmid = hub.NewSecret(16)
	}
	ref := hub.FileRef{ID: "f_" + hub.NewSecret(16), Name: files.SanitizeName(name), Size: int64(len(data)), ContentType: ctype}
	key := sid + "/" + ref.ID
	if err := s.files.Put(r.Context(), key, bytes.NewReader(data), ref.Size, ctype); err != nil {
		s.nativeErr(w, r, hub.Unavailable(err))
		return
	}
	seq, dup, err := s.sessions.SendFile(r.Context(), p, sid, cmid, ref)
	if err != nil || dup {
		// Refused, or a retry of a file sent already: this copy goes.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if derr := s.files.DeletePrefix(ctx, key); derr != nil {
			s.logger.Warn("an attachment not deleted", "err", derr)
		}
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seq": seq, "duplicate": dup, "file": ref})
}

// downloadFile answers a file of a session the caller may read. Images are
// shown inline, anything else downloads; the type is the one sniffed at
// upload, and nosniff and a sandbox keep a browser from running it.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request, p hub.Principal) {
	vars := mux.Vars(r)
	if s.files == nil {
		s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "file not found"))
		return
	}
	if _, err := s.sessions.SessionFor(r.Context(), p, vars["id"]); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	body, info, err := s.files.Get(r.Context(), vars["id"]+"/"+vars["file"])
	if errors.Is(err, files.ErrNotFound) {
		s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "file not found"))
		return
	} else if err != nil {
		s.nativeErr(w, r, hub.Unavailable(err))
		return
	}
	defer body.Close()
	disp := "attachment"
	if strings.HasPrefix(info.ContentType, "image/") {
		disp = "inline"
	}
	name := r.URL.Query().Get("name")
	h := w.Header()
	h.Set("Content-Type", info.ContentType)
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": files.SanitizeName(name)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=300")
	io.Copy(w, body)
}

// sweepFiles deletes the files of the sessions retention removed, every
// 30 s until ctx ends.
func (s *Server) sweepFiles(ctx context.Context) {
	every(ctx, 30*time.Second, func() {
		if _, err := s.SweepFiles(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("files of retired sessions not deleted", "err", err)
		}
	})
}

// SweepFiles deletes the files of up to 100 sessions that retention
// removed, and says how many sessions' files it deleted. Run calls it;
// any instance may, at any time.
func (s *Server) SweepFiles(ctx context.Context) (int, error) {
	ids, err := s.sessions.GoneFiles(ctx, 100)
	if err != nil || s.files == nil {
		return 0, err
	}
	for i, sid := range ids {
		if err := s.files.DeletePrefix(ctx, sid+"/"); err != nil {
			// The store is away: these are deleted at a later sweep.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if rerr := s.sessions.RequeueGoneFiles(rctx, ids[i:]); rerr != nil {
				s.logger.Error("files of retired sessions lost track of", "sessions", len(ids)-i, "err", rerr)
			}
			return i, err
		}
	}
	return len(ids), nil
}
