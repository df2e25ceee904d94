package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestLongChatTranscriptIsWhole: a 20,000-message chat keeps every message
// in every history surface: the KF5 chat (/apiv2/chats/{id}.json), the
// native history paged by seq, and the session.ended webhook's transcript,
// each in seq order. Streams used to be capped at ~5,000 events, which cut
// the beginning of such a chat from all three.
func TestLongChatTranscriptIsWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 20,000 messages")
	}
	const n = 20_000
	r := redistest.New(t)
	if raceDetector && !r.Real() {
		t.Skip("a minute under -race: scripts/test.sh runs it on redis-server")
	}
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, hookAdminKey
	c.TokenSecret = strings.Repeat("w", 40)
	c.Demo = "false"
	c.Desk.OfferTimeout = 0
	c.Webhook = hookOpts()
	c.WS.RateLimit, c.WS.RateBurst = 1e6, 1e6 // the per-principal limits are not what this measures
	c.WS.CustomerSendRate = 0
	m := openMain(t, c)
	recv := newHookRecv(t, "whsec_long-chat-0123456789", nil)
	createHook(t, m, recv.URL, recv.secret, []string{"session.ended"})
	agent := hookAgent(t, m, "longagent")
	s := openSession(t, m, "Long", nil)
	for _, c := range []*client.Client{agent, s.Customer} {
		go func() {
			for range c.Events() { // a client whose events nobody reads stops reading replies
			}
		}()
	}

	// 20,000 messages from 8 senders per side; each reply's seq says where
	// the store put the message.
	texts := make([]string, n)
	seqs := make([]int64, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := []*client.Client{s.Customer, agent}[w%2]
			for i := w; i < n; i += 16 {
				texts[i] = fmt.Sprintf("message %05d of the long chat", i)
				rep, err := from.Send(ctx, s.ID, texts[i])
				if err != nil {
					errs <- fmt.Errorf("send %d: %w", i, err)
					return
				}
				seqs[i] = rep.Seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	bySeq := map[int64]string{}
	for i, seq := range seqs {
		bySeq[seq] = texts[i]
	}
	if len(bySeq) != n {
		t.Fatalf("%d distinct seqs for %d messages", len(bySeq), n)
	}
	// want is every text in seq order.
	var want []string
	for seq := int64(1); len(want) < n; seq++ {
		if text, ok := bySeq[seq]; ok {
			want = append(want, text)
		} else if seq > int64(3*n) {
			t.Fatal("seqs do not cover the messages")
		}
	}
	s.end(t, m)

	// The native history, paged forward 200 at a time.
	var native []string
	for after, pages := int64(0), 0; ; pages++ {
		var page struct {
			Events []struct {
				Seq     int64
				Type    string
				Message struct{ Text string }
			}
			HasMore bool `json:"has_more"`
		}
		url := fmt.Sprintf("%s/api/v1/sessions/%s/messages?after=%d&limit=200", m.URL(), s.ID, after)
		if st := killJSON(t, "GET", url, hookAdminKey, "", &page); st != 200 || pages > n {
			t.Fatalf("history after %d: %d", after, st)
		}
		for _, e := range page.Events {
			if e.Type == "message.created" {
				native = append(native, e.Message.Text)
			}
			after = e.Seq
		}
		if !page.HasMore {
			break
		}
	}
	wantSame(t, "native history", native, want)

	// KF5: the chat by its number, as an agent.
	var sess struct{ Number int64 }
	killJSON(t, "GET", m.URL()+"/api/v1/sessions/"+s.ID, hookAdminKey, "", &sess)
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/apiv2/chats/%d.json", m.URL(), sess.Number), nil)
	req.SetBasicAuth("longagent@example.com", "password-longagent")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var kf5 struct {
		Chat struct {
			Messages []struct{ Type, Msg string }
		}
	}
	err = json.NewDecoder(res.Body).Decode(&kf5)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("KF5 chat: %d %v", res.StatusCode, err)
	}
	var chat []string
	for _, msg := range kf5.Chat.Messages {
		if msg.Type == "chat.msg" {
			chat = append(chat, msg.Msg)
		}
	}
	wantSame(t, "KF5 chat", chat, want)

	// The session.ended webhook's transcript.
	hookWait(t, time.Minute, "the session.ended delivery", func() bool { return len(recv.delivered()) > 0 })
	p := recv.delivered()[0].Payload
	if p.Type != "session.ended" {
		t.Fatalf("delivery %s, want session.ended", p.Type)
	}
	var hooked []string
	for _, raw := range p.Transcript {
		var e struct{ Message struct{ Text string } }
		json.Unmarshal(raw, &e)
		hooked = append(hooked, e.Message.Text)
	}
	wantSame(t, "webhook transcript", hooked, want)
}

// wantSame fails unless got is want, naming the first difference.
func wantSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: message %d is %q, want %q", what, i, got[i], want[i])
			return
		}
	}
}
