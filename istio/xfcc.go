package istio

import (
	"fmt"
	"strings"
)

// Identity is a SPIFFE workload identity as Istio issues it: spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
type Identity struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

func (i Identity) String() string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", i.TrustDomain, i.Namespace, i.ServiceAccount)
}

// ParseSPIFFE parses an Istio SPIFFE URI.
func ParseSPIFFE(uri string) (Identity, error) {
	rest, ok := strings.CutPrefix(uri, "spiffe://")
	if !ok {
		return Identity{}, fmt.Errorf("%q is not a spiffe:// URI", uri)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" || parts[0] == "" || parts[2] == "" || parts[4] == "" {
		return Identity{}, fmt.Errorf("%q is not an Istio workload identity (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)", uri)
	}
	return Identity{TrustDomain: parts[0], Namespace: parts[2], ServiceAccount: parts[4]}, nil
}

// XFCCElement is one element of an X-Forwarded-Client-Cert header: one proxy hop's view of its client.
type XFCCElement struct {
	By, Hash, Subject, URI string
	DNS                    []string
}

// ParseXFCC parses Envoy's X-Forwarded-Client-Cert header: elements separated by commas, key=value pairs
// separated by semicolons, values optionally double-quoted (quotes protect , ; = inside them).
func ParseXFCC(h string) ([]XFCCElement, error) {
	var out []XFCCElement
	for _, elem := range splitQuoted(h, ',') {
		if strings.TrimSpace(elem) == "" {
			continue
		}
		var e XFCCElement
		for _, kv := range splitQuoted(elem, ';') {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("x-forwarded-client-cert: %q is not key=value", kv)
			}
			v = unquote(v)
			switch strings.ToLower(k) {
			case "by":
				e.By = v
			case "hash":
				e.Hash = v
			case "subject":
				e.Subject = v
			case "uri":
				e.URI = v
			case "dns":
				e.DNS = append(e.DNS, v)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// CallerIdentity returns the identity of the client of the last hop (the workload that called), from the
// header's last element.
func CallerIdentity(h string) (Identity, error) {
	els, err := ParseXFCC(h)
	if err != nil {
		return Identity{}, err
	}
	if len(els) == 0 {
		return Identity{}, fmt.Errorf("empty x-forwarded-client-cert header: the call was not mutual TLS")
	}
	return ParseSPIFFE(els[len(els)-1].URI)
}

func splitQuoted(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQuote:
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		v = strings.ReplaceAll(v, `\"`, `"`)
	}
	return v
}
