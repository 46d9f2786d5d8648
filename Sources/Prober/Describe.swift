import KubeAPI

/// kubectl describe's probe line (pkg/describe DescribeProbe), e.g.
/// `http-get http://:8080/healthz delay=15s timeout=1s period=10s #success=1 #failure=3`.
public func describeProbe(_ probe: Probe) -> String {
    let t = ProbeTiming(probe)
    let attrs =
        "delay=\(t.initialDelaySeconds)s timeout=\(t.timeoutSeconds)s period=\(t.periodSeconds)s #success=\(t.successThreshold) #failure=\(t.failureThreshold)"
    if let exec = probe.exec { return "exec [\((exec.command ?? []).joined(separator: " "))] \(attrs)" }
    if let http = probe.httpGet {
        let scheme = (http.scheme ?? "HTTP").lowercased()
        let port = http.port.description
        let host = http.host ?? ""
        let authority = port.isEmpty ? host : (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        return "http-get \(scheme)://\(authority)\(http.path ?? "") \(attrs)"
    }
    if let tcp = probe.tcpSocket { return "tcp-socket \(tcp.host ?? ""):\(tcp.port.description) \(attrs)" }
    if let grpc = probe.grpc { return "grpc <pod>:\(grpc.port) \(grpc.service ?? "") \(attrs)" }
    return "unknown \(attrs)"
}
