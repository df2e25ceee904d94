package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/files"
)

// upload posts data as the multipart field "file" named name.
func upload(t *testing.T, url, token, name string, data []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.WriteField("client_msg_id", "up-"+hub.NewSecret(8))
	mw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func download(t *testing.T, url, token string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// TestAttachments: a customer on A sends an image and a PDF; the agent on
// B gets chat.file messages and downloads the same bytes; other customers,
// agents and no token cannot (24 attempts); an oversized, an empty and an
// .exe renamed .png are refused and leave no object; KF5 shows upload_id
// and upload; retention deletes the session's files.
func TestAttachments(t *testing.T) {
	store, err := files.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Now()}
	e := newRTEnv(t, 2, rtOptions{clock: clock.Now, files: store, maxFileBytes: 64 << 10, policy: hub.Policy{Retention: time.Hour}})
	a, b := e.hubs[0], e.hubs[1]
	agentToken := e.quickAgent("ag1")
	sid, custToken := e.customer(a, "Maria")
	e.assign(a, sid, "ag1")
	agent := e.dial(b, agentToken)
	ctx := context.Background()

	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1, 2, 3}, 3000)...)
	pdf := []byte("%PDF-1.4\n% a small pdf\n%%EOF\n")
	var refs []hub.FileRef
	for _, f := range []struct {
		name string
		data []byte
		typ  string
	}{{"photo.png", png, "image/png"}, {"../invoice.pdf", pdf, "application/pdf"}} {
		st, out := upload(t, a.http.URL+"/api/v1/sessions/"+sid+"/files", custToken, f.name, f.data)
		if st != http.StatusCreated {
			t.Fatalf("upload %s: %d %v", f.name, st, out)
		}
		fr := next(t, agent, func(fr client.Frame) bool { return fr.Type == hub.EventMessage && fr.SessionID == sid })
		var ev struct{ Message hub.Message }
		json.Unmarshal(fr.Raw, &ev)
		if ev.Message.Type != hub.MessageFile || ev.Message.File == nil || ev.Message.File.ContentType != f.typ ||
			ev.Message.File.Size != int64(len(f.data)) || strings.Contains(ev.Message.File.Name, "/") {
			t.Fatalf("the agent got %s", fr.Raw)
		}
		refs = append(refs, *ev.Message.File)
		st, got, h := download(t, b.http.URL+"/api/v1/sessions/"+sid+"/files/"+ev.Message.File.ID, agentToken)
		if st != 200 || !bytes.Equal(got, f.data) || h.Get("Content-Type") != f.typ || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("download %s: %d, %d bytes, %v", f.name, st, len(got), h)
		}
	}

	// Nobody else reads them.
	_, otherCust := e.customer(b, "Mallory")
	otherAgent := e.quickAgent("ag2")
	attempts := 0
	for _, ref := range refs {
		for _, tok := range []string{otherCust, otherAgent, "", "v1.forged"} {
			for _, in := range e.hubs {
				for _, path := range []string{sid + "/files/" + ref.ID, "cs_0000000000000000000000/files/" + ref.ID} {
					st, got, _ := download(t, in.http.URL+"/api/v1/sessions/"+path, tok)
					if st == 200 || bytes.Contains(got, []byte("PNG")) || bytes.Contains(got, []byte("%PDF")) {
						t.Fatalf("%q read %s: %d", tok, path, st)
					}
					attempts++
				}
			}
		}
	}
	if attempts < 20 {
		t.Fatalf("%d attempts", attempts)
	}

	// Refusals keep nothing.
	before, _ := store.List(ctx, sid+"/")
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 100)...)
	for _, c := range []struct {
		name   string
		data   []byte
		token  string
		status int
	}{
		{"big.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 70<<10)...), custToken, http.StatusRequestEntityTooLarge},
		{"empty.png", nil, custToken, http.StatusBadRequest},
		{"notes.png", exe, custToken, http.StatusUnsupportedMediaType},
		{"photo.png", png, otherCust, http.StatusNotFound},
		{"photo.png", png, "", http.StatusUnauthorized},
	} {
		if st, out := upload(t, a.http.URL+"/api/v1/sessions/"+sid+"/files", c.token, c.name, c.data); st != c.status {
			t.Fatalf("%s: %d %v, want %d", c.name, st, out, c.status)
		}
	}
	if after, _ := store.List(ctx, sid+"/"); len(after) != len(before) {
		t.Fatalf("refused uploads left objects: %v -> %v", before, after)
	}

	// KF5: upload_id and upload.
	var chat struct {
		Messages []struct {
			Type     string
			UploadID *int64 `json:"upload_id"`
			Upload   *struct {
				ID          int64
				Name        string
				ContentType string `json:"content_type"`
				URL         string
			}
		}
	}
	var num struct{ Number int64 }
	httpJSON(t, "GET", a.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", &num)
	kf5CreateAgent(t, e, "reader", "agent", "7")
	res := kf5Do(t, "GET", a.http.URL+"/apiv2/chats/"+strconv.FormatInt(num.Number, 10)+".json", kf5Basic("reader@example.com", "password-reader"), "")
	var env struct{ Chat json.RawMessage }
	if res.status != 200 || json.Unmarshal(res.body, &env) != nil || json.Unmarshal(env.Chat, &chat) != nil {
		t.Fatalf("kf5: %d %s", res.status, res.body)
	}
	uploads := 0
	for _, m := range chat.Messages {
		if m.Upload != nil {
			uploads++
			if m.UploadID == nil || *m.UploadID != m.Upload.ID || !strings.Contains(m.Upload.URL, sid) {
				t.Fatalf("kf5 upload %+v", m)
			}
		}
	}
	if uploads != 2 {
		t.Fatalf("kf5 shows %d uploads", uploads)
	}

	// Retention: closed, past retention, pruned and swept: no object left.
	if st := httpJSON(t, "DELETE", a.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", nil); st != 200 {
		t.Fatalf("close: %d", st)
	}
	clock.Advance(2 * time.Hour)
	if _, err := a.store.Prune(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := b.srv.SweepFiles(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if left, _ := store.List(ctx, sid+"/"); len(left) != 0 {
		t.Fatalf("after retention: %v", left)
	}
}
