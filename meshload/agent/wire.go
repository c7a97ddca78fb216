package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// A batch travels as JSON or in the compact binary format below; the puller chooses with the pull's format
// parameter (not an Accept header: canarygate pulls through the API server's pod proxy, whose client sets
// Accept for the API server, and whose raw answer carries no Content-Type back), and the answer says what it
// is by its first bytes, so a puller needs no header to decode it.
//
// Why a binary format: at the rates one core must ingest (200 000 results/s), JSON was most of canarygate's
// cost per result — decoding ~155 bytes, three string allocations — where the binary batch is ~15 bytes a
// result, and its strings (the caller identity, the callee revision, the errors: a handful of distinct
// values) are sent and allocated once per batch.
//
// Binary version 1 (BinaryVersion), every integer a varint (encoding/binary: unsigned, or zig-zag signed):
//
//	magic    "\x89CGB" (a first byte no JSON or text starts with)
//	version  1 byte (1)
//	header   generator, boot, revision (each: uvarint length, bytes); produced, overflow (uvarint);
//	         flags (1 byte: bit 0 stopped, the others 0); now (varint, Unix ns)
//	strings  count (uvarint), then each (uvarint length ≥ 1, bytes): every distinct non-empty string
//	         of the results' Error, Peer and Callee
//	results  count (uvarint), then each: seq − previous seq (uvarint, the first from 0), sent − previous
//	         sent (varint, the first from now), latency (varint), code (uvarint ≤ 65535), then error, peer
//	         and callee as string numbers (uvarint: 0 for "", i for the i-th string)
//
// Differences wrap (two's complement), so every value of every field round-trips; nothing may follow the
// last result. A later version gets a new number and format value: a generator asked for a format it does
// not speak answers 400 naming those it does, and a puller given a version it does not read says so — a
// generators' image from another release than canarygate's gives that error, never garbage.

// The formats of a pull's answer (its format parameter).
const (
	// FormatParam is the pull's query parameter naming the format wanted.
	FormatParam = "format"
	// FormatJSON is the default, what every generator speaks: Batch as JSON.
	FormatJSON = "json"
	// FormatBinary is binary version 1.
	FormatBinary = "bin1"
	// BinaryVersion is the version FormatBinary names.
	BinaryVersion = 1
	// BinaryContentType is the binary answer's Content-Type.
	BinaryContentType = "application/vnd.canarygate.batch.v1"
)

// binaryMagic starts every binary batch.
const binaryMagic = "\x89CGB"

// Bounds a decoder enforces whatever the input says, so a malformed or hostile answer costs time and memory
// in proportion to its own size. The smallest result is 7 bytes, the smallest string 2.
const (
	minResultBytes = 7
	minStringBytes = 2
	// MaxBatchResults bounds a batch's results (a pull asks for DefaultPullMax).
	MaxBatchResults = 1 << 20
)

// AppendBinary appends the batch in binary version 1 to dst (encoding.BinaryAppender).
func (b Batch) AppendBinary(dst []byte) ([]byte, error) {
	// The results first, into a scratch buffer, while the string table is built: it goes before them.
	index := map[string]uint64{}
	var table []string
	number := func(s string) uint64 {
		if s == "" {
			return 0
		}
		i, ok := index[s]
		if !ok {
			table = append(table, s)
			i = uint64(len(table))
			index[s] = i
		}
		return i
	}
	body := make([]byte, 0, 16*len(b.Results))
	prevSeq, prevSent := uint64(0), b.Now
	// The last strings seen: most results repeat the previous one's, and a map lookup costs more.
	var lastErr, lastPeer, lastCallee string
	var errN, peerN, calleeN uint64
	for i := range b.Results {
		r := &b.Results[i]
		body = binary.AppendUvarint(body, r.Seq-prevSeq)
		body = binary.AppendVarint(body, int64(uint64(r.Sent)-uint64(prevSent)))
		body = binary.AppendVarint(body, r.Latency)
		body = binary.AppendUvarint(body, uint64(r.Code))
		prevSeq, prevSent = r.Seq, r.Sent
		if r.Error != lastErr || i == 0 {
			lastErr, errN = r.Error, number(r.Error)
		}
		if r.Peer != lastPeer || i == 0 {
			lastPeer, peerN = r.Peer, number(r.Peer)
		}
		if r.Callee != lastCallee || i == 0 {
			lastCallee, calleeN = r.Callee, number(r.Callee)
		}
		body = binary.AppendUvarint(body, errN)
		body = binary.AppendUvarint(body, peerN)
		body = binary.AppendUvarint(body, calleeN)
	}
	dst = append(dst, binaryMagic...)
	dst = append(dst, BinaryVersion)
	for _, s := range []string{b.Generator, b.Boot, b.Revision} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendUvarint(dst, b.Produced)
	dst = binary.AppendUvarint(dst, b.Overflow)
	var flags byte
	if b.Stopped {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendVarint(dst, b.Now)
	dst = binary.AppendUvarint(dst, uint64(len(table)))
	for _, s := range table {
		dst = appendString(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Results)))
	return append(dst, body...), nil
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// ErrNotABatch says an answer is neither format: not a canarygate generator's, or cut short.
var ErrNotABatch = errors.New("not a results batch")

// ParseBatch decodes an answer in either format, telling them apart by the first byte.
func ParseBatch(data []byte) (Batch, error) {
	var b Batch
	switch {
	case bytes.HasPrefix(data, []byte(binaryMagic)):
		return b, b.UnmarshalBinary(data)
	case len(bytes.TrimLeft(data, " \t\r\n")) > 0 && bytes.TrimLeft(data, " \t\r\n")[0] == '{':
		if err := json.Unmarshal(data, &b); err != nil {
			return Batch{}, fmt.Errorf("results batch (JSON): %w", err)
		}
		return b, nil
	default:
		return b, fmt.Errorf("%w: it starts %q, neither JSON nor %q (is the generators' image canarygate's demo-app?)", ErrNotABatch, data[:min(len(data), 16)], binaryMagic)
	}
}

// UnmarshalBinary decodes a binary batch (encoding.BinaryUnmarshaler). It fails, without panicking and
// without allocating more than the input's size warrants, on anything AppendBinary did not produce.
func (b *Batch) UnmarshalBinary(data []byte) error {
	d := decoder{data: data}
	if !bytes.HasPrefix(data, []byte(binaryMagic)) {
		return fmt.Errorf("%w: no %q at its start", ErrNotABatch, binaryMagic)
	}
	d.pos = len(binaryMagic)
	if v := d.byte(); d.err == nil && v != BinaryVersion {
		return fmt.Errorf("results batch of binary version %d: this canarygate reads version %d (%s) — the generators' image (demo-app) and canarygate are from different releases", v, BinaryVersion, FormatBinary)
	}
	var out Batch
	out.Generator, out.Boot, out.Revision = d.string(), d.string(), d.string()
	out.Produced, out.Overflow = d.uvarint(), d.uvarint()
	switch flags := d.byte(); {
	case d.err != nil:
	case flags&^1 != 0:
		d.fail("unknown flags %#x", flags)
	default:
		out.Stopped = flags&1 != 0
	}
	out.Now = d.varint()
	table := d.table()
	out.Results = d.results(out.Now, table)
	if d.err == nil && d.pos != len(d.data) {
		d.fail("%d bytes after the last result", len(d.data)-d.pos)
	}
	if d.err != nil {
		return d.err
	}
	*b = out
	return nil
}

// decoder reads a binary batch; its first error sticks, and every read after it returns zero.
type decoder struct {
	data []byte
	pos  int
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: byte %d: %s", ErrNotABatch, d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.data) {
		d.fail("truncated")
		return 0
	}
	d.pos++
	return d.data[d.pos-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.pos += n
	return v
}

// count reads a count of items of at least minBytes each: no more than what is left could hold.
func (d *decoder) count(what string, minBytes, most int) int {
	n := d.uvarint()
	if d.err == nil && (n > uint64((len(d.data)-d.pos)/minBytes) || n > uint64(most)) {
		d.fail("%d %s: more than the %d bytes left can hold", n, what, len(d.data)-d.pos)
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.data)-d.pos) {
		d.fail("a string of %d bytes, %d left", n, len(d.data)-d.pos)
	}
	if d.err != nil {
		return ""
	}
	s := string(d.data[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s
}

func (d *decoder) table() []string {
	n := d.count("strings", minStringBytes, math.MaxInt32)
	if d.err != nil {
		return nil
	}
	table := make([]string, n+1) // [0] is ""
	for i := 1; i <= n && d.err == nil; i++ {
		if table[i] = d.string(); d.err == nil && table[i] == "" {
			d.fail("string %d is empty (\"\" is string 0)", i)
		}
	}
	return table
}

func (d *decoder) results(now int64, table []string) []Result {
	n := d.count("results", minResultBytes, MaxBatchResults)
	if d.err != nil {
		return nil
	}
	out := make([]Result, n)
	seq, sent := uint64(0), now
	str := func() string {
		i := d.uvarint()
		if d.err == nil && i >= uint64(len(table)) {
			d.fail("string %d of %d", i, len(table)-1)
		}
		if d.err != nil {
			return ""
		}
		return table[i]
	}
	for i := range out {
		seq += d.uvarint()
		sent = int64(uint64(sent) + uint64(d.varint()))
		r := &out[i]
		r.Seq, r.Sent, r.Latency = seq, sent, d.varint()
		if code := d.uvarint(); code > math.MaxUint16 {
			d.fail("status %d", code)
		} else {
			r.Code = uint16(code)
		}
		r.Error, r.Peer, r.Callee = str(), str(), str()
		if d.err != nil {
			return nil
		}
	}
	return out
}
