package files

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Dir keeps files in a local directory: <root>/<key> with its Info in
// <root>/<key>.meta. A file is written to a temporary name and renamed,
// so that a reader never sees part of one, and a Put that fails leaves
// nothing.
type Dir struct {
	root string // immutable
}

// NewDir returns a Dir rooted at root, which it creates if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

func (d *Dir) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", errors.New("files: invalid key")
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return errSize
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	meta, _ := json.Marshal(Info{Size: size, ContentType: contentType})
	if err := os.WriteFile(p+".meta", meta, 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(p + ".meta")
		return err
	}
	return nil
}

// Get implements Store.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, Info{}, ErrNotFound
	}
	raw, err := os.ReadFile(p + ".meta")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, ErrNotFound
	} else if err != nil {
		return nil, Info{}, err
	}
	var info Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, ErrNotFound
	}
	return f, info, err
}

// DeletePrefix implements Store: prefix is a key's leading segments
// ("<session id>/").
func (d *Dir) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := d.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		p, _ := d.path(k)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		os.Remove(p + ".meta")
	}
	if dir := strings.TrimSuffix(prefix, "/"); ValidKey(dir) {
		os.Remove(filepath.Join(d.root, filepath.FromSlash(dir))) // empty now; an error leaves it
	}
	return nil
}

// List implements Store. It walks only the directory the prefix names
// ("<session>/" is one directory), not the whole store.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i > 0 && ValidKey(prefix[:i]) {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasSuffix(p, ".meta") || strings.HasPrefix(e.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}
