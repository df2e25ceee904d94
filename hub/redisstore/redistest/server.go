//go:build unix

package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file starts and controls real redis-server and redis-sentinel
// processes on loopback, for reliability tests and chaos runs: a restart
// with AOF, a restart from an older RDB snapshot, a primary and replica
// watched by Sentinels, a forced failover, and a failover to a replica that
// was held back so that it loses writes. Every wait is a poll on a condition
// with a deadline. The processes run in their own process group (so that a
// kill also takes a BGSAVE or AOF-rewrite child) and, on Linux, die with the
// test binary even when it exits without running its cleanups.

// Timings of the harness: how long a start may take to answer PING with the
// data loaded, a graceful stop to exit, and how often conditions are polled.
const (
	defaultStartTimeout    = 15 * time.Second
	stopTimeout            = 30 * time.Second
	killTimeout            = 10 * time.Second
	defaultSentinelTimeout = 20 * time.Second
	defaultFailoverTimeout = 30 * time.Second
	pollInterval           = 20 * time.Millisecond
	maxStartAttempts       = 10
	// holdDownAfter is the down-after-milliseconds FailoverToLaggingReplica
	// sets while it freezes processes, so that no Sentinel declares them
	// down and starts a failover of its own (see FailoverToLaggingReplica).
	holdDownAfter = time.Minute
)

// Where the platform can (Linux, server_linux.go): setDeathSignal asks the
// kernel to kill a child when the test binary dies; processStopped reports
// whether a process has stopped on a SIGSTOP (known false: cannot tell).
var (
	setDeathSignal = func(*syscall.SysProcAttr) {}
	processStopped = func(pid int) (stopped, known bool) { return false, false }
)

// ServerConfig describes a redis-server for StartServer. The zero value is a
// throwaway server without persistence on a spare loopback port.
type ServerConfig struct {
	// Bin is the redis-server binary; empty means redis-server from PATH.
	Bin string
	// Dir holds the RDB snapshot (dump.rdb), the AOF (appendonlydir) and by
	// default the log; it is kept across Stop/Kill and Start, which is what
	// makes restarts meaningful. Empty means a new temporary directory that
	// Close removes. Each server needs a Dir of its own.
	Dir string
	// Port is the loopback port; 0 picks a spare one (another one on a
	// port conflict). The port stays the same across restarts, so clients,
	// replicas and Sentinels find the server again.
	Port int
	// AppendOnly turns the append-only file on (appendonly yes).
	AppendOnly bool
	// AppendFsync is the AOF fsync policy: "everysec" (the default) or
	// "always" (every write is on disk before it is acknowledged, so a Kill
	// loses nothing).
	AppendFsync string
	// Save keeps Redis' default RDB snapshot schedule (and the snapshot
	// at a graceful shutdown); false means save "" (snapshots only by Save).
	Save bool
	// ReplicaOf makes the server a replica of "127.0.0.1:port" from its start.
	ReplicaOf string
	// Extra are more redis-server arguments ("--maxmemory", "10mb", ...),
	// after the harness' own, so they override them.
	Extra []string
	// LogPath is the server's log file; empty means Dir/redis.log. Errors
	// of the harness quote its end.
	LogPath string
	// StartTimeout bounds each start's wait until the server answers and has
	// loaded its data; 0 means 15 s.
	StartTimeout time.Duration

	// pickPort replaces the spare-port finder (tests of the port retry).
	pickPort func() (int, error)
	// sentinelConf, when set, makes the process a Sentinel started from
	// that configuration file (written by writeConf before its first start).
	sentinelConf string
	writeConf    func(port int) error
	afterStart   func(context.Context, *redis.Client) error
}

// Server is a redis-server process on 127.0.0.1 that a test can stop, kill,
// freeze and restart on the same port and data directory, to see what a
// client and the store make of it. Its methods are safe for concurrent use.
type Server struct {
	cfg     ServerConfig
	bin     string
	dir     string
	tmpDir  string // the directory Close removes, or ""
	logPath string
	outPath string // stdout and stderr of the process

	// port and client are set by StartServer and never change after.
	port   int
	client *redis.Client

	mu          sync.Mutex // held across a whole start, stop or kill
	proc        *process
	paused      bool
	everStarted bool
	closed      bool
}

// process is one run of the server's binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's result, set before done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// errNotRunning is returned when a server that is not running is stopped,
// killed, paused or resumed.
var errNotRunning = errors.New("redistest: server not running")

// StartServer starts a redis-server as cfg says and waits until it answers
// PING with PONG and INFO persistence says loading:0, so that the caller
// never races the server's start or its loading of RDB/AOF data. The caller
// must Close it.
func StartServer(cfg ServerConfig) (*Server, error) {
	bin := cfg.Bin
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if cfg.ReplicaOf != "" {
		if _, _, err := net.SplitHostPort(cfg.ReplicaOf); err != nil {
			return nil, fmt.Errorf("redistest: ReplicaOf %q: %w", cfg.ReplicaOf, err)
		}
	}
	switch cfg.AppendFsync {
	case "":
		cfg.AppendFsync = "everysec"
	case "everysec", "always", "no":
	default:
		return nil, fmt.Errorf("redistest: AppendFsync %q: want everysec or always", cfg.AppendFsync)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultStartTimeout
	}
	if cfg.pickPort == nil {
		cfg.pickPort = sparePort
	}
	s := &Server{cfg: cfg, bin: path, dir: cfg.Dir, port: cfg.Port}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "redistest-"); err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		s.tmpDir = s.dir
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		s.Close()
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s.logPath = cfg.LogPath
	if s.logPath == "" {
		s.logPath = filepath.Join(s.dir, "redis.log")
	}
	if s.logPath, err = filepath.Abs(s.logPath); err != nil {
		s.Close()
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s.outPath = s.logPath + ".stdout"

	s.mu.Lock()
	if cfg.Port == 0 {
		err = s.startLocked(pickPort)
	} else {
		err = s.startLocked(tryOnce)
	}
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// RequireServer starts a server for t, or skips t when the redis-server
// binary is missing (so that the suite still runs on a machine without
// Redis); it fails t when the server does not start, and closes it when t
// ends.
func RequireServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	bin := cfg.Bin
	if bin == "" {
		bin = "redis-server"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("redistest: %s not installed: %v", bin, err)
	}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's "127.0.0.1:port", the same across restarts, for
// ReplicaOf and for clients of the caller's own.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis://127.0.0.1:port/0, the form the hub's
// configuration takes.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's data directory (dump.rdb, appendonlydir), for tests
// that copy or replace its files between a Stop and a Start.
func (s *Server) Dir() string { return s.dir }

// LogPath is the server's log file, for a test to quote when it fails.
func (s *Server) LogPath() string { return s.logPath }

// Pid is the process id of the running server, or 0 when it is not running,
// for logs and for checks that no process is left behind.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// PubSubClients returns how many of the server's clients are subscribed
// to channels or patterns (CLIENT LIST TYPE pubsub).
func (s *Server) PubSubClients(ctx context.Context) (int, error) {
	list, err := s.client.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(list) {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n, nil
}

// Client is a go-redis client on the server with go-redis' default options,
// which reconnects after a restart (same port: Start returns once it has);
// Close closes it.
func (s *Server) Client() *redis.Client { return s.client }

// Start starts the server again after Stop or Kill, with the same
// configuration, directory and port, and waits until it answers and has
// loaded its RDB or AOF, so that the caller sees the restarted state.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("redistest: server closed")
	}
	if s.proc != nil && !s.proc.exited() {
		return errors.New("redistest: server already running")
	}
	return s.startLocked(samePort)
}

// Stop shuts the server down gracefully with SIGTERM (Redis then flushes
// its AOF and, with Save, writes a snapshot, as in a clean restart) and
// waits until it has exited. A paused server is resumed to let it exit.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil || p.exited() {
		return errNotRunning
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("redistest: SIGTERM: %w", err)
	}
	if s.paused {
		syscall.Kill(-pid, syscall.SIGCONT)
		s.paused = false
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		s.killLocked()
		return fmt.Errorf("redistest: %s did not exit within %v of SIGTERM (killed)%s", s.Addr(), stopTimeout, s.logTail())
	}
	if p.err != nil {
		return fmt.Errorf("redistest: %s exited after SIGTERM: %v%s", s.Addr(), p.err, s.logTail())
	}
	return nil
}

// Kill kills the server (and any BGSAVE or AOF-rewrite child) with SIGKILL
// and waits until it has exited: a crash, which keeps only what is on disk.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return errNotRunning
	}
	return s.killLocked()
}

// killLocked SIGKILLs the process group and waits for the process.
func (s *Server) killLocked() error {
	p := s.proc
	s.paused = false
	if p == nil || p.exited() {
		return nil
	}
	// The group (Setpgid) is the server and its fork children; SIGKILL also
	// ends stopped processes.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	t := time.NewTimer(killTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("redistest: %s did not exit within %v of SIGKILL", s.Addr(), killTimeout)
	}
}

// Pause freezes the server (and its fork children) with SIGSTOP: clients and
// Sentinels see it hang, connections stay open, and the kernel still accepts
// new ones, as with a stalled host. A signal takes effect some time after it
// is sent, so on Linux Pause waits until the kernel reports the server
// stopped: nothing it does after Pause returns.
func (s *Server) Pause() error {
	if err := s.signalGroup(syscall.SIGSTOP, true); err != nil {
		return err
	}
	pid := s.Pid()
	if pid == 0 {
		return errNotRunning
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return poll(ctx, "the server to stop", func(context.Context) (bool, error) {
		stopped, known := processStopped(pid)
		return stopped || !known, nil
	})
}

// Resume lets a paused server run again with SIGCONT.
func (s *Server) Resume() error { return s.signalGroup(syscall.SIGCONT, false) }

func (s *Server) signalGroup(sig syscall.Signal, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return errNotRunning
	}
	if err := syscall.Kill(-s.proc.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("redistest: %v: %w", sig, err)
	}
	s.paused = paused
	return nil
}

// Close kills the server if it runs, closes Client and removes the directory
// StartServer made; it is for cleanups and may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.killLocked()
	if s.client != nil {
		s.client.Close()
	}
	if s.tmpDir != "" {
		removeAll(s.tmpDir)
	}
}

// Save takes a synchronous RDB snapshot (SAVE) to Dir/dump.rdb: the state a
// later Kill and Start roll back to when there is no AOF.
func (s *Server) Save() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ReadTimeout: time.Minute, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Save(ctx).Err(); err != nil {
		return fmt.Errorf("redistest: SAVE on %s: %w", s.Addr(), err)
	}
	return nil
}

// RunID is the server's INFO server run_id, which changes at every start, so
// a test can tell that a restart really happened; "" when the server does
// not answer.
func (s *Server) RunID() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := s.Info(ctx, "server")
	if err != nil {
		return ""
	}
	return info["run_id"]
}

// Info returns the fields of INFO section ("replication", "persistence",
// ...) as a map, for tests that check a server's role, offsets or loading
// state. It uses a connection of its own with short timeouts, not Client.
func (s *Server) Info(ctx context.Context, section string) (map[string]string, error) {
	return infoAt(ctx, s.Addr(), section)
}

// WaitReplicaOf waits until s is a replica of primary with its link up and
// has caught up with primary's replication offset, so that what was written
// to primary before the call is on s; for a replica's first sync and for a
// former primary that Sentinel turned into a replica.
func (s *Server) WaitReplicaOf(ctx context.Context, primary *Server) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultFailoverTimeout)
	defer cancel()
	want := primary.Addr()
	var target int64 = -1 // the primary's offset after our marker, once sent
	return poll(ctx, s.Addr()+" to replicate "+want, func(ctx context.Context) (bool, error) {
		pi, err := primary.Info(ctx, "replication")
		if err != nil {
			return false, err
		}
		ri, err := s.Info(ctx, "replication")
		if err != nil {
			return false, err
		}
		if ri["role"] != "slave" || net.JoinHostPort(ri["master_host"], ri["master_port"]) != want || ri["master_link_status"] != "up" {
			target = -1
			return false, fmt.Errorf("role:%s master:%s:%s link:%s", ri["role"], ri["master_host"], ri["master_port"], ri["master_link_status"])
		}
		if st := listedReplicas(pi)[s.Addr()]; st != "online" {
			target = -1
			return false, fmt.Errorf("the primary lists it as %q", st)
		}
		// Once attached, a message on a channel of the harness moves the
		// replication offset without touching the data: the replica
		// reaching that offset shows that the primary streams to it and
		// that it has all that was written before. (Redis 7.0 lists a
		// replica as online after a diskless sync, and the replica says its
		// link is up, but the primary streams to it only after its first
		// REPLCONF ACK, up to a second later.)
		if target < 0 {
			err := primary.with(ctx, func(c *redis.Client) error {
				return c.Publish(ctx, "__redistest__:sync", s.Addr()).Err()
			})
			if err != nil {
				return false, err
			}
			pi, err := primary.Info(ctx, "replication")
			if err != nil {
				return false, err
			}
			target = atoi(pi["master_repl_offset"])
		}
		if off := atoi(ri["slave_repl_offset"]); off < target {
			return false, fmt.Errorf("offset %d behind %d", off, target)
		}
		return true, nil
	})
}

// How startLocked deals with a port conflict.
const (
	tryOnce  = iota // fail (a port the caller chose)
	pickPort        // try another spare port (the first start)
	samePort        // try the same port again, until the start timeout (a restart)
)

// startLocked starts the process and waits until it is ready, retrying on
// a port conflict as onConflict says.
func (s *Server) startLocked(onConflict int) error {
	deadline := time.Now().Add(s.cfg.StartTimeout)
	for attempt := 1; ; attempt++ {
		if onConflict == pickPort {
			port, err := s.cfg.pickPort()
			if err != nil {
				return fmt.Errorf("redistest: spare port: %w", err)
			}
			s.port = port
		}
		inUse, err := s.launch(deadline)
		if err == nil {
			break
		}
		if !inUse || onConflict == tryOnce || attempt >= maxStartAttempts || time.Now().After(deadline) {
			return err
		}
		if onConflict == samePort {
			// Same port: poll again shortly for it to be free.
			t := time.NewTimer(100 * time.Millisecond)
			<-t.C
		}
	}
	s.everStarted = true
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: s.Addr()})
	}
	// Client's pool may hold connections to the previous run, or have
	// given up dialing for a second after failed dials while the server was
	// down: Start returns once it works.
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(5*time.Second))
	defer cancel()
	return poll(ctx, "Client to reach the server", func(ctx context.Context) (bool, error) {
		err := s.client.Ping(ctx).Err()
		return err == nil, err
	})
}

// launch runs the binary once and waits until it is ready; on failure it
// kills it and reports whether the port was taken.
func (s *Server) launch(deadline time.Time) (portInUse bool, err error) {
	if s.cfg.writeConf != nil && !s.everStarted {
		if err := s.cfg.writeConf(s.port); err != nil {
			return false, err
		}
	}
	logStart := fileSize(s.logPath)
	out, err := os.OpenFile(s.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("redistest: %w", err)
	}
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	err = cmd.Start()
	out.Close()
	if err != nil {
		return false, fmt.Errorf("redistest: starting %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc, s.paused = p, false
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err = s.waitReady(ctx, p); err == nil {
		return false, nil
	}
	s.killLocked()
	s.proc = nil
	inUse := strings.Contains(readFrom(s.logPath, logStart), "Address already in use")
	return inUse, fmt.Errorf("redistest: starting %s on %s: %w%s", filepath.Base(s.bin), s.Addr(), err, s.logTail())
}

// args are the command-line arguments of one start.
func (s *Server) args() []string {
	if s.cfg.sentinelConf != "" {
		a := []string{s.cfg.sentinelConf}
		if !strings.Contains(filepath.Base(s.bin), "sentinel") {
			a = append(a, "--sentinel")
		}
		return a
	}
	yes := map[bool]string{true: "yes", false: "no"}
	a := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--daemonize", "no",
		"--dir", s.dir,
		"--dbfilename", "dump.rdb",
		"--logfile", s.logPath,
		"--appendonly", yes[s.cfg.AppendOnly],
		"--appendfsync", s.cfg.AppendFsync,
		// A full sync (a replica's first, a former primary's rejoin) starts
		// at once instead of after the default 5 s.
		"--repl-diskless-sync-delay", "0",
		// DEBUG SLEEP and friends, from loopback only, for chaos runs.
		"--enable-debug-command", "local",
	}
	if !s.cfg.Save {
		a = append(a, "--save", "")
	}
	if s.cfg.ReplicaOf != "" {
		h, p, _ := net.SplitHostPort(s.cfg.ReplicaOf)
		a = append(a, "--replicaof", h, p)
	}
	return append(a, s.cfg.Extra...)
}

// waitReady polls until the server answers PONG, has loaded its data, and
// the afterStart hook (a Sentinel's tuning) has run.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	// The process' exit ends the wait, and any PING in flight: until the
	// server fails to bind its port, the kernel may accept connections on
	// it for another process that never answers.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Short timeouts: a loading server answers at once (-LOADING).
	c := newProbe(s.Addr(), 500*time.Millisecond)
	defer c.Close()
	err := poll(ctx, "PING and loading:0", func(ctx context.Context) (bool, error) {
		// A plain connect first, so that go-redis neither logs nor backs
		// off from refused dials while the server comes up.
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		conn, err := d.DialContext(ctx, "tcp", s.Addr())
		if err != nil {
			return false, err
		}
		conn.Close()
		if err := c.Ping(ctx).Err(); err != nil {
			return false, err
		}
		if s.cfg.sentinelConf != "" {
			return true, nil
		}
		txt, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return false, err
		}
		if l := parseInfo(txt)["loading"]; l != "0" {
			return false, fmt.Errorf("loading:%s", l)
		}
		return true, nil
	})
	if p.exited() {
		return fmt.Errorf("exited: %v", p.err)
	}
	if err != nil {
		return err
	}
	if s.cfg.afterStart != nil {
		return s.cfg.afterStart(ctx, c)
	}
	return nil
}

// logTail is the end of the server's log and output, for error messages.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, f := range []string{s.logPath, s.outPath} {
		if t := tail(f, 1500); strings.TrimSpace(t) != "" {
			fmt.Fprintf(&b, "\n--- %s:\n%s", f, t)
		}
	}
	return b.String()
}

// SentinelConfig describes the Sentinels of StartSentinels. The defaults
// make failure detection and discovery fast enough for tests.
type SentinelConfig struct {
	// Bin is the Sentinel binary: empty means redis-sentinel from PATH, or
	// redis-server (run with --sentinel) when there is no redis-sentinel.
	Bin string
	// DownAfter is down-after-milliseconds, how long the master (or a
	// replica) must not answer before a Sentinel thinks it down; 0 means 1 s.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout, which also bounds each step of a
	// failover and spaces retries of a failed one; 0 means 5 s.
	FailoverTimeout time.Duration
	// InfoPeriod is how often a Sentinel sends INFO to the master and
	// replicas (SENTINEL DEBUG info-period; Redis' default is 10 s), which is
	// how fast it discovers replicas and sees their state; 0 means 1 s,
	// negative leaves Redis' default.
	InfoPeriod time.Duration
	// PublishPeriod is how often a Sentinel publishes its hello message
	// (SENTINEL DEBUG publish-period; Redis' default is 2 s), which is how
	// fast Sentinels discover each other, and four times which a former
	// master must be seen as such before it is turned into a replica; 0
	// means 500 ms, negative leaves Redis' default.
	PublishPeriod time.Duration
	// Dir holds each Sentinel's configuration and log (Dir/sentinel-N);
	// empty means a new temporary directory that Close removes.
	Dir string
	// StartTimeout bounds StartSentinels' wait until every Sentinel knows the
	// master, its replicas and the other Sentinels; 0 means 20 s.
	StartTimeout time.Duration
	// Logf, when set (to t.Logf), gets a line for each step of Failover and
	// FailoverToLaggingReplica with the time it was reached, to see where a
	// slow or failed failover spent its time.
	Logf func(format string, args ...any)
}

// Sentinels are Sentinel processes on loopback watching one master, to test
// the hub through a redis+sentinel:// URL across failovers.
type Sentinels struct {
	name   string
	cfg    SentinelConfig
	tmpDir string
	procs  []*Server
	conns  []*redis.SentinelClient
}

// StartSentinels starts n Sentinels on spare loopback ports that monitor
// master as masterName with quorum n/2+1, and waits until every one of them
// knows the master, the replicas the master lists in INFO replication (so
// start the replicas and WaitReplicaOf first) and the n-1 other Sentinels:
// only then can a failover find a replica and reach agreement. The caller
// must Close them.
func StartSentinels(n int, masterName string, master *Server, cfg SentinelConfig) (*Sentinels, error) {
	if n < 1 {
		return nil, errors.New("redistest: StartSentinels needs n >= 1")
	}
	if masterName == "" || strings.ContainsAny(masterName, " \t\r\n\"'") {
		return nil, fmt.Errorf("redistest: bad master name %q", masterName)
	}
	bin, err := sentinelBinary(cfg.Bin)
	if err != nil {
		return nil, err
	}
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = 5 * time.Second
	}
	if cfg.InfoPeriod == 0 {
		cfg.InfoPeriod = time.Second
	}
	if cfg.PublishPeriod == 0 {
		cfg.PublishPeriod = 500 * time.Millisecond
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultSentinelTimeout
	}
	ss := &Sentinels{name: masterName, cfg: cfg}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "redistest-sentinels-"); err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		ss.tmpDir = dir
	}
	if dir, err = filepath.Abs(dir); err != nil {
		ss.Close()
		return nil, fmt.Errorf("redistest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	minfo, err := master.Info(ctx, "replication")
	if err != nil {
		ss.Close()
		return nil, fmt.Errorf("redistest: master %s: %w", master.Addr(), err)
	}
	replicas := listedReplicas(minfo)
	mhost, mport, _ := net.SplitHostPort(master.Addr())
	quorum := n/2 + 1
	var debug []any
	if cfg.InfoPeriod > 0 {
		debug = append(debug, "info-period", cfg.InfoPeriod.Milliseconds())
	}
	if cfg.PublishPeriod > 0 {
		debug = append(debug, "publish-period", cfg.PublishPeriod.Milliseconds())
	}
	for i := range n {
		sdir := filepath.Join(dir, fmt.Sprintf("sentinel-%d", i))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			ss.Close()
			return nil, fmt.Errorf("redistest: %w", err)
		}
		conf := filepath.Join(sdir, "sentinel.conf")
		logPath := filepath.Join(sdir, "sentinel.log")
		scfg := ServerConfig{
			Bin: bin, Dir: sdir, LogPath: logPath, StartTimeout: cfg.StartTimeout,
			sentinelConf: conf,
			writeConf: func(port int) error {
				c := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %q\nlogfile %q\n"+
					"sentinel monitor %s %s %s %d\n"+
					"sentinel down-after-milliseconds %s %d\n"+
					"sentinel failover-timeout %s %d\n"+
					"sentinel parallel-syncs %s 1\n",
					port, sdir, logPath,
					masterName, mhost, mport, quorum,
					masterName, cfg.DownAfter.Milliseconds(),
					masterName, cfg.FailoverTimeout.Milliseconds(),
					masterName)
				return os.WriteFile(conf, []byte(c), 0o644)
			},
		}
		if len(debug) > 0 {
			scfg.afterStart = func(ctx context.Context, c *redis.Client) error {
				return c.Do(ctx, append([]any{"SENTINEL", "DEBUG"}, debug...)...).Err()
			}
		}
		p, err := StartServer(scfg)
		if err != nil {
			ss.Close()
			return nil, err
		}
		ss.procs = append(ss.procs, p)
		ss.conns = append(ss.conns, redis.NewSentinelClient(&redis.Options{
			Addr: p.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
			WriteTimeout: 2 * time.Second, MaxRetries: 1, ContextTimeoutEnabled: true,
			DialerRetries: 1,
		}))
	}
	err = poll(ctx, "the Sentinels to know the master, its replicas and each other", func(ctx context.Context) (bool, error) {
		for i, c := range ss.conns {
			m, err := c.Master(ctx, masterName).Result()
			if err != nil {
				return false, fmt.Errorf("sentinel %d: %w", i, err)
			}
			if got := net.JoinHostPort(m["ip"], m["port"]); got != master.Addr() {
				return false, fmt.Errorf("sentinel %d: master %s", i, got)
			}
			reps, err := c.Replicas(ctx, masterName).Result()
			if err != nil {
				return false, fmt.Errorf("sentinel %d: %w", i, err)
			}
			for want := range replicas {
				if findInstance(reps, want) == nil {
					return false, fmt.Errorf("sentinel %d: replica %s unknown", i, want)
				}
			}
			others, err := c.Sentinels(ctx, masterName).Result()
			if err != nil {
				return false, fmt.Errorf("sentinel %d: %w", i, err)
			}
			if len(others) < n-1 {
				return false, fmt.Errorf("sentinel %d: knows %d of %d other sentinels", i, len(others), n-1)
			}
		}
		return true, nil
	})
	if err != nil {
		err = fmt.Errorf("%w%s", err, ss.procs[0].logTail())
		ss.Close()
		return nil, err
	}
	return ss, nil
}

// RequireSentinels starts Sentinels for t, or skips t when neither
// redis-sentinel nor redis-server is installed; it fails t when they do not
// start, and closes them when t ends.
func RequireSentinels(t testing.TB, n int, masterName string, master *Server, cfg SentinelConfig) *Sentinels {
	t.Helper()
	if _, err := sentinelBinary(cfg.Bin); err != nil {
		t.Skipf("redistest: %v", err)
	}
	s, err := StartSentinels(n, masterName, master, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// sentinelBinary finds the Sentinel binary: redis-sentinel, else
// redis-server (which args runs with --sentinel).
func sentinelBinary(bin string) (string, error) {
	if bin == "" {
		if p, err := exec.LookPath("redis-sentinel"); err == nil {
			return p, nil
		}
		bin = "redis-server"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("redistest: %w", err)
	}
	return p, nil
}

// MasterName is the name the Sentinels monitor the master under, for
// redis.FailoverOptions.
func (s *Sentinels) MasterName() string { return s.name }

// Addrs are the Sentinels' "127.0.0.1:port" addresses, for
// redis.FailoverOptions.SentinelAddrs.
func (s *Sentinels) Addrs() []string {
	a := make([]string, len(s.procs))
	for i, p := range s.procs {
		a[i] = p.Addr()
	}
	return a
}

// Sentinel is the i-th Sentinel process, to stop, kill, pause or restart it
// in a chaos run (a restarted Sentinel reads the configuration it rewrote).
func (s *Sentinels) Sentinel(i int) *Server { return s.procs[i] }

// URL is the hub's Sentinel URL for the Sentinels and database db:
// redis+sentinel://127.0.0.1:p1/db?master_name=NAME&addr=127.0.0.1:p2&...
// cmd/switchboard rewrites the scheme to redis:// and hands it to
// redis.ParseFailoverURL, which takes the host as the first Sentinel and
// every addr parameter as another one.
func (s *Sentinels) URL(db int) string {
	addrs := s.Addrs()
	q := "master_name=" + url.QueryEscape(s.name)
	for _, a := range addrs[1:] {
		q += "&addr=" + url.QueryEscape(a)
	}
	return fmt.Sprintf("redis+sentinel://%s/%d?%s", addrs[0], db, q)
}

// MasterAddr asks the Sentinels (the first that answers) for the master's
// address (SENTINEL GET-MASTER-ADDR-BY-NAME), as host:port.
func (s *Sentinels) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for i := range s.conns {
		a, err := s.masterAddrOf(ctx, i)
		if err == nil {
			return a, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("redistest: no Sentinel answered: %w", errors.Join(errs...))
}

// live are the indexes of the Sentinels that run and are not paused: those a
// wait for agreement asks (a chaos run may have stopped some).
func (s *Sentinels) live() []int {
	var l []int
	for i, p := range s.procs {
		p.mu.Lock()
		up := p.proc != nil && !p.proc.exited() && !p.paused
		p.mu.Unlock()
		if up {
			l = append(l, i)
		}
	}
	return l
}

func (s *Sentinels) masterAddrOf(ctx context.Context, i int) (string, error) {
	a, err := s.conns[i].GetMasterAddrByName(ctx, s.name).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", s.procs[i].Addr(), err)
	}
	if len(a) != 2 {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME: %q", s.procs[i].Addr(), a)
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// Failover forces a failover (SENTINEL FAILOVER on the first running
// Sentinel, retried while it answers NOGOODSLAVE because it has not yet seen
// a replica fit to promote), then waits until every running Sentinel
// reports the new master and that server's INFO replication says
// role:master, so that a client asking any Sentinel afterwards is sent to
// the new master. Like Sentinel itself it does not wait for the replica to
// catch up: what it has not received is lost (WaitReplicaOf first for a
// failover without loss). The former master is left for the Sentinels to
// turn into a replica, about 4 PublishPeriods later: wait for that
// (WaitReplicaOf) before another failover, or a Sentinel that has yet to
// see it as a replica may turn the next promoted server back into one.
// Without a deadline in ctx it gives up after 30 s.
func (s *Sentinels) Failover(ctx context.Context) (newMaster string, err error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultFailoverTimeout)
	defer cancel()
	step := s.stepper("Failover")
	old, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	if err := s.requestFailover(ctx); err != nil {
		return "", err
	}
	step("SENTINEL FAILOVER accepted")
	newMaster, err = s.waitNewMaster(ctx, old)
	if err != nil {
		return "", err
	}
	step("every Sentinel reports %s as master", newMaster)
	return newMaster, nil
}

// requestFailover sends SENTINEL FAILOVER to the first running Sentinel,
// again while it answers NOGOODSLAVE; INPROG (a failover already running
// there) is fine.
func (s *Sentinels) requestFailover(ctx context.Context) error {
	return poll(ctx, "SENTINEL FAILOVER to be accepted", func(ctx context.Context) (bool, error) {
		live := s.live()
		if len(live) == 0 {
			return false, permanent(errors.New("redistest: no Sentinel is running"))
		}
		err := s.conns[live[0]].Failover(ctx, s.name).Err()
		switch {
		case err == nil || strings.Contains(err.Error(), "INPROG"):
			return true, nil
		case strings.Contains(err.Error(), "NOGOODSLAVE"):
			return false, err
		default:
			return false, permanent(err)
		}
	})
}

// waitNewMaster waits until every running Sentinel reports the same master
// other than old and that server says role:master.
func (s *Sentinels) waitNewMaster(ctx context.Context, old string) (string, error) {
	var addr string
	err := poll(ctx, "every Sentinel to report a new master", func(ctx context.Context) (bool, error) {
		addr = ""
		live := s.live()
		if len(live) == 0 {
			return false, errors.New("no Sentinel is running")
		}
		for _, i := range live {
			a, err := s.masterAddrOf(ctx, i)
			if err != nil {
				return false, err
			}
			if a == old {
				return false, fmt.Errorf("sentinel %s still reports %s", s.procs[i].Addr(), old)
			}
			if addr != "" && a != addr {
				return false, fmt.Errorf("sentinels disagree: %s and %s", addr, a)
			}
			addr = a
		}
		info, err := infoAt(ctx, addr, "replication")
		if err != nil {
			return false, err
		}
		if info["role"] != "master" {
			return false, fmt.Errorf("%s says role:%s", addr, info["role"])
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return addr, nil
}

// FailoverToLaggingReplica makes the Sentinels fail over from primary to a
// replica that has not received the writes writeWhilePaused makes, so that
// those writes are lost, as when a failover promotes a replica whose
// replication had stalled. primary must be the Sentinels' master and
// replica its replica. The recipe:
//
//  0. wait until replica has caught up with primary (so that exactly the
//     writes of writeWhilePaused are lost) and every Sentinel has seen it in
//     an INFO as a replica of primary with its link up (a Sentinel that still
//     takes it for a master, a former one, would turn it back into a replica
//     of the frozen primary right after its promotion);
//  1. every Sentinel's down-after-milliseconds goes up to a minute for the
//     duration (restored at the end), so that no Sentinel declares the frozen
//     processes down and starts a failover of its own, and the frozen replica
//     stays eligible; and the replica's replica-priority goes to 1 (restored
//     at the end), so that Sentinel prefers it to any other replica, which
//     would have a larger replication offset;
//  2. SIGSTOP the replica;
//  3. CLIENT KILL TYPE replica on the primary, and wait for connected_slaves:0:
//     SIGSTOP alone holds back nothing for sure, as what the primary has
//     sent by the time it is frozen waits in the kernel's socket buffers and
//     reaches the replica when it resumes (and a primary frozen just after
//     it acknowledged a write may or may not have sent it yet);
//  4. writeWhilePaused() writes to the primary, which only its replication
//     backlog now holds;
//  5. SIGSTOP the primary, then SIGCONT the replica: it finds its link closed
//     and cannot resync from the frozen primary;
//  6. wait until the replica reports master_link_status:down at a replication
//     offset short of the primary's, and every Sentinel has seen that in an
//     INFO it got after the SIGCONT (SENTINEL REPLICAS: info-refresh younger
//     than the resume, master-link-status err, not s_down or disconnected);
//  7. SENTINEL FAILOVER on the first Sentinel (it elects the replica: it is
//     up, its INFO is fresh, its link has been down for less than 10
//     down-afters, its priority is the best);
//  8. wait until every Sentinel reports the replica as master, and it says
//     role:master;
//  9. SIGCONT the primary; the Sentinels see it claim to be a master and
//     after 4 PublishPeriods make it a replica of the new master, and its
//     full resync drops the writes; wait until it has caught up and every
//     Sentinel has seen it as a replica with its link up, so that the
//     servers and Sentinels are settled when it returns (and a next
//     FailoverToLaggingReplica the other way round can start at once).
//
// It returns the new master's address (replica's). On an error it resumes
// both servers. Without a deadline in ctx it gives up after 30 s.
func (s *Sentinels) FailoverToLaggingReplica(ctx context.Context, primary, replica *Server, writeWhilePaused func() error) (newMaster string, err error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultFailoverTimeout)
	defer cancel()
	if cur, err := s.MasterAddr(ctx); err != nil {
		return "", err
	} else if cur != primary.Addr() {
		return "", fmt.Errorf("redistest: the Sentinels' master is %s, not %s", cur, primary.Addr())
	}
	if err := replica.WaitReplicaOf(ctx, primary); err != nil {
		return "", err
	}
	// A Sentinel that has yet to see in an INFO that the replica is one (a
	// former master, say) may turn it back into a replica of the frozen
	// primary right after it is promoted.
	if err := s.waitReplicaOK(ctx, replica.Addr(), primary.Addr()); err != nil {
		return "", err
	}
	step := s.stepper("FailoverToLaggingReplica")

	// 1. No failure detection of the Sentinels' own while processes are
	// frozen, and the replica first in line.
	if err := s.setAll(ctx, "down-after-milliseconds", holdDownAfter); err != nil {
		return "", err
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if rerr := s.setAll(rctx, "down-after-milliseconds", s.cfg.DownAfter); rerr != nil && err == nil {
			err = rerr
		}
	}()
	var priority map[string]string
	err = replica.with(ctx, func(c *redis.Client) error {
		if priority, err = c.ConfigGet(ctx, "replica-priority").Result(); err != nil {
			return err
		}
		return c.ConfigSet(ctx, "replica-priority", "1").Err()
	})
	if err != nil {
		return "", fmt.Errorf("redistest: replica-priority: %w", err)
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		rerr := replica.with(rctx, func(c *redis.Client) error {
			return c.ConfigSet(rctx, "replica-priority", priority["replica-priority"]).Err()
		})
		if rerr != nil && err == nil {
			err = fmt.Errorf("redistest: restoring replica-priority: %w", rerr)
		}
	}()
	defer func() {
		if err != nil {
			replica.Resume()
			primary.Resume()
		}
	}()

	// 2, 3. Freeze the replica and cut its link.
	step("down-after-milliseconds raised to %v, replica-priority 1", holdDownAfter)
	if err := replica.Pause(); err != nil {
		return "", err
	}
	step("replica %s stopped", replica.Addr())
	err = primary.with(ctx, func(c *redis.Client) error {
		return c.ClientKillByFilter(ctx, "TYPE", "replica").Err()
	})
	if err != nil {
		return "", fmt.Errorf("redistest: CLIENT KILL TYPE replica: %w", err)
	}
	err = poll(ctx, "the primary to drop its replica", func(ctx context.Context) (bool, error) {
		info, err := primary.Info(ctx, "replication")
		if err != nil {
			return false, err
		}
		return info["connected_slaves"] == "0", fmt.Errorf("connected_slaves:%s", info["connected_slaves"])
	})
	if err != nil {
		return "", err
	}

	step("primary %s dropped its replica", primary.Addr())

	// 4. The writes to lose.
	if err := writeWhilePaused(); err != nil {
		return "", fmt.Errorf("redistest: writeWhilePaused: %w", err)
	}
	info, err := primary.Info(ctx, "replication")
	if err != nil {
		return "", err
	}
	primaryOffset := atoi(info["master_repl_offset"])
	step("written while paused, primary at offset %d", primaryOffset)

	// 5. Freeze the primary, wake the replica.
	if err := primary.Pause(); err != nil {
		return "", err
	}
	if err := replica.Resume(); err != nil {
		return "", err
	}
	resumed := time.Now()
	step("primary stopped, replica resumed")

	// 6. The replica knows its link is down, and the Sentinels know it too.
	err = poll(ctx, "the replica to report its link down", func(ctx context.Context) (bool, error) {
		info, err := replica.Info(ctx, "replication")
		if err != nil {
			return false, err
		}
		if info["master_link_status"] != "down" {
			return false, fmt.Errorf("master_link_status:%s", info["master_link_status"])
		}
		if off := atoi(info["master_repl_offset"]); off >= primaryOffset {
			return false, permanent(fmt.Errorf("redistest: the replica is at offset %d, the primary's writes end at %d: nothing would be lost", off, primaryOffset))
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	step("replica reports its link down")
	err = s.waitReplicaView(ctx, replica.Addr(), "up with its link down in an INFO since it resumed", func(r map[string]string) error {
		// info-refresh is the age of the last INFO reply, which has to be
		// younger than the resume; the link status in older ones is stale.
		if atoi(r["info-refresh"]) >= time.Since(resumed).Milliseconds() {
			return fmt.Errorf("info-refresh:%s", r["info-refresh"])
		}
		if r["master-link-status"] != "err" || r["slave-priority"] != "1" {
			return fmt.Errorf("master-link-status:%s slave-priority:%s", r["master-link-status"], r["slave-priority"])
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	step("every Sentinel saw it in a fresh INFO")

	// 7, 8. The failover.
	if err := s.requestFailover(ctx); err != nil {
		return "", err
	}
	step("SENTINEL FAILOVER accepted")
	newMaster, err = s.waitNewMaster(ctx, primary.Addr())
	if err != nil {
		return "", err
	}
	step("every Sentinel reports %s as master", newMaster)
	if newMaster != replica.Addr() {
		return "", fmt.Errorf("redistest: the Sentinels promoted %s, not %s", newMaster, replica.Addr())
	}

	// 9. The former primary rejoins as a replica and drops the writes.
	if err := primary.Resume(); err != nil {
		return "", err
	}
	step("former primary resumed")
	if err := primary.WaitReplicaOf(ctx, replica); err != nil {
		return "", err
	}
	step("former primary is a replica of %s, caught up", newMaster)
	if err := s.waitReplicaOK(ctx, primary.Addr(), replica.Addr()); err != nil {
		return "", err
	}
	step("every Sentinel saw that in an INFO")
	return newMaster, nil
}

// waitReplicaOK waits until every Sentinel has seen in an INFO that the
// server at addr is a replica of master with its link up, and does not
// think it down.
func (s *Sentinels) waitReplicaOK(ctx context.Context, addr, master string) error {
	return s.waitReplicaView(ctx, addr, "a replica of "+master+" with its link up", func(r map[string]string) error {
		if r["role-reported"] != "slave" || net.JoinHostPort(r["master-host"], r["master-port"]) != master || r["master-link-status"] != "ok" {
			return fmt.Errorf("role-reported:%s master:%s:%s master-link-status:%s", r["role-reported"], r["master-host"], r["master-port"], r["master-link-status"])
		}
		return nil
	})
}

// waitReplicaView waits until every running Sentinel lists the server at addr among
// the replicas, neither down nor disconnected, and ok accepts its entry
// in SENTINEL REPLICAS.
func (s *Sentinels) waitReplicaView(ctx context.Context, addr, what string, ok func(map[string]string) error) error {
	return poll(ctx, "every Sentinel to see "+addr+" "+what, func(ctx context.Context) (bool, error) {
		for _, i := range s.live() {
			reps, err := s.conns[i].Replicas(ctx, s.name).Result()
			if err != nil {
				return false, fmt.Errorf("sentinel %s: %w", s.procs[i].Addr(), err)
			}
			r := findInstance(reps, addr)
			if r == nil {
				return false, fmt.Errorf("sentinel %s does not list %s", s.procs[i].Addr(), addr)
			}
			if hasFlag(r["flags"], "s_down", "o_down", "disconnected") {
				return false, fmt.Errorf("sentinel %s: flags:%s", s.procs[i].Addr(), r["flags"])
			}
			if err := ok(r); err != nil {
				return false, fmt.Errorf("sentinel %s: %w", s.procs[i].Addr(), err)
			}
		}
		return true, nil
	})
}

// stepper returns a function that passes a step, with the time since the
// stepper was made, to Logf.
func (s *Sentinels) stepper(what string) func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		if s.cfg.Logf != nil {
			s.cfg.Logf("%s: +%v %s", what, time.Since(start).Round(time.Millisecond), fmt.Sprintf(format, args...))
		}
	}
}

// setAll runs SENTINEL SET name option value on every running Sentinel, at
// once (each one rewrites and fsyncs its configuration file).
func (s *Sentinels) setAll(ctx context.Context, option string, d time.Duration) error {
	live := s.live()
	errs := make([]error, len(live))
	var wg sync.WaitGroup
	for k, i := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.conns[i].Set(ctx, s.name, option, strconv.FormatInt(d.Milliseconds(), 10)).Err(); err != nil {
				errs[k] = fmt.Errorf("redistest: sentinel %s: SENTINEL SET %s: %w", s.procs[i].Addr(), option, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close kills the Sentinels and removes the directory StartSentinels made;
// it may be called more than once.
func (s *Sentinels) Close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	for _, p := range s.procs {
		p.Close()
	}
	if s.tmpDir != "" {
		removeAll(s.tmpDir)
	}
}

// listedReplicas maps the "ip:port" of the replicas in a master's INFO
// replication to their state (online, wait_bgsave, ...).
func listedReplicas(info map[string]string) map[string]string {
	addrs := make(map[string]string)
	for k, v := range info {
		if !strings.HasPrefix(k, "slave") || strings.HasPrefix(k, "slave_") {
			continue
		}
		f := make(map[string]string)
		for _, kv := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(kv, "=")
			f[name] = val
		}
		if f["ip"] != "" && f["port"] != "" {
			addrs[net.JoinHostPort(f["ip"], f["port"])] = f["state"]
		}
	}
	return addrs
}

// findInstance is the entry for addr in a SENTINEL REPLICAS or SENTINELS reply.
func findInstance(list []map[string]string, addr string) map[string]string {
	for _, m := range list {
		if net.JoinHostPort(m["ip"], m["port"]) == addr {
			return m
		}
	}
	return nil
}

// hasFlag reports whether a Sentinel's comma-separated flags hold any of want.
func hasFlag(flags string, want ...string) bool {
	for _, f := range strings.Split(flags, ",") {
		for _, w := range want {
			if f == w {
				return true
			}
		}
	}
	return false
}

// newProbe is a client for one connection of the harness' own, with
// timeouts of d and no retries: no pool state outlives a call, so none
// carries over a restart.
func newProbe(addr string, d time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: d, ReadTimeout: d, WriteTimeout: d,
		MaxRetries: -1, DialerRetries: 1, PoolSize: 1, ContextTimeoutEnabled: true,
	})
}

// with runs f on a connection of its own to the server.
func (s *Server) with(ctx context.Context, f func(*redis.Client) error) error {
	c := newProbe(s.Addr(), 2*time.Second)
	defer c.Close()
	return f(c)
}

// infoAt runs INFO section on the server at addr over a new connection.
func infoAt(ctx context.Context, addr, section string) (map[string]string, error) {
	c := newProbe(addr, 2*time.Second)
	defer c.Close()
	txt, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return parseInfo(txt), nil
}

// parseInfo turns INFO's "field:value" lines into a map.
func parseInfo(txt string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(txt, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// permanentError, returned by a poll condition, ends the poll at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// poll calls cond every pollInterval until it reports true, returns a
// permanent error or ctx ends; the error says what it waited for and the
// condition's last complaint.
func poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("redistest: waiting for %s: %w (last: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("redistest: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// withDefaultTimeout bounds ctx by d when it has no deadline.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// sparePort is a loopback port nothing listens on right now; the caller
// retries with another one when something takes it first.
func sparePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom is the content of path from offset on.
func readFrom(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

// tail is the last n bytes of path.
func tail(path string, n int64) string {
	size := fileSize(path)
	return readFrom(path, max(0, size-n))
}

// removeAll removes dir, again a few times if a process still writing there
// (a dying fork child) makes it fail.
func removeAll(dir string) {
	for range 5 {
		if os.RemoveAll(dir) == nil {
			return
		}
		t := time.NewTimer(50 * time.Millisecond)
		<-t.C
	}
}
