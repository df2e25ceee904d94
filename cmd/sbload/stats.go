package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// procSample is one look at a server process: CPU seconds so far, RSS,
// goroutines and sockets (what the hub's /metrics or /proc say).
type procSample struct {
	CPU        float64 `json:"cpu_seconds"`
	RSS        float64 `json:"rss_bytes"`
	Heap       float64 `json:"heap_inuse_bytes,omitempty"`
	Goroutines float64 `json:"goroutines,omitempty"`
	Conns      float64 `json:"connections,omitempty"`
}

// server is a process whose resources a run reports: a hub (read through
// its /metrics) or the relay (read through /proc).
type server struct {
	name    string
	metrics string // a hub's /metrics URL
	pid     int    // the relay's pid
}

// getMetrics reads a hub's /metrics uncompressed: Go's client asks for
// gzip unless told otherwise, and the hub's gzip of the page cost it ~3 ms
// of CPU per scrape (16 % of its CPU under sbload hostile, which samples
// every 200 ms): the tool must not load what it measures.
func getMetrics(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	return http.DefaultClient.Do(req)
}

func (s server) sample(ctx context.Context) (procSample, error) {
	if s.pid != 0 {
		return procStat(s.pid)
	}
	resp, err := getMetrics(ctx, s.metrics)
	if err != nil {
		return procSample{}, err
	}
	defer resp.Body.Close()
	var p procSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			p.CPU = v
		case "process_resident_memory_bytes":
			p.RSS = v
		case "go_memstats_heap_inuse_bytes":
			p.Heap = v
		case "go_goroutines":
			p.Goroutines = v
		case "switchboard_ws_connections":
			p.Conns = v
		}
	}
	return p, sc.Err()
}

// procStat reads a process's CPU time and RSS from /proc.
func procStat(pid int) (procSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	p := procSample{CPU: (utime + stime) / 100} // USER_HZ is 100 on Linux
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			p.RSS = kb * 1024
		}
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			p.Goroutines, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return p, nil
}

func sampleAll(ctx context.Context, servers []server) ([]procSample, error) {
	out := make([]procSample, len(servers))
	for i, s := range servers {
		p, err := s.sample(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		out[i] = p
	}
	return out, nil
}

// cmdStats are Redis's command counts (INFO commandstats): all commands,
// and script calls (EVAL, EVALSHA, FCALL and their _RO forms). Redis counts
// the commands a script runs as well as the script call.
type cmdStats struct {
	Calls   int64            `json:"calls"`
	Scripts int64            `json:"script_calls"`
	By      map[string]int64 `json:"-"`
	// CPU is Redis's CPU seconds so far, user and system (INFO cpu).
	CPU float64 `json:"cpu_seconds"`
}

func redisStats(ctx context.Context, rdb *redis.Client) (cmdStats, error) {
	s := cmdStats{By: map[string]int64{}}
	if rdb == nil {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := rdb.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_user" || name == "used_cpu_sys" {
			v, _ := strconv.ParseFloat(rest, 64)
			s.CPU += v
			continue
		}
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		s.By[name] = n
		s.Calls += n
		switch name {
		case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
			s.Scripts += n
		}
	}
	return s, nil
}

func (a cmdStats) sub(b cmdStats) cmdStats {
	d := cmdStats{Calls: a.Calls - b.Calls, Scripts: a.Scripts - b.Scripts, CPU: a.CPU - b.CPU, By: map[string]int64{}}
	for k, v := range a.By {
		if x := v - b.By[k]; x != 0 {
			d.By[k] = x
		}
	}
	return d
}

// selfCPU is this process's CPU seconds so far, user and system.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
