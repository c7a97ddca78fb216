package agent

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oddBatch has every field at values that stress an encoding: extremes, negatives, gaps, sends out of order,
// strings of every kind, repeated and not.
func oddBatch() Batch {
	return Batch{Generator: "canarygate-gen-a-7d9f-x2", Boot: "00ff17a9c3d2e4b1", Revision: "1-30", Produced: math.MaxUint64,
		Overflow: 12, Stopped: true, Now: 1_800_000_000_123_456_789,
		Results: []Result{
			{Seq: 1, Sent: 1_800_000_000_000_000_001, Latency: 1, Code: 200, Peer: "spiffe://cluster.local/ns/demo-a/sa/gen", Callee: "1-30"},
			{Seq: 2, Sent: 1_799_999_999_000_000_000, Latency: 5_000_000_000, Code: 200, Peer: "spiffe://cluster.local/ns/demo-a/sa/gen", Callee: "1-29"},
			{Seq: 9, Sent: math.MinInt64, Latency: math.MaxInt64, Code: 0, Error: "Get \"http://b\": dial tcp: connection refused\n"},
			{Seq: 3, Sent: math.MaxInt64, Latency: -1, Code: math.MaxUint16, Error: "503 Service Unavailable (grpc Unavailable: ünïcødé \x00)"},
			{Seq: math.MaxUint64, Sent: 0, Latency: math.MinInt64, Code: 503, Callee: "1-29", Peer: "spiffe://cluster.local/ns/x/sa/y"},
			{Seq: 0, Code: 200},
		}}
}

func TestABinaryBatchRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	for _, b := range []Batch{oddBatch(), {Generator: "g", Boot: "b"}, {Results: []Result{}}} {
		data, err := b.AppendBinary(nil)
		require.NoError(t, err)
		got, err := ParseBatch(data)
		require.NoError(t, err)
		if len(b.Results) == 0 {
			b.Results = nil // no results decode as none
			got.Results = nil
		}
		require.Equal(t, b, got)
	}
	// A pull's typical results: consecutive, sent 100 µs apart (give or take their latency), a few strings.
	typical := Batch{Generator: "canarygate-gen-a-7d9f-x2", Boot: "00ff17a9c3d2e4b1", Now: 1_800_000_000_000_000_000}
	for i := range 1000 {
		latency := int64(1_000_000 + i*7919%49_000*1000)
		typical.Results = append(typical.Results, Result{Seq: uint64(1000 + i), Sent: typical.Now + int64(i)*100_000 - latency,
			Latency: latency, Code: 200, Peer: "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a", Callee: []string{"1-29", "1-30"}[i/300%2]})
	}
	data, err := typical.AppendBinary(nil)
	require.NoError(t, err)
	js, err := json.Marshal(typical)
	require.NoError(t, err)
	assert.Less(t, len(data), len(js)/8, "the binary batch is the smaller by far")
	got, err := ParseBatch(data)
	require.NoError(t, err)
	require.Equal(t, typical, got)
}

// A truncated, mistyped or hostile answer is an error — never a panic, never a slice sized by a count it
// claims — and an answer of another binary version says so.
func TestTheDecoderRefusesMalformedBatches(t *testing.T) {
	valid, err := oddBatch().AppendBinary(nil)
	require.NoError(t, err)
	for n := range len(valid) {
		_, err := ParseBatch(valid[:n])
		require.Error(t, err, "cut at %d of %d bytes", n, len(valid))
	}

	v2 := append([]byte(nil), valid...)
	v2[len(binaryMagic)] = 2
	_, err = ParseBatch(v2)
	require.ErrorContains(t, err, "binary version 2: this canarygate reads version 1")
	require.ErrorContains(t, err, "different releases")

	_, err = ParseBatch([]byte("<html>502 Bad Gateway</html>"))
	require.ErrorIs(t, err, ErrNotABatch)
	assert.ErrorContains(t, err, "<html>502 Bad Ga")
	_, err = ParseBatch([]byte(`{"generator": 7}`))
	require.ErrorContains(t, err, "results batch (JSON)")

	head := func() []byte { // a valid header, no string table or results yet
		d := append([]byte(binaryMagic), BinaryVersion)
		for range 3 {
			d = appendString(d, "x")
		}
		d = binary.AppendUvarint(d, 1)
		d = binary.AppendUvarint(d, 0)
		d = append(d, 0)
		return binary.AppendVarint(d, 42)
	}
	uv := binary.AppendUvarint
	cases := map[string][]byte{
		"huge string count":     uv(head(), math.MaxUint64),
		"huge result count":     uv(uv(head(), 0), 1<<62),
		"result count past max": append(uv(uv(head(), 0), MaxBatchResults+1), make([]byte, 8*(MaxBatchResults+1))...),
		"huge string":           uv(uv(head(), 1), math.MaxUint64),
		"empty table string":    uv(uv(uv(head(), 1), 0), 0),
		"overlong number":       append(head(), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"status past 16 bits":   append(uv(uv(head(), 0), 1), 1, 0, 0, 0x80, 0x80, 0x04, 0, 0, 0),
		"string out of table":   append(uv(uv(head(), 0), 1), 1, 0, 0, 0, 0, 1, 0),
		"bytes after the last":  append(uv(uv(uv(head(), 0), 0), 0), 0),
		"unknown flags":         binary.AppendVarint(append(uv(uv(appendString(appendString(appendString(append([]byte(binaryMagic), 1), ""), ""), ""), 0), 0), 6), 0),
	}
	for name, data := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ParseBatch(data)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrNotABatch, name)
		// The one allowed large input ("past max", 8 MiB) may cost its size; none may cost what it claims.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(len(data))+64<<10, "%s: allocated in proportion to its claims", name)
	}
}

// Whatever the bytes, the decoder returns (an error or a batch) without panicking, in proportion to the
// input; whatever it accepts encodes back to a batch that decodes the same.
func FuzzParseBatch(f *testing.F) {
	valid, err := oddBatch().AppendBinary(nil)
	require.NoError(f, err)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	js, err := json.Marshal(oddBatch())
	require.NoError(f, err)
	f.Add(js)
	f.Add([]byte(binaryMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBatch(data)
		if err != nil || len(data) == 0 || data[0] == '{' || data[0] <= ' ' {
			return
		}
		again, err := b.AppendBinary(nil)
		require.NoError(t, err)
		c, err := ParseBatch(again)
		require.NoError(t, err)
		require.Equal(t, b, c)
	})
}
