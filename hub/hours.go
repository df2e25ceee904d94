package hub

import (
	"fmt"
	"strings"
	"time"
)

// Hours are a contact center's business hours, in its time zone: outside
// them (or when no agent is Available) the widget offers an offline form
// instead of a chat. The zero value, and nil, are always open.
type Hours struct {
	loc  *time.Location
	days [7][]window // by time.Weekday
	set  bool        // some hours were given: outside them it is closed
}

// window is one opening of a day, in minutes since midnight: [from, to).
type window struct{ from, to int }

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseHours reads business hours such as "mon-fri 09:00-18:00; sat
// 10:00-14:00" (entries separated by ';' or ','; a day or a range of days,
// then an opening; 24:00 ends a day; a day may have several openings) in
// loc (UTC when nil). "" and "24/7" are always open.
func ParseHours(spec string, loc *time.Location) (*Hours, error) {
	if loc == nil {
		loc = time.UTC
	}
	h := &Hours{loc: loc}
	spec = strings.ToLower(strings.TrimSpace(spec))
	if spec == "" || spec == "24/7" {
		return h, nil
	}
	for _, entry := range strings.FieldsFunc(spec, func(r rune) bool { return r == ';' || r == ',' }) {
		f := strings.Fields(entry)
		if len(f) != 2 {
			return nil, fmt.Errorf("business hours %q: want days and an opening, e.g. mon-fri 09:00-18:00", strings.TrimSpace(entry))
		}
		first, last, ok := strings.Cut(f[0], "-")
		if !ok {
			last = first
		}
		d1, ok1 := weekdays[first]
		d2, ok2 := weekdays[last]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("business hours %q: days are mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri", f[0])
		}
		from, to, ok := strings.Cut(f[1], "-")
		a, errA := clockMinutes(from)
		b, errB := clockMinutes(to)
		if !ok || errA != nil || errB != nil || a >= b {
			return nil, fmt.Errorf("business hours %q: want an opening such as 09:00-18:00", f[1])
		}
		for d := d1; ; d = (d + 1) % 7 {
			h.days[d] = append(h.days[d], window{a, b})
			if d == d2 {
				break
			}
		}
	}
	h.set = true
	return h, nil
}

func clockMinutes(s string) (int, error) {
	var hh, mm int
	if n, err := fmt.Sscanf(s, "%d:%d", &hh, &mm); err != nil || n != 2 || len(s) != 5 || hh < 0 || mm < 0 || mm > 59 ||
		hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// Open reports whether t falls within the business hours.
func (h *Hours) Open(t time.Time) bool {
	if h == nil || !h.set {
		return true
	}
	t = t.In(h.loc)
	m := t.Hour()*60 + t.Minute()
	for _, w := range h.days[t.Weekday()] {
		if m >= w.from && m < w.to {
			return true
		}
	}
	return false
}

// NextOpen returns when the hours next open after t (t itself when open;
// zero when they never do).
func (h *Hours) NextOpen(t time.Time) time.Time {
	if h.Open(t) {
		return t
	}
	t = t.In(h.loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, h.loc)
	for i := range 8 {
		d := day.AddDate(0, 0, i)
		for _, w := range h.days[d.Weekday()] {
			at := d.Add(time.Duration(w.from) * time.Minute)
			if at.After(t) {
				return at
			}
		}
	}
	return time.Time{}
}
