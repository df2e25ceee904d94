package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hubProc is one hub process of a chaos run: the switchboard binary on a
// loopback port of its own, logging to a file.
type hubProc struct {
	idx  int
	url  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process exited
	err  error         // why it exited; read after done
}

// spareAddr returns a loopback address nothing listens on (the kernel's
// pick; a process that takes it first makes the start fail, and the caller
// tries again).
func spareAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startHub starts hub idx from bin with env (besides SWITCHBOARD_ADDR) and
// waits until it answers /readyz.
func startHub(ctx context.Context, bin, dir string, idx int, env []string) (*hubProc, error) {
	var last error
	for range 3 {
		addr, err := spareAddr()
		if err != nil {
			return nil, err
		}
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("hub%d.log", idx)))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin)
		cmd.Env = append(append(os.Environ(), env...), "SWITCHBOARD_ADDR="+addr)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			log.Close()
			return nil, err
		}
		h := &hubProc{idx: idx, url: "http://" + addr, cmd: cmd, log: log, done: make(chan struct{})}
		go func() { h.err = cmd.Wait(); close(h.done) }()
		if last = h.waitReady(ctx, 15*time.Second); last == nil {
			return h, nil
		}
		h.kill()
	}
	return nil, fmt.Errorf("hub %d did not start: %w (see %s)", idx, last, dir)
}

// ready reports whether the hub answers /readyz with 200.
func (h *hubProc) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/readyz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func (h *hubProc) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !h.ready(ctx) {
		select {
		case <-h.done:
			return fmt.Errorf("exited: %v", h.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v", d)
		}
	}
	return nil
}

// alive reports whether the process still runs.
func (h *hubProc) alive() bool {
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (a crash: no shutdown, no close frames) and waits.
func (h *hubProc) kill() {
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	h.log.Close()
}

// stop asks the hub to shut down (SIGTERM) and waits, killing it after 20 s.
func (h *hubProc) stop() {
	if !h.alive() {
		h.log.Close()
		return
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		h.cmd.Process.Signal(syscall.SIGKILL)
		<-h.done
	}
	h.log.Close()
}

// metric returns the sum of a metric family's samples on the hub's /metrics.
func (h *hubProc) metric(ctx context.Context, name string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	res, err := getMetrics(ctx, h.url+"/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var sum float64
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := strings.TrimPrefix(line, name)
		if rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue // another family sharing the prefix
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// verdict is what a run's report says of itself: printed, and whether it
// passed and why not.
type verdict interface {
	print(w io.Writer)
	passed() (bool, []string)
}

func (r *ChaosResult) passed() (bool, []string)   { return r.Pass, r.Why }
func (r *SoakResult) passed() (bool, []string)    { return r.Pass, r.Why }
func (r *HostileReport) passed() (bool, []string) { return r.Pass, r.Why }

// finish prints a run's report (and writes it as JSON to out), and returns
// the exit status: 1 on an error or a broken bound.
func finish(name string, rep verdict, err error, out string) int {
	if rep != nil && !reflect.ValueOf(rep).IsNil() {
		rep.print(os.Stdout)
		if out != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(out, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "sbload "+name+":", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbload "+name+":", err)
		return 1
	}
	if ok, why := rep.passed(); !ok {
		fmt.Fprintln(os.Stderr, "sbload "+name+": FAIL:", strings.Join(why, "; "))
		return 1
	}
	return 0
}

// runDir returns the folder of a run's logs and data: dir, or a new
// temporary one (named after prefix) that keep removes unless the run
// failed, saying where it is kept.
func runDir(dir, prefix string) (string, func(failed bool), error) {
	if dir != "" {
		return dir, func(bool) {}, os.MkdirAll(dir, 0o755)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func(failed bool) {
		if failed {
			logf("logs and data kept in %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}, nil
}
