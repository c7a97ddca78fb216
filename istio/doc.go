// Package istio reads what Istio's proxies and control planes expose, in their own formats: the
// istio_requests_total series of a sidecar's Prometheus exposition, the X-Forwarded-Client-Cert header a
// destination sidecar adds under mutual TLS, the sidecar.istio.io/status annotation injection leaves on a pod,
// and istiod's pilot_xds gauge. From them it judges what canarygate's Istio checks ask: did calls between
// workloads of different revisions succeed over mutual TLS, does every pod run the proxy of the revision it
// should, and is any proxy still attached to a control plane about to be removed.
package istio
