package hub

import (
	"strings"
	"testing"
	"time"
)

func TestHours(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database")
	}
	h, err := ParseHours("mon-fri 09:00-12:00; mon-fri 13:00-18:00, sat 10:00-14:00", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := map[string]bool{
		"2026-12-07 08:59": false, // Monday
		"2026-12-07 09:00": true,
		"2026-12-07 12:30": false, // lunch
		"2026-12-07 17:59": true,
		"2026-12-07 18:00": false,
		"2026-12-12 11:00": true,  // Saturday
		"2026-12-13 11:00": false, // Sunday
	}
	for s, want := range cases {
		if got := h.Open(at(s)); got != want {
			t.Errorf("%s: open %v, want %v", s, got, want)
		}
	}
	// The same instant in UTC: Monday 01:00 UTC is 09:00 in Shanghai.
	if !h.Open(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)) {
		t.Error("the hours are not read in their time zone")
	}
	if got := h.NextOpen(at("2026-12-12 15:00")); !got.Equal(at("2026-12-14 09:00")) {
		t.Errorf("next open after Saturday 15:00: %v", got)
	}
	if got := h.NextOpen(at("2026-12-07 12:30")); !got.Equal(at("2026-12-07 13:00")) {
		t.Errorf("next open at lunch: %v", got)
	}
	for _, always := range []string{"", "24/7"} {
		a, err := ParseHours(always, nil)
		if err != nil || !a.Open(at("2026-12-13 03:00")) {
			t.Errorf("%q: %v", always, err)
		}
	}
	var none *Hours
	if !none.Open(time.Now()) {
		t.Error("nil hours are closed")
	}
	for _, bad := range []string{"mon 9-18", "funday 09:00-18:00", "mon-fri 18:00-09:00", "mon-fri", "mon 09:00-25:00", "mon 09:60-10:00"} {
		if _, err := ParseHours(bad, nil); err == nil || !strings.Contains(err.Error(), "business hours") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
