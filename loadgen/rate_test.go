package loadgen

import (
	"testing"
	"time"
)

// ParseRate is the one rate grammar (scenarios and generators): whatever the text, a rate it accepts is a
// positive number of requests per positive interval. go test ./loadgen -run '^$' -fuzz FuzzParseRate
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50/s", "600/1m", "5/100ms", "34/1s", "100/3s", "7", "0/s", "-1/s", "1/0s", "1/", "1/-2s", "max"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Freq <= 0 || r.Per <= 0 {
			t.Fatalf("%q accepted as %d per %s", s, r.Freq, r.Per)
		}
	})
}

func TestParseRateGrammar(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"50/s": time.Second, "600/1m": time.Minute, "5/100ms": 100 * time.Millisecond, "7": time.Second} {
		r, err := ParseRate(in)
		if err != nil || r.Per != want {
			t.Errorf("%q: %v per %s, %v", in, r.Freq, r.Per, err)
		}
	}
	for _, bad := range []string{"", "0/s", "-1/s", "1/0s", "1/", "1/-2s", "fast", "1/fortnight"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
