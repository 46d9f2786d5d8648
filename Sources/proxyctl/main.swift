// proxyctl: drives the ServiceProxy library from the command line, in the current network namespace.
// Tests and the benchmark run it through `nsenter --net=/run/netns/<ns>`; the agent links the library instead.
import Foundation
import ServiceProxy

struct Usage: Error, CustomStringConvertible {
    var description: String {
        """
        usage: proxyctl apply   --mode iptables|nftables --state FILE [--config FILE] [--dump FILE]
                                 one full sync, report as JSON; --dump saves the text it wrote
               proxyctl run     --mode iptables|nftables --state FILE --report FILE [--config FILE] [--min-sync-ms N] [--full-sync-s N] [--retry-ms N]
                                 sync at start, then partial syncs whenever FILE changes (reports appended as JSON lines)
               proxyctl change  --mode iptables|nftables --state FILE --state2 FILE[,FILE...] [--config FILE] [--dump FILE] [--nft-text]
                                 full sync of FILE then a partial sync to each FILE2 in one process (benchmark, tests);
                                 --dump saves the last write's text; --nft-text: nftables partial syncs by nft -f, not netlink
               proxyctl render  --mode iptables|nftables --state FILE [--config FILE]    full ruleset text on stdout
               proxyctl cleanup --mode iptables|nftables [--config FILE]                 remove every rule and chain we own
               proxyctl detect                                                           print the iptables backend in use
               proxyctl generate --services N [--endpoints E] [--change]               synthetic state JSON (benchmark)
        """
    }
}

struct Options {
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ args: ArraySlice<String>) throws {
        var iterator = args.makeIterator()
        while let arg = iterator.next() {
            guard arg.hasPrefix("--") else { throw Usage() }
            if arg == "--change" || arg == "--nft-text" {
                flags.insert(arg)
            } else {
                guard let value = iterator.next() else { throw Usage() }
                values[arg] = value
            }
        }
    }

    func mode() throws -> ProxyMode {
        guard let text = values["--mode"], let mode = ProxyMode(rawValue: text) else { throw Usage() }
        return mode
    }

    func config() throws -> ProxyConfig {
        guard let path = values["--config"] else { return ProxyConfig() }
        return try JSONDecoder().decode(ProxyConfig.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func state(_ key: String = "--state") throws -> ProxyState {
        guard let path = values[key] else { throw Usage() }
        return try JSONDecoder().decode(ProxyState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Saves the input of the last command that had one (the restore / `nft -f` text), for the benchmark's floor.
struct DumpingRunner: CommandRunner {
    let path: String?
    let inner = ProcessRunner()

    func run(_ argv: [String], input: String?) throws -> CommandOutput {
        if let path, let input { try input.write(toFile: path, atomically: true, encoding: .utf8) }
        return try inner.run(argv, input: input)
    }
}

func json(_ report: SyncReport) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? String(decoding: encoder.encode(report), as: UTF8.self)) ?? "{}"
}

func syncOnce(_ backend: inout ServiceProxier.Backend, _ state: ProxyState, full: Bool) throws -> SyncReport {
    switch backend {
    case .iptables(var proxier):
        defer { backend = .iptables(proxier) }
        return try proxier.sync(state, full: full)
    case .nftables(var proxier):
        defer { backend = .nftables(proxier) }
        return try proxier.sync(state, full: full)
    }
}

/// Synthetic NodePort services, 2 endpoints each (the reference's benchmark shape). `change` moves one endpoint.
func generate(services: Int, endpoints: Int, change: Bool) -> ProxyState {
    var list: [ProxyServicePort] = []
    for index in 0..<services {
        let ip = "10.96.\(index / 250).\(index % 250 + 2)"
        var eps: [ServiceEndpoint] = []
        for e in 0..<endpoints {
            let n = index * endpoints + e
            eps.append(ServiceEndpoint(ip: "10.88.\(n / 250).\(n % 250 + 2)", port: 8080))
        }
        if change && index == services / 2 { eps[0].ip = "10.89.0.2" }
        // More than 2,768 services cannot all have NodePorts in the default range; the rest are ClusterIP only.
        let nodePort = index < 2768 ? 30000 + index : nil
        list.append(
            ProxyServicePort(
                name: ServicePortName(namespace: "bench", name: "svc-\(index)", port: "http"), clusterIP: ip, port: 80, nodePort: nodePort, endpoints: eps))
    }
    return ProxyState(services: list)
}

func main() async throws {
    let args = CommandLine.arguments
    guard args.count >= 2 else { throw Usage() }
    let options = try Options(args.dropFirst(2))
    switch args[1] {
    case "detect":
        print(IPTablesBackendDetection.detect(runner: ProcessRunner()).rawValue)
    case "generate":
        guard let count = options.values["--services"].flatMap(Int.init) else { throw Usage() }
        let state = generate(services: count, endpoints: options.values["--endpoints"].flatMap(Int.init) ?? 2, change: options.flags.contains("--change"))
        FileHandle.standardOutput.write(try JSONEncoder().encode(state))
    case "render":
        let config = try options.config()
        let state = try options.state()
        switch try options.mode() {
        case .iptables:
            print(IPTablesRules.restoreText(IPTablesRules.build(state, config: config), writeServices: nil, missingJumps: IPTablesRules.jumps), terminator: "")
        case .nftables:
            print(NFTablesProxier(config: config).fullText(state), terminator: "")
        }
    case "cleanup":
        let config = try options.config()
        switch try options.mode() {
        case .iptables: try IPTablesProxier(config: config, backend: IPTablesBackendDetection.detect(runner: ProcessRunner())).cleanup()
        case .nftables: try NFTablesProxier(config: config).cleanup()
        }
    case "apply":
        var backend = ServiceProxier.backend(mode: try options.mode(), config: try options.config(), runner: DumpingRunner(path: options.values["--dump"]))
        print(json(try syncOnce(&backend, try options.state(), full: true)))
    case "change":
        var backend = ServiceProxier.backend(
            mode: try options.mode(), config: try options.config(), runner: DumpingRunner(path: options.values["--dump"]),
            netlink: !options.flags.contains("--nft-text"))
        let first = try options.state()
        guard let nextPaths = options.values["--state2"]?.split(separator: ",") else { throw Usage() }
        print(json(try syncOnce(&backend, first, full: true)))
        for path in nextPaths {
            let next = try JSONDecoder().decode(ProxyState.self, from: Data(contentsOf: URL(fileURLWithPath: String(path))))
            print(json(try syncOnce(&backend, next, full: false)))
        }
        // A netlink partial sync runs no command: its nft text equivalent is the proxier's (the benchmark's floor).
        if case .nftables(let proxier) = backend, let dump = options.values["--dump"] {
            try proxier.lastWrittenText.write(toFile: dump, atomically: true, encoding: .utf8)
        }
    case "run":
        guard let statePath = options.values["--state"], let reportPath = options.values["--report"] else { throw Usage() }
        guard FileManager.default.createFile(atPath: reportPath, contents: nil) else { throw Usage() }
        let report = try FileHandle(forWritingTo: URL(fileURLWithPath: reportPath))
        let proxier = ServiceProxier(
            backend: ServiceProxier.backend(mode: try options.mode(), config: try options.config()),
            minSyncInterval: .milliseconds(options.values["--min-sync-ms"].flatMap(Int.init) ?? 200),
            fullSyncInterval: .seconds(options.values["--full-sync-s"].flatMap(Int.init) ?? 3600),
            retryInterval: .milliseconds(options.values["--retry-ms"].flatMap(Int.init) ?? 30000)
        ) { result in
            let line: String
            switch result {
            case .success(let sync): line = json(sync)
            case .failure(let error): line = "{\"error\":\(String(reflecting: String(describing: error)))}"
            }
            report.seekToEndOfFile()
            report.write(Data((line + "\n").utf8))
        }
        var lastData = Data()
        let timer = Task { await proxier.runTimer() }
        defer { timer.cancel() }
        while true {
            if let data = try? Data(contentsOf: URL(fileURLWithPath: statePath)), data != lastData,
                let state = try? JSONDecoder().decode(ProxyState.self, from: data)
            {
                lastData = data
                await proxier.update(state)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    default:
        throw Usage()
    }
}

do {
    try await main()
} catch {
    FileHandle.standardError.write(Data("proxyctl: \(error)\n".utf8))
    exit(error is Usage ? 2 : 1)
}
