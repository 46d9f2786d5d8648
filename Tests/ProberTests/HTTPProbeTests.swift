import KubeAPI
import Testing

@testable import Prober

#if canImport(Glibc)
    import Glibc
#endif

func container(ports: [(String, Int32)] = []) -> Container {
    var c = Container()
    c.name = "app"
    c.ports = ports.map { name, port in
        var p = ContainerPort()
        p.name = name
        p.containerPort = port
        return p
    }
    return c
}

func httpAction(_ path: String, port: IntOrString, headers: [(String, String)] = []) -> HTTPGetAction {
    var action = HTTPGetAction(path: path, port: port)
    if !headers.isEmpty { action.httpHeaders = headers.map { HTTPHeader(name: $0.0, value: $0.1) } }
    return action
}

@Suite(.serialized) struct HTTPProbeTests {
    enum Expect: Sendable {
        case result(ProbeResult, String)
        case resultPrefix(ProbeResult, String)
        case resultSuffix(ProbeResult, String)
    }

    struct Case: Sendable, CustomStringConvertible {
        var path: String
        var expect: Expect
        var description: String { path }
    }

    static let cases: [Case] = [
        Case(path: "/status/199", expect: .resultPrefix(.failure, "Get \"http://127.0.0.1:")),
        Case(path: "/status/200", expect: .result(.success, "status 200")),
        Case(path: "/status/204", expect: .result(.success, "")),
        Case(path: "/to/200", expect: .result(.success, "status 200")),
        Case(path: "/to/500", expect: .result(.failure, "HTTP probe failed with statuscode: 500")),
        Case(path: "/absolute", expect: .result(.success, "status 200")),
        Case(path: "/other", expect: .result(.warning, "Probe terminated redirects, Response body: <a href=\"/\">Found</a>.")),
        Case(path: "/status/304", expect: .result(.warning, "Probe terminated redirects, Response body: ")),
        Case(path: "/status/399", expect: .result(.warning, "Probe terminated redirects, Response body: status 399")),
        Case(path: "/status/400", expect: .result(.failure, "HTTP probe failed with statuscode: 400")),
        Case(path: "/status/500", expect: .result(.failure, "HTTP probe failed with statuscode: 500")),
        // Go's RedirectChecker: `len(via) >= 10` → the 10th redirect is an error; 9 are followed.
        // /chain/N answers N redirects in a row, the last one to /status/200.
        Case(path: "/chain/9", expect: .result(.success, "status 200")),
        Case(path: "/chain/10", expect: .resultSuffix(.failure, "/status/200\": stopped after 10 redirects")),
        Case(path: "/chain/11", expect: .resultSuffix(.failure, "/chain/1\": stopped after 10 redirects")),
        Case(path: "/slow", expect: .resultSuffix(.failure, "/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
        Case(path: "/reset", expect: .resultSuffix(.failure, ": read: connection reset by peer")),
        Case(path: "/close", expect: .resultSuffix(.failure, "/close\": EOF")),
        Case(path: "/garbage", expect: .resultSuffix(.failure, "net/http: HTTP/1.x transport connection broken: malformed HTTP response")),
        Case(path: "/chunked", expect: .result(.success, "status 200")),
        Case(path: "/untilclose", expect: .result(.success, "until close")),
        Case(path: "/continue", expect: .result(.success, "after")),
    ]

    @Test(arguments: cases) func successRules(_ c: Case) async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        // The slow server stalls 3 s: a 1 s timeout must cut it. Other cases get room for a loaded CI machine
        // (9 redirects are 10 connections); the bound only shows the probe is limited by its own timeout.
        let timeout: Duration = c.path == "/slow" ? .seconds(1) : .seconds(5)
        let outcome = try await HTTPProber().probe(httpAction(c.path, port: .int(Int32(server.port))), target: target, timeout: timeout)
        #expect(clock.now - start < timeout + .seconds(2))
        switch c.expect {
        case .result(let result, let output):
            #expect(outcome == ProbeOutcome(result, output))
        case .resultPrefix(let result, let prefix):
            #expect(outcome.result == result)
            #expect(outcome.output.hasPrefix(prefix), "\(outcome.output)")
        case .resultSuffix(let result, let suffix):
            #expect(outcome.result == result)
            #expect(outcome.output.hasSuffix(suffix), "\(outcome.output)")
        }
    }

    @Test func refusedIsGoText() async throws {
        let (fd, port) = try listenLoopback()
        close(fd)
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await HTTPProber().probe(httpAction("/healthz", port: .int(Int32(port))), target: target, timeout: .seconds(1))
        #expect(
            outcome
                == ProbeOutcome(.failure, "Get \"http://127.0.0.1:\(port)/healthz\": dial tcp 127.0.0.1:\(port): connect: connection refused"))
    }

    /// A connect that never completes (a full accept queue drops the SYNs) ends at the timeout with Go's
    /// Client.Timeout text, like a response that never comes.
    @Test func connectTimeoutIsGoText() async throws {
        let listener = try await SaturatedListener()
        defer { listener.close() }
        let port = listener.port
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await HTTPProber().probe(httpAction("/healthz", port: .int(Int32(port))), target: target, timeout: .seconds(1))
        #expect(
            outcome
                == ProbeOutcome(
                    .failure, "Get \"http://127.0.0.1:\(port)/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"))
    }

    @Test func hugeBodyIsCappedAndSucceeds() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await HTTPProber().probe(httpAction("/big", port: .int(Int32(server.port))), target: target, timeout: .seconds(5))
        #expect(outcome.result == .success)
        #expect(outcome.output.utf8.count == 10 * 1024)
        #expect(clock.now - start < .seconds(2))
    }

    @Test func bodyTimeoutIsAProberError() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        await #expect(throws: ProberError.probeFailed("context deadline exceeded (Client.Timeout or context cancellation while reading body)")) {
            _ = try await HTTPProber().probe(httpAction("/slowbody", port: .int(Int32(server.port))), target: target, timeout: .seconds(1))
        }
    }

    /// A body cut short by the server is an error while reading the body (kubelet: Unknown, retried), not a verdict.
    @Test func truncatedBodyIsAProberError() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        await #expect(throws: ProberError.probeFailed("unexpected EOF")) {
            _ = try await HTTPProber().probe(httpAction("/truncated", port: .int(Int32(server.port))), target: target, timeout: .seconds(5))
        }
    }

    struct HeaderCase: Sendable, CustomStringConvertible {
        var headers: [(String, String)]
        var present: [String]
        var absent: [String]
        var description: String { headers.map { "\($0.0)=\($0.1)" }.joined(separator: ",") }
    }

    static let headerCases: [HeaderCase] = [
        HeaderCase(
            headers: [], present: ["User-Agent: kube-probe/\(kubeProbeVersion)", "Accept: */*", "Connection: close", "Host: 127.0.0.1:"],
            absent: ["Accept-Encoding", "Keep-Alive"]),
        HeaderCase(
            headers: [("user-agent", "mine/1"), ("ACCEPT", "text/plain")], present: ["User-Agent: mine/1", "Accept: text/plain"], absent: ["kube-probe"]),
        HeaderCase(headers: [("Accept", "")], present: ["User-Agent: kube-probe/"], absent: ["Accept:"]),
        HeaderCase(
            headers: [("host", "example.test"), ("X-Custom", "a"), ("x-custom", "b")], present: ["Host: example.test", "X-Custom: a", "X-Custom: b"],
            absent: ["Host: 127.0.0.1"]),
    ]

    @Test(arguments: headerCases) func headers(_ c: HeaderCase) async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await HTTPProber().probe(
            httpAction("/headers", port: .int(Int32(server.port)), headers: c.headers), target: target, timeout: .seconds(5))
        #expect(outcome.result == .success)
        for text in c.present { #expect(outcome.output.contains(text), "\(text) in \(outcome.output)") }
        for text in c.absent { #expect(!outcome.output.contains(text), "\(text) in \(outcome.output)") }
    }

    @Test func hostHeaderKeptOnRelativeRedirect() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await HTTPProber().probe(
            httpAction("/to/200", port: .int(Int32(server.port)), headers: [("Host", "vhost.test")]), target: target, timeout: .seconds(5))
        #expect(outcome.result == .success)
        let hosts = server.requests.withLock { $0.map { $0.contains("Host: vhost.test") } }
        #expect(hosts == [true, true])
    }

    @Test func namedPort() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container(ports: [("other", 1), ("http", Int32(server.port))]))
        let outcome = try await HTTPProber().probe(httpAction("/status/200", port: .string("http")), target: target, timeout: .seconds(5))
        #expect(outcome.result == .success)
        await #expect(throws: ProberError.portNotFound("nope")) {
            _ = try await HTTPProber().probe(httpAction("/", port: .string("nope")), target: target, timeout: .seconds(1))
        }
    }

    @Test func hangingTargetsDoNotBlockOthers() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let port = Int32(server.port)
        let clock = ContinuousClock()
        let start = clock.now
        let results = await withTaskGroup(of: (String, ProbeResult, Duration).self) { group in
            for path in ["/slow", "/slow", "/big", "/slowbody", "/garbage", "/reset", "/status/200", "/status/200"] {
                group.addTask {
                    let t0 = clock.now
                    let result: ProbeResult
                    do {
                        // The healthy target gets room for a loaded machine; the hanging ones must be cut at 1 s.
                        let timeout: Duration = path == "/status/200" ? .seconds(3) : .seconds(1)
                        result = try await HTTPProber().probe(httpAction(path, port: .int(port)), target: target, timeout: timeout).result
                    } catch {
                        result = .unknown
                    }
                    return (path, result, clock.now - t0)
                }
            }
            var all: [(String, ProbeResult, Duration)] = []
            for await r in group { all.append(r) }
            return all
        }
        for (path, result, took) in results where path == "/status/200" {
            #expect(result == .success)
            // Not queued behind the hanging targets (which stall 3 s or forever); slack for a loaded machine.
            #expect(took < .seconds(2))
        }
        #expect(clock.now - start < .seconds(5))
    }
}
