package redisstore

import (
	"regexp"
	"strings"
	"testing"
)

// TestWithLibCarriesWhatEachScriptUses: every script carries the lib
// definitions it names, directly or through another, and no more than
// that: message.lua (the send path) leaves out the desk's and the
// history's helpers, and the one-field-at-a-time ones its fast path
// replaces.
func TestWithLibCarriesWhatEachScriptUses(t *testing.T) {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	chunks := splitLib(string(lib))
	if len(chunks) < 30 || chunks[0].name != "epoch" {
		t.Fatalf("lib.lua splits into %d definitions, the first %q", len(chunks), chunks[0].name)
	}
	entries, err := luaFS.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" {
			continue
		}
		body, _ := luaFS.ReadFile("lua/" + e.Name())
		full := withLib(string(lib), string(body))
		for _, c := range chunks {
			defined := strings.Contains(full, c.text)
			named := regexp.MustCompile(`\b` + c.name + `\b`).MatchString(luaComment.ReplaceAllString(strings.Replace(full, c.text, "", 1), ""))
			if named && !defined {
				t.Errorf("%s names %s but does not define it", name, c.name)
			}
		}
	}
	body, _ := luaFS.ReadFile("lua/message.lua")
	msg := withLib(string(lib), string(body))
	for _, want := range []string{"local function emit_at(", "local function hook(", "local function party_may_act(", "local function refusal(", "local epoch = ''"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message.lua lacks %q", want)
		}
	}
	for _, not := range []string{"local function emit(", "local function open_for(", "local function route_queue(", "local function retire(", "local function go_offline("} {
		if strings.Contains(msg, not) {
			t.Errorf("message.lua carries %q, which it does not use", not)
		}
	}
	t.Logf("message.lua: %d bytes with what it uses of lib.lua, %d with all of it", len(msg), len(lib)+len(body))
}
