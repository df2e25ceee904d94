package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/api/usersig"
)

// usersigCommand is `switchboard usersig`: it prints a usersig for the
// Tencent-Desk surface, signed with SWITCHBOARD_USERSIG_KEY for
// SWITCHBOARD_SDKAPPID (or the flags), for testing and for scripts.
func usersigCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("usersig", flag.ContinueOnError)
	fs.SetOutput(stderr)
	identifier := fs.String("identifier", "admin", "identifier (an admin identifier of the hub)")
	key := fs.String("key", getenv("SWITCHBOARD_USERSIG_KEY"), "signing key (env SWITCHBOARD_USERSIG_KEY)")
	appid := fs.String("sdkappid", getenv("SWITCHBOARD_SDKAPPID"), "SDKAppID (env SWITCHBOARD_SDKAPPID)")
	expire := fs.Duration("expire", 24*time.Hour, "validity, whole seconds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	id, err := strconv.ParseUint(*appid, 10, 53)
	if err != nil {
		fmt.Fprintln(stderr, "usersig: give -sdkappid or SWITCHBOARD_SDKAPPID as a whole number")
		return 2
	}
	if *key == "" {
		fmt.Fprintln(stderr, "usersig: give -key or SWITCHBOARD_USERSIG_KEY")
		return 2
	}
	sig, err := usersig.Sign(*key, id, *identifier, *expire, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "usersig:", err)
		return 2
	}
	fmt.Fprintln(stdout, sig)
	return 0
}
