package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

func cannedReply(id, scope, owner, shortcut string) *hub.CannedReply {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	return &hub.CannedReply{ID: id, Scope: scope, OwnerID: owner, Shortcut: shortcut, Title: "T " + shortcut,
		Text: "Hello {{customer.name}}", CreatedAt: now, UpdatedAt: now}
}

func shortcuts(list []*hub.CannedReply) string {
	var s []string
	for _, c := range list {
		s = append(s, c.Scope+":"+c.Shortcut)
	}
	return strings.Join(s, " ")
}

// TestCannedStore: shortcuts are unique among the shared replies and among
// each agent's own, a rename frees the old shortcut, a delete frees its
// shortcut and leaves no key behind, CannedFor lists the shared ones and
// the owner's by shortcut.
func TestCannedStore(t *testing.T) {
	st, r := newStore(t)
	ctx := context.Background()
	// put creates c, or with replace saves it again.
	put := func(c *hub.CannedReply, want error, replace ...bool) {
		t.Helper()
		if err := st.PutCanned(ctx, c, len(replace) > 0); !errors.Is(err, want) {
			t.Fatalf("put %s %s: %v, want %v", c.ID, c.Shortcut, err, want)
		}
	}
	put(cannedReply("cr_1", hub.CannedShared, "", "greet"), nil)
	put(cannedReply("cr_2", hub.CannedShared, "", "greet"), hub.ErrShortcutTaken)
	put(cannedReply("cr_3", hub.CannedPersonal, "bo", "greet"), nil) // another scope
	put(cannedReply("cr_4", hub.CannedPersonal, "ana", "greet"), nil)
	put(cannedReply("cr_5", hub.CannedPersonal, "bo", "greet"), hub.ErrShortcutTaken)
	put(cannedReply("cr_6", hub.CannedPersonal, "bo", "bye"), nil)
	put(cannedReply("cr_1", hub.CannedShared, "", "greet"), nil, true) // the holder may save again
	if err := st.PutCanned(ctx, cannedReply("cr_1", hub.CannedShared, "", "hi"), false); hub.ErrorCode(err) != hub.ECONFLICT {
		t.Fatalf("creating an existing id: %v", err)
	}
	put(cannedReply("cr_none", hub.CannedShared, "", "hi"), hub.ErrCannedNotFound, true) // replace saves an existing reply only

	if err := st.PutCanned(ctx, cannedReply("cr_2", hub.CannedShared, "", "greet"), false); hub.ErrorMessage(err) != "shortcut already in use" {
		t.Fatalf("the error reads %v", err)
	}
	if _, err := st.Canned(ctx, "cr_2"); !errors.Is(err, hub.ErrCannedNotFound) {
		t.Fatalf("a refused reply is stored: %v", err)
	}
	list, err := st.CannedFor(ctx, "bo")
	if err != nil || shortcuts(list) != "personal:bye personal:greet shared:greet" {
		t.Fatalf("bo's: %s %v", shortcuts(list), err)
	}
	if list, _ := st.CannedFor(ctx, ""); shortcuts(list) != "shared:greet" {
		t.Fatalf("shared only: %s", shortcuts(list))
	}

	// A rename frees the old shortcut for another reply.
	c, err := st.Canned(ctx, "cr_6")
	if err != nil || c.OwnerID != "bo" || c.Text != "Hello {{customer.name}}" {
		t.Fatalf("read: %+v %v", c, err)
	}
	c.Shortcut = "ciao"
	put(c, nil, true)
	put(cannedReply("cr_7", hub.CannedPersonal, "bo", "bye"), nil)
	put(cannedReply("cr_8", hub.CannedPersonal, "bo", "ciao"), hub.ErrShortcutTaken)

	// A delete with a stale copy (the reply renamed since) frees the
	// stored shortcut, not the one the copy names.
	stale := *c
	c.Shortcut = "hola"
	put(c, nil, true)
	if err := st.DeleteCanned(ctx, &stale); err != nil {
		t.Fatal(err)
	}
	put(cannedReply("cr_9", hub.CannedPersonal, "bo", "hola"), nil)
	put(cannedReply("cr_10", hub.CannedPersonal, "bo", "ciao"), nil)
	if err := st.DeleteCanned(ctx, &stale); !errors.Is(err, hub.ErrCannedNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	put(&stale, hub.ErrCannedNotFound, true) // an edit after the delete does not bring it back
	if _, err := st.Canned(ctx, "nope"); !errors.Is(err, hub.ErrCannedNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	// Deleting everything leaves no key behind.
	for _, who := range []string{"", "bo", "ana"} {
		list, err := st.CannedFor(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if err := st.DeleteCanned(ctx, c); err != nil && !errors.Is(err, hub.ErrCannedNotFound) {
				t.Fatal(err)
			}
		}
	}
	if keys, err := r.Client.Keys(ctx, r.Prefix+":canned*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("left behind: %v %v", keys, err)
	}
}

// TestCannedShortcutRace: many instances saving the same shortcut at once,
// exactly one wins.
func TestCannedShortcutRace(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = st.PutCanned(ctx, cannedReply(fmt.Sprintf("cr_%d", i), hub.CannedShared, "", "greet"), false)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, hub.ErrShortcutTaken):
			t.Fatal(err)
		}
	}
	list, err := st.CannedFor(ctx, "")
	if won != 1 || err != nil || len(list) != 1 {
		t.Fatalf("%d won, %d stored (%v)", won, len(list), err)
	}
}
