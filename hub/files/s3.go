package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 keeps files in a bucket of an S3-compatible object store (AWS S3,
// MinIO, Ceph, R2…), through minio-go.
type S3 struct {
	client *minio.Client // immutable
	bucket string
}

// NewS3 connects to the store that u names,
// s3://ACCESS:SECRET@host:port/bucket?region=us-east-1&secure=false
// (secure defaults to true), and makes the bucket if it is missing.
func NewS3(ctx context.Context, u string) (*S3, error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "s3" || p.Host == "" || p.User == nil {
		return nil, errors.New("files: want s3://ACCESS:SECRET@host[:port]/bucket[?region=…&secure=false]")
	}
	bucket := strings.Trim(p.Path, "/")
	if bucket == "" || strings.Contains(bucket, "/") {
		return nil, errors.New("files: the S3 URL names one bucket: s3://…@host/bucket")
	}
	secret, _ := p.User.Password()
	q := p.Query()
	c, err := minio.New(p.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(p.User.Username(), secret, ""),
		Secure: q.Get("secure") != "false",
		Region: q.Get("region"),
	})
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	s := &S3{client: c, bucket: bucket}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("files: bucket %s: %w", bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: q.Get("region")}); err != nil {
			return nil, fmt.Errorf("files: making bucket %s: %w", bucket, err)
		}
	}
	return s, nil
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if !ValidKey(key) {
		return errors.New("files: invalid key")
	}
	// A reader that runs short or long makes the upload fail: the store
	// keeps nothing of it.
	lr := &exactReader{r: io.LimitReader(r, size+1), want: size}
	_, err := s.client.PutObject(ctx, s.bucket, key, lr, size, minio.PutObjectOptions{ContentType: contentType})
	if err == nil && lr.err != nil {
		s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
		return lr.err
	}
	return err
}

// exactReader fails when its reader gives more or fewer than want bytes.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want || errors.Is(err, io.EOF) && e.n != e.want {
		e.err = errSize
		return n, errSize
	}
	return n, err
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if !ValidKey(key) {
		return nil, Info{}, ErrNotFound
	}
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey || minio.ToErrorResponse(err).StatusCode == 404 {
			return nil, Info{}, ErrNotFound
		}
		return nil, Info{}, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, err
	}
	return obj, Info{Size: st.Size, ContentType: st.ContentType}, nil
}

// DeletePrefix implements Store.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}
