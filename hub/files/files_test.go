package files

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// testStore is what every Store must do.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 5000)...)
	if err := s.Put(ctx, "cs_a/f1", bytes.NewReader(png), int64(len(png)), "image/png"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "cs_a/f2", strings.NewReader("%PDF-1.4"), 8, "application/pdf"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "cs_b/f1", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		t.Fatal(err)
	}
	r, info, err := s.Get(ctx, "cs_a/f1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, png) || info.Size != int64(len(png)) || info.ContentType != "image/png" {
		t.Fatalf("round trip: %d bytes, %+v", len(got), info)
	}
	if _, _, err := s.Get(ctx, "cs_a/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing key: %v", err)
	}
	// A reader longer or shorter than announced stores nothing.
	if err := s.Put(ctx, "cs_a/long", strings.NewReader("0123456789"), 4, "text/plain"); err == nil {
		t.Fatal("a reader longer than its size was stored")
	}
	if err := s.Put(ctx, "cs_a/short", strings.NewReader("01"), 4, "text/plain"); err == nil {
		t.Fatal("a reader shorter than its size was stored")
	}
	if keys, _ := s.List(ctx, "cs_a/"); !slices.Equal(keys, []string{"cs_a/f1", "cs_a/f2"}) {
		t.Fatalf("cs_a holds %v", keys)
	}
	if err := s.Put(ctx, "../escape", strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Fatal("a key out of the store was accepted")
	}
	// Retention: one session's files go, another's stay.
	if err := s.DeletePrefix(ctx, "cs_a/"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.List(ctx, "cs_a/"); len(keys) != 0 {
		t.Fatalf("cs_a after DeletePrefix: %v", keys)
	}
	if keys, _ := s.List(ctx, ""); !slices.Equal(keys, []string{"cs_b/f1"}) {
		t.Fatalf("all after DeletePrefix: %v", keys)
	}
}

func TestDir(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, d)
}

// TestS3 runs the S3 store against an S3 implementation served over real
// HTTP on loopback (gofakes3, in memory): minio-go speaks to it as to any
// S3-compatible server.
func TestS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	u := "s3://access:secret@" + strings.TrimPrefix(srv.URL, "http://") + "/attachments?secure=false&region=us-east-1"
	s, err := NewS3(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, s)
	if _, err := NewS3(context.Background(), "http://host/bucket"); err == nil {
		t.Fatal("a URL of another scheme was accepted")
	}
}

func TestSniffAndNames(t *testing.T) {
	cases := map[string]string{
		"\x89PNG\r\n\x1a\n\x00\x00":  "image/png",
		"%PDF-1.7 ...":               "application/pdf",
		"MZ\x90\x00\x03\x00\x00\x00": "application/octet-stream", // an .exe, whatever its name
		"\xff\xd8\xff\xe0":           "image/jpeg",
		"just text":                  "text/plain",
	}
	for head, want := range cases {
		if got := Sniff([]byte(head)); got != want {
			t.Errorf("%q: %s, want %s", head, got, want)
		}
	}
	if Allowed("application/octet-stream", DefaultAllowed) || !Allowed("application/pdf", DefaultAllowed) {
		t.Error("the default allow-list")
	}
	names := map[string]string{
		"../../etc/passwd":                "passwd",
		`C:\Users\a\invoice.pdf`:          "invoice.pdf",
		"evil\u202egnp.exe":               "evilgnp.exe",
		"a\x00b\nc.png":                   "abc.png",
		"...":                             "file",
		"":                                "file",
		"Résumé (final) v2.pdf":           "Résumé (final) v2.pdf",
		strings.Repeat("x", 300) + ".png": strings.Repeat("x", 100),
	}
	for in, want := range names {
		if got := SanitizeName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
