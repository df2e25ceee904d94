package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

// WebhookAdmin is what the admin endpoints need of the webhook store.
type WebhookAdmin interface {
	PutEndpoint(ctx context.Context, e *webhook.Endpoint) error
	DeleteEndpoint(ctx context.Context, id string) error
	Endpoint(ctx context.Context, id string) (*webhook.Endpoint, int64, error)
	Endpoints(ctx context.Context) ([]*webhook.Endpoint, error)
	Failures(ctx context.Context, id string, limit int) ([]webhook.Failure, error)
	Replay(ctx context.Context, id, failureID string) error
}

func (s *Server) routeWebhooks(r *mux.Router) {
	v1 := r.PathPrefix("/api/v1").Subrouter()
	// own serves a webhook handler with this Server's endpoints, to its
	// admins (the operator API serves the same handlers for any tenant:
	// operatorWebhooks).
	own := func(h webhookHandler) http.HandlerFunc {
		return s.admin(func(w http.ResponseWriter, r *http.Request, _ hub.Principal) {
			if s.webhooks == nil {
				s.nativeErr(w, r, hub.Errorf(hub.ENOTFOUND, "webhooks are not available"))
				return
			}
			h(w, r, s.webhooks)
		})
	}
	v1.Handle("/webhooks", s.methods(methods{http.MethodGet: own(s.listWebhooks), http.MethodPost: own(s.createWebhook)}))
	v1.Handle("/webhooks/{id}", s.methods(methods{http.MethodGet: own(s.getWebhook), http.MethodDelete: own(s.deleteWebhook)}))
	v1.Handle("/webhooks/{id}/failures", s.methods(methods{http.MethodGet: own(s.listWebhookFailures)}))
	v1.Handle("/webhooks/{id}/failures/{fid}/replay", s.methods(methods{http.MethodPost: own(s.replayWebhookFailure)}))
}

// webhookHandler serves one webhook request against the endpoints of wh.
type webhookHandler func(w http.ResponseWriter, r *http.Request, wh WebhookAdmin)

// nativeWebhook is an endpoint as the admin API shows it; the secret only
// in the answer to its creation.
type nativeWebhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	Pending   *int64   `json:"pending,omitempty"`
	CreatedAt *string  `json:"created_at"`
}

func toNativeWebhook(e *webhook.Endpoint) nativeWebhook {
	events := e.Events
	if len(events) == 0 {
		events = webhook.Kinds
	}
	return nativeWebhook{ID: e.ID, URL: e.URL, Events: events, CreatedAt: nativeTime(e.CreatedAt)}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	var u, secret *string
	var events *[]string
	if err := decodeJSON(w, r, fields{"url": &u, "events": &events, "secret": &secret}); err != nil || u == nil {
		if err == nil {
			err = hub.Errorf(hub.EINVALID, "url is required")
		}
		s.nativeErr(w, r, err)
		return
	}
	e := &webhook.Endpoint{ID: webhook.NewEndpointID(), URL: *u, Secret: deref(secret), CreatedAt: time.Now().UTC()}
	if events != nil {
		e.Events = *events
	}
	if e.Secret == "" {
		e.Secret = webhook.NewSecret()
	} else if len(e.Secret) < 16 || len(e.Secret) > 200 {
		s.nativeErr(w, r, hub.Errorf(hub.EINVALID, "secret must be 16 to 200 characters"))
		return
	}
	if err := e.Validate(); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if err := wh.PutEndpoint(r.Context(), e); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := toNativeWebhook(e)
	out.Secret = e.Secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	eps, err := wh.Endpoints(r.Context())
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := make([]nativeWebhook, len(eps))
	for i, e := range eps {
		out[i] = toNativeWebhook(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	e, pending, err := wh.Endpoint(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := toNativeWebhook(e)
	out.Pending = &pending
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	if err := wh.DeleteEndpoint(r.Context(), mux.Vars(r)["id"]); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listWebhookFailures answers the deliveries that ran out of retries,
// newest first, with what the endpoint last answered.
func (s *Server) listWebhookFailures(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	limit, err := queryInt64(r, "limit", 50)
	if err == nil && (limit < 1 || limit > 500) {
		err = hub.Errorf(hub.EINVALID, "limit must be 1 to 500")
	}
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	id := mux.Vars(r)["id"]
	if _, _, err := wh.Endpoint(r.Context(), id); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	fs, err := wh.Failures(r.Context(), id, int(limit))
	if err != nil {
		s.nativeErr(w, r, err)
		return
	}
	out := make([]map[string]any, len(fs))
	for i, f := range fs {
		out[i] = map[string]any{
			"id": f.ID, "delivery_id": f.Delivery.ID(), "type": f.Delivery.Kind, "session_id": f.Delivery.SessionID,
			"seq": f.Delivery.Seq, "epoch": f.Delivery.Epoch, "attempts": f.Attempts, "last_error": f.LastError, "failed_at": nativeTime(f.FailedAt),
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"failures": out})
}

// replayWebhookFailure queues a failed delivery again, with the same id and
// payload; it is sent after what is queued now.
func (s *Server) replayWebhookFailure(w http.ResponseWriter, r *http.Request, wh WebhookAdmin) {
	id := mux.Vars(r)["id"]
	if _, _, err := wh.Endpoint(r.Context(), id); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	if err := wh.Replay(r.Context(), id, mux.Vars(r)["fid"]); err != nil {
		s.nativeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}
