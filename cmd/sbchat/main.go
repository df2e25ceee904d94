// Command sbchat is a terminal chat client for Switchboard: it connects to
// a hub's WebSocket as a customer or an agent (by token), prints the events
// of the session, and sends each line typed on stdin as a message. It is
// the smallest real client of the protocol, for trying a hub out.
//
//	sbchat -url ws://127.0.0.1:8081/ws -token "$TOKEN" [-session cs_...]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/ws", "the hub's WebSocket URL")
	token := flag.String("token", os.Getenv("SWITCHBOARD_TOKEN"), "agent or customer token (or SWITCHBOARD_TOKEN)")
	session := flag.String("session", "", "session to write to (default: the first the hub says you follow, or the newest you are given)")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "sbchat: -token is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := client.Dial(dialCtx, client.Config{URL: *url, Token: *token})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbchat:", err)
		os.Exit(1)
	}
	h := c.Hello()
	var mu sync.Mutex // guards current: the events goroutine may pick it
	current := *session
	if current == "" && len(h.Sessions) > 0 {
		current = h.Sessions[0]
	}
	fmt.Printf("connected as %s %s (%s); sessions %v\n", h.Principal.Role, h.Principal.Name, h.Principal.ID, h.Sessions)
	if current != "" {
		fmt.Printf("writing to %s; type a line and press enter\n", current)
	}

	go func() {
		for f := range c.Events() {
			mu.Lock()
			if current == "" && f.SessionID != "" {
				current = f.SessionID
			}
			mu.Unlock()
			fmt.Println(describe(f))
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			c.Close()
			return
		case <-c.Done():
			var ce *client.CloseError
			if errors.As(c.Err(), &ce) && !ce.Reconnectable() {
				fmt.Printf("closed by the hub: %d %s\n", ce.Code, ce.Reason)
				return
			}
			fmt.Println("connection lost; reconnecting and resuming...")
			if err := c.Reconnect(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "sbchat:", err)
				time.Sleep(time.Second) // a person is watching: retry once a second
			}
		case line, ok := <-lines:
			if !ok {
				c.Close()
				return
			}
			mu.Lock()
			sid := current
			mu.Unlock()
			if line == "" || sid == "" {
				continue
			}
			sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := c.Send(sendCtx, sid, line); err != nil {
				fmt.Fprintln(os.Stderr, "send failed:", err)
			}
			cancel()
		}
	}
}

// describe renders a frame as one line for a person.
func describe(f client.Frame) string {
	switch f.Type {
	case hub.EventMessage:
		text, _, from := f.Message()
		return fmt.Sprintf("[%d] %s: %s", f.Seq, from.Name, text)
	case hub.EventTyping:
		var t struct {
			From client.Party `json:"from"`
			On   bool         `json:"on"`
		}
		json.Unmarshal(f.Raw, &t)
		if t.On {
			return fmt.Sprintf("    %s is typing...", t.From.Name)
		}
		return fmt.Sprintf("    %s stopped typing", t.From.Name)
	}
	return fmt.Sprintf("[%d] %s", f.Seq, f.Raw)
}
