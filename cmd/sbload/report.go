package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run of the tool found; -out writes it as JSON.
type Report struct {
	Tool         string    `json:"tool"`
	Target       string    `json:"target"`
	Options      options   `json:"options"`
	DurationS    float64   `json:"run_seconds"`
	Started      time.Time `json:"started"`
	SetupSeconds float64   `json:"setup_seconds"`
	Sockets      int       `json:"sockets"`

	// Warmup is the conversations' first messages each way, before Runs.
	Warmup     []RunResult     `json:"warmup,omitempty"`
	Runs       []RunResult     `json:"runs,omitempty"`
	Median     *RunResult      `json:"median,omitempty"`
	Saturation *RunResult      `json:"saturation,omitempty"` // ramp: the last step within bounds
	Idle       *IdleResult     `json:"idle,omitempty"`
	Connects   []ConnectResult `json:"connects,omitempty"`
	// RedisBackground is Redis's work before the runs, with no messages.
	RedisBackground *RedisBackground `json:"redis_background,omitempty"`
	ConnectMed      *ConnectResult   `json:"connect_median,omitempty"`

	// The correctness counts over the whole run; all must be 0.
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	OutOfOrder int64 `json:"out_of_order"`
	SendErrors int64 `json:"send_errors"`
	// What the client library dropped or saw skipped at the protocol level
	// (by the hub's seq): repeats after a resume are dropped there.
	ClientDuplicates int64 `json:"client_duplicates"`
	ClientGaps       int64 `json:"client_gaps"`

	Baseline *Report            `json:"baseline,omitempty"`
	Ratios   map[string]float64 `json:"ratios_to_baseline,omitempty"`
}

// RunResult is one measured window.
type RunResult struct {
	Name                    string           `json:"name"`
	TargetRate              float64          `json:"target_rate"`
	Seconds                 float64          `json:"seconds"`
	Sent                    int64            `json:"sent"`
	SentPerSecond           float64          `json:"sent_per_second"`
	Delivered               int64            `json:"delivered"`
	DeliveredPerSecond      float64          `json:"delivered_per_second"`
	SendErrors              int64            `json:"send_errors"`
	Lost                    int64            `json:"lost"`
	Latency                 Percentiles      `json:"latency"`
	Reconnects              int64            `json:"reconnects,omitempty"`
	ReconnectErrors         int64            `json:"reconnect_errors,omitempty"`
	ReconnectLatency        *Percentiles     `json:"reconnect_latency,omitempty"`
	ServerCPU               float64          `json:"server_cpu_seconds"`
	ServerCores             float64          `json:"server_cores"`
	ServerRSS               []float64        `json:"server_rss_bytes"`
	DeliveriesPerCPUSecond  float64          `json:"deliveries_per_server_cpu_second"`
	RedisCommandsPerMessage float64          `json:"redis_commands_per_message,omitempty"`
	RedisScriptsPerMessage  float64          `json:"redis_script_calls_per_message,omitempty"`
	RedisTop                map[string]int64 `json:"redis_top_commands,omitempty"`
	// RedisCores is Redis's CPU during the window over its length;
	// RedisMicrosPerMessage its CPU per message sent (background calls
	// included): one Redis core carries about 1e6 / it messages a second
	// of this shape, which is how docs/operations.md sizes a shard.
	RedisCores float64 `json:"redis_cores,omitempty"`
	// ToolCPU is this load tool's own CPU seconds during the window, and
	// ToolPerServerCPU that over the hubs': on a machine the tool shares
	// with the hubs, what it costs is not left for them (issue 15).
	ToolCPU               float64 `json:"tool_cpu_seconds,omitempty"`
	ToolPerServerCPU      float64 `json:"tool_cpu_per_server_cpu,omitempty"`
	RedisMicrosPerMessage float64 `json:"redis_cpu_us_per_message,omitempty"`
	// RedisSendCommandsPerMessage and RedisSendMicrosPerMessage are the
	// two figures above without Redis's background work (the report's
	// RedisBackground, over the window's length): the send path's cost.
	RedisSendCommandsPerMessage float64 `json:"redis_send_commands_per_message,omitempty"`
	RedisSendMicrosPerMessage   float64 `json:"redis_send_cpu_us_per_message,omitempty"`
	Pass                        bool    `json:"pass,omitempty"`
}

// RedisBackground is Redis's work with the sockets connected and no
// message sent (sbload -redis-background), per second.
type RedisBackground struct {
	Seconds        float64          `json:"seconds"`
	CallsPerSecond float64          `json:"commands_per_second"`
	Cores          float64          `json:"cores"`
	Top            map[string]int64 `json:"top_commands,omitempty"`
}

// IdleResult is the idle mode's finding.
type IdleResult struct {
	Sockets        int          `json:"sockets"`
	Window         float64      `json:"window_seconds"`
	BytesPerSocket float64      `json:"rss_bytes_per_socket"`
	CPUCores       float64      `json:"cpu_cores"`
	CoresPer5000   float64      `json:"cpu_cores_per_5000_sockets"`
	Servers        []IdleServer `json:"servers"`
}

// IdleServer is one server's part of an idle run.
type IdleServer struct {
	Name                string  `json:"name"`
	Sockets             int     `json:"sockets"`
	RSSBefore           float64 `json:"rss_before_setup"`
	RSSAfter            float64 `json:"rss_idle"`
	HeapAfter           float64 `json:"heap_inuse_idle,omitempty"`
	Goroutines          float64 `json:"goroutines"`
	GoroutinesPerSocket float64 `json:"goroutines_per_socket"`
	BytesPerSocket      float64 `json:"rss_bytes_per_socket"`
	CPUCores            float64 `json:"cpu_cores"`
}

// ConnectResult is one connect wave on one instance.
type ConnectResult struct {
	Sockets   int     `json:"sockets"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	ServerCPU float64 `json:"server_cpu_seconds"`
	// ToolCPU is this load tool's CPU seconds over the wave: dialing
	// shares the cores with the hub it measures.
	ToolCPU float64 `json:"tool_cpu_seconds,omitempty"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize sets the medians of the runs (each field on its own).
func (r *Report) summarize() {
	r.DurationS = time.Since(r.Started).Seconds()
	if len(r.Connects) > 0 {
		m := ConnectResult{}
		var ps, ss, cs, ts []float64
		for _, c := range r.Connects {
			ps, ss, cs, ts = append(ps, c.PerSecond), append(ss, c.Seconds), append(cs, c.ServerCPU), append(ts, c.ToolCPU)
			m.Sockets = c.Sockets
		}
		m.PerSecond, m.Seconds, m.ServerCPU, m.ToolCPU = median(ps), median(ss), median(cs), median(ts)
		r.ConnectMed = &m
	}
	if len(r.Runs) == 0 || r.Options.Mode == "ramp" {
		return
	}
	col := func(f func(RunResult) float64) float64 {
		v := make([]float64, len(r.Runs))
		for i, x := range r.Runs {
			v[i] = f(x)
		}
		return median(v)
	}
	m := RunResult{Name: fmt.Sprintf("median of %d", len(r.Runs)), TargetRate: r.Runs[0].TargetRate}
	m.Seconds = col(func(x RunResult) float64 { return x.Seconds })
	m.Sent = int64(col(func(x RunResult) float64 { return float64(x.Sent) }))
	m.SentPerSecond = col(func(x RunResult) float64 { return x.SentPerSecond })
	m.Delivered = int64(col(func(x RunResult) float64 { return float64(x.Delivered) }))
	m.DeliveredPerSecond = col(func(x RunResult) float64 { return x.DeliveredPerSecond })
	m.SendErrors = int64(col(func(x RunResult) float64 { return float64(x.SendErrors) }))
	m.Lost = int64(col(func(x RunResult) float64 { return float64(x.Lost) }))
	m.Latency.Count = int(col(func(x RunResult) float64 { return float64(x.Latency.Count) }))
	m.Latency.P50 = col(func(x RunResult) float64 { return x.Latency.P50 })
	m.Latency.P90 = col(func(x RunResult) float64 { return x.Latency.P90 })
	m.Latency.P99 = col(func(x RunResult) float64 { return x.Latency.P99 })
	m.Latency.P999 = col(func(x RunResult) float64 { return x.Latency.P999 })
	m.Latency.Max = col(func(x RunResult) float64 { return x.Latency.Max })
	m.Latency.Avg = col(func(x RunResult) float64 { return x.Latency.Avg })
	m.Reconnects = int64(col(func(x RunResult) float64 { return float64(x.Reconnects) }))
	m.ReconnectErrors = int64(col(func(x RunResult) float64 { return float64(x.ReconnectErrors) }))
	m.ServerCPU = col(func(x RunResult) float64 { return x.ServerCPU })
	m.ServerCores = col(func(x RunResult) float64 { return x.ServerCores })
	m.DeliveriesPerCPUSecond = col(func(x RunResult) float64 { return x.DeliveriesPerCPUSecond })
	m.RedisCommandsPerMessage = col(func(x RunResult) float64 { return x.RedisCommandsPerMessage })
	m.RedisScriptsPerMessage = col(func(x RunResult) float64 { return x.RedisScriptsPerMessage })
	m.RedisCores = col(func(x RunResult) float64 { return x.RedisCores })
	m.RedisSendCommandsPerMessage = col(func(x RunResult) float64 { return x.RedisSendCommandsPerMessage })
	m.RedisSendMicrosPerMessage = col(func(x RunResult) float64 { return x.RedisSendMicrosPerMessage })
	m.ToolCPU = col(func(x RunResult) float64 { return x.ToolCPU })
	m.ToolPerServerCPU = col(func(x RunResult) float64 { return x.ToolPerServerCPU })
	m.RedisMicrosPerMessage = col(func(x RunResult) float64 { return x.RedisMicrosPerMessage })
	r.Median = &m
}

// headline is the run figures compare: the median, or the ramp's saturation.
func (r *Report) headline() *RunResult {
	if r.Median != nil {
		return r.Median
	}
	return r.Saturation
}

// runColumns head the table of runs, in the terminal and in the Markdown report.
var runColumns = []string{"run", "target/s", "sent/s", "delivered/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
	"errors", "lost", "reconnects", "server cores", "deliveries/CPU-s", "redis cmds/msg", "scripts/msg"}

// rows formats the runs (and their median) under runColumns.
func (r *Report) rows() [][]string {
	runs := r.Runs
	if r.Median != nil && len(runs) > 1 {
		runs = append(slices.Clone(runs), *r.Median)
	}
	out := make([][]string, 0, len(runs))
	for _, x := range runs {
		name := x.Name
		if r.Options.Mode == "ramp" && !x.Pass {
			name += " (over)"
		}
		f := func(format string, v any) string { return fmt.Sprintf(format, v) }
		out = append(out, []string{name, f("%.0f", x.TargetRate), f("%.0f", x.SentPerSecond), f("%.0f", x.DeliveredPerSecond),
			f("%.2f", x.Latency.P50), f("%.2f", x.Latency.P90), f("%.2f", x.Latency.P99), f("%.2f", x.Latency.P999),
			f("%.1f", x.Latency.Max), f("%d", x.SendErrors), f("%d", x.Lost), f("%d", x.Reconnects), f("%.2f", x.ServerCores),
			f("%.0f", x.DeliveriesPerCPUSecond), f("%.2f", x.RedisCommandsPerMessage), f("%.2f", x.RedisScriptsPerMessage)})
	}
	return out
}

// ratios divides Switchboard's figures by the baseline's.
func (r *Report) ratios() {
	b := r.Baseline
	r.Ratios = map[string]float64{}
	div := func(k string, a, c float64) {
		if c != 0 {
			r.Ratios[k] = a / c
		}
	}
	if h, bh := r.headline(), b.headline(); h != nil && bh != nil {
		div("latency_p50", h.Latency.P50, bh.Latency.P50)
		div("latency_p99", h.Latency.P99, bh.Latency.P99)
		div("deliveries_per_cpu_second", h.DeliveriesPerCPUSecond, bh.DeliveriesPerCPUSecond)
		div("sent_per_second", h.SentPerSecond, bh.SentPerSecond)
	}
	if r.Idle != nil && b.Idle != nil {
		div("rss_per_socket", r.Idle.BytesPerSocket, b.Idle.BytesPerSocket)
		div("idle_cpu", r.Idle.CPUCores, b.Idle.CPUCores)
	}
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "\n== sbload %s on %s: %d conversations, %d sockets (setup %.1fs) ==\n",
		r.Options.Mode, r.Target, r.Options.Conversations, r.Sockets, r.SetupSeconds)
	for _, x := range r.Warmup {
		fmt.Fprintf(w, "%s: %d in %.1fs, p50 %.2fms p99 %.2fms, lost %d, %.2f redis cmds/msg\n",
			x.Name, x.Sent, x.Seconds, x.Latency.P50, x.Latency.P99, x.Lost, x.RedisCommandsPerMessage)
	}
	if len(r.Runs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(runColumns, "\t")+"\t")
		for _, row := range r.rows() {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		tw.Flush()
		for _, x := range r.Runs {
			if x.ReconnectLatency != nil {
				fmt.Fprintf(w, "%s: %d reconnects (connect+auth+resume) p50 %.1fms p99 %.1fms; %d failed\n",
					x.Name, x.Reconnects, x.ReconnectLatency.P50, x.ReconnectLatency.P99, x.ReconnectErrors)
			}
		}
	}
	if r.Saturation != nil {
		fmt.Fprintf(w, "saturation: %.0f messages/s (%.0f deliveries/s) with p99 %.2fms\n",
			r.Saturation.SentPerSecond, r.Saturation.DeliveredPerSecond, r.Saturation.Latency.P99)
	} else if r.Options.Mode == "ramp" {
		fmt.Fprintln(w, "saturation: below the first step")
	}
	if r.Idle != nil {
		for _, s := range r.Idle.Servers {
			fmt.Fprintf(w, "idle %s: %d sockets, RSS %.1f MB -> %.1f MB = %.1f KB/socket, %.2f goroutines/socket, %.4f cores\n",
				s.Name, s.Sockets, s.RSSBefore/1e6, s.RSSAfter/1e6, s.BytesPerSocket/1024, s.GoroutinesPerSocket, s.CPUCores)
		}
		fmt.Fprintf(w, "idle: %.1f KB per socket; %.4f cores for %d sockets = %.4f cores per 5,000\n",
			r.Idle.BytesPerSocket/1024, r.Idle.CPUCores, r.Idle.Sockets, r.Idle.CoresPer5000)
	}
	if r.ConnectMed != nil {
		fmt.Fprintf(w, "connect+auth+resume on one instance: %.0f/s (median of %d waves of %d sockets); CPU per connect: hub %.0f µs, sbload %.0f µs\n",
			r.ConnectMed.PerSecond, len(r.Connects), r.ConnectMed.Sockets,
			r.ConnectMed.ServerCPU*1e6/float64(r.ConnectMed.Sockets), r.ConnectMed.ToolCPU*1e6/float64(r.ConnectMed.Sockets))
	}
	fmt.Fprintf(w, "lost %d, duplicated %d, out of order %d, send errors %d (client-level: %d repeats dropped, %d gaps)\n",
		r.Lost, r.Duplicated, r.OutOfOrder, r.SendErrors, r.ClientDuplicates, r.ClientGaps)
	if r.Baseline != nil {
		r.Baseline.print(w)
		keys := make([]string, 0, len(r.Ratios))
		for k := range r.Ratios {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, r.Ratios[k]))
		}
		fmt.Fprintf(w, "switchboard / baseline: %s\n", strings.Join(parts, ", "))
	}
}
