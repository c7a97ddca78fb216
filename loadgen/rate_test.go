package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestXDSTargetsAreServiceHostAndPortOnly(t *testing.T) {
	host, port, err := ParseXDSTarget("xds:///app-b.demo-b.svc.cluster.local:7070")
	require.NoError(t, err)
	assert.Equal(t, "app-b.demo-b.svc.cluster.local", host)
	assert.Equal(t, 7070, port)
	assert.True(t, IsXDS("xds:///app-b:7070"))
	assert.False(t, IsXDS("http://app-b:8080/"))
	for raw, why := range map[string]string{
		"xds://authority/app-b:7070": "no authority",
		"xds:///app-b":               "host:port",
		"xds:///app-b:7070/Echo":     "host:port",
		"xds:///app-b:0":             "1 to 65535",
		"xds:///:7070":               "a host",
		"xds:///app-b:7070?x=1":      "no query",
		"http://app-b:7070/":         "scheme",
	} {
		_, _, err := ParseXDSTarget(raw)
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), why, raw)
	}
}
