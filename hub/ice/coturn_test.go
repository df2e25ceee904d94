package ice_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboardhq/switchboard/hub/ice"
)

// coturn runs Debian's turnserver on 127.0.0.1 with use-auth-secret and
// secret, and returns its port once it listens. Without turnserver the
// test is skipped, unless SWITCHBOARD_REQUIRE_COTURN=1 (scripts/test.sh
// installs it) makes that a failure.
func coturn(t *testing.T, secret string) int {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		if os.Getenv("SWITCHBOARD_REQUIRE_COTURN") == "1" {
			t.Fatal("turnserver (coturn) is not installed")
		}
		t.Skip("turnserver (coturn) is not installed: apt-get install coturn")
	}
	l, err := net.ListenPacket("udp4", "127.0.0.1:0") // a spare port for its listener
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	relayLo := 40000 + port%20000 // relays in a range of its own near the listener's
	dir := t.TempDir()
	cmd := exec.Command(bin, "-c", "/dev/null", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
		"--listening-port="+strconv.Itoa(port), "--min-port="+strconv.Itoa(relayLo), "--max-port="+strconv.Itoa(relayLo+50),
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=switchboard.test", "--allow-loopback-peers",
		"--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout", "--simple-log",
		"--userdb="+dir+"/turndb", "--pidfile="+dir+"/turn.pid")
	var log bytes.Buffer // written by exec's copying goroutine until Wait returns
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("turnserver's log:\n%s", log.Bytes())
		}
	})
	// It listens once it answers a STUN binding request.
	deadline := time.Now().Add(60 * time.Second)
	for !answersSTUN(port) {
		if time.Now().After(deadline) {
			t.Fatal("turnserver did not answer STUN within 60 s (a loaded machine starts it slowly)")
		}
	}
	return port
}

// answersSTUN sends a STUN binding request (RFC 5389) to 127.0.0.1:port
// and reports whether a binding success response came within 200 ms.
func answersSTUN(port int) bool {
	c, err := net.Dial("udp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	defer c.Close()
	req := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := c.Write(req); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	b := make([]byte, 512)
	n, err := c.Read(b)
	return err == nil && n >= 20 && b[0] == 0x01 && b[1] == 0x01
}

// gather runs ICE gathering of a Go WebRTC peer that may use only the
// relay of server, and returns its relay candidates.
func gather(t *testing.T, server webrtc.ICEServer) []string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{
		ICEServers: []webrtc.ICEServer{server}, ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("probe", nil); err != nil {
		t.Fatal(err)
	}
	var relays []string
	found := make(chan string, 16)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil && c.Typ == webrtc.ICECandidateTypeRelay {
			found <- c.Address + ":" + strconv.Itoa(int(c.Port))
		}
	})
	done := webrtc.GatheringCompletePromise(pc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("ICE gathering did not complete within 20 s")
	}
	for {
		select {
		case r := <-found:
			relays = append(relays, r)
		default:
			return relays
		}
	}
}

// TestCoturnRelaysWithTheHubsCredential: coturn with use-auth-secret gives
// a Go WebRTC peer (pion) a relay candidate with the credential the hub
// mints (Config.For) from the same secret, and none with a wrong one.
func TestCoturnRelaysWithTheHubsCredential(t *testing.T) {
	const secret = "coturn-shared-secret-0123"
	port := coturn(t, secret)
	url := "turn:127.0.0.1:" + strconv.Itoa(port) + "?transport=udp"
	c, err := ice.Parse(url, secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := c.For("customer-cust_1", time.Now())[0]
	good := webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	relays := gather(t, good)
	if len(relays) == 0 {
		t.Fatal("no relay candidate with the hub's credential")
	}
	if !strings.HasPrefix(relays[0], "127.0.0.1:") {
		t.Fatalf("relay candidate %v", relays)
	}
	wrong, _ := ice.Parse(url, "another-secret", time.Hour)
	w := wrong.For("customer-cust_1", time.Now())[0]
	if relays := gather(t, webrtc.ICEServer{URLs: w.URLs, Username: w.Username, Credential: w.Credential}); len(relays) != 0 {
		t.Fatalf("coturn relayed with a credential of another secret: %v", relays)
	}
}
