import Foundation

/// A network configuration list (`*.conflist`, CNI spec 1.0.0 §"Configuration format"). Plugin entries stay
/// raw JSON: only the runtime-owned keys are read or injected.
public struct NetworkConfigList: Codable, Hashable, Sendable {
    public var cniVersion: String
    public var name: String
    public var disableCheck: Bool?
    public var plugins: [[String: JSONValue]]

    public init(cniVersion: String, name: String, disableCheck: Bool? = nil, plugins: [[String: JSONValue]]) {
        self.cniVersion = cniVersion
        self.name = name
        self.disableCheck = disableCheck
        self.plugins = plugins
    }

    /// A legacy single-plugin `.conf`: the object itself is the one plugin.
    static func fromSingle(_ object: [String: JSONValue]) -> NetworkConfigList? {
        guard let name = object["name"]?.stringValue, let type = object["type"]?.stringValue, !type.isEmpty else { return nil }
        return NetworkConfigList(cniVersion: object["cniVersion"]?.stringValue ?? "1.0.0", name: name, plugins: [object])
    }

    /// The plugin types in execution order (ADD, CHECK).
    public var pluginTypes: [String] { plugins.map { $0["type"]?.stringValue ?? "" } }
}

/// A plugin's result (spec 1.0.0 §"Success"). 0.4.0 results decode too (their extra `version` field is ignored).
public struct CNIResult: Codable, Hashable, Sendable {
    public var cniVersion: String?
    public var interfaces: [Interface]?
    public var ips: [IPConfig]?
    public var routes: [Route]?
    public var dns: DNS?

    public struct Interface: Codable, Hashable, Sendable {
        public var name: String
        public var mac: String?
        public var sandbox: String?
    }

    public struct IPConfig: Codable, Hashable, Sendable {
        /// CIDR notation, e.g. `10.88.0.2/16`.
        public var address: String
        public var gateway: String?
        public var interface: Int?
    }

    public struct Route: Codable, Hashable, Sendable {
        public var dst: String
        public var gw: String?
    }

    public struct DNS: Codable, Hashable, Sendable {
        public var nameservers: [String]?
        public var domain: String?
        public var search: [String]?
        public var options: [String]?
    }

    /// Addresses (without prefix length) of the IPs assigned to interface `ifName` inside the sandbox,
    /// or all IPs when the result names no interfaces (go-cni picks the container interface's IPs).
    public func addresses(onInterface ifName: String) -> [String] {
        let all = ips ?? []
        let index = (interfaces ?? []).firstIndex { $0.name == ifName && $0.sandbox != nil }
        let chosen = all.filter { ip in index == nil || ip.interface == nil || ip.interface == index }
        return chosen.compactMap { $0.address.split(separator: "/").first.map(String.init) }
    }

    /// Host-side interfaces (no sandbox), e.g. the bridge and the veth's host end.
    public var hostInterfaces: [String] { (interfaces ?? []).filter { $0.sandbox == nil }.map(\.name) }
}

/// The error object a plugin prints on stdout when it fails (spec §"Error").
public struct PluginErrorBody: Codable, Hashable, Sendable {
    public var cniVersion: String?
    public var code: Int
    public var msg: String
    public var details: String?
}

/// hostPort mapping for portmap's `runtimeConfig.portMappings` capability.
public struct PortMapping: Codable, Hashable, Sendable {
    public var hostPort: Int
    public var containerPort: Int
    public var `protocol`: String
    public var hostIP: String?

    public init(hostPort: Int, containerPort: Int, protocol: String, hostIP: String? = nil) {
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.protocol = `protocol`
        self.hostIP = hostIP
    }
}

/// What a CNI operation needs besides the configuration (the CNI_* environment).
public struct RuntimeArguments: Codable, Hashable, Sendable {
    public var containerID: String
    /// Path of the network namespace; nil allowed for DEL only (the namespace may be gone).
    public var netns: String?
    public var ifName: String
    /// CNI_ARGS pairs, in order.
    public var args: [[String]]
    /// Capability arguments (`portMappings`), passed as runtimeConfig to plugins that declare the capability.
    public var portMappings: [PortMapping]

    public init(containerID: String, netns: String?, ifName: String = "eth0", args: [(String, String)] = [], portMappings: [PortMapping] = []) {
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args.map { [$0.0, $0.1] }
        self.portMappings = portMappings
    }

    /// `K=V;K2=V2`.
    var cniArgs: String { args.filter { $0.count == 2 }.map { "\($0[0])=\($0[1])" }.joined(separator: ";") }
}

/// Why a CNI operation failed, with the plugin and command involved.
public enum CNIError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The plugin ran and reported an error object (code, msg, details).
    case plugin(type: String, command: String, code: Int, msg: String, details: String?)
    /// The plugin failed without a parsable error object.
    case failed(type: String, command: String, status: Int32, output: String)
    case notFound(type: String, searched: [String])
    case timedOut(type: String, command: String, seconds: Int)
    case badResult(type: String, command: String, detail: String)
    case configuration(String)
    case io(String)

    public var description: String {
        switch self {
        case .plugin(let type, let command, let code, let msg, let details):
            let more = (details ?? "").isEmpty ? "" : " (\(details ?? ""))"
            return "plugin type=\"\(type)\" failed (\(command.lowercased())): \(msg)\(more) [code \(code)]"
        case .failed(let type, let command, let status, let output):
            return "plugin type=\"\(type)\" failed (\(command.lowercased())): exit status \(status): \(output)"
        case .notFound(let type, let searched):
            return "failed to find plugin \"\(type)\" in path [\(searched.joined(separator: " "))]"
        case .timedOut(let type, let command, let seconds):
            return "plugin type=\"\(type)\" (\(command.lowercased())) did not finish within \(seconds)s"
        case .badResult(let type, let command, let detail):
            return "plugin type=\"\(type)\" (\(command.lowercased())): unreadable result: \(detail)"
        case .configuration(let message): return message
        case .io(let message): return message
        }
    }

    /// Parses a failed plugin's stdout: the error object if there is one.
    public static func fromOutput(type: String, command: String, status: Int32, stdout: String, stderr: String) -> CNIError {
        if let body = try? JSONDecoder().decode(PluginErrorBody.self, from: Data(stdout.utf8)) {
            return .plugin(type: type, command: command, code: body.code, msg: body.msg, details: body.details)
        }
        let text = (stdout + stderr).trimmingCharacters(in: .whitespacesAndNewlines)
        return .failed(type: type, command: command, status: status, output: text)
    }
}
