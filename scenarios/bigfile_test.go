package scenarios_test

import (
	"fmt"
	_ "github.com/canarygate/canarygate/builtin" // the registered actions and gates
	"github.com/canarygate/canarygate/scenarios"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// malformed returns a scenario of about size bytes, all but its head unknown keys: the shape of a wrong file
// handed to canarygate (a generated manifest, a log).
func malformed(size int) []byte {
	var b strings.Builder
	b.WriteString("name: big\ntraffic:\n  streams:\n    - name: s\n      url: http://127.0.0.1:1/\nsteps:\n  - name: x\n    soak: {duration: 1s}\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "unknownkey%d: value%d\n", i, i)
	}
	return []byte(b.String())
}

func TestAHugeMalformedFileKeepsAtMost100ProblemsAndAnswersInBoundedTime(t *testing.T) {
	data := malformed(5 << 20)
	start := time.Now()
	_, err := scenarios.Parse("big.yaml", data, scenarios.Vars{})
	elapsed := time.Since(start)
	var ie *scenarios.InvalidError
	require.ErrorAs(t, err, &ie)
	assert.Len(t, ie.Errors, scenarios.MaxProblems)
	assert.Greater(t, ie.More, 100_000, "every unknown key is counted")
	msg := err.Error()
	assert.Contains(t, msg, fmt.Sprintf("… and %d more", ie.More))
	assert.Contains(t, msg, `big.yaml:9:1: unknownkey0: unknown field "unknownkey0"`)
	assert.Less(t, len(msg), 64<<10, "the message is bounded, not one line per problem")
	// A generous bound for a busy 2-core machine; the benchmark below gives the real figure (well under 1 s).
	assert.Less(t, elapsed, 20*time.Second)
}

// BenchmarkParseMalformed measures validation time per size: linear growth means ns/byte stays flat.
// Run with: go test ./scenarios -run '^$' -bench ParseMalformed -benchtime 3x
func BenchmarkParseMalformed(b *testing.B) {
	for _, size := range []int{1 << 20, 5 << 20} {
		data := malformed(size)
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := scenarios.Parse("big.yaml", data, scenarios.Vars{}); err == nil {
					b.Fatal("a malformed file parsed")
				}
			}
		})
	}
}
