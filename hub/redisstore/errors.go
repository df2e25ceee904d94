package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

// storeError turns a failed Redis call into the domain's error: one that
// retrying may cure (Redis unreachable, restarting, loading its data,
// failing over, refusing writes for want of replicas, a Cluster slot on its
// way to another master) becomes hub.Unavailable, so that every surface
// answers 503 and clients retry; anything else is an internal error.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	if retryable(err) {
		return hub.Unavailable(err)
	}
	return fmt.Errorf("redis: %w", err)
}

// unavailableReplies are the prefixes of Redis error replies that mean
// "not now" rather than "never". MOVED and ASK reach here when go-redis
// ran out of redirections (MaxRedirects, which its TRYAGAIN retries count
// too) while a resharding moves the slot: the command did not run, and
// will once the slot has moved.
var unavailableReplies = []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY ", "MOVED ", "ASK "}

func retryable(err error) bool {
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range unavailableReplies {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
	}
	msg := err.Error()
	// A script that touched a key a resharding had already moved to
	// another master (one it derives from the prefix: KEYS are checked
	// before it runs). The reshard fence (Script) keeps a script of a
	// moving slot from running at all; this is for a script without it.
	return strings.Contains(msg, "connection pool exhausted") || strings.Contains(msg, "access a non local key")
}
