package redisstore

import (
	"regexp"
	"strings"
)

// libChunk is one top-level definition of lua/lib.lua (a local function or
// a local value) with the comment above it.
type libChunk struct {
	name string
	text string
}

var libDef = regexp.MustCompile(`^local (?:function )?([A-Za-z_][A-Za-z0-9_]*)`)

// splitLib cuts lib.lua into its top-level definitions, in order; the
// header comment before the first one is dropped.
func splitLib(lib string) []libChunk {
	var chunks []libChunk
	var comment, cur strings.Builder
	name := ""
	flush := func() {
		if name != "" {
			chunks = append(chunks, libChunk{name: name, text: cur.String()})
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(lib, "\n") {
		switch m := libDef.FindStringSubmatch(line); {
		case m != nil:
			flush()
			name = m[1]
			cur.WriteString(comment.String())
			comment.Reset()
			cur.WriteString(line)
		case strings.HasPrefix(line, "--") || strings.TrimSpace(line) == "":
			comment.WriteString(line) // kept for the next definition
		default:
			cur.WriteString(comment.String())
			comment.Reset()
			cur.WriteString(line)
		}
	}
	flush()
	return chunks
}

// withLib returns body with the definitions of lib it uses, directly or
// through another, in front of it, in lib's order. Every script used to
// carry the whole of lib.lua, and Redis runs a script's whole text on every
// call: 40 closures made and dropped per message, a third of message.lua's
// cost (docs/performance.md, round two). A name counts as used wherever it
// appears as a word outside comments, so a false match only adds a
// definition, never drops one that is needed.
func withLib(lib, body string) string {
	chunks := splitLib(lib)
	used := make([]bool, len(chunks))
	words := func(text string) map[string]bool {
		out := map[string]bool{}
		for _, w := range luaWord.FindAllString(luaComment.ReplaceAllString(text, ""), -1) {
			out[w] = true
		}
		return out
	}
	pending := []string{body}
	for len(pending) > 0 {
		seen := words(pending[0])
		pending = pending[1:]
		for i, c := range chunks {
			if !used[i] && seen[c.name] {
				used[i] = true
				pending = append(pending, c.text)
			}
		}
	}
	var b strings.Builder
	for i, c := range chunks {
		if used[i] {
			b.WriteString(c.text)
		}
	}
	b.WriteString(body)
	return b.String()
}

var (
	luaWord = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	// luaComment is a line comment; the scripts have no '--' in strings.
	luaComment = regexp.MustCompile(`--[^\n]*`)
)
