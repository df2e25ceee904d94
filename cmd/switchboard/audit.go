package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore"
)

// auditCommand is `switchboard audit`: it walks every key of the store
// named by SWITCHBOARD_REDIS_URL and SWITCHBOARD_KEY_PREFIX (or the flags)
// and checks that each carries a TTL or belongs to a class whose size
// something bounds (redisstore.Store.Audit). It prints a table (or JSON)
// and exits 1 when a key breaks its bound. It uses SCAN: run it when you
// like, never from a request path.
func auditCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis-url", getenv("SWITCHBOARD_REDIS_URL"), "the store's Redis (env SWITCHBOARD_REDIS_URL)")
	prefix := fs.String("key-prefix", cmp.Or(getenv("SWITCHBOARD_KEY_PREFIX"), "{sb}"), "the key prefix (env SWITCHBOARD_KEY_PREFIX)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		fmt.Fprintln(stderr, "audit: give -redis-url or SWITCHBOARD_REDIS_URL (the embedded Redis lives in the hub's process)")
		return 2
	}
	rdb, err := redisClient(*url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "audit:", err)
		return 2
	}
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: *prefix})
	if err != nil {
		fmt.Fprintln(stderr, "audit:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, err := store.Audit(ctx, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "audit:", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(a, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "%d keys under %s\n", a.Keys, *prefix)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "class\tkeys\twith TTL\tthe others are bounded by")
		for _, c := range a.Classes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c.Class, c.Keys, c.WithTTL, c.Bound)
		}
		tw.Flush()
		for _, v := range a.Violations {
			fmt.Fprintln(stdout, "VIOLATION", v)
		}
	}
	if len(a.Violations) > 0 {
		return 1
	}
	return 0
}
