package loadgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// RateGrammar says what ParseRate accepts, for error messages.
const RateGrammar = "requests per interval, such as 50/s, 600/1m or 5/100ms, with a whole number of requests above 0"

// ParseRate reads a rate: N/interval, where the interval is a unit ("s", "m", "ms": one of it) or a
// duration ("100ms", "3s"); a bare N is per second. It is the one rate grammar of canarygate: scenarios'
// traffic rates and the in-mesh generators' share both go through it.
func ParseRate(s string) (vegeta.Rate, error) {
	num, per, hasPer := strings.Cut(strings.TrimSpace(s), "/")
	freq, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || freq <= 0 {
		return vegeta.Rate{}, fmt.Errorf("%q is not a rate: expected %s", s, RateGrammar)
	}
	r := vegeta.Rate{Freq: freq, Per: time.Second}
	if !hasPer {
		return r, nil
	}
	per = strings.TrimSpace(per)
	switch {
	case per == "":
		return vegeta.Rate{}, fmt.Errorf("%q is not a rate: expected %s", s, RateGrammar)
	case per[0] >= '0' && per[0] <= '9':
		d, err := time.ParseDuration(per)
		if err != nil || d <= 0 {
			return vegeta.Rate{}, fmt.Errorf("%q is not a rate: interval %q must be a positive duration; expected %s", s, per, RateGrammar)
		}
		r.Per = d
	default: // "s", "m", "ms": one unit
		d, err := time.ParseDuration("1" + per)
		if err != nil || d <= 0 {
			return vegeta.Rate{}, fmt.Errorf("%q is not a rate: unknown interval %q; expected %s", s, per, RateGrammar)
		}
		r.Per = d
	}
	return r, nil
}
