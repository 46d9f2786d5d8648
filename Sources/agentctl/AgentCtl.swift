// agentctl: the operator CLI of minikubelet. Talks to the agent's local API (unix socket).
import AgentAPI
import ArgumentParser
import Foundation
import KubeAPI
import Prober
import Yams

#if canImport(Glibc)
    import Glibc
#endif

@main
struct AgentCtl: ParsableCommand {
    /// `agentctl --socket PATH <command> ...` works too: a leading `--socket` becomes MINIKUBELET_SOCKET
    /// (argument-parser only gives options to the command that declares them).
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        while let first = arguments.first, first.hasPrefix("--socket") {
            if first == "--socket", arguments.count >= 2 {
                setenv("MINIKUBELET_SOCKET", arguments[1], 1)
                arguments.removeFirst(2)
            } else if first.hasPrefix("--socket=") {
                setenv("MINIKUBELET_SOCKET", String(first.dropFirst("--socket=".count)), 1)
                arguments.removeFirst()
            } else {
                break
            }
        }
        main(arguments)
    }

    static let configuration = CommandConfiguration(
        commandName: "agentctl", abstract: "Control a minikubelet node agent.",
        subcommands: [PS.self, Get.self, Describe.self, Logs.self, Exec.self, Apply.self, Delete.self, Image.self, Diagnose.self, Metrics.self])
}

struct Connection: ParsableArguments {
    @Option(help: "The agent's API socket (default: $MINIKUBELET_SOCKET or /run/minikubelet/agent.sock).")
    var socket: String?

    var client: APIClient {
        APIClient(socketPath: socket ?? ProcessInfo.processInfo.environment["MINIKUBELET_SOCKET"] ?? "/run/minikubelet/agent.sock")
    }

    func pods() throws -> [Pod] {
        try call { try client.getJSON("/v1/pods", as: PodListBody.self, decoder: KubeJSON.decoder()).items }
    }

    /// Runs an API call; a failure is printed as `error: ...` and exits 1.
    func call<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct PodListBody: Decodable { var items: [Pod] }

struct EventBody: Decodable {
    struct Involved: Decodable {
        var kind: String
        var name: String
        var namespace: String
        var fieldPath: String?
    }
    var involvedObject: Involved
    var type: String
    var reason: String
    var message: String
    var count: Int
    var firstTimestamp: Date
    var lastTimestamp: Date
}

struct EventListBody: Decodable { var items: [EventBody] }

// MARK: - Output helpers

enum Terminal {
    static let isTTY = isatty(STDOUT_FILENO) == 1

    /// Colours only on a terminal (and never with NO_COLOR).
    static func color(_ text: String, for status: String) -> String {
        guard isTTY, ProcessInfo.processInfo.environment["NO_COLOR"] == nil else { return text }
        let code: String
        switch status {
        case "Running", "Completed", "Succeeded", "running": code = "32"
        case "Pending", "ContainerCreating", "PodInitializing", "waiting": code = "33"
        default: code = status.hasPrefix("Init:") && status.contains("/") ? "33" : "31"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
}

/// kubectl's table: each column as wide as its widest cell (at least 6) plus 3 spaces; the last unpadded.
func table(_ rows: [[String]], colorColumn: Int? = nil) -> String {
    guard let header = rows.first else { return "" }
    var widths = Array(repeating: 6, count: header.count)
    for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    var out = ""
    for (rowIndex, row) in rows.enumerated() {
        var line = ""
        for (index, cell) in row.enumerated() {
            let shown = rowIndex > 0 && index == colorColumn ? Terminal.color(cell, for: cell) : cell
            if index == row.count - 1 {
                line += shown
            } else {
                line += shown + String(repeating: " ", count: widths[index] - cell.count + 3)
            }
        }
        out += line + "\n"
    }
    return out
}

func age(_ date: Date?, now: Date) -> String {
    guard let date else { return "<unknown>" }
    return HumanDuration.format(seconds: now.timeIntervalSince(date))
}

// MARK: - ps

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List pods and their containers.")
    @OptionGroup var connection: Connection
    @Flag(name: .shortAndLong, help: "Include exited containers and finished pods.") var all = false

    func run() throws {
        let now = Date()
        var rows = [["POD", "CONTAINER", "IMAGE", "STATE", "READY", "RESTARTS", "AGE", "POD IP"]]
        for pod in try connection.pods() {
            let status = pod.status ?? PodStatus()
            let statuses = (status.initContainerStatuses ?? []) + (status.containerStatuses ?? [])
            for container in statuses {
                let state: String
                var since: Date?
                if let running = container.state?.running {
                    state = "running"
                    since = running.startedAt
                } else if let terminated = container.state?.terminated {
                    state = "exited (\(terminated.exitCode))"
                    since = terminated.finishedAt
                } else {
                    state = "waiting" + (container.state?.waiting?.reason.map { " (\($0))" } ?? "")
                }
                if !all && container.state?.running == nil && container.state?.waiting == nil { continue }
                rows.append([
                    pod.metadata.name ?? "", container.name, container.image, state, container.ready ? "true" : "false", String(container.restartCount),
                    since.map { age($0, now: now) } ?? age(pod.metadata.creationTimestamp, now: now), status.podIP ?? "<none>",
                ])
            }
        }
        print(table(rows, colorColumn: 3), terminator: "")
    }
}

// MARK: - get

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show pods or events (kubectl get).")
    @OptionGroup var connection: Connection
    @Argument(help: "pods | events | configmaps | secrets | pvc | pv | svc | endpoints | endpointslices") var resource: String
    @Argument(help: "Pod name.") var name: String?
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"
    @Option(name: .shortAndLong, help: "Output format: wide | json | yaml.") var output: String?

    func run() throws {
        switch resource {
        case "pod", "pods", "po": try pods()
        case "event", "events", "ev": try events()
        case "configmap", "configmaps", "cm": try configObjects(kind: "ConfigMap", path: "/v1/configmaps")
        case "secret", "secrets": try configObjects(kind: "Secret", path: "/v1/secrets")
        case "persistentvolumeclaim", "persistentvolumeclaims", "pvc": try claims()
        case "persistentvolume", "persistentvolumes", "pv": try persistentVolumes()
        case "service", "services", "svc": try serviceObjects()
        case "endpoints", "ep": try endpointObjects()
        case "endpointslice", "endpointslices": try endpointSliceObjects()
        default:
            throw ValidationError(
                "unknown resource \"\(resource)\" (this agent serves: pods, events, configmaps, secrets, pvc, pv, svc, endpoints, endpointslices)")
        }
    }

    func pods() throws {
        var pods = try connection.pods().filter { $0.metadata.namespace == namespace }
        if let name {
            pods = pods.filter { $0.metadata.name == name }
            if pods.isEmpty {
                FileHandle.standardError.write(Data("Error from server (NotFound): pods \"\(name)\" not found\n".utf8))
                throw ExitCode.failure
            }
        }
        switch output {
        case "json", "yaml":
            let data: Data
            if let name, let pod = pods.first, pod.metadata.name == name {
                data = try KubeJSON.encoder(pretty: true).encode(pod)
            } else {
                data = try KubeJSON.encoder(pretty: true).encode(PodListOut(items: pods))
            }
            if output == "json" {
                print(String(decoding: data, as: UTF8.self))
            } else if let name, let pod = pods.first, pod.metadata.name == name {
                print(try YAMLEncoder().encode(pod), terminator: "")
            } else {
                print(try YAMLEncoder().encode(PodListOut(items: pods)), terminator: "")
            }
        case nil, "wide":
            let now = Date()
            var rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + (output == "wide" ? ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] : [])]
            for pod in pods {
                let row = PodTableRow(pod: pod, now: now)
                var cells = [row.name, row.ready, row.status, row.restarts, row.age]
                if output == "wide" { cells += [pod.status?.podIP ?? "<none>", pod.spec.nodeName ?? "<none>", "<none>", "<none>"] }
                rows.append(cells)
            }
            if pods.isEmpty {
                FileHandle.standardError.write(Data("No resources found in \(namespace) namespace.\n".utf8))
                return
            }
            print(table(rows, colorColumn: 2), terminator: "")
        default:
            throw ValidationError("unknown output format \"\(output ?? "")\" (wide, json, yaml)")
        }
    }

    func events() throws {
        let list = try connection.call { try connection.client.getJSON("/v1/events", as: EventListBody.self, decoder: KubeJSON.decoder()) }
        let now = Date()
        var rows = [["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]]
        for event in list.items where event.involvedObject.kind == "File" || event.involvedObject.namespace == namespace {
            rows.append([
                age(event.lastTimestamp, now: now), event.type, event.reason, "\(event.involvedObject.kind.lowercased())/\(event.involvedObject.name)",
                event.message,
            ])
        }
        if rows.count == 1 {
            FileHandle.standardError.write(Data("No events found in \(namespace) namespace.\n".utf8))
            return
        }
        print(table(rows), terminator: "")
    }
}

struct PodListOut: Encodable {
    var apiVersion = "v1"
    var kind = "List"
    var items: [Pod]
}

// MARK: - metrics

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the agent's Prometheus metrics (prober_probe_total, prober_probe_duration_seconds).")
    @OptionGroup var connection: Connection

    func run() throws {
        print(String(decoding: try connection.client.get("/metrics"), as: UTF8.self), terminator: "")
    }
}

// MARK: - describe

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a pod in detail (kubectl describe pod).")
    @OptionGroup var connection: Connection
    @Argument(help: "pod | svc") var resource: String
    @Argument(help: "Pod name.") var name: String
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"

    static func rfc1123(_ date: Date?) -> String {
        guard let date else { return "<unknown>" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }

    func run() throws {
        if ["service", "services", "svc"].contains(resource) { return try describeService() }
        guard ["pod", "pods", "po"].contains(resource) else { throw ValidationError("only pods and services can be described") }
        guard let pod = try connection.pods().first(where: { $0.metadata.name == name && $0.metadata.namespace == namespace }) else {
            FileHandle.standardError.write(Data("Error from server (NotFound): pods \"\(name)\" not found\n".utf8))
            throw ExitCode.failure
        }
        let status = pod.status ?? PodStatus()
        var lines: [(String, String)] = []
        func field(_ key: String, _ value: String) { lines.append((key, value)) }
        field("Name:", pod.metadata.name ?? "")
        field("Namespace:", pod.metadata.namespace ?? "default")
        field("Node:", (pod.spec.nodeName ?? "<none>") + (status.hostIP.map { "/\($0)" } ?? ""))
        field("Start Time:", Self.rfc1123(status.startTime ?? pod.metadata.creationTimestamp))
        let labels = (pod.metadata.labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        field("Labels:", labels.first ?? "<none>")
        for label in labels.dropFirst() { field("", label) }
        let annotations = (pod.metadata.annotations ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        field("Annotations:", annotations.first ?? "<none>")
        for annotation in annotations.dropFirst() { field("", annotation) }
        field("Status:", status.phase ?? "Pending")
        if let reason = status.reason { field("Reason:", reason) }
        if let message = status.message { field("Message:", message) }
        field("IP:", status.podIP ?? "")
        var out = align(lines, width: 18)
        // kubectl's describePodIPs: each IP on its own indented line (a tabwriter block of its own).
        let podIPs = status.podIPs ?? []
        out += podIPs.isEmpty ? "IPs:              <none>\n" : "IPs:\n" + podIPs.map { "  IP:  \($0.ip)\n" }.joined()
        let security = SecurityReportBody.fetch(connection.client, namespace: namespace, name: name)
        if let inits = pod.spec.initContainers, !inits.isEmpty {
            out += "Init Containers:\n"
            for container in inits {
                out += describe(container, status.initContainerStatuses?.first { $0.name == container.name }, security: security?.settings(of: container.name))
            }
        }
        out += "Containers:\n"
        for container in pod.spec.containers {
            out += describe(container, status.containerStatuses?.first { $0.name == container.name }, security: security?.settings(of: container.name))
        }
        out += "Conditions:\n"
        var conditionRows = [("  Type", "Status")]
        for condition in status.conditions ?? [] { conditionRows.append(("  \(condition.type)", condition.status)) }
        let conditionWidth = (conditionRows.map(\.0.count).max() ?? 0) + 2
        for row in conditionRows { out += row.0.padding(toLength: conditionWidth, withPad: " ", startingAt: 0) + row.1 + "\n" }
        out += "Volumes:"
        let volumes = pod.spec.volumes ?? []
        if volumes.isEmpty { out += "                      <none>\n" } else { out += "\n" }
        for volume in volumes {
            out += "  \(volume.name):\n"
            if let hostPath = volume.hostPath { out += "    Type:          HostPath (bare host directory volume)\n    Path:          \(hostPath.path)\n" }
            if let emptyDir = volume.emptyDir {
                out += "    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:     \(emptyDir.medium ?? "")\n"
            }
        }
        out += "QoS Class:                   \(status.qosClass ?? QOSClass(pod: pod).rawValue)\n"
        let selectors = (pod.spec.nodeSelector ?? [:]).map { "\($0.key)=\($0.value)" }.sorted()
        out += "Node-Selectors:              \(selectors.isEmpty ? "<none>" : selectors.joined(separator: ","))\n"
        out += "Tolerations:                 :NoExecute op=Exists\n"
        out += events(pod)
        print(out, terminator: "")
    }

    func align(_ lines: [(String, String)], width: Int) -> String {
        lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined()
    }

    func describe(_ container: Container, _ status: ContainerStatus?, security: [SecurityReportBody.Row]?) -> String {
        var lines: [(String, String)] = []
        lines.append(("Container ID:", status?.containerID ?? ""))
        lines.append(("Image:", container.image ?? ""))
        lines.append(("Image ID:", status?.imageID ?? ""))
        let ports = (container.ports ?? []).map { "\($0.containerPort)/\($0.protocol ?? "TCP")" }
        lines.append(("Port:", ports.isEmpty ? "<none>" : ports.joined(separator: ", ")))
        lines.append(
            ("Host Port:", ports.isEmpty ? "<none>" : (container.ports ?? []).map { "\($0.hostPort ?? 0)/\($0.protocol ?? "TCP")" }.joined(separator: ", ")))
        if let command = container.command, !command.isEmpty {
            lines.append(("Command:", ""))
            for part in command { lines.append(("  " + part, "")) }
        }
        if let args = container.args, !args.isEmpty {
            lines.append(("Args:", ""))
            for part in args { lines.append(("  " + part, "")) }
        }
        func state(_ label: String, _ state: ContainerState?) {
            if let running = state?.running {
                lines.append((label, "Running"))
                lines.append(("  Started:", Self.rfc1123(running.startedAt)))
            } else if let waiting = state?.waiting {
                lines.append((label, "Waiting"))
                lines.append(("  Reason:", waiting.reason ?? ""))
                if let message = waiting.message { lines.append(("  Message:", message)) }
            } else if let terminated = state?.terminated {
                lines.append((label, "Terminated"))
                lines.append(("  Reason:", terminated.reason ?? ""))
                if let message = terminated.message { lines.append(("  Message:", message)) }
                lines.append(("  Exit Code:", String(terminated.exitCode)))
                if let signal = terminated.signal, signal > 0 { lines.append(("  Signal:", String(signal))) }
                lines.append(("  Started:", Self.rfc1123(terminated.startedAt)))
                lines.append(("  Finished:", Self.rfc1123(terminated.finishedAt)))
            }
        }
        state("State:", status?.state)
        if status?.lastState?.terminated != nil { state("Last State:", status?.lastState) }
        lines.append(("Ready:", (status?.ready ?? false) ? "True" : "False"))
        lines.append(("Restart Count:", String(status?.restartCount ?? 0)))
        for (label, values) in [("Limits:", container.resources?.limits), ("Requests:", container.resources?.requests)] {
            guard let values, !values.isEmpty else { continue }
            lines.append((label, ""))
            for (key, value) in values.sorted(by: { $0.key < $1.key }) { lines.append(("  \(key):", value.description)) }
        }
        for (label, probe) in [("Liveness:", container.livenessProbe), ("Readiness:", container.readinessProbe), ("Startup:", container.startupProbe)] {
            if let probe { lines.append((label, describeProbe(probe))) }
        }
        let env = (container.env ?? []).map { variable in
            "\(variable.name):" + (variable.value.map { " \($0)" } ?? variable.valueFrom?.fieldRef.map { "  (\($0.apiVersion ?? "v1"):\($0.fieldPath))" } ?? "")
        }
        lines.append(("Environment:", env.isEmpty ? "<none>" : ""))
        for entry in env { lines.append(("  " + entry, "")) }
        let mounts = (container.volumeMounts ?? []).map { "\($0.mountPath) from \($0.name) (\(($0.readOnly ?? false) ? "ro" : "rw"))" }
        lines.append(("Mounts:", mounts.isEmpty ? "<none>" : ""))
        for mount in mounts { lines.append(("  " + mount, "")) }
        // The effective securityContext of the container's latest run, as the agent applied it.
        if let security {
            lines.append(("Security:", security.isEmpty ? "<none>" : ""))
            for row in security { lines.append(("  \(row.key):", row.value)) }
        }
        let width = (lines.filter { !$0.1.isEmpty }.map(\.0.count).max() ?? 0) + 2
        return "  \(container.name):\n"
            + lines.map { "    " + ($0.1.isEmpty ? $0.0 : $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + $0.1) + "\n" }.joined()
    }

    func events(_ pod: Pod) -> String {
        let path = "/v1/events?pod=\(pod.metadata.name ?? "")&namespace=\(pod.metadata.namespace ?? "default")"
        guard let list = try? connection.client.getJSON(path, as: EventListBody.self, decoder: KubeJSON.decoder()) else {
            return "Events:  <unavailable>\n"
        }
        let events = list.items.filter { $0.lastTimestamp >= (pod.metadata.creationTimestamp ?? .distantPast).addingTimeInterval(-1) }
        if events.isEmpty { return "Events:                      <none>\n" }
        let now = Date()
        var rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")]
        for event in events {
            let first = age(event.firstTimestamp, now: now)
            let shown = event.count > 1 ? "\(age(event.lastTimestamp, now: now)) (x\(event.count) over \(first))" : first
            let message = event.message.trimmingCharacters(in: .whitespacesAndNewlines)
            rows.append((event.type, event.reason, shown, "kubelet", message))
        }
        let w0 = rows.map(\.0.count).max() ?? 0
        let w1 = rows.map(\.1.count).max() ?? 0
        let w2 = rows.map(\.2.count).max() ?? 0
        let w3 = rows.map(\.3.count).max() ?? 0
        var out = "Events:\n"
        for row in rows {
            out +=
                "  " + row.0.padding(toLength: w0 + 2, withPad: " ", startingAt: 0) + row.1.padding(toLength: w1 + 2, withPad: " ", startingAt: 0)
                + row.2.padding(toLength: w2 + 2, withPad: " ", startingAt: 0) + row.3.padding(toLength: w3 + 2, withPad: " ", startingAt: 0) + row.4 + "\n"
        }
        return out
    }
}

// MARK: - logs

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a container's log.")
    @OptionGroup var connection: Connection
    @Argument(help: "Pod name.") var name: String
    @Option(name: .shortAndLong, help: "Container name.") var container: String?
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"
    @Option(help: "Lines from the end.") var tail: Int?
    @Flag(name: .shortAndLong, help: "The previous run's log.") var previous = false
    @Flag(help: "Prefix lines with their timestamps.") var timestamps = false
    @Flag(name: .shortAndLong, help: "Follow the log until the container stops.") var follow = false

    func run() throws {
        var query = ["previous=\(previous)", "timestamps=\(timestamps)"]
        if let container { query.append("container=\(container)") }
        let base = "/v1/pods/\(namespace)/\(name)/log?" + query.joined(separator: "&")
        let first = try connection.call { try connection.client.get(base + (tail.map { "&tail=\($0)" } ?? "")) }
        FileHandle.standardOutput.write(first)
        guard follow, !previous else { return }
        // Follow by polling: print what was added since the last read, until the container is no longer running.
        var printed = try connection.call { try connection.client.get(base) }.count
        let containerID = try runningContainerID()
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            let data = try connection.call { try connection.client.get(base) }
            if data.count > printed {
                FileHandle.standardOutput.write(data.subdata(in: printed..<data.count))
                printed = data.count
            }
            if try runningContainerID() != containerID || containerID == nil { return }
        }
    }

    /// The ID of the followed container while it runs; nil otherwise.
    func runningContainerID() throws -> String? {
        guard let pod = try connection.pods().first(where: { $0.metadata.name == name && $0.metadata.namespace == namespace }) else { return nil }
        let statuses = (pod.status?.initContainerStatuses ?? []) + (pod.status?.containerStatuses ?? [])
        let status = container.flatMap { wanted in statuses.first { $0.name == wanted } } ?? pod.status?.containerStatuses?.first
        return status?.state?.running != nil ? status?.containerID : nil
    }
}

// MARK: - exec

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a running container.",
        discussion: "With -i and/or -t the command is attached to this terminal (with a TTY when -t), as kubectl exec -it.")
    @OptionGroup var connection: Connection
    @Flag(name: [.customShort("i"), .customLong("stdin")], help: "Pass stdin to the container.") var stdin = false
    @Flag(name: .shortAndLong, help: "Stdin is a TTY: allocate one in the container and attach this terminal to it.") var tty = false
    @Option(name: .shortAndLong, help: "Container name.") var container: String?
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"
    @Argument(help: "Pod name.") var name: String
    @Argument(parsing: .postTerminator, help: "The command, after --.") var command: [String] = []

    struct Result: Decodable {
        var exitCode: Int32
        var stdout: String
        var stderr: String
    }

    struct Target: Decodable {
        var runtime: String
        var runtimeRoot: String
        var containerID: String
    }

    func run() throws {
        var request: [String: Any] = ["command": command]
        if let container { request["container"] = container }
        if stdin || tty { request["interactive"] = true }
        let body = try JSONSerialization.data(withJSONObject: request)
        let data = try connection.call { try connection.client.request("POST", "/v1/pods/\(namespace)/\(name)/exec", body: body) }
        if stdin || tty {
            try attach(try JSONDecoder().decode(Target.self, from: data))
        }
        let result = try JSONDecoder().decode(Result.self, from: data)
        FileHandle.standardOutput.write(Data(result.stdout.utf8))
        FileHandle.standardError.write(Data(result.stderr.utf8))
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    /// Replaces this process with the runtime's exec: it inherits this terminal (and relays a pty with -t), so
    /// signals, window size and the exit status are the command's own.
    func attach(_ target: Target) throws -> Never {
        if tty && isatty(0) == 0 {
            FileHandle.standardError.write(Data("Unable to use a TTY - input is not a terminal or the right kind of file\n".utf8))
        }
        var argv = [target.runtime, "--root", target.runtimeRoot, "exec"]
        if tty && isatty(0) != 0 { argv.append("--tty") }
        argv += [target.containerID] + command
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(target.runtime, cArgs)
        throw ValidationError("cannot run \(target.runtime): \(String(cString: strerror(errno)))")
    }
}

// MARK: - apply / delete

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a manifest into the agent's manifest directory (atomically).")
    @OptionGroup var connection: Connection
    @Option(name: .shortAndLong, help: "Manifest file.") var filename: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: filename) else { throw ValidationError("cannot read \(filename)") }
        let name = (filename as NSString).lastPathComponent
        let body = try connection.call { try connection.client.request("POST", "/v1/manifests?name=\(name)", body: data) }
        let result = (try? JSONSerialization.jsonObject(with: body)) as? [String: String] ?? [:]
        if let warnings = result["warnings"], !warnings.isEmpty { FileHandle.standardError.write(Data("Warning: \(warnings)\n".utf8)) }
        print(result["result"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(name) written")
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a manifest (delete -f FILE) or the file defining a pod (delete pod NAME).")
    @OptionGroup var connection: Connection
    @Option(name: .shortAndLong, help: "Manifest file (its name in the manifest directory).") var filename: String?
    @Argument(help: "pod NAME") var target: [String] = []
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"

    func run() throws {
        let path: String
        if let filename {
            path = "/v1/manifests/" + (filename as NSString).lastPathComponent
        } else if target.count == 2, ["pod", "pods", "po"].contains(target[0]) {
            path = "/v1/pods/\(namespace)/\(target[1])"
        } else {
            throw ValidationError("usage: agentctl delete -f FILE | agentctl delete pod NAME")
        }
        let body = try connection.call { try connection.client.request("DELETE", path) }
        let result = (try? JSONSerialization.jsonObject(with: body)) as? [String: String] ?? [:]
        print(result["result"] ?? "deleted")
    }
}

// MARK: - images

struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage images.", subcommands: [Load.self, Pull.self, List.self, Remove.self])

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import an OCI layout, oci-archive or docker save tar.")
        @OptionGroup var connection: Connection
        @Argument(help: "Path of the archive or layout.") var path: String
        @Option(help: "Name for an image that records none.") var name: String?

        func run() throws {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            var request: [String: String] = ["path": absolute]
            if let name { request["name"] = name }
            let body = try JSONSerialization.data(withJSONObject: request)
            let data = try connection.call { try connection.client.request("POST", "/v1/images/load", body: body) }
            let images = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            for image in images {
                print("Loaded image: \((image["repoTags"] as? [String])?.joined(separator: ", ") ?? "") \(image["id"] as? String ?? "")")
            }
        }
    }

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pull an image from its registry.")
        @OptionGroup var connection: Connection
        @Argument(help: "Image reference.") var name: String

        func run() throws {
            let body = try JSONSerialization.data(withJSONObject: ["name": name])
            let data = try connection.call { try connection.client.request("POST", "/v1/images/pull", body: body) }
            let images = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            for image in images { print("Image is up to date for \(name) \(image["id"] as? String ?? "")") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an image no container uses.")
        @OptionGroup var connection: Connection
        @Argument(help: "Image reference or ID.") var name: String

        func run() throws {
            let query = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
            let data = try connection.call { try connection.client.request("DELETE", "/v1/images?name=\(query)") }
            let result = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [:]
            print(result["result"] ?? "Deleted: \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List images.")
        @OptionGroup var connection: Connection

        func run() throws {
            let data = try connection.call { try connection.client.get("/v1/images") }
            let images = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            var rows = [["IMAGE", "ID", "SIZE"]]
            for image in images {
                let id = (image["id"] as? String ?? "").replacingOccurrences(of: "sha256:", with: "").prefix(12)
                for tag in (image["repoTags"] as? [String]) ?? ["<none>"] {
                    let size = Double((image["size"] as? NSNumber)?.int64Value ?? 0) / 1_048_576
                    rows.append([tag, String(id), String(format: "%.1f MiB", size)])
                }
            }
            print(table(rows), terminator: "")
        }
    }
}
