// Package files keeps the bytes of attachments (images, PDFs, files sent in
// a chat) behind one small interface: a local directory for the embedded
// default, so that `go run ./cmd/switchboard` needs no set-up, and an
// S3-compatible object store for production. Keys are
// "<session id>/<file id>": a session's files go with it at retention
// (DeletePrefix). What may be stored (size, content types sniffed from the
// bytes, names) is decided here too, so that every caller checks the same.
package files

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Info is what is kept beside a file's bytes.
type Info struct {
	Size        int64
	ContentType string
}

// Store keeps files by key. Put stores exactly size bytes or nothing.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// DeletePrefix deletes every file whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// List returns the keys that start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// ErrNotFound is a key no file has.
var ErrNotFound = errors.New("files: not found")

// errSize is a reader that gave more or fewer bytes than announced.
var errSize = errors.New("files: the file is not the size announced")

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$`)

// ValidKey reports whether key may name a file: segments of letters,
// digits, _ . - separated by '/', none of them "." or "..", so that no key
// leaves its directory or bucket prefix.
func ValidKey(key string) bool {
	if len(key) > 200 || !keyPattern.MatchString(key) {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// DefaultAllowed are the content types accepted unless configured
// otherwise: images a browser shows, PDFs and plain text.
var DefaultAllowed = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}

// Sniff returns the content type of a file from its first bytes (up to
// 512), never from its name: an .exe renamed .png is
// application/octet-stream.
func Sniff(head []byte) string {
	ct := http.DetectContentType(head)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return ct
}

// Allowed reports whether contentType is in allow.
func Allowed(contentType string, allow []string) bool { return slices.Contains(allow, contentType) }

// SanitizeName keeps a file name fit to show and to put in a header: the
// last path element, without control or bidirectional-override
// characters, letters, digits, spaces and ._-()+, at most 100 characters;
// "file" when nothing is left.
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n >= 100 {
			break
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case strings.ContainsRune(" ._-()+", r):
		default:
			continue
		}
		b.WriteRune(r)
		n++
	}
	out := strings.Trim(b.String(), " .")
	if out == "" {
		return "file"
	}
	return out
}

// Both stores keep files as the interface says.
var (
	_ Store = (*Dir)(nil)
	_ Store = (*S3)(nil)
)
