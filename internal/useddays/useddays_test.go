package useddays

import (
	"strconv"
	"testing"
	"time"
)

func TestOfAndStart(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Date(1970, 1, 1, 23, 59, 59, 999e6, time.UTC), 0},
		{time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), -1},
		{time.Date(2026, 12, 1, 10, 30, 0, 0, time.FixedZone("UTC+14", 14*3600)), 20787}, // 2026-11-30T20:30Z
	} {
		if got := Of(tc.t); got != tc.want {
			t.Errorf("Of(%v) = %d, want %d", tc.t, got, tc.want)
		}
		if s := Start(tc.want); Of(s) != tc.want || s.After(tc.t) || !s.Add(24*time.Hour).After(tc.t) {
			t.Errorf("Start(%d) = %v: not the first instant of the day of %v", tc.want, s, tc.t)
		}
	}
}

func TestDaysOnlyMoveForwardAndStartOverAtMax(t *testing.T) {
	var d Days
	if d.Has("a", 0) {
		t.Fatal("an empty Days has a key")
	}
	d.Set("a", 10)
	d.Set("a", 8) // a late use of an earlier day
	if !d.Has("a", 10) || !d.Has("a", 9) || d.Has("a", 11) {
		t.Errorf("after days 10 and 8: Has(10) %v, Has(9) %v, Has(11) %v; want true, true, false", d.Has("a", 10), d.Has("a", 9), d.Has("a", 11))
	}
	for i := range Max - 1 {
		d.Set(strconv.Itoa(i), 1)
	}
	if !d.Has("a", 10) {
		t.Fatal("forgot a key before reaching Max")
	}
	d.Set("one more", 1)
	if d.Has("a", 10) || !d.Has("one more", 1) {
		t.Errorf("past Max keys: Has(a) %v, Has(one more) %v; want false (started over), true", d.Has("a", 10), d.Has("one more", 1))
	}
}
