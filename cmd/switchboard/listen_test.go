package main

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestListenNoKeepalive checks that the API's connections come without TCP
// keepalive (the hub's own timeouts find a gone peer, and Go's default
// costs four system calls a connect) and still with TCP_NODELAY, which the
// frames' latency needs.
func TestListenNoKeepalive(t *testing.T) {
	ln, err := listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepalive, nodelay int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		keepalive, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		if serr == nil {
			nodelay, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	if keepalive != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", keepalive)
	}
	if nodelay == 0 {
		t.Error("TCP_NODELAY is off on an accepted connection")
	}
}
