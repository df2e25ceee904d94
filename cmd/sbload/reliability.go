package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// reliabilityMain is `sbload reliability`: it writes the figures of a full
// scripts/chaos.sh run (the JSON results in -dir) between the markers of
// docs/reliability.md: <!-- chaos begin --> ... <!-- chaos end -->, and the
// same for soak, hostile (that one as sbload hostile prints it) and
// replicas (the cost of SWITCHBOARD_REDIS_MIN_REPLICAS); -only names the
// sections of a partial run (scripts/chaos.sh --faults).
func reliabilityMain(args []string) int {
	fs := flag.NewFlagSet("reliability", flag.ExitOnError)
	dir := fs.String("dir", ".", "the folder of the results (chaos-*.json, soak.json, hostile.json)")
	doc := fs.String("doc", "docs/reliability.md", "the page to update")
	date := fs.String("date", "", "the day of the run")
	kept := fs.String("results", "", "where the results are kept, for the page to say")
	only := fs.String("only", "", "update only these sections, comma-separated (chaos, replicas, soak, hostile); empty: all")
	fs.Parse(args)
	b, err := os.ReadFile(*doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	page := string(b)
	note := fmt.Sprintf("_Measured %s by scripts/chaos.sh; the results are in %s._\n\n", *date, *kept)
	sections := map[string]func(*strings.Builder) error{
		"chaos":    func(w *strings.Builder) error { return chaosTableTo(*dir, w) },
		"replicas": func(w *strings.Builder) error { return replicasTable(*dir, w) },
		"soak":     func(w *strings.Builder) error { return soakTable(filepath.Join(*dir, "soak.json"), w) },
		"hostile": func(w *strings.Builder) error {
			b, err := os.ReadFile(filepath.Join(*dir, "hostile.json"))
			if err != nil {
				return err
			}
			var rep HostileReport
			if err := json.Unmarshal(b, &rep); err != nil {
				return err
			}
			w.WriteString("```\n")
			rep.print(w)
			w.WriteString("```\n")
			return nil
		},
	}
	if *only != "" {
		keep := strings.Split(*only, ",")
		for _, name := range keep {
			if sections[name] == nil {
				fmt.Fprintf(os.Stderr, "reliability: -only: no section %q\n", name)
				return 2
			}
		}
		maps.DeleteFunc(sections, func(name string, _ func(*strings.Builder) error) bool { return !slices.Contains(keep, name) })
	}
	for name, write := range sections {
		var w strings.Builder
		w.WriteString(note)
		if err := write(&w); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: %s: %v\n", name, err)
			return 1
		}
		re := regexp.MustCompile(`(?s)<!-- ` + name + ` begin -->.*?<!-- ` + name + ` end -->`)
		if !re.MatchString(page) {
			fmt.Fprintf(os.Stderr, "reliability: %s has no %s markers\n", *doc, name)
			return 1
		}
		body := "<!-- " + name + " begin -->\n" + w.String() + "\n<!-- " + name + " end -->"
		page = re.ReplaceAllLiteralString(page, body)
	}
	if err := os.WriteFile(*doc, []byte(page), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	return 0
}

// soakTable writes the soak's figures as Markdown.
func soakTable(file string, w *strings.Builder) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var r SoakResult
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	verdict := "pass"
	if !r.Pass {
		verdict = "**FAIL**: " + strings.Join(r.Why, "; ")
	}
	fmt.Fprintf(w, "%s; %.0f s, %d waves: %d messages, %d lost, %d duplicated, %d out of order, %d sends refused, %d reconnects; worst wave p99 %.1f ms. Verdict: %s.\n\n",
		r.Load, r.Seconds, r.Waves, r.Sent, r.Lost, r.Duplicated, r.OutOfOrder, r.SendErrors, r.Reconnects, r.WorstP99, verdict)
	fmt.Fprintln(w, "| quantity | mean | slope per hour | over the measured run | relative | bound |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, s := range r.Slopes {
		scale, unit := 1.0, ""
		if s.Unit == "bytes" {
			scale, unit = 1e6, " MB"
		}
		fmt.Fprintf(w, "| %s | %.1f%s | %+.2f%s | %+.2f%s | %+.1f %% | %.1f%s |\n", s.Name, s.Mean/scale, unit,
			s.PerHour/scale, unit, s.OverRun/scale, unit, 100*s.Relative, s.Bound/scale, unit)
	}
	fmt.Fprintf(w, "\nThe audit at the end: %d keys, %d violations.\n", r.AuditKeys, len(r.Violations))
	return nil
}

// replicasTable writes the cost of SWITCHBOARD_REDIS_MIN_REPLICAS: the
// runs of the sentinel setup without a fault (chaos-sentinel-r<N>.json), one
// row per setting, and the ratios of their acknowledgement and delivery
// latencies to the first row's.
func replicasTable(dir string, w *strings.Builder) error {
	files, _ := filepath.Glob(filepath.Join(dir, "chaos-sentinel-r[0-9]*.json"))
	slices.Sort(files)
	rows, err := readChaosResults(files)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("no chaos-sentinel-r<N>.json in %s", dir)
	}
	fmt.Fprintf(w, "Load: %s (no fault).\n\n", rows[0].Load)
	fmt.Fprintf(w, "| `SWITCHBOARD_REDIS_MIN_REPLICAS` | acknowledged | ack p50 | ack p99 | delivery p50 | delivery p99 | ack p50 / p99 vs. %d | lost |\n", rows[0].MinReplicas)
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2fx / %.2fx | %d |\n",
			r.MinReplicas, r.Acked, r.AckLatency.P50, r.AckLatency.P99, r.Latency.P50, r.Latency.P99,
			r.AckLatency.P50/rows[0].AckLatency.P50, r.AckLatency.P99/rows[0].AckLatency.P99, r.Lost)
	}
	return nil
}
