// Command registryprobe says, in seconds, whether this machine can pull what a scenario needs: for each URL —
// a registry manifest (https://registry-1.docker.io/v2/kindest/node/manifests/v1.35.8) or any file (a Helm
// repository's index.yaml) — it asks as a pull would: a HEAD, and when a registry answers 401 with a Bearer
// challenge, the anonymous token from the realm it names and the HEAD again. Only a 2xx is "can pull". All
// URLs are asked at once under one deadline (-timeout), so a machine with no DNS or no route to them — where
// a dial would hang until the kernel gives up — is told within that deadline.
//
// `make rehearse` runs it before building anything: exit 0 when every URL answered, 1 (and one line on
// stderr naming what could not be reached and why) otherwise, 2 for bad arguments.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 5*time.Second, "deadline for all URLs together")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: registryprobe [-timeout 5s] URL...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := ProbeAll(ctx, http.DefaultTransport, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ProbeAll probes every URL concurrently and returns one error naming each that cannot be pulled (nil when
// all can).
func ProbeAll(ctx context.Context, rt http.RoundTripper, urls []string) error {
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Probe(ctx, rt, u)
		}()
	}
	wg.Wait()
	var failed []string
	seen := map[string]bool{}
	for _, err := range errs {
		// Two images of one registry that cannot be reached say the same: once is enough.
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New("cannot pull: " + strings.Join(failed, "; "))
	}
	return nil
}

// manifestTypes are the media types a container engine accepts for an image's manifest.
var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// Probe asks for u as a pull would (see the package comment).
func Probe(ctx context.Context, rt http.RoundTripper, u string) error {
	host := u
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		host = p.Host
	}
	resp, err := head(ctx, rt, u, "")
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		token, err := anonymousToken(ctx, rt, resp.Header.Get("WWW-Authenticate"))
		if err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
		if resp, err = head(ctx, rt, u, token); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s answered %s", host, u, resp.Status)
	}
	return nil
}

func head(ctx context.Context, rt http.RoundTripper, u, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", u, err)
	}
	req.Header.Set("Accept", manifestTypes+", */*")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	resp.Body.Close()
	return resp, nil
}

// anonymousToken follows a registry's Bearer challenge (realm, service, scope) for a pull token, as the
// distribution spec's token authentication describes.
func anonymousToken(ctx context.Context, rt http.RoundTripper, challenge string) (string, error) {
	scheme, params, _ := strings.Cut(challenge, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("answered 401 without a Bearer challenge (%q)", challenge)
	}
	p := map[string]string{}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	realm, err := url.Parse(p["realm"])
	if err != nil || realm.Host == "" {
		return "", fmt.Errorf("401 challenge with no usable realm (%q)", challenge)
	}
	q := realm.Query()
	for _, k := range []string{"service", "scope"} {
		if p[k] != "" {
			q.Set(k, p[k])
		}
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", fmt.Errorf("token from %s: %w", realm.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token from %s: %s", realm.Host, resp.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("token from %s: %w", realm.Host, err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		return "", fmt.Errorf("token from %s: empty", realm.Host)
	}
	return tok.Token, nil
}

// unwrapURLError drops net/http's "Head \"URL\": " prefix: the host is named once, by the caller.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("no answer before the deadline")
		}
		return ue.Err
	}
	return err
}
