package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// wsClient is the HTTP client a socket dials its WebSocket with, from src
// (nil: any). Its transport (upgradeTransport) does only what an upgrade
// needs, where net/http's Transport runs a connection pool and a reader and
// a writer goroutine per connection to hand the socket over after the 101:
// the load tool dials tens of thousands of sockets, and in the connect
// waves it competed with the hub it measures for the same two cores
// (docs/performance.md, round three). No client timeout: coder/websocket
// refuses one.
func wsClient(src net.IP) *http.Client {
	return &http.Client{Transport: &upgradeTransport{dialer: dialer(src)}}
}

// upgradeTransport is an http.RoundTripper for WebSocket upgrades only
// (plain http, GET): it dials, writes the request, reads the response head
// and returns the connection itself as the body of a 101, which is what
// coder/websocket's Dial takes over. Any other status gets a body that
// reads what the server sent and closes the connection. The request's
// context bounds the dial and the handshake, not the socket after it.
type upgradeTransport struct {
	dialer *net.Dialer
}

func (t *upgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, errors.New("sbload: the upgrade transport dials plain http only")
	}
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	ctx := req.Context()
	conn, err := t.dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	// The handshake ends early when the context does: its deadline on the
	// connection, lifted once the response head is read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	resp, br, err := handshake(conn, req)
	if !stop() {
		err = ctx.Err() // what cut the handshake short, or ends the socket
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &upgradedConn{Conn: conn, br: br}
	} else {
		resp.Body = closingBody{Reader: resp.Body, conn: conn}
	}
	return resp, nil
}

// handshake writes req on conn in one write and reads the response head.
func handshake(conn net.Conn, req *http.Request) (*http.Response, *bufio.Reader, error) {
	bw := bufio.NewWriterSize(conn, 1024)
	if err := req.Write(bw); err != nil {
		return nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, err
	}
	return resp, br, nil
}

// upgradedConn is a 101's body: the connection, read first from what the
// handshake's reader holds (the server may have written its first frame
// right behind the response head), then directly.
type upgradedConn struct {
	net.Conn
	br *bufio.Reader // nil once drained; only the socket's reader reads
}

func (c *upgradedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// closingBody is a refused upgrade's body: the server's answer, then the
// connection closed.
type closingBody struct {
	io.Reader
	conn net.Conn
}

func (b closingBody) Close() error { return b.conn.Close() }
