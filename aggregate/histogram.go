package aggregate

import (
	"math"
	"sort"
	"time"
)

// histogram is a sparse log-bucketed latency histogram: each bucket spans 2 % of its value, so quantiles are
// within 2 % whatever the latency, and a second of loopback traffic touches a few dozen buckets at most.
// min, max and sum are exact.
type histogram struct {
	buckets map[int32]int64
	count   int64
	sum     time.Duration
	min     time.Duration
	max     time.Duration
}

const bucketGrowth = 1.02

var logGrowth = math.Log(bucketGrowth)

func bucketOf(d time.Duration) int32 {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return int32(math.Log(us)/logGrowth) + 1
}

// bucketValue is the upper bound of a bucket: quantiles err on the slow side.
func bucketValue(b int32) time.Duration {
	if b <= 0 {
		return time.Microsecond
	}
	return time.Duration(math.Pow(bucketGrowth, float64(b)) * float64(time.Microsecond))
}

func (h *histogram) add(d time.Duration) {
	if h.buckets == nil {
		h.buckets = make(map[int32]int64, 8)
	}
	h.buckets[bucketOf(d)]++
	if h.count == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.count++
	h.sum += d
}

// quantiles returns the latency at each q (0..1), in order.
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if h.count == 0 {
		return out
	}
	keys := make([]int32, 0, len(h.buckets))
	for k := range h.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for i, q := range qs {
		rank := int64(math.Ceil(q * float64(h.count)))
		if rank < 1 {
			rank = 1
		}
		var seen int64
		for _, k := range keys {
			seen += h.buckets[k]
			if seen >= rank {
				v := bucketValue(k)
				// Never report beyond what was measured.
				if v > h.max {
					v = h.max
				}
				if v < h.min {
					v = h.min
				}
				out[i] = v
				break
			}
		}
	}
	return out
}

func (h *histogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return h.sum / time.Duration(h.count)
}
