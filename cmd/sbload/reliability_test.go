package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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

// TestEveryFaultRuns: every fault of sbload chaos is in scripts/chaos.sh's
// list, which test.sh runs short and the full run measures, and in
// docs/reliability.md's table ("sentinel", no fault, makes the replicas
// table instead): a fault added to one and not the others would go
// untested or unreported.
func TestEveryFaultRuns(t *testing.T) {
	script, err := os.ReadFile("../../scripts/chaos.sh")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(string(script), "\n") {
		if list, ok := strings.CutPrefix(line, "faults=("); ok {
			listed = strings.Fields(strings.TrimSuffix(list, ")"))
		}
	}
	if len(listed) == 0 {
		t.Fatal("scripts/chaos.sh has no faults=(...) line")
	}
	for name := range faults {
		if name == "sentinel" {
			continue
		}
		if !slices.Contains(listed, name) {
			t.Errorf("fault %s is not in scripts/chaos.sh's faults", name)
		}
		if !slices.Contains(chaosOrder, name) {
			t.Errorf("fault %s is not in chaosOrder (docs/reliability.md's table)", name)
		}
	}
	for _, name := range append(listed, chaosOrder...) {
		if _, ok := faults[name]; !ok {
			t.Errorf("%s is listed but is no fault of sbload chaos", name)
		}
	}
}

// TestReliabilityOnly: `sbload reliability -only chaos` (what
// scripts/chaos.sh --faults runs) rewrites the faults table from the
// results and leaves the other sections as they were; an unknown section
// is refused and changes nothing.
func TestReliabilityOnly(t *testing.T) {
	dir := t.TempDir()
	r := ChaosResult{Fault: "cluster-kill", What: "a master killed", Load: "2 hubs", Acked: 42, Pass: true}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, "chaos-cluster-kill.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "reliability.md")
	page := "# R\n<!-- chaos begin -->\nold faults\n<!-- chaos end -->\n<!-- soak begin -->\nold soak\n<!-- soak end -->\n"
	if err := os.WriteFile(doc, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := reliabilityMain([]string{"-dir", dir, "-doc", doc, "-only", "chaos,nope"}); code != 2 {
		t.Fatalf("an unknown section: exit %d, want 2", code)
	}
	if b, _ := os.ReadFile(doc); string(b) != page {
		t.Fatalf("a refused run changed the page:\n%s", b)
	}
	if code := reliabilityMain([]string{"-dir", dir, "-doc", doc, "-only", "chaos", "-date", "2026-12-06", "-results", "kept"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ = os.ReadFile(doc)
	got := string(b)
	if !strings.Contains(got, "| a master killed | 2 hubs | 42 |") || strings.Contains(got, "old faults") ||
		!strings.Contains(got, "<!-- soak begin -->\nold soak\n<!-- soak end -->") {
		t.Fatalf("page:\n%s", got)
	}
}
