import Crypto
import Foundation
import KubeAPI

/// An IPv4 network such as `10.96.0.0/16`.
public struct IPv4CIDR: Hashable, Sendable, CustomStringConvertible {
    public var base: UInt32
    public var prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4CIDR.parse(String(parts[0])), let prefix = Int(parts[1]), (0...32).contains(prefix) else {
            return nil
        }
        self.prefix = prefix
        self.base = address & IPv4CIDR.mask(prefix)
    }

    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }

    public static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard octet.count <= 3, let byte = UInt8(octet), octet == String(byte) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    public static func format(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }

    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }

    public func contains(_ address: UInt32) -> Bool { address & IPv4CIDR.mask(prefix) == base }

    public var description: String { "\(IPv4CIDR.format(base))/\(prefix)" }
}

/// Allocations the agent persists so ClusterIPs and NodePorts survive restarts (the API server's allocator bitmaps).
public struct AllocationState: Codable, Hashable, Sendable {
    /// `namespace/name` → ClusterIP.
    public var clusterIPs: [String: String]
    /// `namespace/name` → port key (`name/port/protocol`) → NodePort.
    public var nodePorts: [String: [String: Int32]]

    public init(clusterIPs: [String: String] = [:], nodePorts: [String: [String: Int32]] = [:]) {
        self.clusterIPs = clusterIPs
        self.nodePorts = nodePorts
    }

    static func portKey(_ port: ServicePort) -> String { "\(port.name ?? "")/\(port.port)/\(port.protocol ?? "TCP")" }
}

/// ClusterIP and NodePort allocation with the API server's rules and messages.
public struct ServiceAllocator: Sendable {
    public var serviceCIDR: IPv4CIDR
    public var nodePortRange: ClosedRange<Int32>
    public private(set) var state: AllocationState

    public init(serviceCIDR: IPv4CIDR, nodePortRange: ClosedRange<Int32> = 30000...32767, state: AllocationState = AllocationState()) {
        self.serviceCIDR = serviceCIDR
        self.nodePortRange = nodePortRange
        self.state = state
    }

    public var rangeDescription: String { "\(nodePortRange.lowerBound)-\(nodePortRange.upperBound)" }

    /// Assigns ClusterIPs and NodePorts to every service, filling `spec.clusterIP(s)` and `spec.ports[].nodePort`.
    /// Services that keep a previous allocation win a contested address over newcomers; among newcomers the first
    /// by `namespace/name` wins. A service with errors gets no allocation (and no rules); the errors use the API
    /// server's wording, e.g. `spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`.
    public mutating func allocate(_ services: [Service]) -> (services: [Service], errors: [String: [AllocationError]]) {
        let sorted = services.sorted { a, b in
            let aKnown = state.clusterIPs[a.key] != nil
            let bKnown = state.clusterIPs[b.key] != nil
            return aKnown != bKnown ? aKnown : a.key < b.key
        }
        var usedIPs: Set<UInt32> = []
        var usedPorts: Set<Int32> = []
        var next = AllocationState()
        var errors: [String: [AllocationError]] = [:]
        var result: [Service] = []
        var pending: [(Service, needsIP: Bool, needsPorts: [Int])] = []
        // Pass 1: claim what is requested in the spec or remembered from before.
        for var service in sorted {
            var serviceErrors: [FieldError] = []
            var claimedIP: UInt32?
            var claimedPorts: [Int32] = []
            let key = service.key
            var needsIP = false
            if service.spec.type == "ExternalName" || service.spec.isHeadless {
                result.append(service)
                continue
            }
            let requested = service.spec.clusterIP.flatMap { $0.isEmpty ? nil : $0 }
            if let requested {
                switch claimIP(requested, used: &usedIPs) {
                case .none: claimedIP = IPv4CIDR.parse(requested)
                case .some(let problem):
                    serviceErrors.append(
                        .invalid(
                            FieldPath("spec").child("clusterIPs"), .raw("[]string{\(goQuote(requested))}"), "failed to allocate IP \(requested): \(problem)"))
                }
            } else if let remembered = state.clusterIPs[key], claimIP(remembered, used: &usedIPs) == nil {
                claimedIP = IPv4CIDR.parse(remembered)
                service.spec.clusterIP = remembered
                service.spec.clusterIPs = [remembered]
            } else {
                needsIP = true
            }
            var needsPorts: [Int] = []
            if service.spec.type == "NodePort" || service.spec.type == "LoadBalancer" {
                for (index, port) in (service.spec.ports ?? []).enumerated() {
                    if let nodePort = port.nodePort, nodePort != 0 {
                        let path = FieldPath("spec").child("ports").index(index).child("nodePort")
                        if !nodePortRange.contains(nodePort) {
                            serviceErrors.append(
                                .invalid(
                                    path, .int(Int64(nodePort)),
                                    "provided port is not in the valid range. The range of valid ports is \(rangeDescription)"))
                        } else if !usedPorts.insert(nodePort).inserted {
                            serviceErrors.append(.invalid(path, .int(Int64(nodePort)), "provided port is already allocated"))
                        } else {
                            claimedPorts.append(nodePort)
                        }
                    } else if let remembered = state.nodePorts[key]?[AllocationState.portKey(port)], nodePortRange.contains(remembered),
                        usedPorts.insert(remembered).inserted
                    {
                        service.spec.ports?[index].nodePort = remembered
                        claimedPorts.append(remembered)
                    } else {
                        needsPorts.append(index)
                    }
                }
            }
            if !serviceErrors.isEmpty {
                errors[key] = serviceErrors.map(AllocationError.field)
                // A rejected service is not programmed: what it claimed is free for others.
                if let claimedIP { usedIPs.remove(claimedIP) }
                for port in claimedPorts { usedPorts.remove(port) }
                continue
            }
            pending.append((service, needsIP, needsPorts))
        }
        // Pass 2: new allocations, deterministic per service so a lost state file still yields the same answers.
        for (original, needsIP, needsPorts) in pending {
            var service = original
            let key = service.key
            if needsIP {
                guard let ip = dynamicIP(for: key, used: &usedIPs) else {
                    errors[key] = [.internalError("failed to allocate a serviceIP: range is full")]
                    continue
                }
                service.spec.clusterIP = ip
                service.spec.clusterIPs = [ip]
            }
            var failed = false
            for index in needsPorts {
                guard let port = dynamicPort(for: "\(key)/\(index)", used: &usedPorts) else {
                    errors[key] = [.internalError("failed to allocate a nodePort: range is full")]
                    failed = true
                    break
                }
                service.spec.ports?[index].nodePort = port
            }
            if failed { continue }
            if let ip = service.spec.clusterIP { next.clusterIPs[key] = ip }
            for port in service.spec.ports ?? [] {
                if let nodePort = port.nodePort, nodePort != 0 { next.nodePorts[key, default: [:]][AllocationState.portKey(port)] = nodePort }
            }
            result.append(service)
        }
        state = next
        return (result.sorted { $0.key < $1.key }, errors)
    }

    /// nil when `text` was free and is now claimed, else the allocator's reason.
    private func claimIP(_ text: String, used: inout Set<UInt32>) -> String? {
        guard let address = IPv4CIDR.parse(text) else { return "not a valid IPv4 address" }
        let broadcast = serviceCIDR.base | ~IPv4CIDR.mask(serviceCIDR.prefix)
        guard serviceCIDR.contains(address), address != serviceCIDR.base, address != broadcast else {
            return "the provided IP (\(text)) is not in the valid range. The range of valid IPs is \(serviceCIDR)"
        }
        guard used.insert(address).inserted else { return "provided IP is already allocated" }
        return nil
    }

    private static func seed(_ key: String) -> UInt64 {
        SHA256.hash(data: Data(key.utf8)).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Dynamic ClusterIPs come from above the static band (KEP-3070: min(max(16, size/16), 256) addresses).
    private func dynamicIP(for key: String, used: inout Set<UInt32>) -> String? {
        let size = serviceCIDR.size
        guard size > 4 else { return nil }
        let usable = size - 2
        let band = min(max(16, size / 16), 256)
        let dynamic = usable > band ? usable - band : usable
        let offsetBase: UInt64 = usable > band ? band + 1 : 1
        let start = Self.seed(key) % dynamic
        for step in 0..<dynamic {
            let address = serviceCIDR.base + UInt32((start + step) % dynamic + offsetBase)
            if used.insert(address).inserted { return IPv4CIDR.format(address) }
        }
        // The static band as a last resort, as the API server does.
        for offset in 1...min(band, usable) {
            let address = serviceCIDR.base + UInt32(offset)
            if used.insert(address).inserted { return IPv4CIDR.format(address) }
        }
        return nil
    }

    /// Dynamic NodePorts prefer the upper band (KEP-3668: static band min(max(16, size/32), 128) ports).
    private func dynamicPort(for key: String, used: inout Set<Int32>) -> Int32? {
        let size = Int64(nodePortRange.upperBound - nodePortRange.lowerBound + 1)
        let band = min(max(16, size / 32), 128)
        let upper = size > band ? size - band : size
        let upperBase = Int64(nodePortRange.lowerBound) + (size > band ? band : 0)
        let start = Int64(Self.seed(key) % UInt64(upper))
        for step in 0..<upper {
            let port = Int32(upperBase + (start + step) % upper)
            if used.insert(port).inserted { return port }
        }
        for port in nodePortRange where used.insert(port).inserted { return port }
        return nil
    }
}

/// Why a service got no allocation: a field error (`spec.ports[0].nodePort: Invalid value: …`) or the API server's
/// HTTP 500 wording for an exhausted range.
public enum AllocationError: Error, Hashable, Sendable, CustomStringConvertible {
    case field(FieldError)
    case internalError(String)

    public var description: String {
        switch self {
        case .field(let error): return error.description
        case .internalError(let message): return "Internal error occurred: \(message)"
        }
    }
}
