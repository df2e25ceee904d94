package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplicasTable: one row per SWITCHBOARD_REDIS_MIN_REPLICAS setting,
// in order, with the acknowledgement ratios to the first.
func TestReplicasTable(t *testing.T) {
	dir := t.TempDir()
	for n, ack := range map[int][2]float64{0: {0.4, 0.8}, 1: {0.6, 2.0}} {
		r := ChaosResult{Fault: "sentinel", Load: "2 hubs", MinReplicas: n, Acked: 100,
			AckLatency: Percentiles{P50: ack[0], P99: ack[1]}}
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, "chaos-sentinel-r"+string(rune('0'+n))+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The fault of the same prefix is not a setting.
	if err := os.WriteFile(filepath.Join(dir, "chaos-sentinel-rollback.json"), []byte(`{"fault":"sentinel-rollback","acknowledged":7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var w strings.Builder
	if err := replicasTable(dir, &w); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	i0, i1 := strings.Index(out, "| 0 | 100 | 0.40 ms | 0.80 ms"), strings.Index(out, "| 1 | 100 | 0.60 ms | 2.00 ms")
	if i0 < 0 || i1 < i0 || !strings.Contains(out, "1.50x / 2.50x") || strings.Count(out, "\n| ") != 3 {
		t.Fatalf("table:\n%s", out)
	}
	if err := replicasTable(t.TempDir(), &w); err == nil {
		t.Fatal("no results: want an error")
	}
}
