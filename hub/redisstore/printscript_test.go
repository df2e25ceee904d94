package redisstore

import (
	"os"
	"testing"
)

// TestPrintMessageScript writes message.lua as the store sends it to the
// file SWITCHBOARD_PRINT_SCRIPT names, for scripts/redis-message-cost.sh;
// without it, it checks that the script carries its lib definitions.
func TestPrintMessageScript(t *testing.T) {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	body, err := luaFS.ReadFile("lua/message.lua")
	if err != nil {
		t.Fatal(err)
	}
	src := withLib(string(lib), string(body))
	if out := os.Getenv("SWITCHBOARD_PRINT_SCRIPT"); out != "" {
		if err := os.WriteFile(out, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(src) <= len(body) {
		t.Fatalf("message.lua carries nothing of lib.lua (%d bytes)", len(src))
	}
}
