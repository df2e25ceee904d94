package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrowthRows: the growth runs bench.sh leaves become one row per shape,
// ordered by hubs then conversations, with the medians of their runs.
func TestGrowthRows(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, r Report) {
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(dpc, us float64) RunResult {
		return RunResult{TargetRate: 2000, DeliveriesPerCPUSecond: dpc, RedisMicrosPerMessage: us, ServerCores: 0.3}
	}
	write("growth-h2-c9500.json", Report{Runs: []RunResult{run(9000, 40), run(11000, 60), run(10000, 50)}, Lost: 1})
	write("growth-h1-c5000.json", Report{Runs: []RunResult{run(12000, 45)}})
	write("growth-h2-c1000.json", Report{Runs: []RunResult{run(13000, 44)}})
	write("growth-hx-c1.json", Report{Runs: []RunResult{run(1, 1)}}) // not a growth name: left out
	// Two load processes measured 3 hubs over the same windows.
	part := func(sent, delivered int64, hubCPU, p99 float64) RunResult {
		r := RunResult{TargetRate: 1000, Seconds: 10, Sent: sent, Delivered: delivered, ServerCPU: hubCPU, RedisCores: 0.5,
			RedisCommandsPerMessage: 22, RedisSendCommandsPerMessage: 16, RedisSendMicrosPerMessage: 300, ToolCPU: 1, ServerCores: hubCPU / 10}
		r.Latency.P99 = p99
		return r
	}
	write("growth-h3-c20000-p1.json", Report{Runs: []RunResult{part(10000, 20000, 4, 3)}})
	write("growth-h3-c20000-p2.json", Report{Runs: []RunResult{part(10000, 20000, 4, 7)}, Duplicated: 2})

	rows := growth(dir)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rows), rows)
	}
	m := rows[3]
	if m.Hubs != 3 || m.Conversations != 20000 || m.Rate != 2000 || m.DeliveriesPerCPUSecond != 10000 || m.ServerCores != 0.4 ||
		m.RedisMicrosPerMessage != 250 || m.RedisCommandsPerMsg != 11 || m.ToolPerServerCPU != 0.5 || m.P99Millis != 7 || m.Lost != 2 ||
		m.RedisSendCommands != 8 || m.RedisSendMicros != 150 {
		t.Fatalf("merged parts: %+v", m)
	}
	rows = rows[:3]
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	if rows[0].Hubs != 1 || rows[1].Conversations != 1000 || rows[2].Conversations != 9500 {
		t.Fatalf("order: %+v", rows)
	}
	if g := rows[2]; g.DeliveriesPerCPUSecond != 10000 || g.RedisMicrosPerMessage != 50 || g.Lost != 1 || g.Rate != 2000 {
		t.Fatalf("medians: %+v", g)
	}
	br := BenchReport{Growth: rows}
	if md := br.markdown(); !strings.Contains(md, "| 2 | 9500 | 2000 | 10000 | 0.30 | 50.0 |") {
		t.Fatalf("markdown lacks the row:\n%s", md)
	}
}
